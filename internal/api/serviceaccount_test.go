package api_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/sandbox"
)

// saEnv is grantd with a google connector, a service account of
// acme.test delegated gmail.readonly and calendar, its credential, and
// users in and outside the domain.
type saEnv struct {
	*apitest.Env
	key, credID string
	saEmail     string
	saKey       map[string]any
}

func newSAEnv(t *testing.T) *saEnv {
	e := &saEnv{Env: apitest.New(t)}
	_, e.key = e.App("acme")
	e.OAuthConnector(e.key, "google")
	e.saEmail, e.saKey = e.ServiceAccount("acme.test")
	for _, u := range []string{"ada@acme.test", "bob@acme.test", "eve@other.test"} {
		e.Sandbox.AddUser("google", sandbox.User{Email: u})
	}
	r := e.Do("POST", "/v3/connectors/google/creds", e.key, map[string]any{"name": "sa", "credential_type": "serviceaccount", "credential_data": e.saKey})
	if r.Status != http.StatusCreated {
		t.Fatalf("create serviceaccount credential: %d %s", r.Status, r.Raw)
	}
	e.credID = r.Data()["id"].(string)
	if pk := e.saKey["private_key"].(string); strings.Contains(string(r.Raw), "PRIVATE KEY") || strings.Contains(string(r.Raw), pk[40:80]) {
		t.Fatalf("the private key is echoed: %s", r.Raw)
	}
	return e
}

func (e *saEnv) bulk(settings map[string]any) apitest.Response {
	e.T.Helper()
	return e.Do("POST", "/v3/connect/custom", e.key, map[string]any{"provider": "google", "settings": settings})
}

func (e *saEnv) settings(email string, scopes ...any) map[string]any {
	if len(scopes) == 0 {
		scopes = []any{apitest.GmailReadonly}
	}
	return map[string]any{"email_address": email, "credential_id": e.credID, "scopes": scopes}
}

// TestServiceAccountGrant: a service account grant is created with a real
// JWT-bearer exchange and a Gmail read, re-authenticating the same user
// keeps the grant id, and a calendar-only grant proves access with the
// calendar.
func TestServiceAccountGrant(t *testing.T) {
	e := newSAEnv(t)
	before := e.Sandbox.Ledger("google")
	r := e.bulk(e.settings("Ada@acme.test"))
	if r.Status != http.StatusCreated {
		t.Fatalf("bulk grant: %d %s", r.Status, r.Raw)
	}
	g := r.Data()
	if g["email"] != "ada@acme.test" || g["provider"] != "google" || g["grant_status"] != "valid" || g["credential_id"] != e.credID {
		t.Errorf("grant: %s", r.Raw)
	}
	if sc, _ := g["scope"].([]any); len(sc) != 1 || sc[0] != apitest.GmailReadonly {
		t.Errorf("scope: %v", g["scope"])
	}
	after := e.Sandbox.Ledger("google")
	if after.Redemptions-before.Redemptions != 1 || after.IdentityCalls-before.IdentityCalls != 1 {
		t.Errorf("provider calls: %d token, %d reads; want 1 and 1", after.Redemptions-before.Redemptions, after.IdentityCalls-before.IdentityCalls)
	}
	stored, err := e.Server.Store.GetGrant(t.Context(), appOf(t, e.Env, e.key), g["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if stored.AccessTokenExpiresAt.IsZero() || stored.NextRefreshAt.IsZero() {
		t.Errorf("the grant is not scheduled for a new token: expires %v next %v", stored.AccessTokenExpiresAt, stored.NextRefreshAt)
	}

	r = e.bulk(e.settings("ada@acme.test", apitest.GmailReadonly, apitest.Calendar))
	if r.Status != http.StatusCreated || r.Data()["id"] != g["id"] {
		t.Errorf("re-authentication: %d %s", r.Status, r.Raw)
	}
	r = e.bulk(e.settings("bob@acme.test", apitest.Calendar))
	if r.Status != http.StatusCreated || r.Data()["email"] != "bob@acme.test" {
		t.Errorf("calendar-only grant: %d %s", r.Status, r.Raw)
	}
	// PATCH re-authenticates with the grant's own credential; a refresh
	// token is refused on a service account grant.
	id := g["id"].(string)
	r = e.Do("PATCH", "/v3/grants/"+id, e.key, map[string]any{"settings": map[string]any{"email_address": "ada@acme.test", "scopes": []any{apitest.Calendar}}})
	if sc, _ := r.Data()["scope"].([]any); r.Status != http.StatusOK || len(sc) != 1 || sc[0] != apitest.Calendar || r.Data()["credential_id"] != e.credID {
		t.Errorf("patch with new scopes: %d %s", r.Status, r.Raw)
	}
	r = e.Do("PATCH", "/v3/grants/"+id, e.key, map[string]any{"settings": map[string]any{"refresh_token": "1//x"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "serviceaccount credential") {
		t.Errorf("patch with a refresh token: %d %s", r.Status, r.Raw)
	}
	r = e.Do("PATCH", "/v3/grants/"+id, e.key, map[string]any{"settings": map[string]any{"email_address": "bob@acme.test", "scopes": []any{apitest.GmailReadonly}}})
	if r.Status != http.StatusBadRequest {
		t.Errorf("patch to another user: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(e.Logs.String(), "PRIVATE KEY") {
		t.Errorf("the private key was logged")
	}
}

// TestServiceAccountBadInput: every bad input of a service account grant
// or credential is a 400 naming the problem; nothing is stored and no
// secret is echoed.
func TestServiceAccountBadInput(t *testing.T) {
	e := newSAEnv(t)
	pk := e.saKey["private_key"].(string)
	with := func(k string, v any) map[string]any {
		m := maps.Clone(e.saKey)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	lines := strings.Split(pk, "\n")
	damaged := strings.Join(append(append([]string{lines[0]}, lines[2:5]...), lines[len(lines)-2:]...), "\n")
	for _, tc := range []struct {
		name string
		data any
		want string
	}{
		{"user credentials file", with("type", "authorized_user"), `"service_account"`},
		{"no private key", with("private_key", nil), "private_key is required"},
		{"not PEM", with("private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "not a PEM private key"},
		{"damaged PEM", with("private_key", damaged), "does not parse"},
		{"certificate", with("private_key", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), `"CERTIFICATE"`},
		{"encrypted", with("private_key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), "passphrase"},
		{"client_email not an address", with("client_email", "robot"), "client_email is not an address"},
		{"not an object", `{"type":"service_account"}`, "credential_data"},
	} {
		r := e.Do("POST", "/v3/connectors/google/creds", e.key, map[string]any{"name": "bad " + tc.name, "credential_type": "serviceaccount", "credential_data": tc.data})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s: %d %s (want a 400 saying %s)", tc.name, r.Status, r.Raw, tc.want)
		}
		if strings.Contains(string(r.Raw), pk[40:80]) {
			t.Errorf("%s: the key is echoed", tc.name)
		}
	}
	if r := e.Do("GET", "/v3/connectors/google/creds", e.key, nil); len(r.List()) != 1 {
		t.Errorf("refused credentials were stored: %s", r.Raw)
	}
	// A PATCH that would break the key is refused too.
	if r := e.Do("PATCH", "/v3/connectors/google/creds/"+e.credID, e.key, map[string]any{"credential_data": map[string]any{"private_key": "nope"}}); r.Status != http.StatusBadRequest {
		t.Errorf("patch with a bad key: %d %s", r.Status, r.Raw)
	}

	conn := e.Do("POST", "/v3/connectors/google/creds", e.key, map[string]any{"name": "conn", "credential_type": "connector", "credential_data": map[string]any{"client_id": "client-google", "client_secret": "secret-google-canary"}})
	if conn.Status != http.StatusCreated {
		t.Fatalf("connector credential: %d %s", conn.Status, conn.Raw)
	}
	connID := conn.Data()["id"].(string)
	e.Sandbox.AddUser("google", sandbox.User{Email: "nodelegation@acme.test"})
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"scopes missing", map[string]any{"email_address": "ada@acme.test", "credential_id": e.credID}, "settings.scopes is required"},
		{"scopes not a list", map[string]any{"email_address": "ada@acme.test", "credential_id": e.credID, "scopes": apitest.GmailReadonly}, "must be a list"},
		{"scopes empty", map[string]any{"email_address": "ada@acme.test", "credential_id": e.credID, "scopes": []any{}}, "empty"},
		{"scope entry not a string", map[string]any{"email_address": "ada@acme.test", "credential_id": e.credID, "scopes": []any{5}}, "scopes[0]"},
		{"no scope to prove access", e.settings("ada@acme.test", "https://www.googleapis.com/auth/drive"), "Gmail scope"},
		{"scope not delegated", e.settings("ada@acme.test", "https://www.googleapis.com/auth/gmail.modify"), "domain-wide delegation"},
		{"user outside the domain", e.settings("eve@other.test"), "does not exist in the service account's Workspace domain"},
		{"unknown user", e.settings("nobody@acme.test"), "does not exist in the service account's Workspace domain"},
		{"no credential_id", map[string]any{"email_address": "ada@acme.test", "scopes": []any{apitest.GmailReadonly}}, "credential_id is required"},
		{"connector credential", map[string]any{"email_address": "ada@acme.test", "credential_id": connID, "scopes": []any{apitest.GmailReadonly}}, `takes a "serviceaccount" credential`},
		{"serviceaccount credential with a refresh token", map[string]any{"refresh_token": "1//x", "credential_id": e.credID}, "for bulk authentication"},
		{"email_address not an address", e.settings("ada"), "email_address"},
	} {
		r := e.bulk(tc.settings)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s: %d %s (want a 400 saying %s)", tc.name, r.Status, r.Raw, tc.want)
		}
		if strings.Contains(string(r.Raw), pk[40:80]) || strings.Contains(string(r.Raw), "ya29.") {
			t.Errorf("%s: a secret is echoed: %s", tc.name, r.Raw)
		}
	}
	if r := e.Do("GET", "/v3/grants", e.key, nil); len(r.List()) != 0 {
		t.Errorf("refused grants were stored: %s", r.Raw)
	}
	// Google unreachable: a 504, nothing stored.
	e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503})
	if r := e.bulk(e.settings("ada@acme.test")); r.Status != http.StatusGatewayTimeout {
		t.Errorf("Google failing: %d %s", r.Status, r.Raw)
	}
	// A replaced key (the stored one is refused): the client is refused,
	// not the user.
	if _, err := e.Sandbox.AddServiceAccount(sandbox.ServiceAccount{ClientEmail: e.saEmail, Domain: "acme.test", Scopes: []string{apitest.GmailReadonly}}); err != nil {
		t.Fatal(err)
	}
	if r := e.bulk(e.settings("ada@acme.test")); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "service account key") {
		t.Errorf("revoked key: %d %s", r.Status, r.Raw)
	}
}

// TestServiceAccountExport: grantd export writes a service account grant
// as a bulk line (email_address, credential_id, scopes; no app-grant
// handle posing as a refresh token), which authenticates the same grant
// again.
func TestServiceAccountExport(t *testing.T) {
	e := newSAEnv(t)
	r := e.bulk(e.settings("ada@acme.test"))
	if r.Status != http.StatusCreated {
		t.Fatalf("bulk grant: %d %s", r.Status, r.Raw)
	}
	var buf bytes.Buffer
	if _, err := importer.Export(t.Context(), &buf, e.Server.Store, importer.ExportOptions{AppID: appOf(t, e.Env, e.key), Secrets: e.Server.Grants.Secrets, IncludeSecrets: true}); err != nil {
		t.Fatal(err)
	}
	var line importer.Line
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if line.Settings["email_address"] != "ada@acme.test" || line.Settings["credential_id"] != e.credID || line.Settings["refresh_token"] != nil || strings.Contains(buf.String(), "grantd-app.") {
		t.Fatalf("export line: %s", buf.Bytes())
	}
	again := e.Do("POST", "/v3/connect/custom", e.key, map[string]any{"provider": line.Provider, "settings": line.Settings})
	if again.Status != http.StatusCreated || again.Data()["id"] != r.Data()["id"] {
		t.Errorf("the exported line: %d %s", again.Status, again.Raw)
	}
}
