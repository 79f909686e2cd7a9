package sandbox

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var testClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

func start(t testing.TB) *Sandbox {
	t.Helper()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// fixture registers a client and a user at a provider and mints a token.
type fixture struct {
	provider string
	clientID string
	secret   string
	user     User
	rt       string
}

func setup(t testing.TB, s *Sandbox, provider string, scopes ...string) fixture {
	t.Helper()
	f := fixture{provider: provider, clientID: provider + "-client", secret: provider + "-secret"}
	s.AddClient(provider, f.clientID, f.secret)
	f.user = s.AddUser(provider, User{Email: "Alice.Smith@example.com"})
	rt, err := s.MintRefreshToken(provider, f.clientID, f.user.Email, scopes)
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	return f
}

// tokenURL is the token endpoint of provider at s (Microsoft: tenant common).
func tokenURL(s *Sandbox, provider string) string {
	p := s.Providers()
	switch provider {
	case Google:
		return p.Google.TokenURL
	case Microsoft:
		return p.Microsoft.LoginURL + "/common/oauth2/v2.0/token"
	case Yahoo:
		return p.Yahoo.TokenURL
	}
	return p.Zoom.TokenURL
}

func identityURL(s *Sandbox, provider string) string {
	p := s.Providers()
	switch provider {
	case Google:
		return p.Google.UserinfoURL
	case Microsoft:
		return p.Microsoft.GraphURL + "/me"
	case Yahoo:
		return p.Yahoo.UserinfoURL
	}
	return p.Zoom.APIURL + "/users/me"
}

func oauthConfig(s *Sandbox, f fixture) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if f.provider == Yahoo || f.provider == Zoom {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     f.clientID,
		ClientSecret: f.secret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL(s, f.provider), AuthStyle: style},
	}
}

func oauthRefresh(t testing.TB, s *Sandbox, f fixture, rt string) (*oauth2.Token, error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, testClient)
	return oauthConfig(s, f).TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

// retrieveError returns the status and OAuth error code of an oauth2 error.
func retrieveError(t testing.TB, err error) (int, string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *oauth2.RetrieveError", err)
	}
	return re.Response.StatusCode, re.ErrorCode
}

// redeem posts a refresh_token grant with body client authentication (Basic
// for Zoom) and returns the status and decoded body.
func redeem(t testing.TB, s *Sandbox, f fixture, rt string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if f.provider == Zoom {
		return post(t, tokenURL(s, f.provider), form, f.clientID, f.secret)
	}
	form.Set("client_id", f.clientID)
	form.Set("client_secret", f.secret)
	return post(t, tokenURL(s, f.provider), form, "", "")
}

func post(t testing.TB, u string, form url.Values, basicUser, basicPass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return do(t, req)
}

func get(t testing.TB, u, accessToken string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", req.Method, req.URL.Path, ct, b)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body %q: %v", req.Method, req.URL.Path, b, err)
		}
	}
	return resp.StatusCode, m
}

func adminDo(t testing.TB, s *Sandbox, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func wantStatus(t testing.TB, what string, got int, body map[string]any, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d; body %v", what, got, want, body)
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// verifyIDToken checks an RS256 JWT against the JWKS at jwksURL by hand and
// returns its claims.
func verifyIDToken(t testing.TB, jwksURL, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token has %d parts", len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("id_token segment: %v", err)
		}
		return b
	}
	var hdr struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(dec(parts[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr.Alg != "RS256" || hdr.Kid == "" {
		t.Fatalf("id_token header %+v", hdr)
	}
	resp, err := testClient.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Kid, Alg, Use, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var pub *rsa.PublicKey
	for _, k := range set.Keys {
		if k.Kid == hdr.Kid && k.Kty == "RSA" {
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k.N)), E: int(new(big.Int).SetBytes(dec(k.E)).Int64())}
		}
	}
	if pub == nil {
		t.Fatalf("kid %q not in JWKS %+v", hdr.Kid, set)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec(parts[2])); err != nil {
		t.Fatalf("id_token signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if iat == 0 || exp <= iat || time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Fatalf("id_token iat %v exp %v", iat, exp)
	}
	return claims
}
