package api_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
)

// TestCallbackTokenEndpointTransport: when the provider's token endpoint
// cannot be reached during the callback's code exchange, the application
// hears what a refresh would tell it: the actionable message (not Go's
// error chain, nor the endpoint's host or address, which are for the
// operator's log) under an OAuth code that says whose failure it is, not
// access_denied.
func TestCallbackTokenEndpointTransport(t *testing.T) {
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/token"
	l.Close()
	for _, tc := range []struct {
		name, tokenURL, code, says string
	}{
		{"untrusted certificate", untrusted.URL + "/token", "server_error", "could not verify the TLS certificate"},
		{"connection refused", closed, "temporarily_unavailable", "could not reach the provider"},
		{"unknown host", "http://token.grantd-review.invalid/token", "temporarily_unavailable", "could not reach the provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) { c.Providers.Google.TokenURL = tc.tokenURL }})
			e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})
			a := newHostedApp(t, e, "acme")
			a.connector("google")
			back := a.authorize(t, url.Values{"provider": {"google"}, "state": {"s1"}}, "ada@example.com")
			desc := back.Get("error_description")
			if back.Get("error") != tc.code || back.Get("state") != "s1" || back.Has("code") || !strings.Contains(desc, tc.says) {
				t.Errorf("callback: %v; want error=%s saying %q", back, tc.code, tc.says)
			}
			// Nor the endpoint's address or host: those are for the
			// operator's log, not the user's browser.
			u, _ := url.Parse(tc.tokenURL)
			for _, internal := range []string{"x509", "dial tcp", `Post "`, "POST \"", "tls_error", "provider_unavailable", u.Host, u.Hostname()} {
				if strings.Contains(desc, internal) {
					t.Errorf("error_description shows %q: %s", internal, desc)
				}
			}
			if l := e.Do("GET", "/v3/grants", a.key, nil).List(); len(l) != 0 {
				t.Errorf("a grant after a failed exchange: %v", l)
			}
		})
	}
}
