package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

const appRedirect = "http://127.0.0.1:9/oauth/cb"

// noFollow is a client that stops at redirects.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sdkChallenge is the Node SDK's PKCE challenge: base64 of the hex
// SHA-256, padding stripped.
func sdkChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))), "=")
}

func rfcChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type hostedApp struct {
	e            *apitest.Env
	appID, key   string
	clientIDs    map[string]string
	redirectURI  string
	lastLocation string
	// callbackXFF, when set, is the X-Forwarded-For of the browser's
	// request to grantd's callback.
	callbackXFF string
}

func newHostedApp(t *testing.T, e *apitest.Env, name string) *hostedApp {
	appID, key := e.App(name)
	if r := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": appRedirect}); r.Status != 200 {
		t.Fatalf("redirect uri: %d %s", r.Status, r.Raw)
	}
	return &hostedApp{e: e, appID: appID, key: key, clientIDs: map[string]string{}, redirectURI: appRedirect}
}

func (a *hostedApp) connector(prov string) {
	if a.clientIDs[prov] == "" {
		a.clientIDs[prov] = a.e.OAuthConnector(a.key, prov)
	}
}

// get sends GET u without following redirects and returns the status, the
// Location and the body.
func get(t *testing.T, u string, xff ...string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), b
}

// authorize walks /v3/connect/auth → the sandbox's consent page (choosing
// email, or denying when email is "") → grantd's callback, and returns the
// query grantd redirects the application's redirect URI with.
func (a *hostedApp) authorize(t *testing.T, params url.Values, email string) url.Values {
	t.Helper()
	q := url.Values{"client_id": {a.appID}, "redirect_uri": {a.redirectURI}, "response_type": {"code"}}
	for k, v := range params {
		q[k] = v
	}
	st, loc, body := get(t, a.e.HTTP.URL+"/v3/connect/auth?"+q.Encode())
	if st != http.StatusFound {
		t.Fatalf("/v3/connect/auth: %d %s", st, body)
	}
	if !strings.HasPrefix(loc, a.e.Sandbox.URL()) {
		t.Fatalf("/v3/connect/auth redirects to %s, not the sandbox", loc)
	}
	if st, _, body := get(t, loc); st != 200 || !strings.Contains(string(body), "<form") {
		t.Fatalf("consent page: %d %s", st, body)
	}
	pu, _ := url.Parse(loc)
	form := pu.Query()
	if email == "" {
		form.Set("action", "deny")
	} else {
		form.Set("email", email)
	}
	resp, err := noFollow.PostForm(pu.Scheme+"://"+pu.Host+pu.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(cb, a.e.HTTP.URL+"/v3/connect/callback?") {
		t.Fatalf("consent: %d to %q", resp.StatusCode, cb)
	}
	var xff []string
	if a.callbackXFF != "" {
		xff = []string{a.callbackXFF}
	}
	st, back, body := get(t, cb, xff...)
	if st != http.StatusFound || !strings.HasPrefix(back, a.redirectURI+"?") {
		t.Fatalf("callback: %d to %q %s", st, back, body)
	}
	a.lastLocation = back
	bu, _ := url.Parse(back)
	return bu.Query()
}

// token posts a token request (JSON) and decodes the flat answer.
func (a *hostedApp) token(t *testing.T, body map[string]any) (int, map[string]any) {
	t.Helper()
	r := a.e.Do("POST", "/v3/connect/token", "", body)
	return r.Status, r.Body
}

func oauthError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode || body["error_description"] == "" || body["error_code"] != float64(wantStatus) {
		t.Errorf("%s: %d %v, want %d %s with a description", what, status, body, wantStatus, wantCode)
	}
}

func TestHostedOAuthFlow(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "hosted")
	a.connector("google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})

	// The SDK's PKCE: a UUID verifier, method s256, base64 of the hex digest.
	verifier := "b189f8f0-a204-41ce-a996-3a9a94f209aa"
	back := a.authorize(t, url.Values{"provider": {"google"}, "state": {"app-state"}, "access_type": {"offline"},
		"code_challenge": {sdkChallenge(verifier)}, "code_challenge_method": {"s256"}}, "ada@example.com")
	code := back.Get("code")
	if back.Get("state") != "app-state" || !strings.HasPrefix(code, "gac_") {
		t.Fatalf("back at the application: %v", back)
	}
	grants := e.Do("GET", "/v3/grants", a.key, nil).List()
	if len(grants) != 1 || grants[0]["email"] != "ada@example.com" || grants[0]["provider"] != "google" || grants[0]["state"] != "app-state" {
		t.Fatalf("grants after the callback: %v", grants)
	}
	grantID := grants[0]["id"].(string)

	// The SDK's exchangeCodeForToken: client_secret is the API key.
	st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": code, "code_verifier": verifier,
		"client_secret": a.key, "grant_type": "authorization_code"})
	if st != 200 || tok["grant_id"] != grantID || tok["email"] != "ada@example.com" || tok["provider"] != "google" || tok["token_type"] != "Bearer" ||
		tok["expires_in"] != float64(3600) || !strings.HasPrefix(tok["access_token"].(string), "gat_") || !strings.HasPrefix(tok["refresh_token"].(string), "grt_") ||
		!strings.Contains(tok["scope"].(string), "openid") || tok["data"] != nil {
		t.Fatalf("token: %d %v", st, tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	// Nothing grantd issued is stored in clear.
	if strings.Contains(e.Logs.String(), access) || strings.Contains(e.Logs.String(), code) {
		t.Error("a token or code is in the log")
	}
	// The code is single use.
	st, body := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": code, "code_verifier": verifier,
		"client_secret": a.key, "grant_type": "authorization_code"})
	oauthError(t, "replayed code", st, body, 400, "invalid_grant")

	// tokeninfo and /v3/grants/me.
	info := e.Do("GET", "/v3/connect/tokeninfo?access_token="+url.QueryEscape(access), "", nil)
	if d := info.Data(); info.Status != 200 || d["sub"] != grantID || d["aud"] != a.appID || d["email"] != "ada@example.com" || d["iss"] != e.HTTP.URL ||
		d["exp"].(float64)-d["iat"].(float64) != 3600 {
		t.Fatalf("tokeninfo: %d %s", info.Status, info.Raw)
	}
	me := e.Do("GET", "/v3/grants/me", access, nil)
	if me.Status != 200 || me.Data()["id"] != grantID {
		t.Fatalf("grants/me: %d %s", me.Status, me.Raw)
	}
	if r := e.Do("GET", "/v3/grants/me", a.key, nil); r.Status != 401 || r.ErrType() != "api.authentication_error" {
		t.Errorf("grants/me with an API key: %d %s", r.Status, r.Raw)
	}

	// Refresh, form-encoded: rotation.
	form := url.Values{"client_id": {a.appID}, "client_secret": {a.key}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}, "redirect_uri": {appRedirect}}
	resp, err := http.Post(e.HTTP.URL+"/v3/connect/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	var rt map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&rt)
	resp.Body.Close()
	if resp.StatusCode != 200 || rt["refresh_token"] == refresh || rt["access_token"] == access || rt["grant_id"] != grantID {
		t.Fatalf("refresh: %d %v", resp.StatusCode, rt)
	}
	access2, refresh2 := rt["access_token"].(string), rt["refresh_token"].(string)
	// Reusing the old refresh token revokes the whole family.
	st, body = a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "refresh_token", "refresh_token": refresh})
	oauthError(t, "reused refresh token", st, body, 400, "invalid_grant")
	if r := e.Do("GET", "/v3/connect/tokeninfo?access_token="+access2, "", nil); r.Status != 401 || r.Body["error"] != "invalid_token" {
		t.Errorf("access token of a replayed family: %d %s", r.Status, r.Raw)
	}
	st, body = a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "refresh_token", "refresh_token": refresh2})
	oauthError(t, "refresh token of a replayed family", st, body, 400, "invalid_grant")

	// A new authorization, then revoke: its family goes, the grant stays.
	back = a.authorize(t, url.Values{"provider": {"google"}, "access_type": {"offline"}}, "ada@example.com")
	st, tok = a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": back.Get("code"), "client_secret": a.key, "grant_type": "authorization_code"})
	if st != 200 || tok["grant_id"] != grantID {
		t.Fatalf("second authorization (re-authentication): %d %v", st, tok)
	}
	rv := e.Do("POST", "/v3/connect/revoke?token="+url.QueryEscape(tok["access_token"].(string)), a.key, nil)
	if rv.Status != 200 || rv.Body["request_id"] == nil {
		t.Fatalf("revoke: %d %s", rv.Status, rv.Raw)
	}
	if r := e.Do("GET", "/v3/grants/me", tok["access_token"].(string), nil); r.Status != 401 {
		t.Errorf("revoked access token: %d %s", r.Status, r.Raw)
	}
	st, body = a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
	oauthError(t, "refresh token of a revoked family", st, body, 400, "invalid_grant")
	if r := e.Do("POST", "/v3/connect/revoke?token=gat_nope", a.key, nil); r.Status != 400 || r.Body["error"] != "invalid_token" {
		t.Errorf("revoke unknown: %d %s", r.Status, r.Raw)
	}
	if g := e.Do("GET", "/v3/grants/"+grantID, a.key, nil); g.Status != 200 || g.Data()["grant_status"] != "valid" {
		t.Errorf("the grant after revoke: %s", g.Raw)
	}

	// client_credentials; deleting the grant revokes its tokens.
	st, cc := a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "client_credentials", "grant_id": grantID})
	if st != 200 || cc["refresh_token"] != nil || cc["grant_id"] != grantID {
		t.Fatalf("client_credentials: %d %v", st, cc)
	}
	if r := e.Do("DELETE", "/v3/grants/"+grantID, a.key, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if r := e.Do("GET", "/v3/connect/tokeninfo?access_token="+cc["access_token"].(string), "", nil); r.Status != 401 {
		t.Errorf("token of a deleted grant: %d %s", r.Status, r.Raw)
	}
}

// Every OAuth provider goes through the whole flow; an online
// authorization gets no refresh token; PKCE RFC 7636 S256 and plain work
// with a public client (no client_secret).
func TestHostedOAuthProviders(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "providers")
	for i, prov := range []string{"google", "microsoft", "yahoo", "zoom"} {
		a.connector(prov)
		email := "user." + prov + "@example.com"
		e.Sandbox.AddUser(prov, sandbox.User{Email: email})
		verifier := strings.Repeat("v", 43) + prov
		params := url.Values{"provider": {prov}, "code_challenge": {rfcChallenge(verifier)}, "code_challenge_method": {"S256"}}
		if i%2 == 1 {
			params = url.Values{"provider": {prov}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}}
		}
		back := a.authorize(t, params, email)
		st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": back.Get("code"), "code_verifier": verifier,
			"grant_type": "authorization_code"})
		if st != 200 || tok["email"] != email || tok["provider"] != prov || tok["refresh_token"] != nil {
			t.Fatalf("%s: %d %v", prov, st, tok)
		}
	}
}

func TestHostedOAuthBadInput(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "bad")
	b := newHostedApp(t, e, "other")
	a.connector("google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "bob@example.com"})

	base := url.Values{"client_id": {a.appID}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "provider": {"google"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	for _, c := range []struct {
		name   string
		q      url.Values
		status int
		code   string
	}{
		{"unregistered redirect_uri", with("redirect_uri", "http://127.0.0.1:9/oauth/cb2"), 400, "invalid_request"},
		{"prefix of a redirect_uri", with("redirect_uri", "http://127.0.0.1:9/oauth"), 400, "invalid_request"},
		{"another app's client_id", with("client_id", b.appID+"x"), 401, "invalid_client"},
		{"missing client_id", with("client_id", ""), 400, "invalid_request"},
		{"missing redirect_uri", with("redirect_uri", ""), 400, "invalid_request"},
		{"missing response_type", with("response_type", ""), 400, "invalid_request"},
		{"response_type token", with("response_type", "token"), 400, "unsupported_response_type"},
		{"state over 256", with("state", strings.Repeat("s", 257)), 400, "invalid_request"},
		{"unknown PKCE method", with("code_challenge_method", "S512"), 400, "invalid_request"},
		{"short challenge", with("code_challenge", "abc"), 400, "invalid_request"},
		{"password provider", with("provider", "imap"), 400, "invalid_request"},
		{"no connector", with("provider", "zoom"), 400, "invalid_request"},
	} {
		st, loc, body := get(t, e.HTTP.URL+"/v3/connect/auth?"+c.q.Encode())
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if loc != "" {
			t.Errorf("%s: redirected to %s", c.name, loc)
		}
		oauthError(t, c.name, st, m, c.status, c.code)
	}
	// Without a provider the browser gets the provider picker, which
	// comes back with login_hint (and provider when chosen).
	st, _, page := get(t, e.HTTP.URL+"/v3/connect/auth?"+with("provider", "").Encode())
	if st != 200 || !strings.Contains(string(page), `name="login_hint"`) || !strings.Contains(string(page), `value="`+a.appID+`"`) {
		t.Errorf("provider picker: %d %s", st, page)
	}
	pick := with("provider", "google")
	pick.Set("login_hint", "bob@example.com")
	if st, loc, _ := get(t, e.HTTP.URL+"/v3/connect/auth?"+pick.Encode()); st != 302 || !strings.HasPrefix(loc, e.Sandbox.URL()) {
		t.Errorf("picker's answer: %d %s", st, loc)
	}
	// An unregistered redirect URI never gets the picker.
	bad := with("provider", "")
	bad.Set("redirect_uri", "https://evil.example/")
	if st, _, _ := get(t, e.HTTP.URL+"/v3/connect/auth?"+bad.Encode()); st != 400 {
		t.Errorf("picker for an unregistered redirect URI: %d", st)
	}
	if st, _, _ := get(t, e.HTTP.URL+"/v3/connect/auth?"+base.Encode()+"&state=a&state=b"); st != 400 {
		t.Errorf("repeated state: %d", st)
	}
	if st, _, _ := get(t, e.HTTP.URL+"/v3/connect/callback?state=gst_unknown&code=x"); st != 400 {
		t.Errorf("callback with an unknown state: %d", st)
	}

	// The user denies: the application hears access_denied, no grant.
	back := a.authorize(t, with("state", "s1"), "")
	if back.Get("error") != "access_denied" || back.Get("state") != "s1" || back.Get("code") != "" || back.Get("error_description") == "" {
		t.Errorf("denied: %v", back)
	}
	if l := e.Do("GET", "/v3/grants", a.key, nil).List(); len(l) != 0 {
		t.Errorf("a grant after a denial: %v", l)
	}

	verifier := "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	pkce := func() string {
		q := with("code_challenge", sdkChallenge(verifier))
		q.Set("code_challenge_method", "s256")
		q.Set("access_type", "offline")
		return a.authorize(t, q, "bob@example.com").Get("code")
	}
	exchange := func(over map[string]any) (int, map[string]any) {
		body := map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code_verifier": verifier, "client_secret": a.key, "grant_type": "authorization_code"}
		for k, v := range over {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return a.token(t, body)
	}
	for _, c := range []struct {
		name   string
		over   map[string]any
		status int
		code   string
	}{
		{"wrong verifier", map[string]any{"code_verifier": "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}, 400, "invalid_grant"},
		{"short verifier", map[string]any{"code_verifier": "short-verifier"}, 400, "invalid_request"},
		{"no verifier", map[string]any{"code_verifier": nil}, 400, "invalid_request"},
		{"other redirect_uri", map[string]any{"redirect_uri": "http://127.0.0.1:9/other"}, 400, "invalid_grant"},
		{"another app's client", map[string]any{"client_id": b.appID, "client_secret": b.key}, 400, "invalid_grant"},
		{"secret of another app", map[string]any{"client_secret": b.key}, 401, "invalid_client"},
		{"bad secret", map[string]any{"client_secret": "grantd_nope"}, 401, "invalid_client"},
		{"unknown client", map[string]any{"client_id": "nope", "client_secret": nil}, 401, "invalid_client"},
	} {
		c.over["code"] = pkce()
		st, body := exchange(c.over)
		oauthError(t, c.name, st, body, c.status, c.code)
	}
	// A failed exchange used the code up.
	code := pkce()
	st, body := exchange(map[string]any{"code": code, "code_verifier": "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"})
	oauthError(t, "wrong verifier", st, body, 400, "invalid_grant")
	st, body = exchange(map[string]any{"code": code})
	oauthError(t, "right verifier after a failure", st, body, 400, "invalid_grant")
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"no grant_type", map[string]any{"client_id": a.appID}, 400, "invalid_request"},
		{"password grant", map[string]any{"grant_type": "password", "client_id": a.appID}, 400, "unsupported_grant_type"},
		{"no code", map[string]any{"grant_type": "authorization_code", "client_id": a.appID, "client_secret": a.key, "redirect_uri": appRedirect}, 400, "invalid_request"},
		{"unknown code", map[string]any{"grant_type": "authorization_code", "client_id": a.appID, "client_secret": a.key, "redirect_uri": appRedirect, "code": "gac_nope"}, 400, "invalid_grant"},
		// Without a secret (a public client's refresh): the token is looked
		// up, and an unknown one is invalid_grant (TestHostedRefreshPublicClient).
		{"unknown refresh token without secret", map[string]any{"grant_type": "refresh_token", "client_id": a.appID, "refresh_token": "grt_x"}, 400, "invalid_grant"},
		{"unknown refresh token", map[string]any{"grant_type": "refresh_token", "client_id": a.appID, "client_secret": a.key, "refresh_token": "grt_x"}, 400, "invalid_grant"},
		{"non-string field", map[string]any{"grant_type": 1}, 400, "invalid_request"},
	} {
		st, body := a.token(t, c.body)
		oauthError(t, c.name, st, body, c.status, c.code)
	}
	// A refresh token of another application.
	st, tok := exchange(map[string]any{"code": pkce()})
	if st != 200 || tok["refresh_token"] == nil {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	st, body = a.token(t, map[string]any{"grant_type": "refresh_token", "client_id": b.appID, "client_secret": b.key, "refresh_token": tok["refresh_token"]})
	oauthError(t, "refresh token of another application", st, body, 400, "invalid_grant")
	// Its first holder refreshes; another application then replays the
	// used token with its own key: refused, and the family, which is not
	// that application's, is left alone.
	st, fresh := a.token(t, map[string]any{"grant_type": "refresh_token", "client_id": a.appID, "client_secret": a.key, "refresh_token": tok["refresh_token"]})
	if st != 200 || fresh["access_token"] == nil {
		t.Fatalf("refresh: %d %v", st, fresh)
	}
	st, body = a.token(t, map[string]any{"grant_type": "refresh_token", "client_id": b.appID, "client_secret": b.key, "refresh_token": tok["refresh_token"]})
	oauthError(t, "used refresh token replayed by another application", st, body, 400, "invalid_grant")
	if r := e.Do("GET", "/v3/connect/tokeninfo?access_token="+fresh["access_token"].(string), "", nil); r.Status != 200 {
		t.Errorf("another application's replay revoked the family: tokeninfo %d %s", r.Status, r.Raw)
	}
	for _, q := range []string{"", "?access_token=gat_nope", "?id_token=eyJ.x.y", "?access_token=" + tok["refresh_token"].(string)} {
		r := e.Do("GET", "/v3/connect/tokeninfo"+q, "", nil)
		if r.Status < 400 || r.Status > 401 || r.Body["error"] == nil || r.Body["error_description"] == "" {
			t.Errorf("tokeninfo%s: %d %s", q, r.Status, r.Raw)
		}
	}
	if r := e.Do("POST", "/v3/connect/revoke", a.key, nil); r.Status != 400 || r.Body["error"] != "invalid_request" {
		t.Errorf("revoke without token: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("POST", "/v3/connect/revoke", "", nil); r.Status != 401 || r.Body["error"] != "invalid_client" {
		t.Errorf("revoke without token or client authentication: %d %s", r.Status, r.Raw)
	}
}

// A grant made with Bring Your Own Authentication is re-authenticated by
// hosted OAuth: same id, new provider tokens, grant.updated.
func TestHostedOAuthReauthenticatesBYOGrant(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "reauth")
	a.connector("microsoft")
	rt := e.RefreshToken("microsoft", a.clientIDs["microsoft"], "grace@example.com")
	byo := e.Do("POST", "/v3/connect/custom", a.key, map[string]any{"provider": "microsoft", "settings": map[string]any{"refresh_token": rt}})
	if byo.Status != 201 {
		t.Fatalf("byo: %d %s", byo.Status, byo.Raw)
	}
	id := byo.Data()["id"].(string)
	e.Sandbox.RevokeUser("microsoft", "grace@example.com")
	back := a.authorize(t, url.Values{"provider": {"microsoft"}, "login_hint": {"grace@example.com"}}, "grace@example.com")
	st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": back.Get("code"), "client_secret": a.key, "grant_type": "authorization_code"})
	if st != 200 || tok["grant_id"] != id {
		t.Fatalf("re-authentication: %d %v (BYO grant %s)", st, tok, id)
	}
	if l := e.Do("GET", "/v3/grants", a.key, nil).List(); len(l) != 1 {
		t.Fatalf("grants: %v", l)
	}
	if g := e.Do("GET", "/v3/grants/"+id, a.key, nil); g.Data()["grant_status"] != "valid" {
		t.Errorf("grant after re-authentication: %s", g.Raw)
	}
	evs, err := e.Server.Store.ListEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if ev.GrantID == id {
			types = append(types, ev.Type)
		}
	}
	if strings.Join(types, ",") != "grant.created,grant.updated" {
		t.Errorf("events of the grant: %v", types)
	}
}
