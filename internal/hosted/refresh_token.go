package hosted

import (
	"context"
	"errors"

	"github.com/grantd/grantd/internal/token"
)

// refreshToken redeems a grantd refresh token (grant_type=refresh_token)
// for a new access token and a new refresh token (rotation). A refresh
// token presented again after its redemption revokes every token of its
// authorization (reuse detection). The client must send its secret.
func (s *Service) refreshToken(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	appID, public, err := s.client(ctx, r)
	if err != nil {
		return TokenResponse{}, err
	}
	if public {
		return TokenResponse{}, requireSecret(r.GrantType)
	}
	if r.RefreshToken == "" {
		return TokenResponse{}, invalidRequest("Missing required parameter: refresh_token")
	}
	iss, old, err := s.Tokens.Refresh(ctx, appID, r.RefreshToken)
	switch {
	case errors.Is(err, token.ErrReused):
		return TokenResponse{}, invalidGrant("the refresh token was used already; every token of this authorization is now revoked: sign the user in again")
	case errors.Is(err, token.ErrOtherClient):
		return TokenResponse{}, invalidGrant("the refresh token was issued to another client")
	case errors.Is(err, token.ErrInvalid):
		return TokenResponse{}, invalidGrant("the refresh token is unknown, expired or revoked")
	case err != nil:
		return TokenResponse{}, err
	}
	s.tick(ctx, s.now())
	g, err := s.grantOf(ctx, appID, old.GrantID)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.withIDToken(ctx, r, appID, response(g, iss.AccessToken, iss.RefreshToken, iss.ExpiresIn, true))
}
