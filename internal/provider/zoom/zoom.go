// Package zoom validates Bring-Your-Own-Auth Zoom refresh tokens: it
// redeems the token (Zoom rotates it on every use, so the new one must be
// stored) and reads the account from /users/me.
package zoom

import (
	"context"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// oauth describes Zoom to oauthx.
var oauth = oauthx.Options{
	Provider:  "Zoom",
	ScopeHint: "user:read:user (or the classic user:read)",
	Classify:  classifyToken,
}

// Provider is the Zoom provider: it validates and refreshes Zoom refresh
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

// Validate redeems settings.refresh_token and learns the account from
// /users/me. Zoom invalidates the redeemed refresh token: Result.Secrets
// holds the new one, and only it works from now on.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := oauthx.Start(req, oauth, v.hc)
	if err != nil {
		return provider.Result{}, err
	}
	// Zoom only accepts the client in the Authorization header.
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

// identify asks /users/me whom tok belongs to.
func (v *Provider) identify(ctx context.Context, s *oauthx.Session, tok *oauth2.Token) (oauthx.Identity, error) {
	var me struct {
		ID          string `json:"id"`
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
	}
	if err := s.GetJSON(ctx, "/users/me endpoint", strings.TrimRight(v.cfg.APIURL, "/")+"/users/me", tok.AccessToken, &me); err != nil {
		return oauthx.Identity{}, err
	}
	if me.Email == "" {
		return oauthx.Identity{}, provider.Errorf(provider.ClassMissingScope,
			"Zoom's /users/me did not reveal the account's email address: the token must include user:read:user (or user:read)")
	}
	name := me.DisplayName
	if name == "" {
		name = strings.TrimSpace(me.FirstName + " " + me.LastName)
	}
	return oauthx.Identity{Email: me.Email, Name: name, ProviderUserID: me.ID}, nil
}

var _ provider.AuthCodeExchanger = (*Provider)(nil)

// AuthorizeURL implements provider.AuthCodeExchanger: Zoom's
// authorization endpoint (providers.zoom.auth_url). Zoom takes the
// scopes configured on the app; the requested ones are passed on.
func (v *Provider) AuthorizeURL(a provider.Authorization) (string, error) {
	if a.Prompt != "" {
		return "", provider.Errorf(provider.ClassBadRequest, "Zoom's authorization page takes no prompt grantd can pass on (login, consent, select_account, none): leave prompt out for Zoom")
	}
	return oauthx.AuthCodeURL(v.cfg.AuthURL, a, a.Scope, nil)
}

// Exchange implements provider.AuthCodeExchanger. Zoom authenticates the
// client in the Authorization header only.
func (v *Provider) Exchange(ctx context.Context, x provider.CodeExchange) (provider.Result, error) {
	return oauthx.ExchangeCode(ctx, x, oauth, v.hc, oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}, nil, v.identify)
}

var _ provider.OAuthClient = (*Provider)(nil)

// ConnectorSettings implements provider.OAuthClient: the OAuth client.
func (v *Provider) ConnectorSettings() []provider.ConnectorSetting {
	return oauthx.ConnectorSettings()
}

var _ provider.Refresher = (*Provider)(nil)

// Refresh redeems a stored Zoom refresh token. Zoom rotates it on every
// use: the returned Token.RefreshToken is the only one valid from now on.
func (v *Provider) Refresh(ctx context.Context, client provider.Client, refreshToken string, scope []string) (provider.Token, error) {
	return oauthx.Refresh(ctx, oauth, v.hc, client, refreshToken, scope,
		oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}, nil)
}
