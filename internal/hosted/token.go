package hosted

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
)

// TokenRequest is POST /v3/connect/token, JSON or form-encoded with the
// same field names.
type TokenRequest struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	GrantID      string
	Scope        string
	// Issuer is grantd's address as the client reached it (public_url,
	// else the request's): the id_token's iss. Not a request parameter.
	Issuer string
}

// TokenResponse is the flat body of a successful token request.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
	GrantID      string `json:"grant_id"`
	Email        string `json:"email,omitempty"`
	Provider     string `json:"provider,omitempty"`
}

var tokenFields = []string{"grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier", "refresh_token", "grant_id", "scope"}

// ParseTokenRequest reads a token request body of contentType: a JSON
// object whose fields are strings (null is absent, other fields are
// ignored) or a form. A field given twice is refused.
func ParseTokenRequest(contentType string, body []byte) (TokenRequest, *Error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	vals := map[string]string{}
	switch {
	case mt == "application/json" || mt == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
		var m map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&m); err != nil || m == nil {
			return TokenRequest{}, invalidRequest("the body is not a JSON object: send the parameters as JSON or application/x-www-form-urlencoded")
		}
		if dec.More() {
			return TokenRequest{}, invalidRequest("the body has data after the JSON object")
		}
		if dup := duplicateKey(body); dup != "" {
			return TokenRequest{}, invalidRequest("the parameter %s is given more than once", fault.Shorten(dup, 40))
		}
		for _, f := range tokenFields {
			raw, ok := m[f]
			if !ok || string(raw) == "null" {
				continue
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return TokenRequest{}, invalidRequest("%s must be a string", f)
			}
			vals[f] = v
		}
	case mt == "application/x-www-form-urlencoded" || mt == "":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return TokenRequest{}, invalidRequest("the form body is not validly encoded")
		}
		if dup := repeated(q); dup != "" {
			return TokenRequest{}, invalidRequest("the parameter %s is given more than once", fault.Shorten(dup, 40))
		}
		for _, f := range tokenFields {
			vals[f] = q.Get(f)
		}
	default:
		return TokenRequest{}, invalidRequest("Content-Type %s is not supported: send application/json or application/x-www-form-urlencoded", fault.Shorten(mt, 60))
	}
	for f, v := range vals {
		if strings.ContainsRune(v, 0) || len(v) > 4096 {
			return TokenRequest{}, invalidRequest("%s is too long or holds a NUL character", f)
		}
	}
	return TokenRequest{
		GrantType: vals["grant_type"], ClientID: vals["client_id"], ClientSecret: vals["client_secret"], Code: vals["code"],
		RedirectURI: vals["redirect_uri"], CodeVerifier: vals["code_verifier"], RefreshToken: vals["refresh_token"],
		GrantID: vals["grant_id"], Scope: vals["scope"],
	}, nil
}

// duplicateKey returns a top-level key the JSON object body (valid) has
// twice, or "".
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// Token answers a token request.
func (s *Service) Token(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	switch r.GrantType {
	case "authorization_code":
		return s.authorizationCode(ctx, r)
	case "refresh_token":
		return s.refreshToken(ctx, r)
	case "client_credentials":
		return s.clientCredentials(ctx, r)
	case "":
		return TokenResponse{}, invalidRequest("grant_type is required: authorization_code, refresh_token or client_credentials")
	}
	return TokenResponse{}, oauthErr(http.StatusBadRequest, "unsupported_grant_type",
		"grant_type %q is not supported; use authorization_code, refresh_token or client_credentials", fault.Shorten(r.GrantType, 40))
}

// client authenticates the request's client: client_id is an application
// id and client_secret, when sent, one of its API keys. public is true
// when no secret was sent (the client must then prove itself with PKCE).
func (s *Service) client(ctx context.Context, r TokenRequest) (appID string, public bool, err error) {
	if r.ClientID == "" {
		return "", false, invalidRequest("client_id is required: the application id")
	}
	if r.ClientSecret == "" {
		if _, err := s.Store.GetApplication(ctx, r.ClientID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", false, invalidClient("client_id %q is not an application of this grantd", fault.Shorten(r.ClientID, 64))
			}
			return "", false, err
		}
		return r.ClientID, true, nil
	}
	p, err := s.Keys.Authenticate(ctx, r.ClientSecret)
	if errors.Is(err, tenant.ErrUnauthorized) {
		return "", false, invalidClient("client_secret is not a valid API key (unknown or revoked)")
	}
	if err != nil {
		return "", false, err
	}
	if p.App.ID != r.ClientID {
		return "", false, invalidClient("client_secret is an API key of another application than client_id")
	}
	return p.App.ID, false, nil
}

// requireSecret is the error of a grant type that needs the client
// secret.
func requireSecret(grantType string) error {
	return invalidClient("client_secret (an API key of the application) is required for grant_type %s", grantType)
}

// response builds the token response for the tokens of grant g.
func response(g store.Grant, access, refresh string, expiresIn int, withProvider bool) TokenResponse {
	r := TokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: expiresIn, RefreshToken: refresh,
		Scope: strings.Join(g.Scope, " "), GrantID: g.ID, Email: g.Email}
	if withProvider {
		r.Provider = g.Provider
	}
	return r
}

// idTokenSigner readies the signing key of the response's id_token (nil
// when grantd signs none). It is called before the step a failure cannot
// undo (a code redeemed, a refresh token rotated): the key is read, or
// created, from the store here, and withIDToken, after that step, needs
// the store no more.
func (s *Service) idTokenSigner(ctx context.Context) (*idtoken.Signer, error) {
	if s.IDTokens == nil {
		return nil, nil
	}
	sg, err := s.IDTokens.Signer(ctx)
	if err != nil {
		return nil, err
	}
	return &sg, nil
}

// withIDToken adds the id_token of r (signed by grantd with sg: iss, aud
// the client, sub the grant, email, iat, exp the access token's); r as it
// is when sg is nil.
func (s *Service) withIDToken(sg *idtoken.Signer, req TokenRequest, appID string, r TokenResponse) (TokenResponse, error) {
	if sg == nil {
		return r, nil
	}
	iss := s.Issuer
	if iss == "" {
		iss = req.Issuer
	}
	now := s.now()
	tok, err := sg.Sign(idtoken.Claims{Iss: iss, Aud: appID, Sub: r.GrantID, Email: r.Email,
		Iat: now.Unix(), Exp: now.Add(time.Duration(r.ExpiresIn) * time.Second).Unix()})
	if err != nil {
		return r, err
	}
	r.IDToken = tok
	return r, nil
}

// grantOf returns the grant a token or code is for; a deleted grant is
// invalid_grant.
func (s *Service) grantOf(ctx context.Context, appID, grantID string) (store.Grant, error) {
	g, err := s.Store.GetGrant(ctx, appID, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return g, invalidGrant("the grant %s no longer exists", grantID)
	}
	return g, err
}
