package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAdmin drives a whole scenario over the admin HTTP surface only.
func TestAdmin(t *testing.T) {
	s := start(t)
	type obj = map[string]any

	st, body := adminDo(t, s, "POST", "/admin/clients", obj{"provider": "microsoft", "client_id": "app", "client_secret": "pw"})
	wantStatus(t, "client", st, body, 201)
	st, body = adminDo(t, s, "POST", "/admin/users", obj{"provider": "microsoft", "email": "dan@example.com", "tenant": "t-1"})
	wantStatus(t, "user", st, body, 201)
	if body["name"] != "Dan" || body["tenant"] != "t-1" || len(str(body, "id")) != 36 {
		t.Errorf("user %v", body)
	}
	userID := str(body, "id")
	st, body = adminDo(t, s, "POST", "/admin/tokens", obj{"provider": "microsoft", "client_id": "app", "email": "dan@example.com", "scopes": []string{"openid", "User.Read"}})
	wantStatus(t, "mint", st, body, 201)
	rt := str(body, "refresh_token")
	if !strings.Contains(rt, "sbx-microsoft") {
		t.Fatalf("minted %q", rt)
	}
	f := fixture{provider: Microsoft, clientID: "app", secret: "pw", rt: rt}

	// Settings: strict rotation, 2s access tokens.
	st, body = adminDo(t, s, "GET", "/admin/providers/microsoft", nil)
	wantStatus(t, "get settings", st, body, 200)
	if body["rotation"] != "grace" || body["grace_seconds"] != float64(60) || body["access_token_ttl_seconds"] != float64(3600) {
		t.Errorf("default settings %v", body)
	}
	st, body = adminDo(t, s, "PUT", "/admin/providers/microsoft", obj{"rotation": "strict", "access_token_ttl_seconds": 2})
	wantStatus(t, "put settings", st, body, 200)
	if body["rotation"] != "strict" || body["access_token_ttl_seconds"] != float64(2) {
		t.Errorf("settings %v", body)
	}
	st, body = redeem(t, s, f, rt)
	wantStatus(t, "redeem", st, body, 200)
	if body["expires_in"] != float64(2) {
		t.Errorf("expires_in %v", body["expires_in"])
	}
	rt2 := str(body, "refresh_token")
	st, me := get(t, identityURL(s, Microsoft), str(body, "access_token"))
	wantStatus(t, "me", st, me, 200)
	if me["id"] != userID {
		t.Errorf("me %v", me)
	}
	st, body = redeem(t, s, f, rt)
	wantStatus(t, "strict old", st, body, 400)

	st, body = adminDo(t, s, "POST", "/admin/tokens/introspect", obj{"provider": "microsoft", "refresh_token": rt2})
	wantStatus(t, "introspect", st, body, 200)
	if body["valid"] != true {
		t.Errorf("introspect %v", body)
	}

	// Failures.
	st, body = adminDo(t, s, "POST", "/admin/failures", obj{"provider": "microsoft", "endpoint": "token", "status": 503, "count": -1})
	wantStatus(t, "inject", st, body, 201)
	for range 2 {
		st, body = redeem(t, s, f, rt2)
		wantStatus(t, "injected", st, body, 503)
		if body["error"] != "temporarily_unavailable" {
			t.Errorf("injected body %v", body)
		}
	}
	st, body = adminDo(t, s, "DELETE", "/admin/failures", nil)
	wantStatus(t, "clear", st, body, 200)
	st, body = adminDo(t, s, "POST", "/admin/failures", obj{"provider": "microsoft", "endpoint": "identity", "delay_ms": 50, "count": 1})
	wantStatus(t, "inject delay", st, body, 201)
	st, body = redeem(t, s, f, rt2)
	wantStatus(t, "after clear", st, body, 200)
	rt3 := str(body, "refresh_token")
	t0 := time.Now()
	st, me = get(t, identityURL(s, Microsoft), str(body, "access_token"))
	wantStatus(t, "delayed me", st, me, 200)
	if time.Since(t0) < 50*time.Millisecond {
		t.Errorf("identity delay not applied")
	}

	// Ledger.
	st, body = adminDo(t, s, "GET", "/admin/ledger?provider=microsoft", nil)
	wantStatus(t, "ledger", st, body, 200)
	vt, _ := body["valid_tokens"].(map[string]any)
	if vt["dan@example.com"] != float64(1) || body["redemptions"] != float64(2) || body["rejections"] != float64(1) ||
		body["injected_failures"] != float64(2) || body["identity_calls"] != float64(2) {
		t.Errorf("ledger %v", body)
	}
	st, body = adminDo(t, s, "GET", "/admin/ledger", nil)
	wantStatus(t, "ledger all", st, body, 200)
	if all, _ := body["providers"].(map[string]any); len(all) != 4 {
		t.Errorf("ledger all %v", body)
	}

	// Revoke by email, then by token.
	st, body = adminDo(t, s, "POST", "/admin/tokens/revoke", obj{"provider": "microsoft", "email": "DAN@example.com"})
	wantStatus(t, "revoke email", st, body, 200)
	if body["revoked"] != float64(1) {
		t.Errorf("revoke email %v", body)
	}
	st, body = redeem(t, s, f, rt3)
	wantStatus(t, "revoked", st, body, 400)
	st, body = adminDo(t, s, "POST", "/admin/tokens", obj{"provider": "microsoft", "client_id": "app", "email": "dan@example.com", "scopes": []string{}})
	wantStatus(t, "mint 2", st, body, 201)
	rt4 := str(body, "refresh_token")
	st, body = adminDo(t, s, "POST", "/admin/tokens/revoke", obj{"provider": "microsoft", "refresh_token": rt4})
	wantStatus(t, "revoke token", st, body, 200)
	if body["revoked"] != float64(1) || s.IsValidRefreshToken(Microsoft, rt4) {
		t.Errorf("revoke token %v", body)
	}

	// Reset.
	st, body = adminDo(t, s, "POST", "/admin/reset", nil)
	wantStatus(t, "reset", st, body, 200)
	if l := s.Ledger(Microsoft); l.Redemptions != 0 || len(l.ValidTokens) != 0 {
		t.Errorf("after reset %+v", l)
	}
	st, body = adminDo(t, s, "GET", "/admin/providers/microsoft", nil)
	wantStatus(t, "settings after reset", st, body, 200)
	if body["rotation"] != "grace" {
		t.Errorf("settings after reset %v", body)
	}
}

// TestAdminBatch mints tokens for new and existing users in one request
// and reads the counters.
func TestAdminBatch(t *testing.T) {
	s := start(t)
	type obj = map[string]any
	st, body := adminDo(t, s, "POST", "/admin/clients", obj{"provider": "google", "client_id": "app", "client_secret": "pw"})
	wantStatus(t, "client", st, body, 201)
	old := s.AddUser(Google, User{Email: "old@example.com", Name: "Old Timer"})
	emails := []string{"old@example.com", "new1@example.com", "new2@example.com"}
	st, body = adminDo(t, s, "POST", "/admin/tokens/batch", obj{"provider": "google", "client_id": "app", "emails": emails, "scopes": []string{"https://www.googleapis.com/auth/userinfo.email"}})
	wantStatus(t, "batch", st, body, 201)
	toks, _ := body["refresh_tokens"].([]any)
	if len(toks) != len(emails) {
		t.Fatalf("batch %v", body)
	}
	for i, tok := range toks {
		f := fixture{provider: Google, clientID: "app", secret: "pw", rt: tok.(string)}
		st, tb := redeem(t, s, f, f.rt)
		wantStatus(t, "redeem", st, tb, 200)
		st, ui := get(t, identityURL(s, Google), str(tb, "access_token"))
		wantStatus(t, "userinfo", st, ui, 200)
		if ui["email"] != emails[i] {
			t.Errorf("token %d belongs to %v, want %s", i, ui["email"], emails[i])
		}
		if i == 0 && (ui["sub"] != old.ID || ui["name"] != "Old Timer") {
			t.Errorf("existing user changed: %v", ui)
		}
	}
	st, body = adminDo(t, s, "GET", "/admin/counters?provider=google", nil)
	wantStatus(t, "counters", st, body, 200)
	if body["redemptions"] != float64(3) || body["identity_calls"] != float64(3) || body["valid_tokens"] != nil {
		t.Errorf("counters %v", body)
	}
}

func TestAdminErrors(t *testing.T) {
	s := start(t)
	type obj = map[string]any
	cases := []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/admin/clients", obj{"provider": "aol", "client_id": "x"}, 400},
		{"POST", "/admin/clients", obj{"provider": "google"}, 400},
		{"POST", "/admin/clients", obj{"provider": "google", "client_id": "x", "typo": 1}, 400},
		{"POST", "/admin/clients", "not an object", 400},
		{"GET", "/admin/clients", nil, 405},
		{"POST", "/admin/users", obj{"provider": "google", "email": "nope"}, 400},
		{"POST", "/admin/tokens", obj{"provider": "google", "client_id": "x", "email": "a@b.c"}, 400},
		{"POST", "/admin/tokens/revoke", obj{"provider": "google"}, 400},
		{"PUT", "/admin/providers/google", obj{"rotation": "sometimes"}, 400},
		{"PUT", "/admin/providers/google", obj{"access_token_ttl_seconds": 0}, 400},
		{"PUT", "/admin/providers/aol", obj{}, 400},
		{"DELETE", "/admin/providers/google", nil, 405},
		{"POST", "/admin/failures", obj{"provider": "google", "endpoint": "both", "status": 500}, 400},
		{"POST", "/admin/failures", obj{"provider": "google"}, 400},
		{"POST", "/admin/failures", obj{"provider": "google", "status": 1000}, 400},
		{"GET", "/admin/ledger?provider=aol", nil, 400},
		{"GET", "/admin/counters", nil, 400},
		{"POST", "/admin/tokens/batch", obj{"provider": "google", "client_id": "x", "emails": []string{"a@b.c"}}, 400},
		{"POST", "/admin/tokens/batch", obj{"provider": "google", "client_id": "x", "emails": []string{}}, 400},
		{"POST", "/admin/tokens/batch", obj{"provider": "google", "client_id": "x", "emails": []string{" a@b.c"}}, 400},
		{"GET", "/admin/whatever", nil, 404},
	}
	for _, c := range cases {
		st, body := adminDo(t, s, c.method, c.path, c.body)
		if st != c.status || body["error"] == nil || body["error_description"] == nil {
			t.Errorf("%s %s %v: %d %v, want %d", c.method, c.path, c.body, st, body, c.status)
		}
	}
	if st, body := adminDo(t, s, http.MethodPost, "/admin/failures", obj{"provider": "google", "status": 502, "count": 0}); st != 201 {
		t.Fatalf("inject: %d %v", st, body)
	}
	f := setup(t, s, Google, "x")
	if st, _ := redeem(t, s, f, f.rt); st != 502 {
		t.Errorf("count 0 should mean once: %d", st)
	}
	if st, _ := redeem(t, s, f, f.rt); st != 200 {
		t.Errorf("count 0 failed more than once: %d", st)
	}
}
