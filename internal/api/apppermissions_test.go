package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/sandbox"
)

const (
	contoso  = "0c0f7a3e-0000-4000-8000-c0c0c0c0c0c0"
	fabrikam = "fab0fab0-0000-4000-8000-fabfabfabfab"
)

// msAppEnv is grantd with a microsoft connector and an adminconsent
// credential for the tenant contoso (consented), with users in contoso and
// fabrikam.
type msAppEnv struct {
	*apitest.Env
	key, credID string
}

func newMSAppEnv(t *testing.T) *msAppEnv {
	e := &msAppEnv{Env: apitest.New(t)}
	_, e.key = e.App("acme")
	e.OAuthConnector(e.key, "microsoft")
	e.Sandbox.AddClient("microsoft", "app-client", "app-secret-canary")
	e.Sandbox.AddUser("microsoft", sandbox.User{Email: "Ada@contoso.test", Name: "Ada Lovelace", Tenant: contoso})
	e.Sandbox.AddUser("microsoft", sandbox.User{Email: "bob@contoso.test", Tenant: contoso})
	e.Sandbox.AddUser("microsoft", sandbox.User{Email: "eve@fabrikam.test", Tenant: fabrikam})
	e.Sandbox.GrantAdminConsent(contoso, "app-client")
	e.credID = e.consentCredential("contoso", contoso)
	return e
}

func (e *msAppEnv) consentCredential(name, tenant string) string {
	e.T.Helper()
	r := e.Do("POST", "/v3/connectors/microsoft/creds", e.key, map[string]any{"name": name, "credential_type": "adminconsent",
		"credential_data": map[string]any{"client_id": "app-client", "client_secret": "app-secret-canary", "tenant": tenant}})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("adminconsent credential: %d %s", r.Status, r.Raw)
	}
	return r.Data()["id"].(string)
}

func (e *msAppEnv) bulk(email, credID string) apitest.Response {
	e.T.Helper()
	return e.Do("POST", "/v3/connect/custom", e.key, map[string]any{"provider": "microsoft", "settings": map[string]any{"email_address": email, "credential_id": credID}})
}

// TestAppPermissionsGrant: an app permissions grant gets an app-only token
// with client credentials and finds the user in the tenant; the grant's
// email is the user's primary address; the same user keeps the grant id.
func TestAppPermissionsGrant(t *testing.T) {
	e := newMSAppEnv(t)
	r := e.bulk("ada@CONTOSO.test", e.credID)
	if r.Status != http.StatusCreated {
		t.Fatalf("bulk grant: %d %s", r.Status, r.Raw)
	}
	g := r.Data()
	if g["email"] != "ada@contoso.test" || g["name"] != "Ada Lovelace" || g["credential_id"] != e.credID || g["provider_user_id"] == "" || g["grant_status"] != "valid" {
		t.Errorf("grant: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), "app-secret-canary") {
		t.Errorf("secret echoed")
	}
	r = e.bulk("Ada@contoso.test", e.credID)
	if r.Status != http.StatusCreated || r.Data()["id"] != g["id"] {
		t.Errorf("re-authentication: %d %s", r.Status, r.Raw)
	}
}

// TestAppPermissionsBadInput: each bad input is a 400 naming the problem,
// nothing is stored, no secret is echoed.
func TestAppPermissionsBadInput(t *testing.T) {
	e := newMSAppEnv(t)
	noConsent := e.consentCredential("fabrikam", fabrikam)
	conn := e.Do("POST", "/v3/connectors/microsoft/creds", e.key, map[string]any{"name": "conn", "credential_type": "connector", "credential_data": map[string]any{"client_id": "client-microsoft", "client_secret": "secret-microsoft-canary"}})
	connID := conn.Data()["id"].(string)
	for _, tc := range []struct {
		name, email, cred, want string
	}{
		{"consent not given", "eve@fabrikam.test", noConsent, "has not consented"},
		{"user outside the tenant", "eve@fabrikam.test", e.credID, "no user"},
		{"unknown user", "nobody@contoso.test", e.credID, "no user"},
		{"connector credential", "ada@contoso.test", connID, `takes a "adminconsent" credential`},
		{"not an address", "ada", e.credID, "email_address"},
		{"no credential", "ada@contoso.test", "", "credential_id is required"},
	} {
		r := e.bulk(tc.email, tc.cred)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s: %d %s (want %q)", tc.name, r.Status, r.Raw, tc.want)
		}
		if strings.Contains(string(r.Raw), "canary") {
			t.Errorf("%s: secret echoed", tc.name)
		}
	}
	for _, tenant := range []string{"common", "organizations", "bad/tenant"} {
		r := e.Do("POST", "/v3/connectors/microsoft/creds", e.key, map[string]any{"name": "t " + tenant, "credential_type": "adminconsent", "credential_data": map[string]any{"tenant": tenant}})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "tenant") {
			t.Errorf("tenant %q: %d %s", tenant, r.Status, r.Raw)
		}
	}
	// An adminconsent credential with a refresh token.
	rt := e.RefreshToken("microsoft", "client-microsoft", "carol@example.com")
	r := e.Do("POST", "/v3/connect/custom", e.key, map[string]any{"provider": "microsoft", "settings": map[string]any{"refresh_token": rt, "credential_id": e.credID}})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "adminconsent credential") {
		t.Errorf("refresh token with an adminconsent credential: %d %s", r.Status, r.Raw)
	}
	if l := e.Do("GET", "/v3/grants", e.key, nil).List(); len(l) != 0 {
		t.Errorf("refused grants stored: %v", l)
	}
	// Graph failing (the tenant's app token is cached from the checks
	// above): a 504, nothing stored.
	e.Sandbox.InjectFailure("microsoft", sandbox.Failure{Status: 503})
	if r := e.bulk("ada@contoso.test", e.credID); r.Status != http.StatusGatewayTimeout {
		t.Errorf("Microsoft failing: %d %s", r.Status, r.Raw)
	}
	if l := e.Do("GET", "/v3/grants", e.key, nil).List(); len(l) != 0 {
		t.Errorf("grants stored during the outage: %v", l)
	}
}

// TestAdminConsentPieces: what hosted OAuth's response_type=adminconsent
// is built from: the credential's client resolved, the provider's admin
// consent URL, the sandbox administrator's answer read by the provider,
// the consent recorded on the credential; a bulk grant refused before the
// consent works after it.
func TestAdminConsentPieces(t *testing.T) {
	e := newMSAppEnv(t)
	appID := appOf(t, e.Env, e.key)
	cred := e.consentCredential("fabrikam", fabrikam)
	if r := e.bulk("eve@fabrikam.test", cred); r.Status != http.StatusBadRequest {
		t.Fatalf("before consent: %d %s", r.Status, r.Raw)
	}
	res, err := e.Server.Connectors.ResolveApp(t.Context(), appID, "microsoft", cred)
	if err != nil {
		t.Fatal(err)
	}
	ac := e.Server.Grants.Providers.Get("microsoft").(provider.AdminConsenter)
	u, err := ac.AdminConsentURL(res.Client, "http://127.0.0.1:9/v3/connect/callback", "st")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tenant, err := ac.AdminConsentResult(loc.Query())
	if err != nil || tenant != fabrikam {
		t.Fatalf("consent answer %q: %q %v", loc, tenant, err)
	}
	if _, err := e.Server.Connectors.RecordConsent(t.Context(), appID, "microsoft", cred, tenant); err != nil {
		t.Fatal(err)
	}
	if got, at, err := e.Server.Connectors.Consent(t.Context(), appID, "microsoft", cred); err != nil || got != fabrikam || at.IsZero() {
		t.Errorf("recorded consent: %q %v %v", got, at, err)
	}
	if _, err := e.Server.Connectors.RecordConsent(t.Context(), appID, "google", cred, tenant); err == nil {
		t.Errorf("consent recorded through another connector")
	}
	if r := e.bulk("eve@fabrikam.test", cred); r.Status != http.StatusCreated {
		t.Errorf("after consent: %d %s", r.Status, r.Raw)
	}
}
