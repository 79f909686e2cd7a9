package oauthx

import (
	"context"
	"net/http"
	"net/url"

	"github.com/grantd/grantd/internal/provider"
)

// Refresh redeems refreshToken at ep for client (params as with Redeem)
// and returns the new tokens, with the same checks, classification and
// redaction as a validation but no identity call. Token.RefreshToken is ""
// unless the provider rotated the token.
func Refresh(ctx context.Context, o Options, hc *http.Client, client provider.Client, refreshToken string, scope []string,
	ep TokenEndpoint, params url.Values) (provider.Token, error) {
	s, err := Start(provider.Request{Settings: map[string]any{"refresh_token": refreshToken}, Client: client, Scope: scope}, o, hc)
	if err != nil {
		return provider.Token{}, err
	}
	tok, err := s.Redeem(ctx, ep, params)
	if err != nil {
		return provider.Token{}, err
	}
	out := provider.Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry, Scope: GrantedScope(tok, scope)}
	if tok.RefreshToken != "" && tok.RefreshToken != s.refreshToken {
		out.RefreshToken = tok.RefreshToken
	}
	return out, nil
}
