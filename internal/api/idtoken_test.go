package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

// jwtParts decodes an id_token's header and claims.
func jwtParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("id_token %q is not a compact JWS", tok)
	}
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatalf("id_token %q: header or claims not JSON", tok)
	}
	return h, c
}

// verifiesWithJWKS checks tok's ES256 signature with the key of its kid
// in grantd's published JWKS, as a relying party would.
func verifiesWithJWKS(t *testing.T, e *apitest.Env, tok string) bool {
	t.Helper()
	r := e.Do("GET", "/.well-known/jwks.json", "", nil)
	keys, _ := r.Body["keys"].([]any)
	if r.Status != 200 || len(keys) == 0 {
		t.Fatalf("jwks: %d %s", r.Status, r.Raw)
	}
	h, _ := jwtParts(t, tok)
	p := strings.Split(tok, ".")
	for _, k := range keys {
		k := k.(map[string]any)
		if k["kid"] != h["kid"] {
			continue
		}
		if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["d"] != nil {
			t.Fatalf("JWK %v", k)
		}
		x, _ := base64.RawURLEncoding.DecodeString(k["x"].(string))
		y, _ := base64.RawURLEncoding.DecodeString(k["y"].(string))
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		d := sha256.Sum256([]byte(p[0] + "." + p[1]))
		return len(sig) == 64 && ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}

// TestHostedIDToken: the code exchange and the refresh answer an
// id_token signed by grantd (ES256, a key of its JWKS) with iss, aud,
// sub, email, iat and exp; tokeninfo?id_token= verifies it and answers
// its claims; forged, foreign and malformed id_tokens are 400
// invalid_token.
func TestHostedIDToken(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "idtoken")
	a.connector("google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})
	back := a.authorize(t, url.Values{"provider": {"google"}, "access_type": {"offline"}}, "ada@example.com")
	st, tok := a.token(t, map[string]any{"client_id": a.appID, "redirect_uri": appRedirect, "code": back.Get("code"),
		"client_secret": a.key, "grant_type": "authorization_code"})
	idt, _ := tok["id_token"].(string)
	if st != 200 || idt == "" {
		t.Fatalf("token: %d %v", st, tok)
	}
	grantID := tok["grant_id"].(string)
	h, c := jwtParts(t, idt)
	if h["alg"] != "ES256" || h["typ"] != "JWT" || h["kid"] == "" {
		t.Fatalf("id_token header %v", h)
	}
	if c["iss"] != e.HTTP.URL || c["aud"] != a.appID || c["sub"] != grantID || c["email"] != "ada@example.com" ||
		c["exp"].(float64)-c["iat"].(float64) != 3600 {
		t.Fatalf("id_token claims %v", c)
	}
	if !verifiesWithJWKS(t, e, idt) {
		t.Fatal("the published JWKS does not verify the id_token")
	}
	disc := e.Do("GET", "/.well-known/openid-configuration", "", nil)
	if disc.Status != 200 || disc.Body["issuer"] != e.HTTP.URL || disc.Body["jwks_uri"] != e.HTTP.URL+"/.well-known/jwks.json" ||
		disc.Body["token_endpoint"] != e.HTTP.URL+"/v3/connect/token" ||
		fmt.Sprint(disc.Body["revocation_endpoint_auth_methods_supported"]) != "[client_secret_post none]" {
		t.Fatalf("openid-configuration: %d %s", disc.Status, disc.Raw)
	}
	info := e.Do("GET", "/v3/connect/tokeninfo?id_token="+url.QueryEscape(idt), "", nil)
	if d := info.Data(); info.Status != 200 || d["sub"] != grantID || d["aud"] != a.appID || d["email"] != "ada@example.com" ||
		d["iss"] != e.HTTP.URL || d["iat"] != c["iat"] || d["exp"] != c["exp"] {
		t.Fatalf("tokeninfo?id_token: %d %s", info.Status, info.Raw)
	}

	// The refresh answers a new id_token too.
	st, rt := a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
	idt2, _ := rt["id_token"].(string)
	if st != 200 || idt2 == "" || !verifiesWithJWKS(t, e, idt2) {
		t.Fatalf("refresh: %d %v", st, rt)
	}
	if _, c2 := jwtParts(t, idt2); c2["sub"] != grantID || c2["aud"] != a.appID {
		t.Fatalf("refreshed id_token claims %v", c2)
	}
	// client_credentials is no sign-in: no id_token.
	if st, cc := a.token(t, map[string]any{"client_id": a.appID, "client_secret": a.key, "grant_type": "client_credentials", "grant_id": grantID}); st != 200 || cc["id_token"] != nil {
		t.Fatalf("client_credentials: %d %v", st, cc)
	}

	// Bad id_tokens.
	p := strings.Split(idt, ".")
	enc := base64.RawURLEncoding.EncodeToString
	forged, _ := json.Marshal(map[string]any{"iss": e.HTTP.URL, "aud": a.appID, "sub": "another-grant", "email": "eve@example.com", "iat": c["iat"], "exp": c["exp"]})
	none, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": h["kid"].(string)})
	// Another grantd's id_token (its own keys).
	e2 := apitest.New(t, apitest.Options{Sandbox: e.Sandbox})
	a2 := newHostedApp(t, e2, "other")
	a2.connector("google")
	back2 := a2.authorize(t, url.Values{"provider": {"google"}}, "ada@example.com")
	_, tok2 := a2.token(t, map[string]any{"client_id": a2.appID, "redirect_uri": appRedirect, "code": back2.Get("code"), "client_secret": a2.key, "grant_type": "authorization_code"})
	foreign, _ := tok2["id_token"].(string)
	if foreign == "" {
		t.Fatalf("second grantd: %v", tok2)
	}
	for name, bad := range map[string]string{
		"not a JWT":                 "eyJ.x.y",
		"claims swapped (forged)":   p[0] + "." + enc(forged) + "." + p[2],
		"alg none":                  enc(none) + "." + enc(forged) + ".",
		"alg none, real signature":  enc(none) + "." + p[1] + "." + p[2],
		"another grantd's id_token": foreign,
		"an access token":           tok["access_token"].(string),
	} {
		r := e.Do("GET", "/v3/connect/tokeninfo?id_token="+url.QueryEscape(bad), "", nil)
		oauthError(t, "tokeninfo id_token "+name, r.Status, r.Body, 400, "invalid_token")
	}
	if r := e.Do("GET", "/v3/connect/tokeninfo?id_token="+url.QueryEscape(idt)+"&access_token="+url.QueryEscape(tok["access_token"].(string)), "", nil); r.Status != 400 || r.Body["error"] != "invalid_request" {
		t.Errorf("both tokens: %d %s", r.Status, r.Raw)
	}
}
