// Package google validates Bring-Your-Own-Auth Google refresh tokens: it
// redeems the token at Google's token endpoint, verifies the returned
// id_token against Google's JWKS (or asks the userinfo endpoint when there
// is no id_token) and reports who the token belongs to.
package google

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// googleIssuer is the issuer of real Google id_tokens; they carry either it
// or its bare host as iss.
const googleIssuer = "https://accounts.google.com"

// identityScopes is what a BYO Google refresh token must include, as Nylas
// documents.
const identityScopes = "openid, https://www.googleapis.com/auth/userinfo.email and https://www.googleapis.com/auth/userinfo.profile"

// oauth describes Google to oauthx. Google's userinfo answers 401 to a
// token without the identity scopes.
var oauth = oauthx.Options{Provider: "Google", ScopeHint: identityScopes, Unauthorized: provider.ClassMissingScope}

// Provider is the Google provider: it validates and refreshes Google
// refresh tokens. It is safe for concurrent use and caches Google's
// signing keys.
type Provider struct {
	cfg     Config
	hc      *http.Client
	issuers []string
	keys    *keyCache
	// skew is the clock skew allowed when checking exp and iat.
	skew time.Duration
	now  func() time.Time
}

var _ provider.Provider = (*Provider)(nil)

// New returns a Provider for the endpoints of cfg, calling them with hc
// (nil means a client with oauthx.DefaultTimeout).
func New(cfg Config, hc *http.Client) *Provider {
	hc = oauthx.Client(hc)
	iss := cfg.Issuer
	if iss == "" {
		iss = googleIssuer
	}
	issuers := []string{iss}
	if iss == googleIssuer {
		issuers = append(issuers, "accounts.google.com")
	}
	return &Provider{
		cfg:     cfg,
		hc:      hc,
		issuers: issuers,
		keys:    newKeyCache(cfg.JWKSURL, hc),
		skew:    2 * time.Minute,
		now:     time.Now,
	}
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(settings map[string]any) (string, error) {
	return oauthx.CheckSettings(settings)
}

// Validate redeems settings.refresh_token and learns the account's email,
// name and subject.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	if req.Client.App != nil {
		return v.validateServiceAccount(ctx, req)
	}
	s, err := oauthx.Start(req, oauth, v.hc)
	if err != nil {
		return provider.Result{}, err
	}
	tok, err := s.Redeem(ctx, oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}, nil)
	if err != nil {
		return provider.Result{}, err
	}
	id, err := v.identify(ctx, s, tok, req.Client.ClientID)
	if err != nil {
		return provider.Result{}, err
	}
	return s.Result(tok, id), nil
}

// identify learns whom tok belongs to: from its id_token, else from the
// userinfo endpoint.
func (v *Provider) identify(ctx context.Context, s *oauthx.Session, tok *oauth2.Token, clientID string) (oauthx.Identity, error) {
	var id oauthx.Identity
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		c, err := v.verify(ctx, s, raw, clientID)
		if err != nil {
			return id, err
		}
		id = oauthx.Identity{Email: c.Email, Name: c.Name, ProviderUserID: c.Sub}
	}
	if id.Email == "" {
		// No id_token (no openid scope) or one without the email claim.
		var ui struct {
			Sub   string `json:"sub"`
			Email string `json:"email"`
			Name  string `json:"name"`
		}
		if err := s.GetJSON(ctx, "userinfo endpoint", v.cfg.UserinfoURL, tok.AccessToken, &ui); err != nil {
			return id, err
		}
		if id.ProviderUserID != "" && ui.Sub != "" && ui.Sub != id.ProviderUserID {
			return id, provider.Errorf(provider.ClassUnavailable,
				"Google's userinfo endpoint described a different account than the id_token; try again")
		}
		id.Email = ui.Email
		if id.Name == "" {
			id.Name = ui.Name
		}
		if id.ProviderUserID == "" {
			id.ProviderUserID = ui.Sub
		}
	}
	if id.Email == "" {
		return id, provider.Errorf(provider.ClassMissingScope,
			"Google did not reveal the account's email address: the token must include the scopes %s. Ask the user to sign in again granting them",
			identityScopes)
	}
	return id, nil
}

var _ provider.AuthCodeExchanger = (*Provider)(nil)

// authScopes are the scopes hosted OAuth always asks Google for: the
// identity (id_token and userinfo).
var authScopes = []string{"openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile"}

// AuthorizeURL implements provider.AuthCodeExchanger: Google's
// authorization endpoint (providers.google.auth_url) with offline access
// (access_type=offline) and always prompt consent (Google sends a refresh
// token only with a consent), plus select_account when the application
// asks for it.
func (v *Provider) AuthorizeURL(a provider.Authorization) (string, error) {
	p, err := prompt(a.Prompt)
	if err != nil {
		return "", err
	}
	a.Prompt = p
	return oauthx.AuthCodeURL(v.cfg.AuthURL, a, oauthx.WithScopes(a.Scope, authScopes...),
		url.Values{"access_type": {"offline"}, "include_granted_scopes": {"true"}})
}

// Exchange implements provider.AuthCodeExchanger.
func (v *Provider) Exchange(ctx context.Context, x provider.CodeExchange) (provider.Result, error) {
	return oauthx.ExchangeCode(ctx, x, oauth, v.hc, oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}, nil,
		func(ctx context.Context, s *oauthx.Session, tok *oauth2.Token) (oauthx.Identity, error) {
			return v.identify(ctx, s, tok, x.Client.ClientID)
		})
}

var _ provider.OAuthClient = (*Provider)(nil)

// ConnectorSettings implements provider.OAuthClient: the OAuth client, and topic_name (the Pub/Sub topic
// of Gmail push notifications), optional.
func (v *Provider) ConnectorSettings() []provider.ConnectorSetting {
	return oauthx.ConnectorSettings("topic_name")
}

var _ provider.Refresher = (*Provider)(nil)

// Refresh redeems a stored Google refresh token (Google does not rotate
// it); for a service account grant (client.App set, refreshToken the
// grant's app-grant handle) it mints a new access token with the key.
func (v *Provider) Refresh(ctx context.Context, client provider.Client, refreshToken string, scope []string) (provider.Token, error) {
	if client.App != nil {
		// A service account grant: mint a new access token.
		return v.refreshApp(ctx, client, refreshToken, scope)
	}
	return oauthx.Refresh(ctx, oauth, v.hc, client, refreshToken, scope,
		oauthx.TokenEndpoint{URL: v.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}, nil)
}

// prompt maps the application's prompt values to Google's: consent and
// select_account (space-separated), consent always among them. login
// (Google has none) and none (no consent, so no refresh token for grantd)
// are refused.
func prompt(p string) (string, error) {
	out := []string{}
	for _, v := range strings.Fields(p) {
		switch v {
		case "select_account":
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		case "consent":
		default:
			return "", provider.Errorf(provider.ClassBadRequest,
				"Google takes prompt consent or select_account, not %s: grantd always asks Google for consent, the only way to get the refresh token that keeps the grant alive", v)
		}
	}
	return strings.Join(append(out, "consent"), " "), nil
}
