package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// adminConsentApp is msAppEnv with the application redirect URI
// registered and an adminconsent credential for fabrikam, whose
// administrator has not consented yet.
type adminConsentApp struct {
	*msAppEnv
	appID, fabCred string
}

func newAdminConsentApp(t *testing.T) *adminConsentApp {
	e := newMSAppEnv(t)
	if r := e.Do("POST", "/v3/applications/redirect-uris", e.key, map[string]any{"url": appRedirect}); r.Status != 200 {
		t.Fatalf("redirect uri: %d %s", r.Status, r.Raw)
	}
	return &adminConsentApp{msAppEnv: e, appID: appOf(t, e.Env, e.key), fabCred: e.consentCredential("fabrikam", fabrikam)}
}

func (a *adminConsentApp) authURL(params url.Values) string {
	q := url.Values{"client_id": {a.appID}, "redirect_uri": {appRedirect}, "response_type": {"adminconsent"}}
	for k, v := range params {
		q[k] = v
	}
	return a.HTTP.URL + "/v3/connect/auth?" + q.Encode()
}

// consent walks /v3/connect/auth → the sandbox's admin consent endpoint
// (whose administrator answers at once) → grantd's callback, and returns
// the query grantd sends the application's redirect URI.
func (a *adminConsentApp) consent(t *testing.T, params url.Values) url.Values {
	t.Helper()
	st, loc, body := get(t, a.authURL(params))
	if st != http.StatusFound {
		t.Fatalf("/v3/connect/auth: %d %s", st, body)
	}
	if !strings.HasPrefix(loc, a.Sandbox.URL()) || !strings.Contains(loc, "/v2.0/adminconsent?") || strings.Contains(loc, "app-secret-canary") {
		t.Fatalf("/v3/connect/auth redirects to %s, not the sandbox's admin consent endpoint (or with the secret)", loc)
	}
	st, cb, body := get(t, loc)
	if st != http.StatusFound || !strings.HasPrefix(cb, a.HTTP.URL+"/v3/connect/callback?") {
		t.Fatalf("admin consent endpoint: %d to %q %s", st, cb, body)
	}
	st, back, body := get(t, cb)
	if st != http.StatusFound || !strings.HasPrefix(back, appRedirect+"?") {
		t.Fatalf("callback: %d to %q %s", st, back, body)
	}
	if strings.Contains(back, "app-secret-canary") {
		t.Errorf("secret in the redirect: %s", back)
	}
	// The state grantd sent Microsoft is single use.
	if st, _, body := get(t, cb); st != http.StatusBadRequest || !strings.Contains(string(body), "invalid_request") {
		t.Errorf("callback replayed: %d %s", st, body)
	}
	bu, _ := url.Parse(back)
	return bu.Query()
}

func (a *adminConsentApp) grantCount(t *testing.T) int {
	t.Helper()
	r := a.Do("GET", "/v3/grants", a.key, nil)
	if r.Status != 200 {
		t.Fatalf("grants: %d %s", r.Status, r.Raw)
	}
	return len(r.Body["data"].([]any))
}

// TestAdminConsentGiven: response_type=adminconsent sends the
// administrator to Microsoft's admin consent endpoint for the
// credential's tenant and client, the callback records the consent on the
// credential and sends the application admin_consent=true, the tenant and
// its state; no grant is created, and the tenant's bulk grants, refused
// before, work afterwards.
func TestAdminConsentGiven(t *testing.T) {
	a := newAdminConsentApp(t)
	if r := a.bulk("eve@fabrikam.test", a.fabCred); r.Status != http.StatusBadRequest {
		t.Fatalf("bulk grant before consent: %d %s", r.Status, r.Raw)
	}
	before := a.grantCount(t)
	got := a.consent(t, url.Values{"credential_id": {a.fabCred}, "state": {"app-state"}, "provider": {"microsoft"}})
	if got.Get("admin_consent") != "true" || got.Get("tenant") != fabrikam || got.Get("state") != "app-state" || got.Get("error") != "" || got.Get("code") != "" {
		t.Fatalf("redirect back: %v", got)
	}
	if !a.Sandbox.HasAdminConsent(fabrikam, "app-client") {
		t.Errorf("the sandbox recorded no consent")
	}
	tenant, at, err := a.Server.Connectors.Consent(t.Context(), a.appID, "microsoft", a.fabCred)
	if err != nil || tenant != fabrikam || at.IsZero() {
		t.Errorf("consent on the credential: %q %v %v", tenant, at, err)
	}
	if n := a.grantCount(t); n != before {
		t.Errorf("admin consent changed the grants: %d, was %d", n, before)
	}
	if r := a.bulk("eve@fabrikam.test", a.fabCred); r.Status != http.StatusCreated {
		t.Errorf("bulk grant after consent: %d %s", r.Status, r.Raw)
	}
	// provider defaults to microsoft; no state: none sent back.
	got = a.consent(t, url.Values{"credential_id": {a.credID}})
	if got.Get("admin_consent") != "true" || got.Get("tenant") != contoso || got.Has("state") {
		t.Errorf("without provider and state: %v", got)
	}
}

// TestAdminConsentRefused: an administrator who declines sends the
// application error=access_denied with Microsoft's words and its state;
// nothing is recorded and bulk grants stay refused. Other refusals keep
// Microsoft's error code; an answer that is neither is a server_error.
func TestAdminConsentRefused(t *testing.T) {
	a := newAdminConsentApp(t)
	a.Sandbox.DeclineAdminConsent(fabrikam, true)
	got := a.consent(t, url.Values{"credential_id": {a.fabCred}, "state": {"s1"}})
	if got.Get("error") != "access_denied" || !strings.Contains(got.Get("error_description"), "declined") || got.Get("state") != "s1" || got.Has("admin_consent") {
		t.Fatalf("redirect back: %v", got)
	}
	if tenant, _, err := a.Server.Connectors.Consent(t.Context(), a.appID, "microsoft", a.fabCred); err != nil || tenant != "" {
		t.Errorf("consent recorded after a refusal: %q %v", tenant, err)
	}
	if r := a.bulk("eve@fabrikam.test", a.fabCred); r.Status != http.StatusBadRequest {
		t.Errorf("bulk grant after a refusal: %d %s", r.Status, r.Raw)
	}

	// Another refusal keeps Microsoft's code: a tenant Entra does not know.
	ghost := a.consentCredential("ghost", "9d0570e5-0000-4000-8000-9d0570e59d05")
	got = a.consent(t, url.Values{"credential_id": {ghost}})
	if got.Get("error") != "invalid_request" || !strings.Contains(got.Get("error_description"), "AADSTS90002") || got.Has("admin_consent") {
		t.Errorf("unknown tenant: %v", got)
	}

	// An answer that is neither a consent nor an error: server_error.
	st, loc, body := get(t, a.authURL(url.Values{"credential_id": {a.fabCred}, "state": {"s2"}}))
	if st != http.StatusFound {
		t.Fatalf("/v3/connect/auth: %d %s", st, body)
	}
	lu, _ := url.Parse(loc)
	st, back, body := get(t, a.HTTP.URL+"/v3/connect/callback?"+url.Values{"state": {lu.Query().Get("state")}, "tenant": {fabrikam}}.Encode())
	bu, _ := url.Parse(back)
	if st != http.StatusFound || bu.Query().Get("error") != "server_error" || bu.Query().Get("state") != "s2" || bu.Query().Has("admin_consent") {
		t.Errorf("neither consent nor error: %d %q %s", st, back, body)
	}
	if tenant, _, err := a.Server.Connectors.Consent(t.Context(), a.appID, "microsoft", a.fabCred); err != nil || tenant != "" {
		t.Errorf("consent recorded without admin_consent=True: %q %v", tenant, err)
	}
}

// TestAdminConsentBadRequest: a request that cannot be an admin consent
// is an OAuth-shaped 400 (never a redirect), and stores nothing.
func TestAdminConsentBadRequest(t *testing.T) {
	a := newAdminConsentApp(t)
	a.OAuthConnector(a.key, "google")
	connCred := a.Do("POST", "/v3/connectors/microsoft/creds", a.key, map[string]any{"name": "alt", "credential_type": "connector",
		"credential_data": map[string]any{"client_id": "alt-client", "client_secret": "alt-secret"}})
	if connCred.Status != http.StatusCreated {
		t.Fatalf("connector credential: %d %s", connCred.Status, connCred.Raw)
	}
	for _, c := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"wrong provider", url.Values{"provider": {"google"}, "credential_id": {a.fabCred}}, `provider "google" has no admin consent`},
		{"password provider", url.Values{"provider": {"imap"}, "credential_id": {a.fabCred}}, "microsoft"},
		{"unknown credential", url.Values{"credential_id": {"4e0d0000-0000-4000-8000-000000000000"}}, "does not exist on the microsoft connector"},
		{"no credential", url.Values{}, "credential_id is required"},
		{"connector credential", url.Values{"credential_id": {connCred.Data()["id"].(string)}}, `"adminconsent" credential`},
		{"state too long", url.Values{"credential_id": {a.fabCred}, "state": {strings.Repeat("s", 257)}}, "state is 257 characters"},
	} {
		st, loc, body := get(t, a.authURL(c.params))
		var e struct {
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		if st != http.StatusBadRequest || loc != "" || !strings.Contains(string(body), `"invalid_request"`) || !strings.Contains(e.ErrorDescription, c.want) {
			t.Errorf("%s: %d %q %s", c.name, st, loc, body)
		}
	}
	// An unregistered redirect URI is refused before anything else.
	q := url.Values{"redirect_uri": {"http://127.0.0.1:9/elsewhere"}, "credential_id": {a.fabCred}}
	if st, loc, body := get(t, a.authURL(q)); st != http.StatusBadRequest || loc != "" || !strings.Contains(string(body), "not registered") {
		t.Errorf("unregistered redirect: %d %q %s", st, loc, body)
	}
	if a.Sandbox.HasAdminConsent(fabrikam, "app-client") {
		t.Errorf("consent given by a refused request")
	}
}
