package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestJWTBearer: the stand-in refuses every assertion Google would: a
// wrong audience, an expired or over-long one, another key's signature,
// an undelegated scope, a user of another domain; and accepts a good one.
func TestJWTBearer(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddUser(Google, User{Email: "ada@acme.test"})
	s.AddUser(Google, User{Email: "eve@other.test"})
	raw, err := s.AddServiceAccount(ServiceAccount{Domain: "acme.test", Scopes: []string{"https://mail.google.com/"}})
	if err != nil {
		t.Fatal(err)
	}
	var key saKeyFile
	_ = json.Unmarshal(raw, &key)
	block, _ := pem.Decode([]byte(key.PrivateKey))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*rsa.PrivateKey)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tokenURL := s.URL() + "/google/token"
	sign := func(pk *rsa.PrivateKey, kid string, c jwtClaims) string {
		h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
		b, _ := json.Marshal(c)
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(in))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, pk, crypto.SHA256, sum[:])
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	now := time.Now().Unix()
	good := jwtClaims{Iss: key.ClientEmail, Sub: "ada@acme.test", Scope: "https://mail.google.com/", Aud: tokenURL, Iat: now, Exp: now + 3600}
	with := func(f func(*jwtClaims)) jwtClaims { c := good; f(&c); return c }
	for _, tc := range []struct {
		name      string
		assertion string
		status    int
		code      string
	}{
		{"good", sign(priv, key.PrivateKeyID, good), 200, ""},
		{"wrong audience", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Aud = "https://oauth2.googleapis.com/token" })), 400, "invalid_grant"},
		{"expired", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Iat, c.Exp = now-7200, now-3600 })), 400, "invalid_grant"},
		{"longer than an hour", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Exp = now + 3601 })), 400, "invalid_grant"},
		{"another key", sign(other, key.PrivateKeyID, good), 400, "invalid_grant"},
		{"another kid", sign(priv, "other-kid", good), 400, "invalid_grant"},
		{"unknown account", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Iss = "nobody@x.iam.gserviceaccount.com" })), 400, "invalid_grant"},
		{"scope not delegated", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Scope = "https://www.googleapis.com/auth/drive" })), 401, "unauthorized_client"},
		{"no scope", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Scope = "" })), 400, "invalid_scope"},
		{"user of another domain", sign(priv, key.PrivateKeyID, with(func(c *jwtClaims) { c.Sub = "eve@other.test" })), 400, "invalid_grant"},
		{"not a JWT", "abc", 400, "invalid_grant"},
	} {
		resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {JWTBearerGrant}, "assertion": {tc.assertion}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.code != "" && body["error"] != tc.code) || (tc.code == "" && !strings.HasPrefix(body["access_token"].(string), "ya29.")) {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, body)
		}
	}
}
