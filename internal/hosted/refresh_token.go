package hosted

import (
	"context"
	"errors"

	"github.com/grantd/grantd/internal/token"
)

// refreshToken redeems a grantd refresh token (grant_type=refresh_token)
// for a new access token and a new refresh token (rotation). A refresh
// token presented again after its redemption revokes every token of its
// authorization (reuse detection).
//
// The client sends its secret, except a public client: when the
// authorization's code was redeemed with the PKCE verifier alone (no
// client_secret), its refresh tokens are bound to that client_id and
// redeemed with the client_id alone (OAuth 2.1 §4.3.1, as ory/hydra does
// for public clients); rotation and reuse detection are the same. A
// refresh token of an authorization that used the secret still needs it.
func (s *Service) refreshToken(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	appID, public, err := s.client(ctx, r)
	if err != nil {
		return TokenResponse{}, err
	}
	if r.RefreshToken == "" {
		return TokenResponse{}, invalidRequest("Missing required parameter: refresh_token")
	}
	// The id_token's key before the rotation: a failure after it would
	// lose the new refresh token, and the client's retry with the old one
	// would count as a replay that revokes the authorization.
	sg, err := s.idTokenSigner(ctx)
	if err != nil {
		return TokenResponse{}, err
	}
	iss, old, err := s.Tokens.Refresh(ctx, appID, r.RefreshToken, public)
	switch {
	case errors.Is(err, token.ErrSecretRequired):
		return TokenResponse{}, invalidClient("client_secret (an API key of the application) is required: this refresh token comes from a sign-in whose code was exchanged with the client secret; only refresh tokens of a PKCE-only exchange are redeemed without it")
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
	return s.withIDToken(sg, r, appID, response(g, iss.AccessToken, iss.RefreshToken, iss.ExpiresIn, true))
}
