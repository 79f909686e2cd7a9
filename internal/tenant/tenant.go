// Package tenant manages applications (grantd's tenants) and the API keys
// that authenticate requests as one of them. Plaintext API keys exist only
// in the answer to their creation; the store keeps a SHA-256 hash.
package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/versioncache"
)

// KeyPrefix starts every API key grantd issues, so that secret scanners and
// people can recognise one.
const KeyPrefix = "grantd_"

// Scopes an API key may carry beyond the default access to the API.
const (
	// ScopeReadCredentials allows reading provider access tokens of grants.
	ScopeReadCredentials = "credentials:read"
)

// KnownScopes lists the scopes an API key can be given.
var KnownScopes = []string{ScopeReadCredentials}

// ErrUnauthorized is returned by Authenticate for a missing, unknown or
// revoked key. It never says which, to give nothing away.
var ErrUnauthorized = errors.New("invalid API key")

// Principal is the authenticated caller of a request.
type Principal struct {
	App Application
	Key store.APIKey
	// ConfigVersion is the application's configuration version
	// (store.Store.GetConfigVersion) read when the key was checked: what
	// the request's other cached reads of the application's configuration
	// are checked against (store.WithConfigVersion).
	ConfigVersion int64
}

// Application is an alias kept short for callers.
type Application = store.Application

// Has reports whether the caller's key carries scope.
func (p Principal) Has(scope string) bool { return slices.Contains(p.Key.Scopes, scope) }

// Service creates and authenticates applications and API keys.
type Service struct {
	Store store.Store
	Now   func() time.Time
	// NewID returns a new unique identifier.
	NewID func() string

	// keys caches, by key hash, the active keys that authenticated
	// requests with their application, under the application's
	// configuration version when they were read (one read of an integer
	// per request checks it; internal/versioncache). Every change to an
	// application's keys or settings grows its version in the same
	// transaction: a revocation on any node, or by grantd apikey revoke,
	// refuses the key from the next request on, on every node.
	keys versioncache.Cache[cachedKey]
}

type cachedKey struct {
	key store.APIKey
	app Application
}

// New returns a Service over st.
func New(st store.Store) *Service {
	return &Service{Store: st, Now: time.Now, NewID: NewID}
}

// CreateApplication creates an application and a first API key for it and
// returns the key's plaintext, which is not stored.
func (s *Service) CreateApplication(ctx context.Context, name string) (Application, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Application{}, "", errors.New("an application needs a name")
	}
	now := s.now()
	app := Application{
		ID:             s.NewID(),
		Name:           name,
		OrganizationID: "local",
		Region:         "local",
		Environment:    "production",
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := s.Store.CreateApplication(ctx, app); err != nil {
		return Application{}, "", fmt.Errorf("create application: %w", err)
	}
	_, plain, err := s.CreateAPIKey(ctx, app.ID, "default", nil)
	if err != nil {
		return Application{}, "", err
	}
	return app, plain, nil
}

// CreateAPIKey issues a new key for an existing application.
func (s *Service) CreateAPIKey(ctx context.Context, appID, name string, scopes []string) (store.APIKey, string, error) {
	if err := s.requireApp(ctx, appID); err != nil {
		return store.APIKey{}, "", err
	}
	for _, sc := range scopes {
		if !slices.Contains(KnownScopes, sc) {
			return store.APIKey{}, "", fmt.Errorf("unknown API key scope %q (known: %s)", sc, strings.Join(KnownScopes, ", "))
		}
	}
	plain, err := newKey()
	if err != nil {
		return store.APIKey{}, "", err
	}
	if name == "" {
		name = "key"
	}
	k := store.APIKey{
		ID:        s.NewID(),
		AppID:     appID,
		Name:      name,
		Hash:      HashKey(plain),
		Prefix:    plain[:len(KeyPrefix)+6],
		Scopes:    scopes,
		CreatedAt: s.now(),
	}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return store.APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return k, plain, nil
}

// ListAPIKeys lists an existing application's keys (hashes and prefixes
// only).
func (s *Service) ListAPIKeys(ctx context.Context, appID string) ([]store.APIKey, error) {
	if err := s.requireApp(ctx, appID); err != nil {
		return nil, err
	}
	return s.Store.ListAPIKeys(ctx, appID)
}

// requireApp fails with a message naming appID when there is no such
// application.
func (s *Service) requireApp(ctx context.Context, appID string) error {
	if _, err := s.Store.GetApplication(ctx, appID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no application with id %q", appID)
		}
		return err
	}
	return nil
}

// RevokeAPIKey revokes a key by its id; requests with it fail from then on.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	err := s.Store.RevokeAPIKey(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no API key with id %q", id)
	}
	return err
}

// Authenticate returns the principal of a plaintext API key.
func (s *Service) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" || len(key) > 512 {
		return Principal{}, ErrUnauthorized
	}
	h := HashKey(key)
	if c, cver, ok := s.keys.Peek(string(h)); ok {
		ver, err := s.Store.GetConfigVersion(ctx, c.key.AppID)
		if errors.Is(err, store.ErrNotFound) {
			s.keys.Delete(string(h))
			return Principal{}, ErrUnauthorized
		}
		if err != nil {
			return Principal{}, err
		}
		if ver == cver {
			return Principal{App: c.app, Key: c.key, ConfigVersion: ver}, nil
		}
		s.keys.Delete(string(h))
	}
	// One statement reads the key, its application and the version
	// together, so the copy cached is the state of that version.
	k, app, ver, err := s.Store.GetAPIKeyAuth(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, err
	}
	// The lookup is by hash; compare again in constant time so that no
	// store-side comparison shortcut leaks timing.
	if subtle.ConstantTimeCompare(k.Hash, h) != 1 || !k.RevokedAt.IsZero() {
		return Principal{}, ErrUnauthorized
	}
	s.keys.Put(string(h), ver, cachedKey{key: k, app: app})
	return Principal{App: app, Key: k, ConfigVersion: ver}, nil
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// HashKey returns the stored form of an API key. Keys are 256-bit random
// values, so a plain SHA-256 is enough (no password stretching needed) and
// allows an indexed lookup.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func newKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// NewID returns a new RFC 9562 version 7 UUID: a 48-bit Unix time in
// milliseconds followed by 74 random bits. IDs made later sort later, so a
// new record's primary-key entry lands next to the previous one in the
// store's b-trees instead of on a random page (fewer pages written per
// commit); the random part keeps them unguessable. The time they reveal is
// the record's created_at, which the API shows anyway.
func NewID() string { return newID(time.Now()) }

func newID(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:16])
	return string(s[:])
}
