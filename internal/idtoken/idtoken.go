// Package idtoken signs and verifies the id_tokens of grantd's token
// endpoint (POST /v3/connect/token) and publishes their public keys
// (a JWKS).
//
// An id_token is a compact JWS (RFC 7515) of JWT claims (RFC 7519)
// signed with ES256 (ECDSA P-256 and SHA-256, RFC 7518 §3.4). The
// standard library has everything this needs (crypto/ecdsa, crypto/sha256,
// encoding/json, encoding/base64), so grantd uses no JOSE library: the
// one algorithm is fixed, verification accepts nothing but ES256 (never
// "none", never an HMAC keyed with a public key) and only keys of its own
// store.
//
// The keys live in the store (signing_keys), the private key sealed by
// the vault, so every node signs with the same key and verifies every
// node's tokens. The key with the highest number signs; a node that finds
// none, or finds it older than Rotation, creates the next number, and of
// nodes racing to create the same number the store keeps one (the others
// read it). A replaced key stays in the JWKS, and verifies, for Retain
// after its successor was created, then it is deleted.
package idtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
)

// Alg is the JWS algorithm of every id_token grantd signs.
const Alg = "ES256"

// ErrInvalid: the token is not an id_token grantd signed, or it expired.
// The wrapped message says why (for the person reading the error).
var ErrInvalid = errors.New("id_token invalid")

// Sealer encrypts and decrypts the private keys (internal/vault).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Claims are an id_token's claims.
type Claims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Email string `json:"email,omitempty"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// Keys signs and verifies id_tokens with the store's signing keys.
type Keys struct {
	Store store.Store
	Vault Sealer
	Now   func() time.Time
	// Rotation is the age at which the signing key is replaced (default
	// 30 days); Retain how long a replaced key is still published and
	// accepted (default 7 days; at least the life of an id_token).
	Rotation time.Duration
	Retain   time.Duration

	mu       sync.Mutex
	keys     []key // highest seq first; retired keys left out
	loadedAt time.Time
}

type key struct {
	id      string
	seq     int64
	created time.Time
	priv    *ecdsa.PrivateKey
	pub     *ecdsa.PublicKey
}

// reload bounds how long a node signs with a key another node replaced,
// and how often an unknown kid makes it read the store again.
const reload = 30 * time.Second

func (k *Keys) now() time.Time { return k.Now().UTC() }

func (k *Keys) rotation() time.Duration {
	if k.Rotation <= 0 {
		return 30 * 24 * time.Hour
	}
	return k.Rotation
}

func (k *Keys) retain() time.Duration {
	if k.Retain <= 0 {
		return 7 * 24 * time.Hour
	}
	return k.Retain
}

func aad(id string) []byte { return []byte("signing_key/" + id) }

// load reads the keys from the store (k.mu held), drops and deletes the
// retired ones.
func (k *Keys) load(ctx context.Context) error {
	rows, err := k.Store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	now := k.now()
	var keys []key
	for i, r := range rows {
		if i > 0 && !rows[i-1].CreatedAt.Add(k.retain()).After(now) {
			// Replaced more than Retain ago: no live token was
			// signed with it.
			if err := k.Store.DeleteSigningKey(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			continue
		}
		kk, err := k.open(r)
		if err != nil {
			return err
		}
		keys = append(keys, kk)
	}
	k.keys, k.loadedAt = keys, now
	return nil
}

func (k *Keys) open(r store.SigningKey) (key, error) {
	if r.Alg != Alg {
		return key{}, fmt.Errorf("signing key %s: algorithm %q is not %s", r.ID, r.Alg, Alg)
	}
	p, err := x509.ParsePKIXPublicKey(r.PublicKey)
	if err != nil {
		return key{}, fmt.Errorf("signing key %s: public key: %w", r.ID, err)
	}
	pub, ok := p.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return key{}, fmt.Errorf("signing key %s: public key is not P-256", r.ID)
	}
	der, err := k.Vault.Open(r.PrivateKey, aad(r.ID))
	if err != nil {
		return key{}, fmt.Errorf("signing key %s: open: %w", r.ID, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return key{}, fmt.Errorf("signing key %s: private key: %w", r.ID, err)
	}
	priv, ok := pk.(*ecdsa.PrivateKey)
	if !ok || !priv.PublicKey.Equal(pub) {
		return key{}, fmt.Errorf("signing key %s: private key does not match its public key", r.ID)
	}
	return key{id: r.ID, seq: r.Seq, created: r.CreatedAt, priv: priv, pub: pub}, nil
}

// create stores key number seq (k.mu held); a key of that number created
// meanwhile by another node wins, and is read instead.
func (k *Keys) create(ctx context.Context, seq int64) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	id := "gk_" + strings.ToLower(rand.Text()[:20])
	sealed, err := k.Vault.Seal(der, aad(id))
	if err != nil {
		return err
	}
	err = k.Store.CreateSigningKey(ctx, store.SigningKey{ID: id, Seq: seq, Alg: Alg, PrivateKey: sealed, PublicKey: pub,
		CreatedAt: k.now().Truncate(time.Microsecond)})
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return err
	}
	return k.load(ctx)
}

// current returns the signing key, creating or rotating it when due.
func (k *Keys) current(ctx context.Context) (key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.keys == nil || now.Sub(k.loadedAt) > reload {
		if err := k.load(ctx); err != nil {
			return key{}, err
		}
	}
	for range 3 {
		if len(k.keys) > 0 && k.keys[0].created.Add(k.rotation()).After(now) {
			break
		}
		next := int64(1)
		if len(k.keys) > 0 {
			next = k.keys[0].seq + 1
		}
		if err := k.create(ctx, next); err != nil {
			return key{}, err
		}
	}
	if len(k.keys) == 0 {
		return key{}, errors.New("idtoken: no signing key")
	}
	return k.keys[0], nil
}

// lookup returns the published key id, reading the store again (at most
// every reload) when it is not known.
func (k *Keys) lookup(ctx context.Context, id string) (key, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	find := func() (key, bool) {
		for _, kk := range k.keys {
			if kk.id == id {
				return kk, true
			}
		}
		return key{}, false
	}
	if kk, ok := find(); ok && k.now().Sub(k.loadedAt) <= reload {
		return kk, true, nil
	}
	if k.keys == nil || k.now().Sub(k.loadedAt) > time.Second {
		if err := k.load(ctx); err != nil {
			return key{}, false, err
		}
	}
	kk, ok := find()
	return kk, ok, nil
}

var b64 = base64.RawURLEncoding.Strict()

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`
}

// Sign returns the compact JWS of c signed with the current key.
func (k *Keys) Sign(ctx context.Context, c Claims) (string, error) {
	sg, err := k.Signer(ctx)
	if err != nil {
		return "", err
	}
	return sg.Sign(c)
}

// Signer is the current signing key, read (created or rotated when due)
// once: its Sign needs the store no more, so that a caller can make sure
// of the key before a step it cannot undo (a refresh token's rotation)
// and sign after it.
type Signer struct{ kk key }

// Signer returns the current signing key.
func (k *Keys) Signer(ctx context.Context) (Signer, error) {
	kk, err := k.current(ctx)
	return Signer{kk}, err
}

// Sign returns the compact JWS of c signed with the key.
func (sg Signer) Sign(c Claims) (string, error) {
	kk := sg.kk
	h, err := json.Marshal(header{Alg: Alg, Typ: "JWT", Kid: kk.id})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, kk.priv, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// leeway is the clock difference between nodes tolerated on iat.
const leeway = time.Minute

// Verify checks tok: an ES256 JWS signed by a published key of the store,
// not expired, issued by issuer when issuer is not empty. The error is
// ErrInvalid (wrapped, with the reason) for any token that fails.
func (k *Keys) Verify(ctx context.Context, tok, issuer string) (Claims, error) {
	if len(tok) > 4096 {
		return Claims{}, invalid("the id_token is too long")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, invalid("the id_token is not a JWT (three base64url parts separated by dots)")
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return Claims{}, invalid("the id_token is not a JWT (a part is not unpadded base64url)")
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Claims{}, invalid("the id_token's header is not a JSON object")
	}
	if h.Alg != Alg {
		return Claims{}, invalid("the id_token's algorithm %q is not %s, the only one grantd signs with", fault.Shorten(h.Alg, 20), Alg)
	}
	if len(sig) != 64 {
		return Claims{}, invalid("the id_token's signature is not an ES256 signature")
	}
	kk, ok, err := k.lookup(ctx, h.Kid)
	if err != nil {
		return Claims{}, err
	}
	if !ok {
		return Claims{}, invalid("the id_token was not signed by a key of this grantd (unknown or retired kid)")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(kk.pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return Claims{}, invalid("the id_token's signature does not verify")
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Claims{}, invalid("the id_token's claims are not a JSON object of the expected claims")
	}
	now := k.now()
	switch {
	case c.Exp == 0 || !time.Unix(c.Exp, 0).After(now):
		return Claims{}, invalid("the id_token expired")
	case time.Unix(c.Iat, 0).After(now.Add(leeway)):
		return Claims{}, invalid("the id_token is issued in the future")
	case issuer != "" && c.Iss != issuer:
		return Claims{}, invalid("the id_token was issued by %q, not this grantd (%s)", fault.Shorten(c.Iss, 100), issuer)
	case c.Sub == "" || c.Aud == "":
		return Claims{}, invalid("the id_token has no sub or aud")
	}
	return c, nil
}

// JWK is a public key of the JWKS (RFC 7517).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS is the key set published at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Set returns the published keys: the signing key (created on first use)
// and the replaced keys not retired yet.
func (k *Keys) Set(ctx context.Context) (JWKS, error) {
	if _, err := k.current(ctx); err != nil {
		return JWKS{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := JWKS{Keys: []JWK{}}
	for _, kk := range k.keys {
		b, err := kk.pub.Bytes() // uncompressed point: 0x04 || X || Y
		if err != nil {
			return JWKS{}, err
		}
		out.Keys = append(out.Keys, JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:]),
			Kid: kk.id, Use: "sig", Alg: Alg})
	}
	return out, nil
}
