package hosted

import (
	"context"
	"errors"
	"time"

	"github.com/grantd/grantd/internal/token"
)

// clientCredentials issues a one-hour access token for one of the
// application's grants (grant_type=client_credentials with grant_id), with
// no refresh token. The client must send its secret.
func (s *Service) clientCredentials(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	appID, public, err := s.client(ctx, r)
	if err != nil {
		return TokenResponse{}, err
	}
	if public {
		return TokenResponse{}, requireSecret(r.GrantType)
	}
	if r.GrantID == "" {
		return TokenResponse{}, invalidRequest("Missing required parameter: grant_id")
	}
	g, err := s.grantOf(ctx, appID, r.GrantID)
	if err != nil {
		return TokenResponse{}, err
	}
	iss, err := s.Tokens.IssueFor(ctx, appID, g.ID, g.Scope, false, time.Hour)
	if errors.Is(err, token.ErrInvalid) {
		return TokenResponse{}, invalidGrant("the grant %s no longer exists", g.ID)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	s.tick(ctx, s.now())
	return response(g, iss.AccessToken, "", iss.ExpiresIn, true), nil
}
