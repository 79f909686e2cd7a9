package microsoft

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// Microsoft app permissions (bulk authentication): a tenant's
// administrator consents to the application's app registration, whose
// client id, secret and tenant an "adminconsent" credential of the
// microsoft connector holds (client id and secret default to the
// connector's). A grant {provider:"microsoft", settings:{email_address,
// credential_id}} gets an app-only token for the tenant with the client
// credentials grant (scope https://graph.microsoft.com/.default) and
// checks that the user exists in the tenant with Graph
// /users/{email_address}; the grant's email is the user's primary address
// (mail, else userPrincipalName). There is no refresh token: the grant
// keeps an app-grant handle naming the user's object id, and Refresh takes
// an app token (one per credential, shared by every grant of the tenant,
// minted once at a time) and checks the user again.

// CredentialAdminConsent is the credential type of app permissions.
const CredentialAdminConsent = "adminconsent"

// GraphDefaultScope is the scope of app-only Graph tokens.
const GraphDefaultScope = "https://graph.microsoft.com/.default"

// appOptions describe the client credentials exchange to oauthx.
var appOptions = oauthx.Options{Provider: displayName, ScopeHint: "the application permission User.Read.All", Classify: classifyToken}

var _ provider.CredentialChecker = (*Provider)(nil)

// CheckCredential implements provider.CredentialChecker: an adminconsent
// credential names one tenant (its id or a domain; not common,
// organizations or consumers, which client credentials cannot use).
func (v *Provider) CheckCredential(typ string, data map[string]any) error {
	if typ != CredentialAdminConsent {
		return nil
	}
	tenant, _ := data["tenant"].(string)
	return checkAppTenant(strings.TrimSpace(tenant))
}

func checkAppTenant(tenant string) error {
	switch t := strings.ToLower(tenant); {
	case t == "":
		return provider.Errorf(provider.ClassBadRequest, "credential_data.tenant is required: the id (or primary domain) of the tenant whose administrator consents")
	case t == "common" || t == "organizations" || t == "consumers":
		return provider.Errorf(provider.ClassBadRequest, "credential_data.tenant is %q; app permissions are granted in one tenant: give its id or primary domain", tenant)
	case !tenantRE.MatchString(tenant) || len(tenant) > 256:
		return provider.Errorf(provider.ClassBadRequest, "credential_data.tenant is not a Microsoft tenant id or domain")
	}
	return nil
}

// appClient is the client of an adminconsent grant: the resolved client
// (the credential's client_id, client_secret and tenant over the
// connector's) or, for MintAppToken, the credential's data alone.
func appClient(c provider.Client, cred provider.AppCredential) provider.Client {
	str := func(k string) string { s, _ := cred.Data[k].(string); return strings.TrimSpace(s) }
	if c.ClientID == "" {
		c.ClientID = str("client_id")
	}
	if c.ClientSecret == "" {
		c.ClientSecret, _ = cred.Data["client_secret"].(string)
	}
	if t := str("tenant"); t != "" {
		c.Tenant = t
	}
	return c
}

// appTokenCache holds one app token per client (tenant, id, secret
// digest), minted once at a time.
type appTokenCache struct {
	mu       sync.Mutex
	tokens   map[string]*cachedAppToken
	inflight map[string]*appMint
}

type cachedAppToken struct {
	tok    *oauth2.Token
	minted time.Time
}

type appMint struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

func clientKey(c provider.Client) string {
	sum := sha256.Sum256([]byte(c.ClientSecret))
	return strings.ToLower(c.Tenant) + "\x00" + c.ClientID + "\x00" + string(sum[:])
}

// appToken returns an app-only Graph token of c's tenant: the cached one
// while it has more than half its life left, else a new one (concurrent
// callers for the same client share one mint). fresh forces a mint (a
// validation: the consent must be proven now).
func (v *Provider) appToken(ctx context.Context, c provider.Client, fresh bool) (*oauth2.Token, error) {
	if err := oauthx.CheckClient(c); err != nil {
		return nil, err
	}
	if err := checkAppTenant(c.Tenant); err != nil {
		return nil, err
	}
	key := clientKey(c)
	now := time.Now()
	v.apps.mu.Lock()
	if ct := v.apps.tokens[key]; ct != nil && !fresh && ct.tok.Expiry.Sub(now) > ct.tok.Expiry.Sub(ct.minted)/2 {
		v.apps.mu.Unlock()
		return ct.tok, nil
	}
	if m := v.apps.inflight[key]; m != nil {
		v.apps.mu.Unlock()
		select {
		case <-m.done:
			return m.tok, m.err
		case <-ctx.Done():
			return nil, provider.Errorf(provider.ClassUnavailable, "gave up waiting for Microsoft's token endpoint: %v", ctx.Err())
		}
	}
	m := &appMint{done: make(chan struct{})}
	v.apps.inflight[key] = m
	v.apps.mu.Unlock()

	m.tok, m.err = v.mintApp(ctx, c)
	v.apps.mu.Lock()
	delete(v.apps.inflight, key)
	if m.err == nil {
		v.apps.tokens[key] = &cachedAppToken{tok: m.tok, minted: now}
	} else if provider.ClassOf(m.err) != provider.ClassUnavailable {
		delete(v.apps.tokens, key) // refused: the cached token proves nothing any more
	}
	v.apps.mu.Unlock()
	close(m.done)
	return m.tok, m.err
}

// mintApp redeems the client credentials grant.
func (v *Provider) mintApp(ctx context.Context, c provider.Client) (*oauth2.Token, error) {
	s := oauthx.NewSession(appOptions, v.hc, c)
	conf := &clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: v.TokenURL(c.Tenant),
		Scopes: []string{GraphDefaultScope}, AuthStyle: oauth2.AuthStyleInParams,
	}
	tok, err := s.Fetch(ctx, func(ctx context.Context) (*oauth2.Token, error) { return conf.Token(ctx) })
	if err != nil {
		return nil, consentError(err, c.Tenant)
	}
	return tok, nil
}

// consentError words a refused client credentials grant: the application
// unknown in the tenant (AADSTS700016) means no admin consent, or a
// revoked one; that expires the grants of the tenant.
func consentError(err error, tenant string) error {
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class == provider.ClassUnavailable {
		return err
	}
	codes := aadCodes(pe.ProviderError)
	code, _ := pe.ProviderError["error"].(string)
	switch {
	case anyCode(codes, map[int]bool{700016: true, 65001: true, 7000112: true}) || code == "unauthorized_client":
		pe.Class = provider.ClassInvalidCredentials
		pe.Message = fmt.Sprintf("the administrator of tenant %s has not consented to the application's app permissions, or revoked the consent (%s): an administrator grants it with GET /v3/connect/auth?response_type=adminconsent&credential_id=…", tenant, oauthx.Words(pe.ProviderError))
	case anyCode(codes, map[int]bool{1002012: true}) || code == "invalid_scope":
		pe.Class = provider.ClassMissingScope
	}
	return err
}

// graphUser is what grantd reads of a Graph user.
type graphUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	Mail              string `json:"mail"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// user reads Graph /users/{key} with an app token; a 404 is
// ClassInvalidCredentials (no such user in the tenant).
func (v *Provider) user(ctx context.Context, c provider.Client, tok *oauth2.Token, key string) (graphUser, error) {
	s := oauthx.NewSession(oauthx.Options{Provider: displayName, ScopeHint: "the application permission User.Read.All"}, v.hc, c, tok.AccessToken)
	var u graphUser
	err := s.GetJSON(ctx, "Graph /users endpoint", strings.TrimRight(v.cfg.GraphURL, "/")+"/users/"+url.PathEscape(key)+"?$select=id,displayName,mail,userPrincipalName", tok.AccessToken, &u)
	var pe *provider.Error
	if errors.As(err, &pe) {
		if st, _ := pe.ProviderError["status"].(int); st == 404 {
			pe.Class = provider.ClassInvalidCredentials
			pe.Message = fmt.Sprintf("there is no user %s in tenant %s (deleted, or of another tenant)", key, c.Tenant)
		}
	}
	return u, err
}

// tenantUser reads the user key of c's tenant with the tenant's app
// token (the shared one while it is fresh). A shared token refused before
// its time (a consent revoked meanwhile) is replaced once, so that the
// error says what is wrong.
func (v *Provider) tenantUser(ctx context.Context, c provider.Client, key string) (graphUser, *oauth2.Token, error) {
	tok, err := v.appToken(ctx, c, false)
	if err != nil {
		return graphUser{}, nil, err
	}
	u, err := v.user(ctx, c, tok, key)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.ProviderError["status"] == 401 {
		if tok, err = v.appToken(ctx, c, true); err != nil {
			return graphUser{}, nil, err
		}
		u, err = v.user(ctx, c, tok, key)
	}
	return u, tok, err
}

// bulkSettings are the settings of a Microsoft bulk authentication.
type bulkSettings struct {
	EmailAddress string `setting:"email_address,required,trim" about:"the address of the tenant's user"`
}

// validateApp is Validate for a grant with an adminconsent credential.
func (v *Provider) validateApp(ctx context.Context, req provider.Request) (provider.Result, error) {
	in, err := provider.DecodeSettings[bulkSettings](req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	if _, err := emailaddr.Parse(in.EmailAddress); err != nil {
		return provider.Result{}, provider.Errorf(provider.ClassBadRequest, "settings.email_address: %v", err)
	}
	if req.Client.App.Type != CredentialAdminConsent {
		return provider.Result{}, provider.Errorf(provider.ClassBadRequest, "a Microsoft bulk grant takes an adminconsent credential, not %q", req.Client.App.Type)
	}
	c := appClient(req.Client, *req.Client.App)
	u, tok, err := v.tenantUser(ctx, c, in.EmailAddress)
	if err != nil {
		return provider.Result{}, err
	}
	email := u.Mail
	if email == "" {
		email = u.UserPrincipalName
	}
	if email == "" || u.ID == "" {
		return provider.Result{}, provider.Errorf(provider.ClassUnavailable, "Microsoft Graph described %s without an id or address; try again", in.EmailAddress)
	}
	return provider.Result{
		Email:                strings.ToLower(email),
		Name:                 u.DisplayName,
		ProviderUserID:       u.ID,
		Scope:                []string{GraphDefaultScope},
		Secrets:              map[string]string{"refresh_token": provider.AppGrantHandle(u.ID), "access_token": tok.AccessToken},
		Settings:             map[string]any{},
		AccessTokenExpiresAt: tok.Expiry,
	}, nil
}

// refreshApp is Refresh for an app permissions grant: the tenant's app
// token, after checking the user is still there.
func (v *Provider) refreshApp(ctx context.Context, client provider.Client, handle string) (provider.Token, error) {
	subject, ok := provider.AppGrantSubject(handle)
	if !ok {
		return provider.Token{}, provider.Errorf(provider.ClassBadRequest, "the grant was made with an adminconsent credential but holds a refresh token: authenticate it again")
	}
	c := appClient(client, *client.App)
	_, tok, err := v.tenantUser(ctx, c, subject)
	if err != nil {
		return provider.Token{}, err
	}
	return provider.Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry, Scope: []string{GraphDefaultScope}}, nil
}

var _ provider.AppTokenMinter = (*Provider)(nil)

// MintAppToken implements provider.AppTokenMinter: the app-only Graph
// token of the credential's tenant (subject is not used: one token serves
// every user of the tenant).
func (v *Provider) MintAppToken(ctx context.Context, cred provider.AppCredential, _ string, _ []string) (provider.Token, error) {
	tok, err := v.appToken(ctx, appClient(provider.Client{}, cred), false)
	if err != nil {
		return provider.Token{}, err
	}
	return provider.Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry, Scope: []string{GraphDefaultScope}}, nil
}
