package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

// TestHostedRefreshPublicClient: refresh tokens of an authorization whose
// code was exchanged with the PKCE verifier alone are redeemed with the
// client_id alone (a public client), rotating and detecting reuse as
// ever; refresh tokens of an authorization that used the client secret
// still need it, and a refusal leaves them untouched; a public client's
// token is bound to its client_id.
func TestHostedRefreshPublicClient(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "public")
	other := newHostedApp(t, e, "other")
	a.connector("google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "pub@example.com"})
	signIn := func(pkce bool) map[string]any {
		t.Helper()
		verifier := strings.Repeat("p", 43)
		params := url.Values{"provider": {"google"}, "access_type": {"offline"}}
		body := map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "grant_type": "authorization_code"}
		if pkce {
			params.Set("code_challenge", rfcChallenge(verifier))
			params.Set("code_challenge_method", "S256")
			body["code_verifier"] = verifier
		} else {
			body["client_secret"] = a.key
		}
		body["code"] = a.authorize(t, params, "pub@example.com").Get("code")
		st, tok := a.token(t, body)
		if st != 200 || tok["refresh_token"] == nil {
			t.Fatalf("exchange (pkce %v): %d %v", pkce, st, tok)
		}
		return tok
	}
	refresh := func(clientID, secret string, rt any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"client_id": clientID, "grant_type": "refresh_token", "refresh_token": rt}
		if secret != "" {
			body["client_secret"] = secret
		}
		return a.token(t, body)
	}

	// A public client: PKCE only, then refreshes without a secret.
	pub := signIn(true)
	st, r1 := refresh(a.appID, "", pub["refresh_token"])
	if st != 200 || r1["refresh_token"] == nil || r1["refresh_token"] == pub["refresh_token"] || r1["grant_id"] != pub["grant_id"] || r1["id_token"] == nil {
		t.Fatalf("public refresh: %d %v", st, r1)
	}
	// The rotated token is public too.
	st, r2 := refresh(a.appID, "", r1["refresh_token"])
	if st != 200 || r2["refresh_token"] == nil {
		t.Fatalf("second public refresh: %d %v", st, r2)
	}
	// Bound to its client_id: another application's id is refused, and
	// the token still works afterwards.
	st, body := refresh(other.appID, "", r2["refresh_token"])
	oauthError(t, "public refresh token with another client_id", st, body, 400, "invalid_grant")
	st, body = refresh(other.appID, other.key, r2["refresh_token"])
	oauthError(t, "public refresh token with another application's secret", st, body, 400, "invalid_grant")
	st, r3 := refresh(a.appID, "", r2["refresh_token"])
	if st != 200 {
		t.Fatalf("public refresh after refusals: %d %v", st, r3)
	}
	// Reuse detection: the used r1 again revokes the family.
	st, body = refresh(a.appID, "", r1["refresh_token"])
	oauthError(t, "reused public refresh token", st, body, 400, "invalid_grant")
	if r := e.Do("GET", "/v3/connect/tokeninfo?access_token="+url.QueryEscape(r3["access_token"].(string)), "", nil); r.Status != 401 {
		t.Errorf("access token of a family revoked by reuse: %d %s", r.Status, r.Raw)
	}
	st, body = refresh(a.appID, "", r3["refresh_token"])
	oauthError(t, "refresh token of a family revoked by reuse", st, body, 400, "invalid_grant")
	// The secret still works for a public family.
	pub2 := signIn(true)
	if st, r := refresh(a.appID, a.key, pub2["refresh_token"]); st != 200 {
		t.Fatalf("public family refreshed with the secret: %d %v", st, r)
	}

	// A confidential authorization: no refresh without the secret, and
	// the refusal neither uses nor revokes the token.
	conf := signIn(false)
	st, body = refresh(a.appID, "", conf["refresh_token"])
	oauthError(t, "confidential refresh token without client_secret", st, body, 401, "invalid_client")
	if !strings.Contains(body["error_description"].(string), "client_secret") {
		t.Errorf("the refusal does not say what is missing: %v", body)
	}
	if r := e.Do("GET", "/v3/connect/tokeninfo?access_token="+url.QueryEscape(conf["access_token"].(string)), "", nil); r.Status != 200 {
		t.Errorf("the confidential family after a public attempt: %d %s", r.Status, r.Raw)
	}
	if st, r := refresh(a.appID, a.key, conf["refresh_token"]); st != 200 {
		t.Fatalf("confidential refresh with the secret after a public attempt: %d %v", st, r)
	}
	// A used confidential token replayed without the secret: refused
	// before it is looked at as a replay (no revocation by a client_id).
	st, body = refresh(a.appID, "", conf["refresh_token"])
	oauthError(t, "used confidential refresh token without client_secret", st, body, 401, "invalid_client")

	// Unknown tokens and clients.
	st, body = refresh(a.appID, "", "grt_nope")
	oauthError(t, "unknown refresh token, no secret", st, body, 400, "invalid_grant")
	st, body = refresh("no-such-app", "", pub2["refresh_token"])
	oauthError(t, "unknown client_id, no secret", st, body, 401, "invalid_client")
	st, body = refresh(a.appID, "", pub2["access_token"])
	oauthError(t, "an access token as refresh token", st, body, 400, "invalid_grant")
}
