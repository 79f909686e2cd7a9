package google

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
	"github.com/grantd/grantd/internal/provider/providertest"
)

var (
	keyOnce sync.Once
	keyA    *rsa.PrivateKey
	keyB    *rsa.PrivateKey
)

func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keyB, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

func sign(t *testing.T, k *rsa.PrivateKey, hdr map[string]string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}

func jwk(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}
}

// jwksServer serves the keys currently in *set and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	set     []map[string]string
	status  int
	fetches atomic.Int32
}

func newJWKS(t *testing.T, set ...map[string]string) *jwksServer {
	j := &jwksServer{set: set, status: 200}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.WriteHeader(j.status)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.set})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) setKeys(status int, set ...map[string]string) {
	j.mu.Lock()
	j.set, j.status = set, status
	j.mu.Unlock()
}

const testClient = "client-123.apps.googleusercontent.com"

func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "https://issuer.test", "aud": testClient, "azp": testClient, "sub": "1234",
		"email": "ada@example.com", "name": "Ada", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func newTestProvider(j *jwksServer, issuer string) (*Provider, *oauthx.Session) {
	v := New(Config{JWKSURL: j.URL, Issuer: issuer}, j.Client())
	s, err := oauthx.Start(provider.Request{
		Settings: map[string]any{"refresh_token": "rt-secret"},
		Client:   provider.Client{ClientID: testClient, ClientSecret: "cs-secret"},
	}, oauth, j.Client())
	if err != nil {
		panic(err)
	}
	return v, s
}

func TestVerifyIDToken(t *testing.T) {
	a, b := keys(t)
	now := time.Now()
	hdrA := map[string]string{"alg": "RS256", "kid": "A", "typ": "JWT"}
	with := func(k string, v any) map[string]any {
		c := validClaims(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name    string
		token   func() string
		issuer  string
		wantErr string // "" = valid
	}{
		{name: "valid", token: func() string { return sign(t, a, hdrA, validClaims(now)) }},
		{name: "aud array", token: func() string { return sign(t, a, hdrA, with("aud", []string{"x", testClient})) }},
		{name: "within skew", token: func() string { return sign(t, a, hdrA, with("exp", now.Add(-time.Minute).Unix())) }},
		{name: "expired", token: func() string { return sign(t, a, hdrA, with("exp", now.Add(-10*time.Minute).Unix())) }, wantErr: "expired"},
		{name: "no exp", token: func() string { return sign(t, a, hdrA, with("exp", nil)) }, wantErr: "exp"},
		{name: "issued in the future", token: func() string { return sign(t, a, hdrA, with("iat", now.Add(time.Hour).Unix())) }, wantErr: "future"},
		{name: "wrong audience", token: func() string { return sign(t, a, hdrA, with("aud", "other-client")) }, wantErr: "audience"},
		{name: "wrong issuer", token: func() string { return sign(t, a, hdrA, with("iss", "https://evil.test")) }, wantErr: "issuer"},
		{name: "bare google issuer refused for other issuers", token: func() string { return sign(t, a, hdrA, with("iss", "accounts.google.com")) }, wantErr: "issuer"},
		{name: "bare google issuer accepted for google", issuer: googleIssuer,
			token: func() string { return sign(t, a, hdrA, with("iss", "accounts.google.com")) }},
		{name: "full google issuer accepted for google", issuer: googleIssuer,
			token: func() string { return sign(t, a, hdrA, with("iss", googleIssuer)) }},
		{name: "signed by another key", token: func() string { return sign(t, b, hdrA, validClaims(now)) }, wantErr: "bad signature"},
		{name: "tampered claims", token: func() string {
			parts := strings.Split(sign(t, a, hdrA, validClaims(now)), ".")
			c, _ := json.Marshal(with("email", "mallory@example.com"))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
		}, wantErr: "bad signature"},
		{name: "alg none", token: func() string {
			enc := base64.RawURLEncoding
			h, _ := json.Marshal(map[string]string{"alg": "none", "kid": "A"})
			c, _ := json.Marshal(validClaims(now))
			return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "."
		}, wantErr: "RS256"},
		{name: "HS256", token: func() string {
			return sign(t, a, map[string]string{"alg": "HS256", "kid": "A"}, validClaims(now))
		}, wantErr: "RS256"},
		{name: "garbage", token: func() string { return "abc" }, wantErr: "JWS"},
		{name: "unknown kid", token: func() string {
			return sign(t, a, map[string]string{"alg": "RS256", "kid": "Z"}, validClaims(now))
		}, wantErr: "not in the JWKS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJWKS(t, jwk("A", a))
			iss := tc.issuer
			if iss == "" {
				iss = "https://issuer.test"
			}
			v, s := newTestProvider(j, iss)
			c, err := v.verify(context.Background(), s, tc.token(), testClient)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if c.Email != "ada@example.com" || c.Sub != "1234" || c.Name != "Ada" {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			pe := providertest.Class(t, err, provider.ClassInvalidCredentials)
			if !strings.Contains(pe.Message, tc.wantErr) {
				t.Errorf("message %q does not contain %q", pe.Message, tc.wantErr)
			}
			providertest.NoSecrets(t, err, "rt-secret", "cs-secret")
		})
	}
}

func TestKeyCache(t *testing.T) {
	a, b := keys(t)
	now := time.Now()
	clock := now
	j := newJWKS(t, jwk("A", a))
	v, s := newTestProvider(j, "https://issuer.test")
	v.now = func() time.Time { return clock }
	ctx := context.Background()
	tokA := sign(t, a, map[string]string{"alg": "RS256", "kid": "A"}, validClaims(now))
	tokB := sign(t, b, map[string]string{"alg": "RS256", "kid": "B"}, validClaims(now))

	mustVerify := func(tok string) {
		t.Helper()
		if _, err := v.verify(ctx, s, tok, testClient); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	mustVerify(tokA)
	mustVerify(tokA)
	if n := j.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d after two verifications, want 1 (cached)", n)
	}

	// Key rotation: an unknown kid triggers a refetch…
	j.setKeys(200, jwk("A", a), jwk("B", b))
	clock = clock.Add(30 * time.Second)
	mustVerify(tokB)
	if n := j.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d after an unknown kid, want 2", n)
	}
	// …but not more than once per minRefetch (the fetch just happened).
	tokC := sign(t, a, map[string]string{"alg": "RS256", "kid": "C"}, validClaims(now))
	for range 3 {
		_, err := v.verify(ctx, s, tokC, testClient)
		providertest.Class(t, err, provider.ClassInvalidCredentials)
	}
	if n := j.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d after repeated unknown kids, want still 2", n)
	}
	clock = clock.Add(v.keys.minRefetch)
	for range 3 {
		_, err := v.verify(ctx, s, tokC, testClient)
		providertest.Class(t, err, provider.ClassInvalidCredentials)
	}
	if n := j.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d after minRefetch, want 3", n)
	}

	// After max-age (600s) the document is fetched again.
	clock = clock.Add(11 * time.Minute)
	mustVerify(tokA)
	if n := j.fetches.Load(); n != 4 {
		t.Fatalf("fetches = %d after the TTL, want 4", n)
	}

	// A failing refetch falls back to the stale keys.
	j.setKeys(503)
	clock = clock.Add(11 * time.Minute)
	mustVerify(tokA)
	if n := j.fetches.Load(); n != 5 {
		t.Fatalf("fetches = %d, want 5", n)
	}

	// A failing JWKS with no usable key is the provider's fault: retryable.
	v2, s2 := newTestProvider(j, "https://issuer.test")
	_, err := v2.verify(ctx, s2, tokA, testClient)
	pe := providertest.Class(t, err, provider.ClassUnavailable)
	if !strings.Contains(pe.Message, "JWKS") {
		t.Errorf("message = %q", pe.Message)
	}
}

func TestKeyCacheConcurrentMissesShareOneFetch(t *testing.T) {
	a, _ := keys(t)
	release := make(chan struct{})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwk("A", a)}})
	}))
	defer srv.Close()
	c := newKeyCache(srv.URL, srv.Client())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.key(context.Background(), "A", time.Now)
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":                        time.Hour,
		"public, max-age=19845":   19845 * time.Second,
		"max-age=5":               time.Minute,
		"max-age=999999":          24 * time.Hour,
		"no-cache, max-age=bogus": time.Hour,
	} {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", in, got, want)
		}
	}
}
