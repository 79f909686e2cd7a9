package hosted

import (
	"context"
	"errors"

	"github.com/grantd/grantd/internal/token"
)

// authorizationCode redeems grantd's code (grant_type=authorization_code):
// once, before it expires, by the application it was issued to, with the
// redirect_uri of the authorization and, when the authorization carried a
// code_challenge, the PKCE verifier. A client without client_secret must
// use PKCE. The code is used up by any attempt, good or bad (a failed
// exchange restarts the flow, as the reference says).
func (s *Service) authorizationCode(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	appID, public, err := s.client(ctx, r)
	if err != nil {
		return TokenResponse{}, err
	}
	if r.Code == "" {
		return TokenResponse{}, invalidRequest("Missing required parameter: code")
	}
	if r.RedirectURI == "" {
		return TokenResponse{}, invalidRequest("Missing required parameter: redirect_uri (the one of the authorization request)")
	}
	if r.CodeVerifier != "" {
		if e := checkVerifier(r.CodeVerifier); e != nil {
			return TokenResponse{}, e
		}
	}
	// The id_token's key before the code is used up (withIDToken).
	sg, err := s.idTokenSigner(ctx)
	if err != nil {
		return TokenResponse{}, err
	}
	var cd codeData
	c, ok, err := s.takeCode(ctx, kindCode, r.Code, &cd)
	if err != nil {
		return TokenResponse{}, err
	}
	switch {
	case !ok:
		return TokenResponse{}, invalidGrant("the authorization code is unknown, expired or was used already: start the sign-in again")
	case c.AppID != appID:
		return TokenResponse{}, invalidGrant("the authorization code was issued to another client")
	case cd.RedirectURI != r.RedirectURI:
		return TokenResponse{}, invalidGrant("redirect_uri does not match the one of the authorization request")
	case cd.Challenge != "":
		if e := checkVerifier(r.CodeVerifier); e != nil {
			return TokenResponse{}, e
		}
		if !verifyPKCE(cd.Method, cd.Challenge, r.CodeVerifier) {
			return TokenResponse{}, invalidGrant("code_verifier does not match the code_challenge of the authorization request")
		}
	case public:
		return TokenResponse{}, invalidClient("client_secret is required: the authorization request carried no code_challenge (PKCE)")
	}
	g, err := s.grantOf(ctx, appID, c.GrantID)
	if err != nil {
		return TokenResponse{}, err
	}
	issue := s.Tokens.Issue
	if public {
		// Proved with PKCE alone: a public client, whose refresh
		// tokens need no secret either (refresh_token.go).
		issue = s.Tokens.IssuePKCEOnly
	}
	iss, err := issue(ctx, appID, g.ID, g.Scope, cd.AccessType == "offline")
	if errors.Is(err, token.ErrInvalid) {
		return TokenResponse{}, invalidGrant("the grant %s no longer exists", g.ID)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return s.withIDToken(sg, r, appID, response(g, iss.AccessToken, iss.RefreshToken, iss.ExpiresIn, true))
}
