// Package hosted is grantd's hosted OAuth: the authorization flow
// (GET /v3/connect/auth → the provider → GET /v3/connect/callback → the
// application's redirect URI with a grantd code) and the token endpoint
// (POST /v3/connect/token), with token introspection and revocation.
//
// One file per step, as fosite's compose/ does: authorize.go (the
// request, the redirect to the provider), callback.go (the provider's
// answer, the grant, grantd's code), token.go (the token request and
// client authentication), then one file per grant type:
// authorization_code.go, refresh_token.go, client_credentials.go;
// introspect.go (tokeninfo, revoke, the grant of an access token) and
// pkce.go.
//
// The flow's state and grantd's codes are one-time codes in the store
// (hashed, their data sealed, single use, short-lived); the tokens are
// internal/token's. Every grant is created or re-authenticated by the
// grant service (grant.Service.AuthenticateCode): one grant per email,
// the same events as Bring Your Own Authentication.
package hosted

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/redirecturi"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/token"
)

// Sealer encrypts and decrypts the flow's data (internal/vault).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Keys authenticates a client_secret: an API key of the application
// (internal/tenant).
type Keys interface {
	Authenticate(ctx context.Context, key string) (tenant.Principal, error)
}

// Service runs hosted OAuth.
type Service struct {
	Store  store.Store
	Vault  Sealer
	Grants *grant.Service
	Tokens *token.Service
	// IDTokens signs the id_tokens of the token responses and verifies
	// them for tokeninfo.
	IDTokens     *idtoken.Keys
	RedirectURIs *redirecturi.Service
	Keys         Keys
	Log          *slog.Logger
	Now          func() time.Time
	// Issuer is grantd's public URL (public_url): iss of tokeninfo and of
	// id_tokens; tokeninfo checks the iss of an id_token against it when
	// it is set. Empty: the request's (TokenRequest.Issuer).
	Issuer string
	// StateTTL bounds the time between /v3/connect/auth and the callback
	// (default 15 minutes); CodeTTL the life of grantd's codes (default
	// 5 minutes).
	StateTTL time.Duration
	CodeTTL  time.Duration
	// TokenRetention is how long issued tokens are kept after they
	// expired, were used or were revoked (hosted.token_retention; default
	// 30 days): a used refresh token replayed within it revokes its
	// family (internal/token), after it is only invalid_grant.
	TokenRetention time.Duration

	// puts counts the one-time codes stored, the refresh tokens redeemed
	// and the client-credentials tokens issued; every purgeEvery-th also deletes expired codes (abandoned
	// sign-ins) and stale issued tokens (purge), in the background: the
	// request that ticks does not wait for the deletes, and one purge runs
	// at a time.
	puts    atomic.Uint64
	purging atomic.Bool
	purges  sync.WaitGroup
}

// purgeEvery and purgeBatch: how often, and how many, expired one-time
// codes and stale issued tokens are deleted as codes are stored and
// refresh tokens redeemed.
const (
	purgeEvery = 64
	purgeBatch = 1000
)

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) stateTTL() time.Duration {
	if s.StateTTL <= 0 {
		return 15 * time.Minute
	}
	return s.StateTTL
}

func (s *Service) codeTTL() time.Duration {
	if s.CodeTTL <= 0 {
		return 5 * time.Minute
	}
	return s.CodeTTL
}

// Error is an OAuth error (RFC 6749 §5.2): its status, code and a
// description a person can act on (never a secret).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func oauthErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", format, args...)
}

func invalidGrant(format string, args ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_grant", format, args...)
}

func invalidClient(format string, args ...any) *Error {
	return oauthErr(http.StatusUnauthorized, "invalid_client", format, args...)
}

// Kinds of one-time codes, so that a state is never taken for a code.
const (
	kindState = "state"
	kindCode  = "code"
)

// Prefixes of what the flow hands out.
const (
	statePrefix = "gst_"
	codePrefix  = "gac_"
)

func codeHash(kind, v string) string {
	h := sha256.Sum256([]byte(kind + ":" + v))
	return hex.EncodeToString(h[:])
}

func newSecret(prefix string) string { return prefix + rand.Text() + rand.Text() }

func aad(kind, appID string) []byte { return []byte("hosted/" + kind + "/" + appID) }

// putCode stores v sealed under a new one-time value of kind.
func (s *Service) putCode(ctx context.Context, kind, prefix, appID, grantID string, ttl time.Duration, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := s.Vault.Seal(b, aad(kind, appID))
	if err != nil {
		return "", err
	}
	val := newSecret(prefix)
	now := s.now()
	err = s.Store.CreateCode(ctx, store.Code{Hash: codeHash(kind, val), AppID: appID, GrantID: grantID, Data: sealed,
		ExpiresAt: now.Add(ttl), CreatedAt: now})
	if err == nil {
		s.tick(ctx, now)
	}
	return val, err
}

// tick counts one write of the flow (a one-time code stored, a refresh
// token redeemed, a client-credentials token issued); every purgeEvery-th runs purge.
func (s *Service) tick(ctx context.Context, now time.Time) {
	if s.puts.Add(1)%purgeEvery != 0 || !s.purging.CompareAndSwap(false, true) {
		return
	}
	s.purges.Add(1)
	go func() {
		defer s.purges.Done()
		defer s.purging.Store(false)
		s.purge(context.WithoutCancel(ctx), now)
	}()
}

func (s *Service) tokenRetention() time.Duration {
	if s.TokenRetention <= 0 {
		return 30 * 24 * time.Hour
	}
	return s.TokenRetention
}

// purge deletes up to purgeBatch expired one-time codes and up to
// purgeBatch issued tokens that expired, were used or were revoked more
// than TokenRetention ago. Each write tick counts issues at most two
// tokens (a sign-in's code, a refresh, a client-credentials token), so
// purgeBatch every purgeEvery writes deletes them faster than they are
// made.
func (s *Service) purge(ctx context.Context, now time.Time) {
	if _, err := s.Store.DeleteExpiredCodes(ctx, now, purgeBatch); err != nil {
		s.log().WarnContext(ctx, "hosted OAuth: delete expired codes", slog.Any("err", err))
	}
	if _, err := s.Store.DeleteStaleTokens(ctx, now.Add(-s.tokenRetention()), purgeBatch); err != nil {
		s.log().WarnContext(ctx, "hosted OAuth: delete stale tokens", slog.Any("err", err))
	}
}

// takeCode consumes the one-time value val of kind and opens its data
// into v; ok is false when it is unknown, used or expired.
func (s *Service) takeCode(ctx context.Context, kind, val string, v any) (store.Code, bool, error) {
	if val == "" || len(val) > 200 {
		return store.Code{}, false, nil
	}
	c, err := s.Store.ConsumeCode(ctx, codeHash(kind, val), s.now())
	if err != nil {
		if isNotFound(err) {
			return c, false, nil
		}
		return c, false, err
	}
	b, err := s.Vault.Open(c.Data, aad(kind, c.AppID))
	if err != nil {
		return c, false, err
	}
	return c, true, json.Unmarshal(b, v)
}
