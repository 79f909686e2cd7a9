package hosted

import (
	"context"
	"errors"
	"net/http"

	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/token"
)

// TokenInfo is the data of GET /v3/connect/tokeninfo (RFC 9068 claims):
// the claims of an id_token, for an access token too.
type TokenInfo = idtoken.Claims

func invalidToken(format string, args ...any) *Error {
	return oauthErr(http.StatusUnauthorized, "invalid_token", format, args...)
}

// Introspect describes a live access token (tokeninfo): its application
// (aud), its grant (sub) and the grant's email; or an id_token grantd
// signed: its claims, once its signature (ES256, a published key of
// grantd's), expiry and, with public_url set, issuer are checked. An
// access token that is not live is a 401 invalid_token (as Nylas
// answers); an id_token that does not verify a 400 invalid_token
// (nylas-v3-api.md §6).
func (s *Service) Introspect(ctx context.Context, accessToken, idToken string) (TokenInfo, error) {
	switch {
	case accessToken != "" && idToken != "":
		return TokenInfo{}, invalidRequest("send one of access_token and id_token, not both")
	case idToken != "":
		return s.introspectIDToken(ctx, idToken)
	case accessToken == "":
		return TokenInfo{}, invalidRequest("access_token or id_token is required")
	}
	t, g, err := s.Grant(ctx, accessToken)
	if err != nil {
		return TokenInfo{}, err
	}
	return TokenInfo{Iss: s.Issuer, Aud: t.AppID, Sub: g.ID, Email: g.Email, Iat: t.CreatedAt.Unix(), Exp: t.ExpiresAt.Unix()}, nil
}

func (s *Service) introspectIDToken(ctx context.Context, idToken string) (TokenInfo, error) {
	if s.IDTokens == nil {
		return TokenInfo{}, oauthErr(http.StatusBadRequest, "invalid_token", "this grantd signs no id_token")
	}
	c, err := s.IDTokens.Verify(ctx, idToken, s.Issuer)
	if errors.Is(err, idtoken.ErrInvalid) {
		return TokenInfo{}, oauthErr(http.StatusBadRequest, "invalid_token", "%s", err.Error())
	}
	if err != nil {
		return TokenInfo{}, err
	}
	return c, nil
}

// Grant returns a live access token's record and its grant
// (GET /v3/grants/me); an *Error invalid_token otherwise.
func (s *Service) Grant(ctx context.Context, accessToken string) (store.IssuedToken, store.Grant, error) {
	t, err := s.Tokens.Lookup(ctx, accessToken)
	if errors.Is(err, token.ErrInvalid) {
		return t, store.Grant{}, invalidToken("the access token is unknown, expired or revoked")
	}
	if err != nil {
		return t, store.Grant{}, err
	}
	g, err := s.Store.GetGrant(ctx, t.AppID, t.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return t, g, invalidToken("the access token's grant no longer exists")
	}
	return t, g, err
}

// Revoke revokes a token grantd issued (access or refresh) together with
// the other tokens of its authorization; the grant and its provider
// tokens stay (nylas-v3-api.md §6).
func (s *Service) Revoke(ctx context.Context, tok string) error {
	if tok == "" {
		return invalidRequest("token is required: POST /v3/connect/revoke?token=…")
	}
	err := s.Tokens.Revoke(ctx, tok)
	if errors.Is(err, token.ErrInvalid) {
		return oauthErr(http.StatusBadRequest, "invalid_token", "the token is unknown: it was not issued by this grantd")
	}
	return err
}
