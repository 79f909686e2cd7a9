// Package microsoft validates Bring-Your-Own-Auth Microsoft (Entra ID)
// refresh tokens: it redeems the token at the tenant's v2.0 token endpoint,
// requesting the grant's scopes, and reads the account from Graph /me.
package microsoft

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// DefaultTenant is used when the client names no tenant: any work, school
// or personal account.
const DefaultTenant = "common"

// tenantRE is what a tenant (a GUID, a domain or common/organizations/
// consumers) may look like; anything else would change the token URL's path.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// displayName names Microsoft in messages.
const displayName = "Microsoft"

// oauth describes Microsoft to oauthx.
var oauth = oauthx.Options{
	Provider:  displayName,
	ScopeHint: "User.Read (and offline_access)",
	Classify:  classifyToken,
}

// Provider is the Microsoft provider: it validates and refreshes Microsoft
// refresh tokens. It is safe for concurrent use.
type Provider struct {
	cfg  Config
	hc   *http.Client
	apps appTokenCache
}

var _ provider.Provider = (*Provider)(nil)

// New returns a Provider for the endpoints of cfg, calling them with hc
// (nil means a client with oauthx.DefaultTimeout).
func New(cfg Config, hc *http.Client) *Provider {
	return &Provider{cfg: cfg, hc: oauthx.Client(hc), apps: appTokenCache{tokens: map[string]*cachedAppToken{}, inflight: map[string]*appMint{}}}
}

// TokenURL returns the v2.0 token endpoint of tenant.
func (v *Provider) TokenURL(tenant string) string {
	return strings.TrimRight(v.cfg.LoginURL, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(settings map[string]any) (string, error) {
	return oauthx.CheckSettings(settings)
}

// Validate redeems settings.refresh_token for req.Scope (plus
// offline_access) and learns the account from Graph /me. The rotated
// refresh token Microsoft returns is the one to store.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	if req.Client.App != nil {
		return v.validateApp(ctx, req)
	}
	s, err := oauthx.Start(req, oauth, v.hc)
	if err != nil {
		return provider.Result{}, err
	}
	tenant, err := clientTenant(req.Client)
	if err != nil {
		return provider.Result{}, err
	}
	var params url.Values
	if sc := RefreshScope(req.Scope); sc != "" {
		params = url.Values{"scope": {sc}}
	}
	tok, err := s.Redeem(ctx, oauthx.TokenEndpoint{URL: v.TokenURL(tenant), AuthStyle: oauth2.AuthStyleInParams}, params)
	if err != nil {
		return provider.Result{}, err
	}
	id, err := v.identify(ctx, s, tok)
	if err != nil {
		return provider.Result{}, err
	}
	return s.Result(tok, id), nil
}

// identify asks Graph /me whom tok belongs to.
func (v *Provider) identify(ctx context.Context, s *oauthx.Session, tok *oauth2.Token) (oauthx.Identity, error) {
	var me struct {
		ID                string `json:"id"`
		DisplayName       string `json:"displayName"`
		Mail              string `json:"mail"`
		UserPrincipalName string `json:"userPrincipalName"`
	}
	if err := s.GetJSON(ctx, "Graph /me endpoint", strings.TrimRight(v.cfg.GraphURL, "/")+"/me", tok.AccessToken, &me); err != nil {
		return oauthx.Identity{}, err
	}
	email := me.Mail
	if email == "" {
		email = me.UserPrincipalName
	}
	if email == "" {
		return oauthx.Identity{}, provider.Errorf(provider.ClassMissingScope,
			"Microsoft Graph /me returned neither mail nor userPrincipalName: the token must include User.Read")
	}
	return oauthx.Identity{Email: email, Name: me.DisplayName, ProviderUserID: me.ID}, nil
}

var _ provider.AuthCodeExchanger = (*Provider)(nil)

// authScopes are the scopes hosted OAuth always asks Microsoft for: the
// identity (Graph /me) and offline access (a refresh token).
var authScopes = []string{"openid", "profile", "email", "offline_access", "User.Read"}

// AuthURL is the authorization endpoint of tenant:
// providers.microsoft.login_url/{tenant}/oauth2/v2.0/authorize.
func (v *Provider) AuthURL(tenant string) string {
	return strings.TrimRight(v.cfg.LoginURL, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/authorize"
}

// AuthorizeURL implements provider.AuthCodeExchanger: the authorization
// endpoint of the client's tenant (common by default), always with
// offline_access, and the application's prompt when it is one Microsoft
// has (login, consent, select_account or none; one of them).
func (v *Provider) AuthorizeURL(a provider.Authorization) (string, error) {
	tenant, err := clientTenant(a.Client)
	if err != nil {
		return "", err
	}
	switch ps := strings.Fields(a.Prompt); {
	case len(ps) > 1:
		return "", provider.Errorf(provider.ClassBadRequest, "Microsoft takes one prompt value (login, consent, select_account or none), not %d", len(ps))
	case len(ps) == 1 && !slices.Contains([]string{"login", "consent", "select_account", "none"}, ps[0]):
		return "", provider.Errorf(provider.ClassBadRequest, "Microsoft takes prompt login, consent, select_account or none, not %s", ps[0])
	}
	return oauthx.AuthCodeURL(v.AuthURL(tenant), a, oauthx.WithScopes(a.Scope, authScopes...), url.Values{"response_mode": {"query"}})
}

// Exchange implements provider.AuthCodeExchanger.
func (v *Provider) Exchange(ctx context.Context, x provider.CodeExchange) (provider.Result, error) {
	tenant, err := clientTenant(x.Client)
	if err != nil {
		return provider.Result{}, err
	}
	var params url.Values
	if sc := RefreshScope(x.Scope); sc != "" {
		params = url.Values{"scope": {sc}}
	}
	return oauthx.ExchangeCode(ctx, x, oauth, v.hc, oauthx.TokenEndpoint{URL: v.TokenURL(tenant), AuthStyle: oauth2.AuthStyleInParams}, params, v.identify)
}

// RefreshScope is the scope parameter of the refresh request: the requested
// scopes plus offline_access (so that a new refresh token comes back), or
// "" when none were requested (Entra then issues the scopes of the
// original grant).
func RefreshScope(requested []string) string {
	var out []string
	for _, sc := range requested {
		for _, f := range strings.Fields(sc) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, "offline_access") }) {
		out = append(out, "offline_access")
	}
	return strings.Join(out, " ")
}

// clientTenant returns the client's tenant (DefaultTenant when empty),
// which must look like a tenant.
func clientTenant(c provider.Client) (string, error) {
	tenant := c.Tenant
	if tenant == "" {
		tenant = DefaultTenant
	}
	if !tenantRE.MatchString(tenant) {
		return "", provider.Errorf(provider.ClassBadRequest,
			"the credential's tenant %q is not a Microsoft tenant id, domain, common, organizations or consumers", tenant)
	}
	return tenant, nil
}

var _ provider.OAuthClient = (*Provider)(nil)

// ConnectorSettings implements provider.OAuthClient: the OAuth client, and tenant (the Entra tenant the
// client's tokens are redeemed in; common when empty), optional.
func (v *Provider) ConnectorSettings() []provider.ConnectorSetting {
	return oauthx.ConnectorSettings("tenant")
}

var _ provider.Refresher = (*Provider)(nil)

// Refresh redeems a stored Microsoft refresh token for scope (plus
// offline_access). Microsoft rotates refresh tokens: store the returned
// one; the redeemed one stays valid for a while only.
func (v *Provider) Refresh(ctx context.Context, client provider.Client, refreshToken string, scope []string) (provider.Token, error) {
	if client.App != nil {
		// An app permissions grant: the tenant's app token.
		return v.refreshApp(ctx, client, refreshToken)
	}
	tenant, err := clientTenant(client)
	if err != nil {
		return provider.Token{}, err
	}
	var params url.Values
	if sc := RefreshScope(scope); sc != "" {
		params = url.Values{"scope": {sc}}
	}
	return oauthx.Refresh(ctx, oauth, v.hc, client, refreshToken, scope,
		oauthx.TokenEndpoint{URL: v.TokenURL(tenant), AuthStyle: oauth2.AuthStyleInParams}, params)
}
