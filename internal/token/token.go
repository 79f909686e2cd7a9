// Package token issues, checks, rotates and revokes the OAuth tokens
// grantd itself issues for grants (POST /v3/connect/token): opaque random
// strings of which the store keeps only a SHA-256 hash. They are grantd's
// tokens for a grant, never the provider's.
//
// An authorization starts a family: its access token and, with offline
// access, its refresh token. Redeeming a refresh token rotates it (the
// new pair joins the family, the old token is marked used); presenting a
// used refresh token again is a replay, and revokes the whole family, as
// ory/hydra does (RFC 9700 §4.14.2). Revocation acts on a family; deleting
// a grant deletes its tokens (the store's foreign key).
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Prefixes of the tokens, so that people and secret scanners recognise
// them.
const (
	AccessPrefix  = "gat_"
	RefreshPrefix = "grt_"
)

// Errors.
var (
	// ErrInvalid: the token is unknown, revoked, expired or of the wrong
	// kind (OAuth's invalid_grant or invalid_token).
	ErrInvalid = errors.New("token: invalid, expired or revoked")
	// ErrReused: a refresh token was presented again after it had been
	// redeemed; its family is now revoked.
	ErrReused = errors.New("token: refresh token reused; its family is revoked")
	// ErrOtherClient: the token was issued to another application.
	ErrOtherClient = errors.New("token: issued to another application")
	// ErrSecretRequired: a refresh without client authentication of a
	// token whose family was not started by a PKCE-only exchange.
	ErrSecretRequired = errors.New("token: the refresh token was issued to a client that authenticated; it needs the client secret")
)

// Service issues and checks tokens.
type Service struct {
	Store store.Store
	Now   func() time.Time
	// AccessTTL is an access token's life (default one hour).
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's life; 0: until used or revoked.
	RefreshTTL time.Duration
}

// Issued is a token response's tokens.
type Issued struct {
	AccessToken  string
	RefreshToken string // "" without offline access
	ExpiresIn    int    // seconds
	Family       string
}

// Hash is the stored form of a token.
func Hash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func newToken(prefix string) string { return prefix + rand.Text() + rand.Text() }

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) accessTTL() time.Duration {
	if s.AccessTTL <= 0 {
		return time.Hour
	}
	return s.AccessTTL
}

// pair builds the new tokens of family.
func (s *Service) pair(appID, grantID, family string, scope []string, refresh, pkceOnly bool, accessTTL time.Duration) (Issued, []store.IssuedToken) {
	now := s.now()
	out := Issued{AccessToken: newToken(AccessPrefix), ExpiresIn: int(accessTTL / time.Second), Family: family}
	rows := []store.IssuedToken{{Hash: Hash(out.AccessToken), Kind: store.TokenAccess, AppID: appID, GrantID: grantID, Family: family,
		Scope: scope, ExpiresAt: now.Add(accessTTL), CreatedAt: now, PKCEOnly: pkceOnly}}
	if refresh {
		out.RefreshToken = newToken(RefreshPrefix)
		rt := store.IssuedToken{Hash: Hash(out.RefreshToken), Kind: store.TokenRefresh, AppID: appID, GrantID: grantID, Family: family,
			Scope: scope, CreatedAt: now, PKCEOnly: pkceOnly}
		if s.RefreshTTL > 0 {
			rt.ExpiresAt = now.Add(s.RefreshTTL)
		}
		rows = append(rows, rt)
	}
	return out, rows
}

// Issue starts a family for grantID of appID: an access token and, when
// refresh is set, a refresh token. ErrInvalid when the grant is gone.
func (s *Service) Issue(ctx context.Context, appID, grantID string, scope []string, refresh bool) (Issued, error) {
	return s.IssueFor(ctx, appID, grantID, scope, refresh, s.accessTTL())
}

// IssuePKCEOnly is Issue for a public client: an authorization code
// redeemed with the PKCE verifier alone, no client secret. Its refresh
// tokens (and their rotations) may be redeemed without a client secret
// by the same client (Refresh with public set).
func (s *Service) IssuePKCEOnly(ctx context.Context, appID, grantID string, scope []string, refresh bool) (Issued, error) {
	return s.issue(ctx, appID, grantID, scope, refresh, true, s.accessTTL())
}

// IssueFor is Issue with the access token's life.
func (s *Service) IssueFor(ctx context.Context, appID, grantID string, scope []string, refresh bool, ttl time.Duration) (Issued, error) {
	return s.issue(ctx, appID, grantID, scope, refresh, false, ttl)
}

func (s *Service) issue(ctx context.Context, appID, grantID string, scope []string, refresh, pkceOnly bool, ttl time.Duration) (Issued, error) {
	out, rows := s.pair(appID, grantID, rand.Text(), scope, refresh, pkceOnly, ttl)
	err := s.Store.CreateTokens(ctx, rows...)
	if errors.Is(err, store.ErrNotFound) {
		return Issued{}, ErrInvalid
	}
	return out, err
}

// Refresh redeems refreshToken for appID: a new access token and a new
// refresh token in the same family. It returns the redeemed token's
// record (its grant and scope). A token of another application is
// refused before it is touched (ErrOtherClient), so that no client can
// rotate another's tokens, nor revoke them by replaying a used one (the
// replay revokes the family inside the store's transaction). public: the
// client sent no secret; only a token of a PKCE-only family
// (IssuePKCEOnly) is then redeemed, any other is refused untouched
// (ErrSecretRequired).
func (s *Service) Refresh(ctx context.Context, appID, refreshToken string, public bool) (Issued, store.IssuedToken, error) {
	if !strings.HasPrefix(refreshToken, RefreshPrefix) || len(refreshToken) > 200 {
		return Issued{}, store.IssuedToken{}, ErrInvalid
	}
	// A token's application and family kind never change, so this read
	// outside the transaction decides for it.
	t, err := s.Store.GetToken(ctx, Hash(refreshToken))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, t, ErrInvalid
	case err != nil:
		return Issued{}, t, err
	case t.Kind != store.TokenRefresh:
		return Issued{}, t, ErrInvalid
	case t.AppID != appID:
		return Issued{}, t, ErrOtherClient
	case public && !t.PKCEOnly:
		return Issued{}, t, ErrSecretRequired
	}
	var out Issued
	old, err := s.Store.UseRefreshToken(ctx, Hash(refreshToken), s.now(), func(old store.IssuedToken) ([]store.IssuedToken, error) {
		// old's application and PKCE-only flag are t's, checked above.
		var rows []store.IssuedToken
		out, rows = s.pair(old.AppID, old.GrantID, old.Family, old.Scope, true, old.PKCEOnly, s.accessTTL())
		return rows, nil
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return Issued{}, old, ErrReused
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, old, ErrInvalid
	case err != nil:
		return Issued{}, old, err
	}
	return out, old, nil
}

// Lookup returns the record of a live access token: ErrInvalid when it is
// unknown, revoked or expired.
func (s *Service) Lookup(ctx context.Context, accessToken string) (store.IssuedToken, error) {
	if !strings.HasPrefix(accessToken, AccessPrefix) || len(accessToken) > 200 {
		return store.IssuedToken{}, ErrInvalid
	}
	t, err := s.Store.GetToken(ctx, Hash(accessToken))
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrInvalid
	}
	if err != nil {
		return t, err
	}
	if t.Kind != store.TokenAccess || !t.RevokedAt.IsZero() || !t.ExpiresAt.After(s.now()) {
		return t, ErrInvalid
	}
	return t, nil
}

// Revoke revokes the family of a token (access or refresh) for appID:
// the authorization it came from, not the grant. ErrInvalid when the token
// is unknown; a token of another application is refused untouched
// (ErrOtherClient), and so is one whose family was not started by a
// PKCE-only exchange when the client sent no secret (public;
// ErrSecretRequired), as Refresh refuses them. A known token that is
// expired, used or revoked already is revoked (again): no error.
func (s *Service) Revoke(ctx context.Context, appID, tok string, public bool) error {
	if !strings.HasPrefix(tok, AccessPrefix) && !strings.HasPrefix(tok, RefreshPrefix) || len(tok) > 200 {
		return ErrInvalid
	}
	// A token's application and family kind never change, so this read
	// decides for the revocation.
	t, err := s.Store.GetToken(ctx, Hash(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrInvalid
	case err != nil:
		return err
	case t.AppID != appID:
		return ErrOtherClient
	case public && !t.PKCEOnly:
		return ErrSecretRequired
	}
	_, err = s.Store.RevokeTokenFamily(ctx, t.Family, s.now())
	return err
}
