package ews

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/provider"
)

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
