package microsoft_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/microsoft"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/sandbox"
)

// TestAdminConsent: the admin consent URL takes an administrator to the
// sandbox's consent endpoint and back with the tenant; after it the
// client credentials grant works; a declined consent and an unknown
// client are classified; bad tenants are refused before any redirect.
func TestAdminConsent(t *testing.T) {
	const tenant = "0c0f7a3e-0000-4000-8000-c0c0c0c0c0c0"
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.AddClient(sandbox.Microsoft, "app", "app-secret")
	sb.AddUser(sandbox.Microsoft, sandbox.User{Email: "ada@contoso.test", Tenant: tenant})
	p := microsoft.New(sb.Providers().Microsoft, nil)
	client := provider.Client{ClientID: "app", ClientSecret: "app-secret", Tenant: tenant}
	cred := provider.AppCredential{Type: microsoft.CredentialAdminConsent, Data: map[string]any{"client_id": "app", "client_secret": "app-secret", "tenant": tenant}}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	consent := func(c provider.Client) url.Values {
		t.Helper()
		u, err := p.AdminConsentURL(c, "http://127.0.0.1:9/v3/connect/callback?x=1", "st-1")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/v3/connect/callback?") {
			t.Fatalf("consent answer: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if q.Get("state") != "st-1" || q.Get("x") != "1" {
			t.Errorf("state or redirect query lost: %v", q)
		}
		return q
	}

	if _, err := p.MintAppToken(context.Background(), cred, "", nil); provider.ClassOf(err) != provider.ClassInvalidCredentials {
		t.Fatalf("before consent: %v", err)
	}
	sb.DeclineAdminConsent(tenant, true)
	_, err = p.AdminConsentResult(consent(client))
	providertest.Class(t, err, provider.ClassInvalidCredentials)
	sb.DeclineAdminConsent(tenant, false)
	got, err := p.AdminConsentResult(consent(client))
	if err != nil || got != tenant || !sb.HasAdminConsent(tenant, "app") {
		t.Fatalf("consent: %q %v (recorded %v)", got, err, sb.HasAdminConsent(tenant, "app"))
	}
	if tok, err := p.MintAppToken(context.Background(), cred, "", nil); err != nil || tok.AccessToken == "" {
		t.Fatalf("after consent: %v", err)
	}
	_, err = p.AdminConsentResult(consent(provider.Client{ClientID: "nope", Tenant: tenant}))
	providertest.Class(t, err, provider.ClassBadRequest)
	for _, bad := range []string{"", "common", "a/b"} {
		if _, err := p.AdminConsentURL(provider.Client{ClientID: "app", Tenant: bad}, "http://x/cb", "s"); provider.ClassOf(err) != provider.ClassBadRequest {
			t.Errorf("tenant %q: %v", bad, err)
		}
	}
	for _, q := range []url.Values{{}, {"admin_consent": {"False"}}, {"admin_consent": {"True"}, "tenant": {"common"}}} {
		if _, err := p.AdminConsentResult(q); provider.ClassOf(err) != provider.ClassBadRequest {
			t.Errorf("%v: %v", q, err)
		}
	}
}
