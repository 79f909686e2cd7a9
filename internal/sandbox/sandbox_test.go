package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProvidersConfig(t *testing.T) {
	s := start(t)
	b := s.URL()
	if !strings.HasPrefix(b, "http://127.0.0.1:") {
		t.Fatalf("URL %q", b)
	}
	p := s.Providers()
	checks := map[string][2]string{
		"google token":    {p.Google.TokenURL, b + "/google/token"},
		"google userinfo": {p.Google.UserinfoURL, b + "/google/userinfo"},
		"google jwks":     {p.Google.JWKSURL, b + "/google/certs"},
		"google issuer":   {p.Google.Issuer, b + "/google"},
		"google api":      {p.Google.APIURL, b + "/google"},
		"ms login":        {p.Microsoft.LoginURL, b + "/microsoft"},
		"ms graph":        {p.Microsoft.GraphURL, b + "/microsoft/graph/v1.0"},
		"yahoo token":     {p.Yahoo.TokenURL, b + "/yahoo/oauth2/get_token"},
		"yahoo userinfo":  {p.Yahoo.UserinfoURL, b + "/yahoo/openid/v1/userinfo"},
		"zoom token":      {p.Zoom.TokenURL, b + "/zoom/oauth/token"},
		"zoom api":        {p.Zoom.APIURL, b + "/zoom/v2"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if p.ICloud.IMAPHost != "" || p.EWS.AutodiscoverURL != "" {
		t.Errorf("ICloud/EWS not zero: %+v %+v", p.ICloud, p.EWS)
	}
}

func TestGoogle(t *testing.T) {
	s := start(t)
	f := setup(t, s, Google, "openid", "email", "profile", "https://mail.google.com/")

	tok, err := oauthRefresh(t, s, f, f.rt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.") || tok.TokenType != "Bearer" {
		t.Errorf("token %q type %q", tok.AccessToken, tok.TokenType)
	}
	if tok.RefreshToken != f.rt {
		t.Errorf("oauth2 refresh token changed: Google must not rotate")
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expiry in %v, want ~1h", d)
	}
	if sc := tok.Extra("scope"); sc != "openid email profile https://mail.google.com/" {
		t.Errorf("scope %v", sc)
	}
	idt, _ := tok.Extra("id_token").(string)
	claims := verifyIDToken(t, s.Providers().Google.JWKSURL, idt)
	if claims["iss"] != s.URL()+"/google" || claims["aud"] != f.clientID || claims["sub"] != f.user.ID ||
		claims["email"] != f.user.Email || claims["email_verified"] != true || claims["name"] != "Alice Smith" {
		t.Errorf("claims %v (user %+v)", claims, f.user)
	}
	if claims["at_hash"] != atHash(tok.AccessToken) {
		t.Errorf("at_hash %v", claims["at_hash"])
	}
	if len(f.user.ID) != 21 {
		t.Errorf("google user id %q", f.user.ID)
	}

	// The raw answer has no refresh_token.
	st, body := redeem(t, s, f, f.rt)
	wantStatus(t, "redeem", st, body, 200)
	if _, ok := body["refresh_token"]; ok {
		t.Errorf("Google answered a refresh_token: %v", body)
	}
	for _, k := range []string{"access_token", "expires_in", "scope", "token_type", "id_token"} {
		if _, ok := body[k]; !ok {
			t.Errorf("answer lacks %s: %v", k, body)
		}
	}

	st, info := get(t, s.Providers().Google.UserinfoURL, tok.AccessToken)
	wantStatus(t, "userinfo", st, info, 200)
	if info["sub"] != f.user.ID || info["email"] != f.user.Email || info["email_verified"] != true || info["name"] != f.user.Name {
		t.Errorf("userinfo %v", info)
	}
	st, prof := get(t, s.Providers().Google.APIURL+"/gmail/v1/users/me/profile", tok.AccessToken)
	wantStatus(t, "gmail profile", st, prof, 200)
	if prof["emailAddress"] != f.user.Email {
		t.Errorf("gmail profile %v", prof)
	}

	// Without openid: no id_token. Without a gmail scope: 403 at Gmail.
	rt2, err := s.MintRefreshToken(Google, f.clientID, f.user.Email, []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	st, body = redeem(t, s, f, rt2)
	wantStatus(t, "redeem email-only", st, body, 200)
	if _, ok := body["id_token"]; ok {
		t.Errorf("id_token without openid: %v", body)
	}
	st, prof = get(t, s.Providers().Google.APIURL+"/gmail/v1/users/me/profile", str(body, "access_token"))
	wantStatus(t, "gmail profile without scope", st, prof, 403)

	st, info = get(t, s.Providers().Google.UserinfoURL, "ya29.nope")
	wantStatus(t, "userinfo bad token", st, info, 401)
	st, info = get(t, s.Providers().Google.UserinfoURL, "")
	wantStatus(t, "userinfo no token", st, info, 401)
}

func TestGoogleScopeParam(t *testing.T) {
	s := start(t)
	f := setup(t, s, Google, "openid", "email", "https://mail.google.com/")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.rt}, "scope": {"email"}}
	st, body := post(t, tokenURL(s, Google), form, f.clientID, f.secret) // Basic works too
	wantStatus(t, "narrowed", st, body, 200)
	if body["scope"] != "email" || body["id_token"] != nil {
		t.Errorf("narrowed answer %v", body)
	}
	form.Set("scope", "email https://www.googleapis.com/auth/calendar")
	st, body = post(t, tokenURL(s, Google), form, f.clientID, f.secret)
	wantStatus(t, "widened", st, body, 400)
	if body["error"] != "invalid_scope" {
		t.Errorf("widened answer %v", body)
	}
}

func TestMicrosoft(t *testing.T) {
	s := start(t)
	s.AddClient(Microsoft, "ms-client", "ms-secret")
	u := s.AddUser(Microsoft, User{Email: "bob@contoso.example", Name: "Bob Jones", Tenant: "11111111-2222-3333-4444-555555555555"})
	s.AddUser(Microsoft, User{Email: "eve@fabrikam.example", Tenant: "99999999-2222-3333-4444-555555555555"})
	rt, err := s.MintRefreshToken(Microsoft, "ms-client", u.Email, []string{"openid", "profile", "email", "offline_access", "https://graph.microsoft.com/Mail.Read"})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{provider: Microsoft, clientID: "ms-client", secret: "ms-secret", user: u, rt: rt}

	tok, err := oauthRefresh(t, s, f, rt)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == rt {
		t.Fatalf("Microsoft did not rotate: %q", tok.RefreshToken)
	}
	if tok.Extra("ext_expires_in") == nil {
		t.Errorf("no ext_expires_in")
	}
	claims := verifyIDToken(t, s.URL()+"/microsoft/common/discovery/v2.0/keys", tok.Extra("id_token").(string))
	if claims["iss"] != s.URL()+"/microsoft/"+u.Tenant+"/v2.0" || claims["tid"] != u.Tenant || claims["oid"] != u.ID ||
		claims["aud"] != "ms-client" || claims["preferred_username"] != u.Email || claims["email"] != u.Email {
		t.Errorf("claims %v", claims)
	}

	st, me := get(t, s.Providers().Microsoft.GraphURL+"/me", tok.AccessToken)
	wantStatus(t, "graph me", st, me, 200)
	if me["id"] != u.ID || me["displayName"] != "Bob Jones" || me["mail"] != u.Email || me["userPrincipalName"] != u.Email {
		t.Errorf("me %v", me)
	}
	st, me = get(t, s.Providers().Microsoft.GraphURL+"/me", "junk")
	wantStatus(t, "graph me junk", st, me, 401)
	if e, _ := me["error"].(map[string]any); e["code"] != "InvalidAuthenticationToken" {
		t.Errorf("graph error %v", me)
	}

	// Tenants: the user's own and organizations work; another known tenant
	// and an unknown one do not.
	byTenant := func(tenant, rt string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"ms-client"}, "client_secret": {"ms-secret"}}
		return post(t, s.Providers().Microsoft.LoginURL+"/"+tenant+"/oauth2/v2.0/token", form, "", "")
	}
	rt2 := tok.RefreshToken
	st, body := byTenant(u.Tenant, rt2)
	wantStatus(t, "own tenant", st, body, 200)
	st, body = byTenant("organizations", str(body, "refresh_token"))
	wantStatus(t, "organizations", st, body, 200)
	rt3 := str(body, "refresh_token")
	st, body = byTenant("99999999-2222-3333-4444-555555555555", rt3)
	wantStatus(t, "other tenant", st, body, 400)
	if body["error"] != "invalid_grant" {
		t.Errorf("other tenant %v", body)
	}
	st, body = byTenant("00000000-0000-0000-0000-000000000000", rt3)
	wantStatus(t, "unknown tenant", st, body, 400)
	if codes, _ := body["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(90002) {
		t.Errorf("unknown tenant %v", body)
	}

	// Error body shape.
	s.Revoke(Microsoft, rt3)
	st, body = byTenant("common", rt3)
	wantStatus(t, "revoked", st, body, 400)
	desc := str(body, "error_description")
	if body["error"] != "invalid_grant" || !strings.HasPrefix(desc, "AADSTS70000: ") || !strings.Contains(desc, "Trace ID: ") {
		t.Errorf("revoked %v", body)
	}
	for _, k := range []string{"error_codes", "timestamp", "trace_id", "correlation_id"} {
		if body[k] == nil {
			t.Errorf("error lacks %s: %v", k, body)
		}
	}
}

func TestYahoo(t *testing.T) {
	s := start(t)
	f := setup(t, s, Yahoo, "openid", "mail-r")
	tok, err := oauthRefresh(t, s, f, f.rt) // Basic
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != f.rt {
		t.Errorf("Yahoo rotated")
	}
	if tok.Extra("xoauth_yahoo_guid") != f.user.ID || len(f.user.ID) != 26 {
		t.Errorf("guid %v, user %+v", tok.Extra("xoauth_yahoo_guid"), f.user)
	}
	claims := verifyIDToken(t, s.URL()+"/yahoo/openid/v1/certs", tok.Extra("id_token").(string))
	if claims["iss"] != s.URL()+"/yahoo" || claims["sub"] != f.user.ID || claims["email"] != f.user.Email {
		t.Errorf("claims %v", claims)
	}
	// Body client authentication works as well, and the same token comes back.
	st, body := redeem(t, s, f, f.rt)
	wantStatus(t, "body auth", st, body, 200)
	if body["refresh_token"] != f.rt {
		t.Errorf("refresh_token %v", body["refresh_token"])
	}
	st, info := get(t, s.Providers().Yahoo.UserinfoURL, tok.AccessToken)
	wantStatus(t, "userinfo", st, info, 200)
	if info["sub"] != f.user.ID || info["email"] != f.user.Email || info["email_verified"] != true || info["name"] != f.user.Name {
		t.Errorf("userinfo %v", info)
	}
}

func TestZoom(t *testing.T) {
	s := start(t)
	f := setup(t, s, Zoom, "user:read", "meeting:write")
	tok, err := oauthRefresh(t, s, f, f.rt)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == f.rt || tok.RefreshToken == "" {
		t.Fatalf("Zoom did not rotate")
	}
	if tok.TokenType != "bearer" || tok.Extra("scope") != "user:read meeting:write" {
		t.Errorf("type %q scope %v", tok.TokenType, tok.Extra("scope"))
	}
	st, me := get(t, s.Providers().Zoom.APIURL+"/users/me", tok.AccessToken)
	wantStatus(t, "users/me", st, me, 200)
	if me["id"] != f.user.ID || me["email"] != f.user.Email || me["first_name"] != "Alice" || me["last_name"] != "Smith" ||
		me["display_name"] != "Alice Smith" || me["type"] != float64(1) || me["account_id"] != f.user.Tenant || f.user.Tenant == "" {
		t.Errorf("me %v (user %+v)", me, f.user)
	}

	// Old token is dead at once, with Zoom's body.
	st, body := redeem(t, s, f, f.rt)
	wantStatus(t, "old token", st, body, 400)
	if body["reason"] != "Invalid Token!" || body["error"] != "invalid_request" || len(body) != 2 {
		t.Errorf("old token %v", body)
	}
	// Client credentials in the body are not accepted.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {f.clientID}, "client_secret": {f.secret}}
	st, body = post(t, tokenURL(s, Zoom), form, "", "")
	wantStatus(t, "body auth", st, body, 401)
	if body["error"] != "invalid_client" {
		t.Errorf("body auth %v", body)
	}
	if !s.IsValidRefreshToken(Zoom, tok.RefreshToken) {
		t.Errorf("a rejected request consumed the token")
	}
}

func TestRotationModes(t *testing.T) {
	for _, prov := range []string{Google, Microsoft, Yahoo, Zoom} {
		t.Run(prov, func(t *testing.T) {
			t.Parallel()
			s := start(t)
			f := setup(t, s, prov, "a")

			// none: the same token keeps working.
			s.SetRotation(prov, Rotation{Mode: RotateNone})
			for i := range 3 {
				st, body := redeem(t, s, f, f.rt)
				wantStatus(t, "none", st, body, 200)
				if got := str(body, "refresh_token"); (prov == Google && got != "") || (prov != Google && got != f.rt) {
					t.Fatalf("none #%d: refresh_token %q", i, got)
				}
			}

			// strict: the old token dies at once.
			s.SetRotation(prov, Rotation{Mode: RotateStrict})
			st, body := redeem(t, s, f, f.rt)
			wantStatus(t, "strict", st, body, 200)
			rt2 := str(body, "refresh_token")
			if rt2 == "" || rt2 == f.rt || !strings.Contains(rt2, "sbx-"+prov) {
				t.Fatalf("strict: refresh_token %q", rt2)
			}
			st, body = redeem(t, s, f, f.rt)
			wantStatus(t, "strict old", st, body, 400)
			if s.IsValidRefreshToken(prov, f.rt) || !s.IsValidRefreshToken(prov, rt2) {
				t.Fatal("strict: ledger disagrees")
			}
			if _, ok := s.RefreshTokenAnswered(prov, f.rt); ok {
				t.Fatal("a token minted through the admin surface was answered by the token endpoint")
			}
			if at, ok := s.RefreshTokenAnswered(prov, rt2); !ok || at.IsZero() {
				t.Fatal("the rotated token's answer was not recorded")
			}

			// grace: the old token works within the grace period, then not.
			s.SetRotation(prov, Rotation{Mode: RotateGrace, Grace: 30 * time.Second})
			st, body = redeem(t, s, f, rt2)
			wantStatus(t, "grace", st, body, 200)
			rt3 := str(body, "refresh_token")
			if rt3 == "" || rt3 == rt2 {
				t.Fatalf("grace: refresh_token %q", rt3)
			}
			s.advance(20 * time.Second)
			st, body = redeem(t, s, f, rt2)
			wantStatus(t, "grace old within", st, body, 200)
			rt4 := str(body, "refresh_token")
			if got := s.Ledger(prov).Valid(f.user.Email); got != 3 { // rt2 (grace), rt3, rt4
				t.Fatalf("grace: %d valid tokens, want 3", got)
			}
			s.advance(11 * time.Second)
			st, body = redeem(t, s, f, rt2)
			wantStatus(t, "grace old after", st, body, 400)
			for _, rt := range []string{rt3, rt4} {
				if !s.IsValidRefreshToken(prov, rt) {
					t.Fatal("grace: new token invalid")
				}
			}
			l := s.Ledger(prov)
			if l.Redemptions != 6 || l.Rejections != 2 || !slices.Equal(l.ValidTokens["alice.smith@example.com"], []string{rt3, rt4}) {
				t.Fatalf("ledger %+v", l)
			}
		})
	}
}

func TestDefaultRotation(t *testing.T) {
	s := start(t)
	old := map[string]string{}
	for prov, rotates := range map[string]bool{Google: false, Microsoft: true, Yahoo: false, Zoom: true} {
		f := setup(t, s, prov, "x")
		old[prov] = f.rt
		st, body := redeem(t, s, f, f.rt)
		wantStatus(t, prov, st, body, 200)
		rt := str(body, "refresh_token")
		if got := rt != "" && rt != f.rt; got != rotates {
			t.Errorf("%s rotates = %v, want %v", prov, got, rotates)
		}
		// Microsoft keeps the old token for the grace period, Zoom not.
		if want := prov != Zoom; s.IsValidRefreshToken(prov, f.rt) != want {
			t.Errorf("%s: old token valid = %v, want %v", prov, !want, want)
		}
	}
	s.advance(DefaultGrace - time.Second)
	if !s.IsValidRefreshToken(Microsoft, old[Microsoft]) {
		t.Errorf("Microsoft grace ended early")
	}
	s.advance(2 * time.Second)
	if s.IsValidRefreshToken(Microsoft, old[Microsoft]) {
		t.Errorf("Microsoft grace did not end")
	}
	if !s.IsValidRefreshToken(Google, old[Google]) || !s.IsValidRefreshToken(Yahoo, old[Yahoo]) {
		t.Errorf("non-rotating tokens expired")
	}
}

func TestRevoke(t *testing.T) {
	s := start(t)
	for _, prov := range []string{Google, Microsoft, Yahoo, Zoom} {
		f := setup(t, s, prov, "openid")
		st, body := redeem(t, s, f, f.rt)
		wantStatus(t, prov, st, body, 200)
		at := str(body, "access_token")
		rotated := str(body, "refresh_token")

		s.Revoke(prov, f.rt)
		st, body = redeem(t, s, f, f.rt)
		wantStatus(t, prov+" revoked", st, body, 400)
		if want := map[bool]string{true: "invalid_request", false: "invalid_grant"}[prov == Zoom]; body["error"] != want {
			t.Errorf("%s revoked: %v", prov, body)
		}
		if rotated != "" && rotated != f.rt && s.IsValidRefreshToken(prov, rotated) {
			t.Errorf("%s: the rotated token of a revoked grant survived", prov)
		}
		st, body = get(t, identityURL(s, prov), at)
		wantStatus(t, prov+" identity after revoke", st, body, 401)
	}

	// RevokeUser: every token of the user, nobody else's.
	f := setup(t, s, Google, "email")
	other := s.AddUser(Google, User{Email: "carol@example.com"})
	rtA, _ := s.MintRefreshToken(Google, f.clientID, f.user.Email, nil)
	rtC, _ := s.MintRefreshToken(Google, f.clientID, other.Email, nil)
	s.RevokeUser(Google, "ALICE.SMITH@example.com")
	for _, rt := range []string{f.rt, rtA} {
		if st, body := redeem(t, s, f, rt); st != 400 {
			t.Errorf("revoked user's token: %d %v", st, body)
		}
	}
	if st, body := redeem(t, s, f, rtC); st != 200 {
		t.Errorf("other user's token: %d %v", st, body)
	}
	if l := s.Ledger(Google); l.Valid(f.user.Email) != 0 || l.Valid(other.Email) != 1 {
		t.Errorf("ledger %+v", l)
	}
}

func TestClientErrors(t *testing.T) {
	s := start(t)
	for _, prov := range []string{Google, Microsoft, Yahoo, Zoom} {
		f := setup(t, s, prov, "x")
		s.AddClient(prov, "other-client", "other-secret")
		other := fixture{provider: prov, clientID: "other-client", secret: "other-secret"}

		bad := f
		bad.secret = "wrong"
		st, body := redeem(t, s, bad, f.rt)
		wantStatus(t, prov+" wrong secret", st, body, 401)
		if body["error"] != "invalid_client" {
			t.Errorf("%s wrong secret: %v", prov, body)
		}
		unknown := fixture{provider: prov, clientID: "nobody", secret: "x"}
		st, body = redeem(t, s, unknown, f.rt)
		wantStatus(t, prov+" unknown client", st, body, 401)

		st, body = redeem(t, s, other, f.rt)
		wantStatus(t, prov+" cross client", st, body, 400)
		if want := map[bool]string{true: "invalid_request", false: "invalid_grant"}[prov == Zoom]; body["error"] != want {
			t.Errorf("%s cross client: %v", prov, body)
		}

		st, body = redeem(t, s, f, "")
		wantStatus(t, prov+" no refresh_token", st, body, 400)
		if body["error"] != "invalid_request" {
			t.Errorf("%s missing param: %v", prov, body)
		}
		form := url.Values{"grant_type": {"password"}, "username": {"x"}}
		st, body = post(t, tokenURL(s, prov), form, f.clientID, f.secret)
		wantStatus(t, prov+" grant type", st, body, 400)
		if body["error"] != "unsupported_grant_type" {
			t.Errorf("%s grant type: %v", prov, body)
		}
		st, body = get(t, tokenURL(s, prov), "")
		wantStatus(t, prov+" GET token", st, body, 405)

		// The oauth2 package sees the same errors.
		_, err := oauthRefresh(t, s, bad, f.rt)
		if code, _ := retrieveError(t, err); code != 401 {
			t.Errorf("%s oauth2 wrong secret: %v", prov, err)
		}
		if !s.IsValidRefreshToken(prov, f.rt) {
			t.Errorf("%s: rejected requests consumed the token", prov)
		}
		if l := s.Ledger(prov); l.Rejections != 6 || l.Redemptions != 0 {
			t.Errorf("%s ledger %+v", prov, l)
		}
	}
}

func TestFailureInjection(t *testing.T) {
	s := start(t)
	f := setup(t, s, Google, "email")

	s.InjectFailure(Google, Failure{Endpoint: "token", Status: 503, Count: 2})
	for i := range 2 {
		st, body := redeem(t, s, f, f.rt)
		wantStatus(t, "injected", st, body, 503)
		if body["error"] == nil {
			t.Errorf("#%d: body %v", i, body)
		}
	}
	st, body := redeem(t, s, f, f.rt)
	wantStatus(t, "after count", st, body, 200)
	at := str(body, "access_token")

	// Identity-only failures leave the token endpoint alone.
	s.InjectFailure(Google, Failure{Endpoint: "identity", Status: 500, Count: -1})
	for range 3 {
		st, body = get(t, identityURL(s, Google), at)
		wantStatus(t, "identity injected", st, body, 500)
	}
	st, body = redeem(t, s, f, f.rt)
	wantStatus(t, "token during identity failure", st, body, 200)
	// Other providers are not affected.
	z := setup(t, s, Zoom, "x")
	st, body = redeem(t, s, z, z.rt)
	wantStatus(t, "zoom", st, body, 200)
	s.ClearFailures()
	st, body = get(t, identityURL(s, Google), at)
	wantStatus(t, "identity cleared", st, body, 200)

	// Both endpoints, provider-specific bodies, 400/401 mapping.
	s.InjectFailure(Microsoft, Failure{Status: 429, Count: 1})
	m := setup(t, s, Microsoft, "x")
	st, body = redeem(t, s, m, m.rt)
	wantStatus(t, "ms 429", st, body, 429)
	if body["error_codes"] == nil {
		t.Errorf("ms 429 body %v", body)
	}
	s.InjectFailure(Zoom, Failure{Status: 400})
	st, body = redeem(t, s, z, z.rt)
	wantStatus(t, "zoom 400", st, body, 400)
	if body["reason"] != "Invalid Token!" {
		t.Errorf("zoom injected 400 %v", body)
	}
	if l := s.Ledger(Google); l.InjectedFailures != 5 {
		t.Errorf("google ledger %+v", l)
	}

	// A delay without a status holds the request, then serves it.
	s.InjectFailure(Google, Failure{Endpoint: "token", Delay: 150 * time.Millisecond})
	t0 := time.Now()
	st, body = redeem(t, s, f, f.rt)
	wantStatus(t, "delayed", st, body, 200)
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Errorf("delay: answered after %v", d)
	}

	// A client that gives up does not leave the handler waiting.
	s.InjectFailure(Google, Failure{Endpoint: "token", Status: 503, Delay: time.Minute, Count: -1})
	short := &http.Client{Timeout: 100 * time.Millisecond}
	t0 = time.Now()
	_, err := short.PostForm(tokenURL(s, Google), url.Values{"grant_type": {"refresh_token"}})
	if err == nil {
		t.Fatal("no timeout")
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.delayed.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.delayed.Load(); n != 0 {
		t.Fatalf("%d requests still held after the client gave up", n)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	s.ClearFailures()
	st, body = redeem(t, s, f, f.rt)
	wantStatus(t, "after clear", st, body, 200)
}

func TestAccessTokenTTL(t *testing.T) {
	t.Run("clock", func(t *testing.T) {
		s := start(t)
		for _, prov := range []string{Google, Microsoft, Yahoo, Zoom} {
			f := setup(t, s, prov, "x")
			s.SetAccessTokenTTL(prov, time.Second)
			st, body := redeem(t, s, f, f.rt)
			wantStatus(t, prov, st, body, 200)
			if body["expires_in"] != float64(1) {
				t.Errorf("%s expires_in %v", prov, body["expires_in"])
			}
			at := str(body, "access_token")
			st, body = get(t, identityURL(s, prov), at)
			wantStatus(t, prov+" fresh", st, body, 200)
			s.advance(time.Second)
			st, body = get(t, identityURL(s, prov), at)
			wantStatus(t, prov+" expired", st, body, 401)
		}
		if l := s.Ledger(Zoom); l.IdentityCalls != 1 || l.IdentityRejections != 1 {
			t.Errorf("zoom ledger %+v", l)
		}
	})
	t.Run("wall", func(t *testing.T) {
		s := start(t)
		f := setup(t, s, Google, "x")
		s.SetAccessTokenTTL(Google, time.Second)
		tok, err := oauthRefresh(t, s, f, f.rt)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(tok.Expiry.Add(100 * time.Millisecond)))
		st, body := get(t, identityURL(s, Google), tok.AccessToken)
		wantStatus(t, "expired", st, body, 401)
	})
}

func TestNewWithoutListener(t *testing.T) {
	s := New(Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if s.URL() != "" || s.Providers().Google.TokenURL != "/google/token" {
		t.Fatalf("URL %q providers %+v", s.URL(), s.Providers().Google)
	}
	f := setup(t, s, Google, "openid")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.rt}}
	st, body := post(t, srv.URL+"/google/token", form, f.clientID, f.secret)
	wantStatus(t, "redeem", st, body, 200)
	claims := verifyIDToken(t, srv.URL+"/google/certs", str(body, "id_token"))
	if claims["iss"] != srv.URL+"/google" {
		t.Errorf("iss %v", claims["iss"])
	}

	// With an Issuer, the endpoints and claims use it.
	s2 := New(Options{Issuer: "https://sandbox.test/"})
	if got := s2.Providers(); got.Google.Issuer != "https://sandbox.test/google" || got.Zoom.APIURL != "https://sandbox.test/zoom/v2" {
		t.Errorf("providers %+v", got)
	}
}

func TestNotFound(t *testing.T) {
	s := start(t)
	for _, p := range []string{"/", "/google/nope", "/microsoft/common/oauth2/v2.0/nope", "/microsoft/a/b/oauth2/v2.0/token", "/admin/nope"} {
		st, body := get(t, s.URL()+p, "")
		wantStatus(t, p, st, body, 404)
		if body["error"] != "not_found" {
			t.Errorf("%s: %v", p, body)
		}
	}
}
