package oauthx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
)

// The authorization code grant (hosted OAuth): the URL the user is sent
// to, and the redemption of the code the provider sends back.

// AuthCodeURL returns the authorization URL at authURL for a: the
// client's id, a.RedirectURI, the scopes (space-separated, once each),
// a.State, the PKCE S256 challenge when a has one, login_hint and prompt
// when set, and extra (the provider's own parameters: Google's
// access_type=offline). Its error is a ClassBadRequest *provider.Error.
func AuthCodeURL(authURL string, a provider.Authorization, scope []string, extra url.Values) (string, error) {
	if a.Client.ClientID == "" {
		return "", provider.Errorf(provider.ClassBadRequest,
			"the connector (or the credential used) has no client_id: set the OAuth client of the provider app on the connector")
	}
	u, err := url.Parse(authURL)
	if err != nil || !u.IsAbs() {
		return "", provider.Errorf(provider.ClassBadRequest, "the provider's authorization URL is not an absolute URL")
	}
	q := u.Query()
	q.Set("client_id", a.Client.ClientID)
	q.Set("redirect_uri", a.RedirectURI)
	q.Set("response_type", "code")
	if sc := JoinScope(scope); sc != "" {
		q.Set("scope", sc)
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	if a.CodeChallenge != "" {
		q.Set("code_challenge", a.CodeChallenge)
		q.Set("code_challenge_method", "S256")
	}
	if a.LoginHint != "" {
		q.Set("login_hint", a.LoginHint)
	}
	if a.Prompt != "" {
		q.Set("prompt", a.Prompt)
	}
	for k, vs := range extra {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// JoinScope joins scopes with spaces, splitting entries that hold several
// and dropping empty entries and repeats.
func JoinScope(scope []string) string {
	var out []string
	for _, sc := range scope {
		for _, f := range strings.Fields(sc) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return strings.Join(out, " ")
}

// WithScopes returns scope followed by the entries of more it lacks
// (compared without regard to case).
func WithScopes(scope []string, more ...string) []string {
	out := slices.Clone(scope)
	for _, m := range more {
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, m) }) {
			out = append(out, m)
		}
	}
	return out
}

// StartCode checks an authorization code to redeem (the client, the code)
// and returns a session for it, as Start does for a refresh token.
func StartCode(x provider.CodeExchange, o Options, hc *http.Client) (*Session, error) {
	if err := CheckClient(x.Client); err != nil {
		return nil, err
	}
	if strings.TrimSpace(x.Code) == "" {
		return nil, provider.Errorf(provider.ClassBadRequest, "the provider sent no authorization code")
	}
	s := &Session{Options: o, hc: Client(hc), client: x.Client, requested: x.Scope}
	s.addSecret(x.Code)
	s.addSecret(x.CodeVerifier)
	s.addSecret(x.Client.ClientSecret)
	c := x.Client
	s.red.AddEncoded(provider.BasicAuth(c.ClientID, c.ClientSecret),
		provider.BasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)))
	return s, nil
}

// Exchange redeems x's code at ep (params as with Redeem). The provider
// must send a refresh token: grantd keeps the grant alive with it. Errors
// are classified and redacted; a used, expired or foreign code is
// ClassInvalidCredentials (OAuth's invalid_grant).
func (s *Session) Exchange(ctx context.Context, ep TokenEndpoint, x provider.CodeExchange, params url.Values) (*oauth2.Token, error) {
	var extra http.RoundTripper
	if len(params) > 0 {
		extra = &formParams{params: params}
	}
	var opts []oauth2.AuthCodeOption
	if x.CodeVerifier != "" {
		opts = append(opts, oauth2.VerifierOption(x.CodeVerifier))
	}
	// The refresh's request rules (Session.fetch): the client's timeout
	// with a grace, no redirects, the last transport error kept, every
	// failure classified and redacted alike.
	tok, err := s.fetch(ctx, extra, func(ctx context.Context) (*oauth2.Token, error) {
		conf := &oauth2.Config{
			ClientID:     s.client.ClientID,
			ClientSecret: s.client.ClientSecret,
			RedirectURL:  x.RedirectURI,
			Endpoint:     oauth2.Endpoint{TokenURL: ep.URL, AuthStyle: ep.AuthStyle},
		}
		return conf.Exchange(ctx, x.Code, opts...)
	})
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Class == provider.ClassInvalidCredentials {
			pe.Message = fmt.Sprintf("%s refused the authorization code (it was used already, expired, or was issued for another client or redirect URI): start the sign-in again", s.Provider)
		}
		return nil, err
	}
	if tok.RefreshToken == "" {
		return nil, provider.Errorf(provider.ClassMissingScope,
			"%s issued no refresh token for the authorization: grantd needs offline access to keep the grant alive; ask the user to sign in again and grant it", s.Provider)
	}
	return tok, nil
}

// ExchangeCode is a provider's whole provider.AuthCodeExchanger: it
// checks x, redeems its code at ep (params as with Redeem) and learns the
// account with identify.
func ExchangeCode(ctx context.Context, x provider.CodeExchange, o Options, hc *http.Client, ep TokenEndpoint, params url.Values,
	identify func(context.Context, *Session, *oauth2.Token) (Identity, error)) (provider.Result, error) {
	s, err := StartCode(x, o, hc)
	if err != nil {
		return provider.Result{}, err
	}
	tok, err := s.Exchange(ctx, ep, x, params)
	if err != nil {
		return provider.Result{}, err
	}
	id, err := identify(ctx, s, tok)
	if err != nil {
		return provider.Result{}, err
	}
	return s.Result(tok, id), nil
}
