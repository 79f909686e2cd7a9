// Package yahoo validates Bring-Your-Own-Auth Yahoo refresh tokens: it
// redeems the token and reads the account from Yahoo's OpenID userinfo
// endpoint.
package yahoo

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// oauth describes Yahoo to oauthx.
var oauth = oauthx.Options{Provider: "Yahoo", ScopeHint: "openid, email and profile"}

// Provider is the Yahoo provider: it validates and refreshes Yahoo refresh
// tokens. It is safe for concurrent use.
type Provider struct {
	cfg Config
	hc  *http.Client
}

var _ provider.Provider = (*Provider)(nil)

// New returns a Provider for the endpoints of cfg, calling them with hc
// (nil means a client with oauthx.DefaultTimeout).
func New(cfg Config, hc *http.Client) *Provider {
	return &Provider{cfg: cfg, hc: oauthx.Client(hc)}
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(settings map[string]any) (string, error) {
	return oauthx.CheckSettings(settings)
}

// Validate redeems settings.refresh_token and learns the account from the
// userinfo endpoint.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := oauthx.Start(req, oauth, v.hc)
	if err != nil {
		return provider.Result{}, err
	}
	// Yahoo accepts the client in the Authorization header (its documented
	// form) or in the body.
	tok, err := s.Redeem(ctx, oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}, nil)
	if err != nil {
		return provider.Result{}, err
	}
	id, err := v.identify(ctx, s, tok)
	if err != nil {
		return provider.Result{}, err
	}
	return s.Result(tok, id), nil
}

// identify asks the userinfo endpoint whom tok belongs to.
func (v *Provider) identify(ctx context.Context, s *oauthx.Session, tok *oauth2.Token) (oauthx.Identity, error) {
	var ui struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := s.GetJSON(ctx, "userinfo endpoint", v.cfg.UserinfoURL, tok.AccessToken, &ui); err != nil {
		return oauthx.Identity{}, err
	}
	if ui.Email == "" {
		return oauthx.Identity{}, provider.Errorf(provider.ClassMissingScope,
			"Yahoo's userinfo endpoint did not reveal the account's email address: the token must include the openid, email and profile scopes")
	}
	return oauthx.Identity{Email: ui.Email, Name: ui.Name, ProviderUserID: ui.Sub}, nil
}

var _ provider.AuthCodeExchanger = (*Provider)(nil)

// AuthorizeURL implements provider.AuthCodeExchanger: Yahoo's
// authorization endpoint (providers.yahoo.auth_url), with the identity
// scopes.
func (v *Provider) AuthorizeURL(a provider.Authorization) (string, error) {
	if a.Prompt != "" {
		return "", provider.Errorf(provider.ClassBadRequest, "Yahoo's authorization page takes no prompt grantd can pass on (login, consent, select_account, none): leave prompt out for Yahoo")
	}
	return oauthx.AuthCodeURL(v.cfg.AuthURL, a, oauthx.WithScopes(a.Scope, "openid", "email", "profile"), nil)
}

// Exchange implements provider.AuthCodeExchanger.
func (v *Provider) Exchange(ctx context.Context, x provider.CodeExchange) (provider.Result, error) {
	return oauthx.ExchangeCode(ctx, x, oauth, v.hc, oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}, nil, v.identify)
}

var _ provider.OAuthClient = (*Provider)(nil)

// ConnectorSettings implements provider.OAuthClient: the OAuth client.
func (v *Provider) ConnectorSettings() []provider.ConnectorSetting {
	return oauthx.ConnectorSettings()
}

var _ provider.Refresher = (*Provider)(nil)

// Refresh redeems a stored Yahoo refresh token.
func (v *Provider) Refresh(ctx context.Context, client provider.Client, refreshToken string, scope []string) (provider.Token, error) {
	return oauthx.Refresh(ctx, oauth, v.hc, client, refreshToken, scope,
		oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}, nil)
}
