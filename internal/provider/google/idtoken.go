package google

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// claims are the id_token claims grantd reads.
type claims struct {
	Iss   string          `json:"iss"`
	Sub   string          `json:"sub"`
	Aud   json.RawMessage `json:"aud"`
	Azp   string          `json:"azp"`
	Exp   json.Number     `json:"exp"`
	Iat   json.Number     `json:"iat"`
	Email string          `json:"email"`
	Name  string          `json:"name"`
}

// errUnknownKey: the id_token names a key the JWKS does not hold, even
// after a refetch.
var errUnknownKey = errors.New("signing key not in the JWKS")

// verify checks an RS256 id_token: signature against the JWKS, issuer,
// audience (clientID), expiry and issue time.
func (v *Provider) verify(ctx context.Context, s *oauthx.Session, raw, clientID string) (*claims, error) {
	bad := func(format string, args ...any) error {
		return s.Redact(provider.Errorf(provider.ClassInvalidCredentials,
			"Google's id_token failed verification (%s); check the google issuer and jwks_url configuration or ask the user to sign in again",
			fmt.Sprintf(format, args...)))
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, bad("not a JWS compact serialization")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, bad("header: %v", err)
	}
	if hdr.Alg != "RS256" {
		return nil, bad("algorithm %q, want RS256", hdr.Alg)
	}
	sig, err := b64(parts[2])
	if err != nil {
		return nil, bad("signature encoding")
	}
	key, err := v.keys.key(ctx, hdr.Kid, v.now)
	if errors.Is(err, errUnknownKey) {
		return nil, bad("key id %q is not in the JWKS", hdr.Kid)
	}
	if err != nil {
		return nil, s.ServiceError(ctx, "JWKS endpoint", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return nil, bad("bad signature")
	}
	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, bad("claims: %v", err)
	}
	if !slices.Contains(v.issuers, c.Iss) {
		return nil, bad("issuer %q, want %s", c.Iss, strings.Join(v.issuers, " or "))
	}
	if !audience(c.Aud, clientID) {
		return nil, bad("audience is not the connector's client_id")
	}
	now := v.now()
	exp, err := numericDate(c.Exp)
	if err != nil || exp.IsZero() {
		return nil, bad("no valid exp claim")
	}
	if now.After(exp.Add(v.skew)) {
		return nil, bad("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if iat, err := numericDate(c.Iat); err == nil && iat.After(now.Add(v.skew)) {
		return nil, bad("issued in the future (%s); check the server clock", iat.UTC().Format(time.RFC3339))
	}
	if c.Sub == "" {
		return nil, bad("no sub claim")
	}
	return &c, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func decodeSegment(seg string, out any) error {
	b, err := b64(seg)
	if err != nil {
		return errors.New("bad base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return errors.New("bad JSON")
	}
	return nil
}

// audience reports whether aud (a string or an array of strings) holds
// clientID.
func audience(aud json.RawMessage, clientID string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == clientID
	}
	var many []string
	if json.Unmarshal(aud, &many) == nil {
		return slices.Contains(many, clientID)
	}
	return false
}

func numericDate(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, errors.New("missing")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(f), 0), nil
}

// keyCache holds the RSA keys of a JWKS by kid. Keys live for the
// document's Cache-Control max-age (default an hour, clamped to [1m, 24h]);
// an unknown kid triggers a refetch, at most once per minRefetch. A failed
// refetch falls back to a stale key when there is one. Concurrent misses
// share one fetch.
type keyCache struct {
	url        string
	hc         *http.Client
	minRefetch time.Duration

	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey
	fetched  time.Time
	expires  time.Time
	inflight *fetchCall
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newKeyCache(url string, hc *http.Client) *keyCache {
	return &keyCache{url: url, hc: hc, minRefetch: 10 * time.Second}
}

func (c *keyCache) key(ctx context.Context, kid string, now func() time.Time) (*rsa.PublicKey, error) {
	waited := false
	for {
		c.mu.Lock()
		t := now()
		k, ok := c.keys[kid]
		fresh := t.Before(c.expires)
		if ok && fresh {
			c.mu.Unlock()
			return k, nil
		}
		if !ok && (waited || (fresh && t.Sub(c.fetched) < c.minRefetch)) {
			c.mu.Unlock()
			return nil, errUnknownKey
		}
		if call := c.inflight; call != nil {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if call.err != nil {
				if ok {
					return k, nil
				}
				return nil, call.err
			}
			waited = true
			continue
		}
		call := &fetchCall{done: make(chan struct{})}
		c.inflight = call
		c.mu.Unlock()

		keys, ttl, err := fetchKeys(ctx, c.hc, c.url)

		c.mu.Lock()
		c.inflight = nil
		call.err = err
		if err == nil {
			c.keys, c.fetched, c.expires = keys, t, t.Add(ttl)
		}
		close(call.done)
		c.mu.Unlock()
		if err != nil {
			if ok {
				return k, nil // stale but known: better than failing
			}
			return nil, err
		}
		waited = true
	}
}

// fetchKeys downloads a JWKS and returns its RSA signing keys and how long
// to keep them.
func fetchKeys(ctx context.Context, hc *http.Client, url string) (map[string]*rsa.PublicKey, time.Duration, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	hdr, err := oauthx.FetchJSON(ctx, hc, url, "", &doc)
	if err != nil {
		return nil, 0, err
	}
	keys := make(map[string]*rsa.PublicKey, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		nb, err1 := b64(k.N)
		eb, err2 := b64(k.E)
		if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 {
			continue
		}
		n := new(big.Int).SetBytes(nb)
		e := int(new(big.Int).SetBytes(eb).Int64())
		if n.BitLen() < 2048 || e < 3 || e%2 == 0 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: n, E: e}
	}
	return keys, maxAge(hdr.Get("Cache-Control")), nil
}

// maxAge returns the max-age of a Cache-Control header clamped to
// [1m, 24h], or an hour.
func maxAge(cc string) time.Duration {
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return min(max(time.Duration(n)*time.Second, time.Minute), 24*time.Hour)
			}
		}
	}
	return time.Hour
}
