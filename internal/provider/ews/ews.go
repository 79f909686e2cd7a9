// Package ews validates Exchange Web Services (on-premises Exchange)
// credentials for `provider: "ews"`.
//
// Settings: `email`, `ews_username` (a UPN such as alice@contoso.com, or
// CONTOSO\alice), `ews_password`, `ews_host` (a host name, host:port or an
// https URL; when it is omitted the optional provider.EWSFinder is asked,
// through Autodiscover) and `ews_port` (a number or a numeric string,
// default 443). The endpoint is https://ews_host:ews_port/EWS/Exchange.asmx
// unless ews_host is a URL with a path.
//
// A check is two real SOAP calls (RequestServerVersion Exchange2013,
// Content-Type text/xml; charset=utf-8): ResolveNames on the email, which
// gives the mailbox's display name and primary SMTP address, then GetFolder
// on that mailbox's inbox, which proves the credentials open it.
//
// Authentication follows the server's 401: when its WWW-Authenticate
// offers NTLM or Negotiate, grantd does NTLMv2 (github.com/Azure/go-ntlmssp;
// a Negotiate offer is answered with raw NTLMSSP, which IIS accepts); when
// it offers only Basic, grantd sends Basic (over TLS only, unless
// network.allow_insecure allows http:// for loopback test servers); when it
// offers only Bearer (Exchange Online, where basic authentication is
// retired) the check fails as basic_auth_disabled. NTLM authenticates a TCP
// connection, not a request, so every check runs on its own transport with
// one connection, closed afterwards: a connection authenticated for one
// account is never reused for another check.
//
// Scope: the requested list (ews.messages, ews.calendars or its alias
// ews.calendar, ews.contacts); all three when none is requested.
//
// Failures: 401 after credentials were sent is invalid_credentials; a 401
// offering only Bearer is basic_auth_disabled; 403 or ErrorAccessDenied
// (and the other "not allowed" codes) is access_disabled; 5xx, 429,
// ErrorServerBusy and the other transient codes, timeouts, refused
// connections and DNS failures are provider_unavailable; certificate and
// handshake failures are tls_error; 404, a redirect or a non-SOAP answer is
// bad_request naming ews_host. provider_error carries the server's status,
// challenges, EWS response code and message text, never the password.
package ews

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/go-ntlmssp"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// DefaultPort is the EWS port when ews_port is not given.
const DefaultPort = 443

// DefaultPath is the EWS endpoint's path on Exchange.
const DefaultPath = "/EWS/Exchange.asmx"

// Scopes are the EWS scopes, in the order of the default list.
var Scopes = []string{"ews.messages", "ews.calendars", "ews.contacts"}

// scopeAliases are accepted too (the EWS connector's spelling).
var scopeAliases = map[string]bool{"ews.calendar": true}

// maxBody bounds a SOAP answer.
const maxBody = 4 << 20

// Provider is the EWS provider: it checks and re-checks Exchange Web
// Services credentials. It is safe for concurrent use.
type Provider struct {
	// Dial opens TCP connections; nil means a net.Dialer bounded by the
	// network timeout. Set it before the first Validate.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	network netx.Config
	tls     *tls.Config
	tlsErr  error
	finder  provider.EWSFinder
}

// New returns the EWS validator. network gives the trusted CAs, the
// timeout and whether http:// is allowed; finder, which may be nil, finds
// the EWS URL when ews_host is omitted.
func New(network netx.Config, finder provider.EWSFinder) *Provider {
	tc, err := netx.TLSConfig(network)
	return &Provider{network: network, tls: tc, tlsErr: err, finder: finder}
}

func (v *Provider) timeout() time.Duration {
	if v.network.Timeout > 0 {
		return v.network.Timeout
	}
	return 15 * time.Second
}

// rawSettings are the settings of provider "ews" as given.
type rawSettings struct {
	Username string `setting:"ews_username,required,trim"`
	Password string `setting:"ews_password,required"`
	Email    string `setting:"email,trim"`
	Host     string `setting:"ews_host,trim"`
	Port     int    `setting:"ews_port,port"`
}

// settings are the checked request settings.
type settings struct {
	email, username, password string
	host                      string
	port                      int
	portSet                   bool
}

func bad(format string, args ...any) error {
	return provider.Errorf(provider.ClassBadRequest, format, args...)
}

func parseSettings(m map[string]any, recheck bool) (settings, error) {
	in, err := provider.DecodeSettings[rawSettings](m)
	if err != nil {
		return settings{}, err
	}
	s := settings{username: in.Username, password: in.Password, email: in.Email, host: in.Host, port: in.Port, portSet: in.Port != 0}
	explicitEmail := s.email != ""
	if s.email == "" {
		if !strings.Contains(s.username, "@") {
			return s, bad("settings.email is required for provider ews when settings.ews_username is not an email address")
		}
		s.email = s.username
	}
	if err := provider.AccountAddress(s.email, recheck); err != nil {
		if !explicitEmail {
			return s, bad("settings.ews_username %q is not an email address (%s); add settings.email with the mailbox's address", s.username, strings.TrimPrefix(err.Error(), "email "))
		}
		return s, bad("settings.%s", err.Error())
	}
	return s, nil
}

func checkScope(scope []string) ([]string, error) {
	if len(scope) == 0 {
		return append([]string(nil), Scopes...), nil
	}
	for _, sc := range scope {
		ok := scopeAliases[sc]
		for _, k := range Scopes {
			ok = ok || sc == k
		}
		if !ok {
			return nil, bad("scope %q is not an EWS scope; use %s", sc, strings.Join(Scopes, ", "))
		}
	}
	return append([]string(nil), scope...), nil
}

// endpoint is where the checks go.
type endpoint struct {
	url  string
	host string
	port int
	// what names the origin in messages: "settings.ews_host" or
	// "the Autodiscover answer".
	what string
}

// parseEndpoint turns ews_host (host, host:port or URL) and ews_port into
// an endpoint.
func parseEndpoint(raw string, port int, portSet, allowInsecure bool, what string) (endpoint, error) {
	ref := raw
	if !strings.Contains(ref, "://") {
		ref = "https://" + ref
	}
	// Refuse credentials in the URL first, without repeating the value:
	// it would hold a password (which may contain "/", so any "@" counts).
	if strings.Contains(raw, "@") {
		return endpoint{}, bad("%s must not contain credentials; use settings.ews_username and settings.ews_password", what)
	}
	u, err := url.Parse(ref)
	if err != nil || u.Hostname() == "" {
		return endpoint{}, bad("%s %q is not a host name or an https URL", what, raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	default:
		return endpoint{}, bad("%s %q must be an https URL (EWS credentials are only sent over TLS)", what, raw)
	}
	if u.User != nil {
		return endpoint{}, bad("%s must not contain credentials; use settings.ews_username and settings.ews_password", what)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return endpoint{}, bad("%s %q has an invalid port", what, raw)
		}
		if portSet && n != port {
			return endpoint{}, bad("%s %q names port %d but settings.ews_port is %d; give the port once", what, raw, n, port)
		}
		port, portSet = n, true
	}
	if !portSet {
		port = DefaultPort
		if u.Scheme == "http" {
			port = 80
		}
	}
	path := u.EscapedPath()
	if path == "" || path == "/" {
		path = DefaultPath
	}
	host := u.Hostname()
	e := endpoint{host: host, port: port, what: what}
	hp := host
	if strings.Contains(host, ":") {
		hp = "[" + host + "]"
	}
	if (u.Scheme == "https" && port != 443) || (u.Scheme == "http" && port != 80) {
		hp = net.JoinHostPort(host, strconv.Itoa(port))
	}
	e.url = u.Scheme + "://" + hp + path
	return e, nil
}

func (v *Provider) endpoint(ctx context.Context, s settings) (endpoint, error) {
	if s.host != "" {
		return parseEndpoint(s.host, s.port, s.portSet, v.network.AllowInsecure, "settings.ews_host")
	}
	found := ""
	if v.finder != nil {
		u, err := v.finder.FindEWS(ctx, s.email)
		if err != nil {
			var pe *provider.Error
			if errors.As(err, &pe) && pe.Class == provider.ClassBadRequest {
				// Nothing found: say which setting the caller must give.
				return endpoint{}, bad("settings.ews_host is required: %s", pe.Message)
			}
			if errors.As(err, &pe) {
				return endpoint{}, err
			}
			return endpoint{}, &provider.Error{Class: provider.ClassUnavailable,
				Message: fmt.Sprintf("Autodiscover for %s failed; retry, or give settings.ews_host", s.email), Err: err}
		}
		found = strings.TrimSpace(u)
	}
	if found == "" {
		return endpoint{}, bad("settings.ews_host is required: Autodiscover found no EWS server for %s; give the Exchange server's host name (for example mail.contoso.com) in settings.ews_host", s.email)
	}
	return parseEndpoint(found, s.port, s.portSet, v.network.AllowInsecure, "the EWS URL found by Autodiscover")
}

// Validate checks the credentials against the EWS server. Its errors
// carry the server's own words, without the password (in case the server
// repeats it, or the Basic header it received).
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	r, err := v.validate(ctx, req)
	if err != nil {
		user, _ := req.Settings["ews_username"].(string)
		pw, _ := req.Settings["ews_password"].(string)
		red := provider.NewRedactor(pw)
		red.AddEncoded(provider.BasicAuth(user, pw), provider.BasicAuth(strings.TrimSpace(user), pw))
		return provider.Result{}, red.Error(err)
	}
	return r, nil
}

func (v *Provider) validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	if v.tlsErr != nil {
		return provider.Result{}, v.tlsErr
	}
	s, err := parseSettings(req.Settings, req.Recheck)
	if err != nil {
		return provider.Result{}, err
	}
	scope, err := checkScope(req.Scope)
	if err != nil {
		return provider.Result{}, err
	}
	ep, err := v.endpoint(ctx, s)
	if err != nil {
		return provider.Result{}, err
	}
	c := v.newSession(ep, s.username, s.password)
	defer c.close()

	email, name := s.email, ""
	env, err := c.call(ctx, "ResolveNames", resolveNamesRequest(s.email))
	if err != nil {
		return provider.Result{}, err
	}
	msg, ok := env.message("ResolveNames")
	if !ok {
		return provider.Result{}, c.notEWS("answered ResolveNames without a ResolveNamesResponse", nil)
	}
	switch {
	case msg.ResponseClass == "Error" && msg.ResponseCode == "ErrorNameResolutionNoResults":
		// Not in the directory (or ResolveNames restricted): keep the email
		// as given; GetFolder below still proves access to the mailbox.
	case msg.ResponseClass == "Error":
		return provider.Result{}, c.codeError("ResolveNames", msg.ResponseCode, msg.MessageText, false)
	default:
		if r, ok := pick(msg.Resolutions, s.email); ok {
			email, name = strings.TrimSpace(r.EmailAddress), strings.TrimSpace(r.Name)
			if name == "" {
				name = strings.TrimSpace(r.DisplayName)
			}
		}
	}

	env, err = c.call(ctx, "GetFolder", getFolderRequest(email))
	if err != nil {
		return provider.Result{}, err
	}
	msg, ok = env.message("GetFolder")
	if !ok {
		return provider.Result{}, c.notEWS("answered GetFolder without a GetFolderResponse", nil)
	}
	if msg.ResponseClass == "Error" {
		return provider.Result{}, c.codeError("GetFolder", msg.ResponseCode, msg.MessageText, false)
	}
	if len(msg.Folders) == 0 {
		return provider.Result{}, c.notEWS("answered GetFolder without the inbox", nil)
	}
	return provider.Result{
		Email: email,
		Name:  name,
		Scope: scope,
		Settings: map[string]any{
			"email":        s.email,
			"ews_username": s.username,
			"ews_host":     ep.host,
			"ews_port":     ep.port,
			"ews_url":      ep.url,
		},
		Secrets: map[string]string{"ews_password": s.password},
	}, nil
}

// Recheck implements provider.Rechecker: the stored credentials go
// through Validate again (ResolveNames and GetFolder) against the stored
// ews_url, the endpoint the grant was validated against (no Autodiscover).
func (v *Provider) Recheck(ctx context.Context, settings map[string]any, secrets map[string]string, scope []string) error {
	m := provider.MergeSettings(settings, secrets)
	if u, _ := m["ews_url"].(string); u != "" {
		m["ews_host"] = u
		delete(m, "ews_port") // the URL carries it
	}
	delete(m, "ews_url")
	_, err := v.Validate(ctx, provider.Request{Settings: m, Scope: scope, Recheck: true})
	return err
}

// pick chooses the resolution of want: the one with that address, else
// the only one (an alias resolves to the primary SMTP address).
func pick(rs []resolved, want string) (resolved, bool) {
	for _, r := range rs {
		if strings.EqualFold(strings.TrimSpace(r.EmailAddress), want) {
			return r, true
		}
	}
	if len(rs) == 1 && strings.Contains(rs[0].EmailAddress, "@") &&
		(rs[0].RoutingType == "" || strings.EqualFold(rs[0].RoutingType, "SMTP")) {
		return rs[0], true
	}
	return resolved{}, false
}

// session is one check: its own transport and at most one connection.
type session struct {
	ep       endpoint
	user, pw string
	timeout  time.Duration
	tr       *http.Transport
	rec      *recorder
	ntlm     *http.Client // ntlmssp.Negotiator: anonymous, then NTLM or Basic per the 401
	direct   *http.Client // Basic sent up front, once the server chose Basic
	method   string       // "basic" or "ntlm", once a call succeeded
}

func (v *Provider) newSession(ep endpoint, user, pw string) *session {
	t := v.timeout()
	dial := v.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: min(t, 10*time.Second)}).DialContext
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       v.tls.Clone(),
		TLSHandshakeTimeout:   min(t, 10*time.Second),
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only: NTLM needs a connection
		MaxConnsPerHost:       1,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       t,
		ResponseHeaderTimeout: t,
	}
	rec := &recorder{rt: tr}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &session{
		ep: ep, user: user, pw: pw, timeout: t, tr: tr, rec: rec,
		ntlm:   &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: rec, AllowBasicAuth: true}, Timeout: t, CheckRedirect: noRedirect},
		direct: &http.Client{Transport: rec, Timeout: t, CheckRedirect: noRedirect},
	}
}

func (c *session) close() { c.tr.CloseIdleConnections() }

// recorder notes which kind of Authorization each round trip carried (never
// the value), and the last transport error: the Negotiator hides errors of
// the handshake's later legs behind the first 401.
type recorder struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	sent    []string
	lastErr error
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := authKind(req.Header.Get("Authorization"))
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		// Read the answer now: the Negotiator keeps the first 401 open
		// while it runs the handshake, and an unread body would hold the
		// session's only connection (IIS sends a body with its 401s).
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			resp, err = nil, rerr
		} else {
			resp.Body = io.NopCloser(bytes.NewReader(data))
			resp.ContentLength = int64(len(data))
		}
	}
	r.mu.Lock()
	r.sent = append(r.sent, kind)
	r.lastErr = err
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.sent, r.lastErr = nil, nil
	r.mu.Unlock()
}

func (r *recorder) state() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...), r.lastErr
}

// authKind classifies an Authorization header: "", "basic",
// "ntlm-negotiate", "ntlm-authenticate" or "other".
func authKind(h string) string {
	if h == "" {
		return ""
	}
	scheme, tok, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return "basic"
	case "ntlm", "negotiate":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		if err == nil && len(b) >= 12 && string(b[:8]) == "NTLMSSP\x00" {
			switch b[8] {
			case 1:
				return "ntlm-negotiate"
			case 3:
				return "ntlm-authenticate"
			}
		}
	}
	return "other"
}

// call sends one SOAP request and returns the parsed 200 answer, or a
// classified error.
func (c *session) call(ctx context.Context, op string, body []byte) (envelope, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.url, bytes.NewReader(body))
	if err != nil {
		return envelope{}, bad("%s: %v", c.ep.what, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", "grantd-ews-check/1")
	req.SetBasicAuth(c.user, c.pw)
	client := c.ntlm
	if c.method == "basic" {
		client = c.direct
	}
	c.rec.reset()
	resp, err := client.Do(req)
	sent, lastErr := c.rec.state()
	if err != nil {
		return envelope{}, c.transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return envelope{}, c.transportError(op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && lastErr != nil {
		// The handshake broke off (timeout, reset): not the credentials.
		return envelope{}, c.transportError(op, lastErr)
	}
	method := ""
	for _, k := range sent {
		switch k {
		case "basic":
			method = "basic"
		case "ntlm-negotiate", "ntlm-authenticate":
			method = "ntlm"
		}
	}
	pe := map[string]any{"operation": op, "status": resp.StatusCode}
	if method != "" {
		pe["auth_method"] = method
	} else if c.method != "" {
		pe["auth_method"] = c.method
	}
	if d := resp.Header.Get("X-Ms-Diagnostics"); d != "" {
		pe["x_ms_diagnostics"] = d
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		env, ok := parseEnvelope(data)
		if !ok {
			return envelope{}, c.notEWS("answered 200 but not with a SOAP envelope", pe)
		}
		if env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		if c.method == "" {
			c.method = method
		}
		return env, nil
	case code == http.StatusUnauthorized:
		return envelope{}, c.unauthorized(resp, sent, pe)
	case code == http.StatusForbidden:
		return envelope{}, &provider.Error{Class: provider.ClassAccessDisabled, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s accepted the credentials but refused EWS access (403 Forbidden): EWS is disabled for this mailbox or user, or blocked by policy", c.ep.host)}
	case code == http.StatusNotFound:
		return envelope{}, c.notEWS("answered 404 Not Found", pe)
	case code >= 300 && code < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			pe["location"] = loc
		}
		return envelope{}, c.notEWS(fmt.Sprintf("redirected (%d) instead of answering", code), pe)
	case code == http.StatusTooManyRequests || code >= 500:
		if env, ok := parseEnvelope(data); ok && env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			pe["retry_after"] = ra
		}
		return envelope{}, &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s is unavailable (%s); nothing was stored, retry later", c.ep.host, resp.Status)}
	default:
		if env, ok := parseEnvelope(data); ok && env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		return envelope{}, &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
			Message: fmt.Sprintf("the EWS server at %s (%s) refused the request: %s", c.ep.url, c.ep.what, resp.Status)}
	}
}

// challenges lists the schemes of the WWW-Authenticate headers (without
// their tokens).
func challenges(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Www-Authenticate") {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			scheme, _, _ := strings.Cut(part, " ")
			if scheme == "" || strings.Contains(scheme, "=") {
				continue // a parameter of the previous challenge
			}
			out = append(out, scheme)
		}
	}
	return out
}

func hasScheme(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (c *session) unauthorized(resp *http.Response, sent []string, pe map[string]any) error {
	offered := challenges(resp.Header)
	pe["www_authenticate"] = strings.Join(offered, ", ")
	credentialsSent, negotiated := false, false
	for _, k := range sent {
		switch k {
		case "basic", "ntlm-authenticate":
			credentialsSent = true
		case "ntlm-negotiate":
			negotiated = true
		}
	}
	if c.method == "ntlm" && !credentialsSent {
		// A later call on an NTLM connection was refused without a new
		// challenge: the server did not keep the connection authenticated.
		credentialsSent = true
	}
	switch {
	case credentialsSent:
		how := "NTLM"
		if pe["auth_method"] == "basic" {
			how = "Basic"
		}
		return &provider.Error{Class: provider.ClassInvalidCredentials, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s rejected settings.ews_username and settings.ews_password (%s authentication); check the user name (user@domain or DOMAIN\\user) and the password", c.ep.host, how)}
	case negotiated:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
			Message: fmt.Sprintf("the EWS server at %s did not complete the NTLM handshake (no usable challenge); grantd supports NTLMv2 and Basic authentication", c.ep.host)}
	case hasScheme(offered, "Bearer") && !hasScheme(offered, "Basic") && !hasScheme(offered, "NTLM") && !hasScheme(offered, "Negotiate"):
		return &provider.Error{Class: provider.ClassBasicAuthDisabled, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s accepts only OAuth (Bearer) tokens: password authentication is disabled there (as on Exchange Online), so EWS credentials cannot be used", c.ep.host)}
	default:
		what := "none"
		if len(offered) > 0 {
			what = strings.Join(offered, ", ")
		}
		return &provider.Error{Class: provider.ClassBasicAuthDisabled, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s offers no password authentication grantd supports (offered: %s; grantd supports NTLM, Negotiate with NTLM, and Basic)", c.ep.host, what)}
	}
}

func (c *session) notEWS(what string, pe map[string]any) error {
	return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
		Message: fmt.Sprintf("%s is not an EWS endpoint: %s %s; check %s (the Exchange server's host name, for example mail.contoso.com, or its https://…/EWS/Exchange.asmx URL)", c.ep.url, c.ep.host, what, c.ep.what)}
}

var (
	transientCodes = map[string]bool{
		"ErrorServerBusy": true, "ErrorMailboxStoreUnavailable": true, "ErrorInternalServerError": true,
		"ErrorInternalServerTransientError": true, "ErrorTimeoutExpired": true, "ErrorConnectionFailed": true,
		"ErrorMailboxMoveInProgress": true, "ErrorADUnavailable": true, "ErrorProxyRequestProcessingFailed": true,
		"ErrorBatchProcessingStopped": true,
	}
	deniedCodes = map[string]bool{
		"ErrorAccessDenied": true, "ErrorExchangeWebServicesNotEnabled": true, "ErrorImpersonateUserDenied": true,
		"ErrorImpersonationDenied": true, "ErrorAccountDisabled": true, "ErrorInvalidLicense": true,
		"ErrorMailboxDisabled": true,
	}
	requestCodes = map[string]bool{
		"ErrorInvalidServerVersion": true, "ErrorSchemaValidation": true, "ErrorInvalidRequest": true,
		"ErrorInvalidSchemaVersionForMailboxVersion": true,
	}
)

// codeError classifies an EWS response code (from a response message, or
// from a fault when fault is true).
func (c *session) codeError(op, code, text string, fault bool, extra ...map[string]any) error {
	pe := map[string]any{"operation": op, "response_code": code}
	if text != "" {
		pe["message_text"] = text
	}
	for _, m := range extra {
		for k, v := range m {
			pe[k] = v
		}
	}
	words := code
	if text != "" {
		words += ": " + text
	}
	switch {
	case transientCodes[code]:
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s is busy or temporarily unavailable (%s); nothing was stored, retry later", c.ep.host, words)}
	case deniedCodes[code]:
		return &provider.Error{Class: provider.ClassAccessDisabled, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s refused EWS access for this mailbox (%s): EWS may be disabled for the mailbox or the user, or ews_username may not open the mailbox of settings.email", c.ep.host, words)}
	case code == "ErrorNonExistentMailbox":
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
			Message: fmt.Sprintf("the Exchange server at %s has no mailbox for settings.email (%s)", c.ep.host, words)}
	case requestCodes[code]:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
			Message: fmt.Sprintf("the EWS server at %s refused grantd's %s request (%s); grantd needs Exchange 2013 or later", c.ep.host, op, words)}
	case fault:
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe,
			Message: fmt.Sprintf("the EWS server at %s failed the %s request (%s); nothing was stored, retry later", c.ep.host, op, words)}
	default:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe,
			Message: fmt.Sprintf("the EWS server at %s refused the %s request (%s)", c.ep.host, op, words)}
	}
}

func (c *session) faultError(op string, f *fault, pe map[string]any) error {
	text := strings.TrimSpace(f.String)
	if text == "" {
		text = strings.TrimSpace(f.Detail.Message)
	}
	extra := map[string]any{"status": pe["status"], "fault_code": strings.TrimSpace(f.Code)}
	if m, ok := pe["auth_method"]; ok {
		extra["auth_method"] = m
	}
	return c.codeError(op, f.code(), text, true, extra)
}

func (c *session) transportError(op string, err error) error {
	pe := map[string]any{"operation": op, "error": err.Error()}
	unavailable := func(format string, args ...any) error {
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Err: err,
			Message: fmt.Sprintf(format, args...) + "; nothing was stored, retry later"}
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		dnsErr     *net.DNSError
		netErr     net.Error
		tlsMessage = func(why string) error {
			return &provider.Error{Class: provider.ClassTLS, ProviderError: pe, Err: err,
				Message: fmt.Sprintf("TLS with the EWS server %s (%s) failed: %s", c.ep.host, c.ep.what, why)}
		}
	)
	switch {
	case errors.As(err, &unknownCA):
		return tlsMessage("its certificate is not signed by a trusted CA (add the CA to network.ca_file)")
	case errors.As(err, &hostErr):
		return tlsMessage(fmt.Sprintf("its certificate is not valid for %s", c.ep.host))
	case errors.As(err, &invalid):
		return tlsMessage("its certificate is invalid or expired")
	case errors.As(err, &verifyErr):
		return tlsMessage("its certificate could not be verified")
	case errors.As(err, &recordErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return tlsMessage(fmt.Sprintf("port %d does not speak TLS", c.ep.port))
	case errors.As(err, &alertErr):
		return tlsMessage("the handshake was refused (" + alertErr.Error() + ")")
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return unavailable("the EWS server %s:%d did not answer within %s", c.ep.host, c.ep.port, c.timeout)
	case errors.Is(err, context.Canceled):
		return unavailable("the check of the EWS server %s was canceled", c.ep.host)
	case errors.As(err, &dnsErr):
		return unavailable("the EWS server %s (%s) could not be resolved (%s)", c.ep.host, c.ep.what, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return unavailable("the EWS server %s:%d refused the connection (%s)", c.ep.host, c.ep.port, c.ep.what)
	case strings.Contains(err.Error(), "tls: "):
		return tlsMessage(err.Error())
	}
	return unavailable("the EWS server %s:%d could not be reached (%v)", c.ep.host, c.ep.port, err)
}
