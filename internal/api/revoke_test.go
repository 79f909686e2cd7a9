package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

// TestRevokeClientAuthentication: POST /v3/connect/revoke authenticates
// the client before it looks at the token (RFC 7009 §2.1), whatever the
// token: without authentication, or with a wrong key or secret, the
// answer is a 401 invalid_client and nothing is revoked, for an unknown
// token as for a live one. An authenticated client revokes its own
// tokens (again, when they are dead already: 200), hears 400
// invalid_token for an unknown one (as Nylas answers) and cannot touch
// another application's; client_id alone (a public client) revokes only
// the tokens of a PKCE-only sign-in.
func TestRevokeClientAuthentication(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "acme")
	a.connector("google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})
	_, otherKey := e.App("other")

	confidential := func() string { // an access token of a sign-in whose code was exchanged with the secret
		t.Helper()
		code := a.authorize(t, url.Values{"provider": {"google"}, "access_type": {"offline"}}, "ada@example.com").Get("code")
		st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": code, "client_secret": a.key, "grant_type": "authorization_code"})
		if st != 200 {
			t.Fatalf("token: %d %v", st, tok)
		}
		return tok["access_token"].(string)
	}
	public := func() string { // an access token of a PKCE-only sign-in
		t.Helper()
		verifier := "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
		code := a.authorize(t, url.Values{"provider": {"google"}, "access_type": {"offline"}, "code_challenge": {sdkChallenge(verifier)}, "code_challenge_method": {"s256"}}, "ada@example.com").Get("code")
		st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": code, "code_verifier": verifier, "grant_type": "authorization_code"})
		if st != 200 {
			t.Fatalf("PKCE token: %d %v", st, tok)
		}
		return tok["access_token"].(string)
	}
	live := func(tok string) bool {
		return e.Do("GET", "/v3/connect/tokeninfo?access_token="+url.QueryEscape(tok), "", nil).Status == 200
	}
	revoke := func(key string, q url.Values) apitest.Response {
		return e.Do("POST", "/v3/connect/revoke?"+q.Encode(), key, nil)
	}
	expect := func(what string, r apitest.Response, status int, code string) {
		t.Helper()
		if r.Status != status || (code != "" && r.Body["error"] != code) || (code == "" && r.Body["request_id"] == nil) {
			t.Errorf("%s: %d %s; want %d %s", what, r.Status, r.Raw, status, code)
		}
		if code != "" && (r.Body["error_description"] == "" || r.Body["error_code"] != float64(status)) {
			t.Errorf("%s: not an OAuth error with a description: %s", what, r.Raw)
		}
		if status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", what)
		}
	}

	tok := confidential()
	for _, token := range []string{"gat_not_issued", tok} {
		kind := "a live token"
		if token != tok {
			kind = "an unknown token"
		}
		q := url.Values{"token": {token}}
		expect(kind+" without client authentication", revoke("", q), 401, "invalid_client")
		expect(kind+" with a wrong Bearer key", revoke("grantd_wrong", q), 401, "invalid_client")
		expect(kind+" with a wrong client_secret", revoke("", url.Values{"token": {token}, "client_id": {a.appID}, "client_secret": {"grantd_wrong"}}), 401, "invalid_client")
		expect(kind+" with client_secret but no client_id", revoke("", url.Values{"token": {token}, "client_secret": {a.key}}), 401, "invalid_client")
		expect(kind+" with an unknown client_id", revoke("", url.Values{"token": {token}, "client_id": {"no-such-app"}}), 401, "invalid_client")
		expect(kind+" with the Bearer key of another application than client_id", revoke(otherKey, url.Values{"token": {token}, "client_id": {a.appID}}), 401, "invalid_client")
		// A valid client_secret does not make a wrong Bearer key sent with
		// it ignored.
		withSecret := url.Values{"token": {token}, "client_id": {a.appID}, "client_secret": {a.key}}
		expect(kind+" with a valid client_secret and a wrong Bearer key", revoke("grantd_wrong", withSecret), 401, "invalid_client")
		expect(kind+" with a valid client_secret and another application's Bearer key", revoke(otherKey, withSecret), 401, "invalid_client")
	}
	if !live(tok) {
		t.Fatal("a refused revocation revoked the token")
	}
	foreign := revoke(otherKey, url.Values{"token": {tok}})
	expect("another application's token", foreign, 400, "invalid_token")
	// ... in the words of an unknown token: that it exists is not the
	// other application's to learn.
	if unknown := revoke(otherKey, url.Values{"token": {"gat_not_issued"}}); foreign.Body["error_description"] != unknown.Body["error_description"] {
		t.Errorf("another application's token is told apart from an unknown one: %s, %s", foreign.Raw, unknown.Raw)
	}
	expect("a confidential sign-in's token with client_id alone", revoke("", url.Values{"token": {tok}, "client_id": {a.appID}}), 401, "invalid_client")
	if !live(tok) {
		t.Fatal("another application, or client_id alone, revoked the token")
	}
	expect("an unknown token, authenticated", revoke(a.key, url.Values{"token": {"gat_not_issued"}}), 400, "invalid_token")
	expect("no token, authenticated", revoke(a.key, url.Values{}), 400, "invalid_request")
	expect("token given twice", revoke(a.key, url.Values{"token": {tok, tok}}), 400, "invalid_request")

	// The SDK's way: the API key as Bearer; then again, revoked already.
	expect("the application's own token (Bearer key)", revoke(a.key, url.Values{"token": {tok}}), 200, "")
	if live(tok) {
		t.Fatal("the token is live after its revocation")
	}
	expect("a revoked token, again", revoke(a.key, url.Values{"token": {tok}}), 200, "")

	// RFC 7009's way: a form body with client_id and client_secret.
	tok = confidential()
	form := url.Values{"token": {tok}, "client_id": {a.appID}, "client_secret": {a.key}}
	resp, err := http.Post(e.HTTP.URL+"/v3/connect/revoke", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || live(tok) {
		t.Errorf("form body revocation: %d, live %v", resp.StatusCode, live(tok))
	}

	// A public client: client_id alone revokes a PKCE-only sign-in's token.
	ptok := public()
	expect("a PKCE-only sign-in's token, another client_id", revoke("", url.Values{"token": {ptok}, "client_id": {e.Do("GET", "/v3/applications", otherKey, nil).Data()["application_id"].(string)}}), 400, "invalid_token")
	expect("a PKCE-only sign-in's token with client_id alone", revoke("", url.Values{"token": {ptok}, "client_id": {a.appID}}), 200, "")
	if live(ptok) {
		t.Error("the PKCE-only token is live after its revocation")
	}
}
