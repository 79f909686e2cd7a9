package oauthx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

// failure is a classified failure of an endpoint's answer before it
// becomes a provider.Error (Answered).
type failure struct {
	class   provider.Class
	message string
	pe      map[string]any
	cause   error
}

func (f failure) err() *provider.Error {
	return &provider.Error{Class: f.class, Message: f.message, ProviderError: f.pe, Err: f.cause, Answered: true}
}

// classifyToken turns an error of the refresh request into a provider.Error.
func (s *Session) classifyToken(ctx context.Context, err error) *provider.Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// The RetrieveError is not kept as the cause: its Response links to
		// the request, whose Authorization header holds the client secret.
		status, ctype := 0, ""
		var retryAfter time.Duration
		if re.Response != nil {
			status = re.Response.StatusCode
			ctype = re.Response.Header.Get("Content-Type")
			retryAfter = provider.ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
		pe := ParseProviderError("token", status, ctype, re.Body)
		if re.ErrorCode != "" {
			pe["error"] = re.ErrorCode
		}
		if re.ErrorDescription != "" {
			if _, ok := pe["error_description"]; !ok {
				pe["error_description"] = fault.Shorten(re.ErrorDescription, maxField)
			}
		}
		e := s.TokenResponseError(pe)
		if e.Class == provider.ClassUnavailable {
			e.RetryAfter = retryAfter
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return s.TransportError(ctx, "token endpoint", err)
	}
	// x/oauth2 reached the endpoint but could not read a token from a 2xx
	// answer (not JSON, no access_token): the provider is misbehaving.
	return failure{
		class:   provider.ClassUnavailable,
		message: fmt.Sprintf("%s's token endpoint returned a response without a usable token; the provider may be failing, try again", s.Provider),
		pe:      map[string]any{"endpoint": "token"},
		cause:   err,
	}.err()
}

// TokenResponseError classifies an error answer of the token endpoint,
// given as parsed by ParseProviderError.
func (s *Session) TokenResponseError(pe map[string]any) *provider.Error {
	status, _ := pe["status"].(int)
	code := strings.ToLower(str(pe["error"]))
	reason := str(pe["reason"])
	words := Words(pe)
	cause := &causeErr{msg: fmt.Sprintf("token endpoint: HTTP %d %s", status, str(pe["error"]))}
	f := failure{pe: pe, cause: cause}
	// The provider's own reading of its codes, if it has one (see
	// TokenClassifier): it counts as the matching OAuth code below.
	var hint provider.Class
	var why string
	if s.Classify != nil {
		hint, why = s.Classify(pe)
	}

	switch {
	case status >= 500 || transientStatus[status] || hint == provider.ClassUnavailable ||
		code == "temporarily_unavailable" || code == "server_error":
		f.class = provider.ClassUnavailable
		f.message = fmt.Sprintf("%s's token endpoint is failing (%s); the provider is unavailable, try again later", s.Provider, words)
	case code == "invalid_scope" || hint == provider.ClassMissingScope:
		f.class = provider.ClassMissingScope
		f.message = fmt.Sprintf("%s rejected the requested scopes (%s): the refresh token was not granted them. Request only scopes the user consented to, or ask the user to sign in again and consent to them", s.Provider, words)
	case code == "invalid_client" || code == "unauthorized_client" || hint == provider.ClassInvalidClient ||
		strings.Contains(strings.ToLower(reason), "client") || (status == http.StatusUnauthorized && code == ""):
		f.class = provider.ClassInvalidClient
		f.message = fmt.Sprintf("%s rejected the OAuth client credentials (%s): check the client_id and client_secret of the connector or of the credential used; this also happens when the refresh token was issued to a different OAuth client", s.Provider, words)
	case code == "invalid_grant" || hint == provider.ClassInvalidCredentials:
		f.class = provider.ClassInvalidCredentials
		f.message = fmt.Sprintf("The provider rejected the refresh token (invalid_grant: it is expired, revoked or was issued to another client). Ask the user to sign in again. %s said: %s", s.Provider, words)
	case code == "" && status > http.StatusUnauthorized:
		// A 403 or 404 page without an OAuth error (a proxy, a firewall, a
		// misconfigured token URL) is no verdict on the token: OAuth
		// errors are 400 or 401 with an error code (RFC 6749 5.2).
		f.class = provider.ClassUnavailable
		f.message = fmt.Sprintf("%s's token endpoint answered without an OAuth error (%s); this says nothing about the token, try again later", s.Provider, words)
	case status >= 400 || code != "":
		f.class = provider.ClassInvalidCredentials
		f.message = fmt.Sprintf("%s rejected the token refresh (%s)", s.Provider, words)
	default:
		f.class = provider.ClassUnavailable
		f.message = fmt.Sprintf("%s's token endpoint gave an unexpected answer (%s); try again later", s.Provider, words)
	}
	if hint != "" && f.class == hint && why != "" {
		f.message = why
	}
	return s.redact(f.err())
}

// transientStatus are 4xx statuses that mean "not now" (RFC 9110: 408
// Request Timeout, 409 Conflict, 423 Locked, 425 Too Early, 429 Too Many
// Requests), whatever the body says.
var transientStatus = map[int]bool{
	http.StatusRequestTimeout: true, http.StatusConflict: true, http.StatusLocked: true,
	http.StatusTooEarly: true, http.StatusTooManyRequests: true,
}

// IdentityError classifies a non-2xx answer of an identity endpoint (what
// names it in messages, "userinfo endpoint") called with a freshly redeemed
// access token. unauthorized is the class of a plain 401 (Google's userinfo
// answers 401 to a token without the identity scopes).
func (s *Session) IdentityError(what string, status int, header http.Header, body []byte, unauthorized provider.Class) *provider.Error {
	pe := ParseProviderError("identity", status, header.Get("Content-Type"), body)
	words := Words(pe)
	lower := strings.ToLower(string(body) + " " + header.Get("WWW-Authenticate"))
	scopey := strings.Contains(lower, "scope") || strings.Contains(lower, "insufficient") || strings.Contains(lower, "privilege")
	f := failure{pe: pe, cause: &causeErr{msg: fmt.Sprintf("%s: HTTP %d", what, status)}}
	missing := fmt.Sprintf("%s's %s refused the access token (%s): the refresh token lacks the scopes needed to read the user's identity; it must include %s", s.Provider, what, words, s.ScopeHint)
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
		f.class = provider.ClassUnavailable
		f.message = fmt.Sprintf("%s's %s is failing (%s); the provider is unavailable, try again later", s.Provider, what, words)
		// Google's APIs and Microsoft Graph say how long to wait (Graph's
		// throttling always does).
		e := f.err()
		e.RetryAfter = provider.ParseRetryAfter(header.Get("Retry-After"), time.Now())
		return s.redact(e)
	case status == http.StatusForbidden || (status >= 400 && scopey):
		f.class, f.message = provider.ClassMissingScope, missing
	case status == http.StatusUnauthorized && unauthorized == provider.ClassMissingScope:
		f.class, f.message = provider.ClassMissingScope, missing
	case status >= 400:
		f.class = provider.ClassInvalidCredentials
		f.message = fmt.Sprintf("%s's %s rejected the access token obtained with the refresh token (%s). Ask the user to sign in again", s.Provider, what, words)
	default:
		f.class = provider.ClassUnavailable
		f.message = fmt.Sprintf("%s's %s gave an unexpected answer (%s); try again later", s.Provider, what, words)
	}
	return s.redact(f.err())
}

// TransportError classifies a failure to get any answer from what (a name
// for messages, "token endpoint"): timeouts, refused connections, DNS and
// TLS failures. Certificate verification failures are ClassTLS; everything
// else is ClassUnavailable.
func (s *Session) TransportError(ctx context.Context, what string, err error) *provider.Error {
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		dnsErr   *net.DNSError
		netErr   net.Error
		detail   string
		tlsClass bool
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		tlsClass = true
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		detail = "timed out"
	case errors.Is(err, context.Canceled):
		detail = "request canceled"
	case errors.As(err, &dnsErr):
		detail = "cannot resolve host " + dnsErr.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		detail = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		detail = "connection reset"
	case errors.As(err, &netErr) && netErr.Timeout():
		detail = "timed out"
	default:
		detail = "connection failed"
	}
	host := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
	}
	if tlsClass {
		return s.redact(&provider.Error{
			Class:   provider.ClassTLS,
			Message: fmt.Sprintf("the TLS certificate of %s's %s (%s) could not be verified; check network.ca_file or the endpoint configuration", s.Provider, what, host),
			Err:     err,
		})
	}
	return s.redact(&provider.Error{
		Class:   provider.ClassUnavailable,
		Message: fmt.Sprintf("%s's %s could not be reached (%s): provider unreachable, try again", s.Provider, what, detail),
		Err:     err,
	})
}

// Fields of a provider error body copied into provider.Error.ProviderError;
// anything else (which could echo the request) is dropped.
var allowedFields = []string{
	"error", "error_description", "error_uri", "error_codes", "reason",
	"suberror", "trace_id", "correlation_id", "timestamp", "code", "message",
}

const maxField = 500

// ParseProviderError extracts the provider's own words from an error
// answer: {"endpoint": endpoint, "status": status} plus the allowed fields
// of a JSON body (a nested {"error":{"code","message","status"}} object, as
// Google APIs and Microsoft Graph send, is flattened into error and
// error_description), or a short text excerpt under "body" for non-JSON
// answers such as an HTML 502 page.
func ParseProviderError(endpoint string, status int, contentType string, body []byte) map[string]any {
	pe := map[string]any{"endpoint": endpoint, "status": status}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err == nil && m != nil {
		if nested, ok := m["error"].(map[string]any); ok {
			delete(m, "error")
			switch {
			case str(nested["status"]) != "":
				m["error"] = nested["status"]
			case nested["code"] != nil:
				m["error"] = scalarString(nested["code"])
			}
			if msg, ok := nested["message"].(string); ok {
				if _, has := m["error_description"]; !has {
					m["error_description"] = msg
				}
			}
		}
		for _, k := range allowedFields {
			if v, ok := cleanValue(m[k]); ok {
				pe[k] = v
			}
		}
		return pe
	}
	if len(body) > 0 {
		if strings.Contains(contentType, "html") || looksHTML(body) {
			pe["body"] = fault.Shorten(htmlText(body), 200)
		} else {
			pe["body"] = fault.Shorten(collapse(string(body)), 200)
		}
	}
	return pe
}

// cleanValue keeps strings (truncated), numbers, booleans and arrays of
// those.
func cleanValue(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		return fault.Shorten(t, maxField), true
	case float64:
		if t == float64(int64(t)) {
			return int64(t), true
		}
		return t, true
	case bool:
		return t, true
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			if c, ok := cleanValue(e); ok {
				if _, isArr := c.([]any); !isArr {
					out = append(out, c)
				}
			}
			if len(out) == 20 {
				break
			}
		}
		return out, true
	}
	return nil, false
}

var (
	tagRE   = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
)

func looksHTML(b []byte) bool {
	t := strings.ToLower(strings.TrimSpace(string(b[:min(len(b), 64)])))
	return strings.HasPrefix(t, "<!doctype html") || strings.HasPrefix(t, "<html")
}

func htmlText(b []byte) string {
	if m := titleRE.FindSubmatch(b); m != nil {
		if t := collapse(string(m[1])); t != "" {
			return t
		}
	}
	return collapse(tagRE.ReplaceAllString(string(b), " "))
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// Words renders the provider's error, as ParseProviderError returns it,
// for a message: "HTTP 400 invalid_grant: Token has been expired or
// revoked."
func Words(pe map[string]any) string {
	var b strings.Builder
	if st, _ := pe["status"].(int); st != 0 {
		fmt.Fprintf(&b, "HTTP %d", st)
	}
	code := str(pe["error"])
	if code == "" {
		code = scalarString(pe["code"])
	}
	if code != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(code)
	}
	desc := str(pe["error_description"])
	if desc == "" {
		desc = str(pe["reason"])
	}
	if desc == "" {
		desc = str(pe["message"])
	}
	if desc == "" {
		desc = str(pe["body"])
	}
	if desc != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		// Entra descriptions carry trace and correlation ids on further lines.
		if i := strings.IndexAny(desc, "\r\n"); i > 0 {
			desc = desc[:i]
		}
		b.WriteString(fault.Shorten(desc, 200))
	}
	if b.Len() == 0 {
		return "no details"
	}
	return b.String()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	}
	return ""
}

// causeErr is a cause with a fixed, secret-free text.
type causeErr struct {
	msg string
	err error
}

func (e *causeErr) Error() string { return e.msg }
func (e *causeErr) Unwrap() error { return e.err }
