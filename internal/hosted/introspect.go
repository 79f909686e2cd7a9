package hosted

import (
	"context"
	"errors"
	"net/http"

	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
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

// RevokeRequest is POST /v3/connect/revoke: the token and the client's
// authentication.
type RevokeRequest struct {
	Token string
	// ClientID and ClientSecret are the request's parameters (the
	// client_secret an API key of the application, as at the token
	// endpoint).
	ClientID, ClientSecret string
	// APIKey is the Authorization: Bearer key the Nylas SDKs send with
	// every call (revoke included); "" when none was sent.
	APIKey string
}

// Revoke revokes a token grantd issued (access or refresh) together with
// the other tokens of its authorization; the grant and its provider
// tokens stay (nylas-v3-api.md §6).
//
// The client is authenticated first, whatever the token (RFC 7009 §2.1):
// with an API key of the application (client_id and client_secret, or the
// Bearer key the SDKs send), or, for a token of a PKCE-only sign-in (a
// public client, refresh_token.go), with its client_id alone. Only then is
// the token looked at: one issued to another application, or a token of
// a sign-in that used the secret revoked with client_id alone, is
// refused untouched; an unknown token is a 400 invalid_token (as Nylas
// answers); a known one, even expired, used or revoked already, is
// revoked with its authorization (again).
func (s *Service) Revoke(ctx context.Context, r RevokeRequest) error {
	appID, public, err := s.revokeClient(ctx, r)
	if err != nil {
		return err
	}
	if r.Token == "" {
		return invalidRequest("token is required: POST /v3/connect/revoke?token=…")
	}
	err = s.Tokens.Revoke(ctx, appID, r.Token, public)
	switch {
	case errors.Is(err, token.ErrInvalid):
		return unknownToken()
	case errors.Is(err, token.ErrOtherClient):
		// Said as an unknown token is: another application's token is
		// not this client's to learn about (RFC 7009 §2.1).
		return unknownToken()
	case errors.Is(err, token.ErrSecretRequired):
		return invalidClient("client_secret (an API key of the application) is required: this token comes from a sign-in whose code was exchanged with the client secret; only tokens of a PKCE-only exchange are revoked with client_id alone")
	}
	return err
}

// unknownToken is the refusal of a token unknown to the client: not
// issued by this grantd, or issued to another application (the same
// words, so that a client cannot tell them apart).
func unknownToken() error {
	return oauthErr(http.StatusBadRequest, "invalid_token", "the token is unknown: it was not issued by this grantd to this client")
}

// revokeClient authenticates the client of a revocation: client_secret
// (with client_id) as at the token endpoint, else the Bearer API key
// (which must be of client_id's application when both are sent; sent
// with a client_secret it must be valid too, of the same application),
// else client_id alone as a public client. Nothing at all is
// invalid_client.
func (s *Service) revokeClient(ctx context.Context, r RevokeRequest) (appID string, public bool, err error) {
	switch {
	case r.ClientSecret != "":
		if r.ClientID == "" {
			return "", false, invalidClient("client_id is required with client_secret: the application id")
		}
		appID, public, err := s.client(ctx, TokenRequest{ClientID: r.ClientID, ClientSecret: r.ClientSecret})
		if err != nil || r.APIKey == "" {
			return appID, public, err
		}
		// A Bearer key sent as well must be valid too, and of the same
		// application: a wrong, revoked or foreign key is never ignored.
		if _, err := s.bearerClient(ctx, r.APIKey, appID); err != nil {
			return "", false, err
		}
		return appID, public, nil
	case r.APIKey != "":
		appID, err := s.bearerClient(ctx, r.APIKey, r.ClientID)
		return appID, false, err
	case r.ClientID != "":
		return s.client(ctx, TokenRequest{ClientID: r.ClientID})
	}
	return "", false, invalidClient("client authentication is required: send an API key of the application (Authorization: Bearer, as the SDKs do, or client_id and client_secret), or client_id alone for a token of a PKCE-only sign-in")
}

// bearerClient authenticates the Bearer API key of a revocation: its
// application, which must be clientID's when clientID is not "".
func (s *Service) bearerClient(ctx context.Context, key, clientID string) (string, error) {
	p, err := s.Keys.Authenticate(ctx, key)
	if errors.Is(err, tenant.ErrUnauthorized) {
		return "", invalidClient("the API key sent as Authorization: Bearer is not valid (unknown or revoked)")
	}
	if err != nil {
		return "", err
	}
	if clientID != "" && clientID != p.App.ID {
		return "", invalidClient("the API key sent as Authorization: Bearer is one of another application than client_id")
	}
	return p.App.ID, nil
}
