package idtoken

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
	"github.com/grantd/grantd/internal/vault"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newVault(t *testing.T, b byte) *vault.Vault {
	t.Helper()
	v, err := vault.NewFromInline("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, vault.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const iss = "https://grantd.example"

func claims(c *clock) Claims {
	now := c.now()
	return Claims{Iss: iss, Aud: "app1", Sub: "grant1", Email: "a@example.com", Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()}
}

func mustInvalid(t *testing.T, k *Keys, tok, issuer, why string) {
	t.Helper()
	_, err := k.Verify(t.Context(), tok, issuer)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%s: Verify = %v, want ErrInvalid", why, err)
	}
	if !strings.HasPrefix(err.Error(), ErrInvalid.Error()+": ") || len(err.Error()) < len(ErrInvalid.Error())+10 {
		t.Fatalf("%s: the error says no reason: %q", why, err)
	}
}

// verifyWithJWKS checks tok against the published key set alone, as a
// relying party does: the JWK's x and y, ES256.
func verifyWithJWKS(t *testing.T, set JWKS, tok string) bool {
	t.Helper()
	parts := strings.Split(tok, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "ES256" {
		t.Fatalf("header %s", hb)
	}
	for _, k := range set.Keys {
		if k.Kid != h.Kid {
			continue
		}
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" {
			t.Fatalf("JWK %+v", k)
		}
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		y, _ := base64.RawURLEncoding.DecodeString(k.Y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		return ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}

func TestSignVerify(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	k := &Keys{Store: st, Vault: newVault(t, 1), Now: c.now}
	want := claims(c)
	tok, err := k.Sign(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Verify(ctx, tok, iss)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("claims %+v, want %+v", got, want)
	}
	if _, err := k.Verify(ctx, tok, ""); err != nil {
		t.Fatalf("Verify without an issuer to check: %v", err)
	}
	set, err := k.Set(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !verifyWithJWKS(t, set, tok) {
		t.Fatalf("the JWKS %+v does not verify the token", set)
	}
	// The private key is stored sealed: not the PKCS #8, and the
	// vault's AAD binds it to its id.
	rows, err := st.ListSigningKeys(ctx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("stored keys %v %v", rows, err)
	}
	if _, err := newVault(t, 2).Open(rows[0].PrivateKey, aad(rows[0].ID)); err == nil {
		t.Fatal("another vault opened the private key")
	}
	if _, err := newVault(t, 1).Open(rows[0].PrivateKey, aad("other")); err == nil {
		t.Fatal("the sealed key opened under another id")
	}
}

// TestVerifyRefuses: forged, expired, foreign and malformed id_tokens,
// other algorithms (none, HS256 keyed with the public key, RS256).
func TestVerifyRefuses(t *testing.T) {
	ctx := t.Context()
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	k := &Keys{Store: newStore(t), Vault: newVault(t, 1), Now: c.now}
	tok, err := k.Sign(ctx, claims(c))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	hdr := func(alg, kid string) string {
		b, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
		return enc(b)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h header
	_ = json.Unmarshal(hb, &h)
	set, _ := k.Set(ctx)
	pubJSON, _ := json.Marshal(set.Keys[0])

	other := map[string]any{"iss": iss, "aud": "app1", "sub": "grant2", "email": "evil@example.com", "iat": c.now().Unix(), "exp": c.now().Add(time.Hour).Unix()}
	ob, _ := json.Marshal(other)
	forgedPayload := enc(ob)
	hmacSig := func(input string) string {
		m := hmac.New(sha256.New, pubJSON)
		m.Write([]byte(input))
		return enc(m.Sum(nil))
	}
	// A foreign grantd (its own store and keys) signing the same claims.
	foreign := &Keys{Store: newStore(t), Vault: newVault(t, 1), Now: c.now}
	foreignTok, err := foreign.Sign(ctx, claims(c))
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.Split(foreignTok, ".")
	// A key of our own kid, but another private key.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte(parts[0] + "." + forgedPayload))
	r, s, _ := ecdsa.Sign(rand.Reader, priv, d[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])

	cases := map[string]string{
		"empty":                             "",
		"not a JWT":                         "eyJ.x.y",
		"two parts":                         parts[0] + "." + parts[1],
		"padded base64":                     parts[0] + "=." + parts[1] + "." + parts[2],
		"payload swapped (forged)":          parts[0] + "." + forgedPayload + "." + parts[2],
		"signature of another key, our kid": parts[0] + "." + forgedPayload + "." + enc(sig),
		"alg none, no signature":            hdr("none", h.Kid) + "." + forgedPayload + ".",
		"alg none with our signature":       hdr("none", h.Kid) + "." + parts[1] + "." + parts[2],
		"HS256 keyed with the public JWK":   hdr("HS256", h.Kid) + "." + forgedPayload + "." + hmacSig(hdr("HS256", h.Kid)+"."+forgedPayload),
		"RS256 claimed":                     hdr("RS256", h.Kid) + "." + parts[1] + "." + parts[2],
		"lowercase es256":                   hdr("es256", h.Kid) + "." + parts[1] + "." + parts[2],
		"foreign grantd":                    foreignTok,
		"foreign signature under our kid":   parts[0] + "." + fp[1] + "." + fp[2],
		"truncated signature":               parts[0] + "." + parts[1] + "." + parts[2][:20],
		"header not JSON":                   enc([]byte("alg")) + "." + parts[1] + "." + parts[2],
		"too long":                          strings.Repeat("a", 5000),
		"signature bit flipped":             parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"unknown kid":                       hdr("ES256", "gk_nope") + "." + parts[1] + "." + parts[2],
	}
	for name, bad := range cases {
		mustInvalid(t, k, bad, iss, name)
	}
	mustInvalid(t, k, tok, "https://other.example", "another issuer expected")

	// Expired: an hour later (exp is exclusive).
	c.add(time.Hour)
	mustInvalid(t, k, tok, iss, "expired")
	// Issued in the future (a clock far ahead): refused.
	fut := claims(c)
	fut.Iat = c.now().Add(time.Hour).Unix()
	fut.Exp = c.now().Add(2 * time.Hour).Unix()
	ft, err := k.Sign(ctx, fut)
	if err != nil {
		t.Fatal(err)
	}
	mustInvalid(t, k, ft, iss, "issued in the future")
}

func flip(s string) string {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	b[10] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRotation: a key older than Rotation is replaced; the old one stays
// published and verifies for Retain, then it is deleted.
func TestRotation(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	k := &Keys{Store: st, Vault: newVault(t, 1), Now: c.now, Rotation: 24 * time.Hour, Retain: 2 * time.Hour}
	kid := func(tok string) string {
		hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var h header
		_ = json.Unmarshal(hb, &h)
		return h.Kid
	}
	long := func() Claims { cl := claims(c); cl.Exp = c.now().Add(100 * time.Hour).Unix(); return cl }
	old, err := k.Sign(ctx, long())
	if err != nil {
		t.Fatal(err)
	}
	c.add(24*time.Hour + time.Second)
	fresh, err := k.Sign(ctx, long())
	if err != nil {
		t.Fatal(err)
	}
	if kid(fresh) == kid(old) {
		t.Fatal("the key was not rotated after Rotation")
	}
	set, err := k.Set(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != kid(fresh) || set.Keys[1].Kid != kid(old) {
		t.Fatalf("JWKS after rotation: %+v", set)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := k.Verify(ctx, tok, iss); err != nil {
			t.Fatalf("Verify after rotation: %v", err)
		}
	}
	// Another node (same store) sees the new key and the old one.
	k2 := &Keys{Store: st, Vault: newVault(t, 1), Now: c.now, Rotation: 24 * time.Hour, Retain: 2 * time.Hour}
	if _, err := k2.Verify(ctx, old, iss); err != nil {
		t.Fatalf("other node: %v", err)
	}
	other, err := k2.Sign(ctx, long())
	if err != nil || kid(other) != kid(fresh) {
		t.Fatalf("other node signs with %s (%v), want the current key %s", kid(other), err, kid(fresh))
	}
	// Retain after the successor was created, the old key is gone.
	c.add(2*time.Hour + time.Second)
	mustInvalid(t, k, old, iss, "signed with a retired key")
	set, err = k.Set(ctx)
	if err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != kid(fresh) {
		t.Fatalf("JWKS after retirement: %+v %v", set, err)
	}
	rows, _ := st.ListSigningKeys(ctx)
	if len(rows) != 1 {
		t.Fatalf("%d keys stored after retirement, want 1", len(rows))
	}
}

// TestFirstUseRace: nodes signing their first id_token at once create one
// key between them, and each verifies the others' tokens: on SQLite
// (nodes sharing the store) and on PostgreSQL (each node its own pool).
func TestFirstUseRace(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st := newStore(t)
		firstUseRace(t, func() store.Store { return st })
	})
	t.Run("postgres", func(t *testing.T) {
		u := testenv.PostgresSchema(t, "the PostgreSQL first-use race")
		firstUseRace(t, func() store.Store {
			st, err := postgres.Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func firstUseRace(t *testing.T, node func() store.Store) {
	ctx := t.Context()
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	const n = 6
	nodes := make([]*Keys, n)
	toks := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		nodes[i] = &Keys{Store: node(), Vault: newVault(t, 1), Now: c.now}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = nodes[i].Sign(context.WithoutCancel(ctx), claims(c)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		for j := range n {
			if _, err := nodes[j].Verify(ctx, toks[i], iss); err != nil {
				t.Fatalf("node %d does not verify node %d's token: %v", j, i, err)
			}
		}
	}
	rows, err := nodes[0].Store.ListSigningKeys(ctx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("%d keys stored (%v), want 1", len(rows), err)
	}
}
