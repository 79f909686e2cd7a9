package ews

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"time"

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
	// network timeout and guarded by the network configuration's Guard
	// (public addresses only unless network.allow_private_hosts or
	// network.allowed_cidrs permit others). Set it before the first
	// Validate.
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
		return provider.Result{}, c.codeError("ResolveNames", msg.ResponseCode, msg.MessageText, false, backOff(msg.MessageXML))
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
		return provider.Result{}, c.codeError("GetFolder", msg.ResponseCode, msg.MessageText, false, backOff(msg.MessageXML))
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
