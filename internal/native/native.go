package native

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/ratelimit"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
)

// CodeTTL is how long a code of /connect/authorize can be redeemed.
const CodeTTL = 15 * time.Minute

// Sealer encrypts and decrypts secrets (internal/vault implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Authenticator resolves an API key (the v2 client_secret) to its
// application (internal/tenant implements it).
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (tenant.Principal, error)
}

// Service is the v2 native authentication flow.
type Service struct {
	Store      store.Store
	Vault      Sealer
	Grants     *grant.Service
	Connectors *connector.Service
	Auth       Authenticator
	// Servers is detection's provider table: the IMAP and SMTP servers of
	// the v2 mail-service providers (yahoo, aol, hotmail, outlook).
	Servers *detect.Table
	// IssueToken issues a grantd access token for a grant (the hosted
	// OAuth token family, internal/token); nil: /connect/token is not
	// served.
	IssueToken func(ctx context.Context, appID, grantID string, scope []string) (string, error)
	// RateLimit bounds each application's /connect/authorize requests (the
	// API's bucket: they make grantd log in to providers, and need no API
	// key); nil: no limit.
	RateLimit *ratelimit.Limiter
	Now       func() time.Time
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// plan is a v2 request translated for the grant service.
type plan struct {
	v2       v2Provider
	settings map[string]any
	scope    []string
	email    string // the address the account must have ("" for OAuth: the token's owner)
	own      bool   // the connector's own OAuth client
}

// Authorize runs POST /connect/authorize: it authenticates the account
// through the grant service and returns a new code for it.
func (s *Service) Authorize(ctx context.Context, req AuthorizeRequest) (string, error) {
	if req.ClientID == "" {
		return "", invalidf("client_id is required: the application id")
	}
	// The application's configuration version (ErrNotFound for no
	// application) is read once and pinned, so that the connector and
	// credential lookups below (the client match, the grant service's)
	// use the node's cache without reading it again each, as hosted
	// OAuth's /v3/connect/auth does: the route has no API key to carry it.
	ver, err := s.Store.GetConfigVersion(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return "", unauthorizedf("client_id %q is not the id of an application", fault.Shorten(req.ClientID, 64))
	}
	if err != nil {
		return "", err
	}
	appID := req.ClientID
	ctx = store.WithConfigVersion(ctx, appID, ver)
	if ok, wait := s.RateLimit.Allow(appID, time.Now()); !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		return "", &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, RetryAfter: secs,
			Message: fmt.Sprintf("too many requests for this application on this grantd node; retry in %d s", secs)}
	}
	p, err := s.translate(ctx, appID, req)
	if err != nil {
		return "", err
	}
	var g store.Grant
	if req.ReauthAccountID != "" {
		g, err = s.reauthenticate(ctx, appID, req.ReauthAccountID, p)
	} else {
		g, _, err = s.Grants.Authenticate(ctx, grant.AuthRequest{
			AppID: appID, Provider: p.v2.Provider, Settings: p.settings, Scope: p.scope,
			Name: req.Name, Email: p.email, ConnectorClient: p.own,
		})
	}
	if err != nil {
		return "", inV2Terms(err, p.v2)
	}
	return s.issueCode(ctx, g, p.v2.Name)
}

// inV2Terms adds to a provider's refusal what its advice is in v2's names:
// a Microsoft mailbox that refuses password logins (hotmail, outlook: the
// IMAP provider says to use provider "microsoft") connects through
// /connect/authorize as office365 or graph, with a refresh token.
func inV2Terms(err error, v2 v2Provider) error {
	var pe *provider.Error
	if v2.Kind != kindMailService || !errors.As(err, &pe) || pe.Class != provider.ClassBasicAuthDisabled {
		return err
	}
	return &Error{Status: http.StatusForbidden, Type: TypeAuth, Message: pe.Message +
		`; through /connect/authorize that is provider "office365" (or "graph") with settings microsoft_client_id, microsoft_client_secret, microsoft_refresh_token and redirect_uri`}
}

// reauthenticate is the v2 reauth_account_id: the named account gets the
// new credentials, which must be its own (the grant service's PATCH rule).
func (s *Service) reauthenticate(ctx context.Context, appID, id string, p plan) (store.Grant, error) {
	old, err := s.Store.GetGrant(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return store.Grant{}, invalidf("reauth_account_id %q is not an account of this application", fault.Shorten(id, 64))
	}
	if err != nil {
		return store.Grant{}, err
	}
	if old.Provider != p.v2.Provider {
		return store.Grant{}, invalidf("reauth_account_id %q is a %s account; provider %s makes %s accounts", fault.Shorten(id, 64), old.Provider, p.v2.Name, p.v2.Provider)
	}
	return s.Grants.Update(ctx, appID, id, grant.Patch{Settings: p.settings, Scope: p.scope})
}

// translate checks a v2 request against the mapping and builds the v3
// provider, settings and scopes.
func (s *Service) translate(ctx context.Context, appID string, req AuthorizeRequest) (plan, error) {
	if req.Provider == "" {
		return plan{}, invalidf("provider is required; one of: %s", strings.Join(V2ProviderNames(), ", "))
	}
	v2, ok := lookupProvider(req.Provider)
	if !ok {
		return plan{}, invalidf("provider %q is not a v2 provider; use one of: %s", fault.Shorten(req.Provider, 64), strings.Join(V2ProviderNames(), ", "))
	}
	if !slices.Contains(s.Grants.Supported(), v2.Provider) {
		return plan{}, invalidf("provider %s makes %s grants, which this grantd cannot authenticate yet", v2.Name, v2.Provider)
	}
	in, err := checkSettings(v2, req.Settings)
	if err != nil {
		return plan{}, err
	}
	emailField := "email_address"
	if v2.Kind == kindVirtualCalendar {
		emailField = "email"
	}
	if strings.TrimSpace(req.EmailAddress) == "" {
		return plan{}, invalidf("%s is required: the account's email address", emailField)
	}
	email := strings.TrimSpace(req.EmailAddress)
	if v2.Kind != kindVirtualCalendar {
		e, err := emailaddr.Parse(email)
		if err != nil {
			return plan{}, invalidf("email_address: %s", strings.TrimPrefix(err.Error(), "email "))
		}
		email = e.String()
	}
	p := plan{v2: v2}
	if p.scope, err = mapScopes(req.Scopes, v2.Provider); err != nil {
		return plan{}, err
	}
	or := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	switch v2.Kind {
	case kindGoogle:
		credID, own, err := s.matchClient(ctx, appID, v2, in["google_client_id"].(string), in["google_client_secret"].(string))
		if err != nil {
			return plan{}, err
		}
		p.own = own
		p.settings = map[string]any{"refresh_token": in["google_refresh_token"]}
		if credID != "" {
			p.settings["credential_id"] = credID
		}
	case kindMicrosoft:
		credID, own, err := s.matchClient(ctx, appID, v2, in["microsoft_client_id"].(string), in["microsoft_client_secret"].(string))
		if err != nil {
			return plan{}, err
		}
		p.own = own
		p.settings = map[string]any{"refresh_token": in["microsoft_refresh_token"]}
		if credID != "" {
			p.settings["credential_id"] = credID
		}
	case kindExchange:
		p.email = email
		p.settings = map[string]any{"email": email, "ews_username": in["username"], "ews_password": in["password"]}
		if h, _ := in["exchange_server_host"].(string); h != "" {
			p.settings["ews_host"] = h
		}
	case kindIMAP:
		p.email = email
		p.settings = map[string]any{"email": email}
		for _, k := range []string{"imap_host", "imap_port", "imap_username", "imap_password", "smtp_host", "smtp_port", "smtp_username", "smtp_password"} {
			if v, ok := in[k]; ok {
				p.settings[k] = v
			}
		}
	case kindMailService:
		e := s.Servers.ByID(v2.Servers)
		if e == nil || e.IMAP == nil || e.SMTP == nil {
			return plan{}, fmt.Errorf("native: detection's table has no IMAP and SMTP servers for %q (provider %s)", v2.Servers, v2.Name)
		}
		p.email = email
		user := or(str(in["username"]), email)
		p.settings = map[string]any{
			"imap_username": user, "imap_password": in["password"],
			"imap_host": e.IMAP.Host, "imap_port": e.IMAP.Port, "smtp_host": e.SMTP.Host, "smtp_port": e.SMTP.Port,
		}
		// A mail service's username is the account's address: the IMAP
		// provider takes the account from it, and the grant service
		// refuses credentials of another address than email_address (as
		// for iCloud). A username that is no address says nothing about
		// the account's: then email_address is the grant's email.
		if _, err := emailaddr.Parse(user); err != nil {
			p.settings["email"] = email
		}
	case kindICloud:
		p.email = email
		p.settings = map[string]any{"username": or(str(in["username"]), email), "password": in["password"]}
	case kindVirtualCalendar:
		p.settings = map[string]any{"email": email}
		if p.scope == nil {
			p.scope = []string{"calendar"}
		}
	}
	return p, nil
}

func str(v any) string { s, _ := v.(string); return s }

// checkSettings checks settings against v2's list for the provider and
// returns them with aliases resolved and ports as numbers.
func checkSettings(v2 v2Provider, settings map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range settings {
		if v == nil {
			continue
		}
		i := slices.IndexFunc(v2.Settings, func(s setting) bool { return s.Key == k || (s.Alias != "" && s.Alias == k) })
		if i < 0 {
			return nil, invalidf("settings.%s is not a setting of provider %s; it takes %s", fault.Shorten(k, 64), v2.Name, settingKeys(v2.Settings))
		}
		spec := v2.Settings[i]
		switch spec.Type {
		case text:
			s, ok := v.(string)
			if !ok {
				return nil, invalidf("settings.%s must be a string", k)
			}
			if len(s) > maxSetting {
				return nil, invalidf("settings.%s is %d bytes long; at most %d are allowed", k, len(s), maxSetting)
			}
			if strings.ContainsRune(s, 0) {
				return nil, invalidf("settings.%s contains a NUL character", k)
			}
			if s == "" {
				continue
			}
			v = s
		case port:
			n, err := portOf(v)
			if err != nil {
				return nil, invalidf("settings.%s %s", k, err.Error())
			}
			v = n
		case flag:
			if _, ok := v.(bool); !ok {
				return nil, invalidf("settings.%s must be true or false", k)
			}
		}
		if _, dup := out[spec.Key]; dup {
			return nil, invalidf("settings.%s and settings.%s are the same setting; send one", spec.Key, spec.Alias)
		}
		out[spec.Key] = v
	}
	for _, spec := range v2.Settings {
		if spec.Required && out[spec.Key] == nil {
			return nil, invalidf("settings.%s is required for provider %s (it takes %s)", spec.Key, v2.Name, settingKeys(v2.Settings))
		}
	}
	return out, nil
}

func portOf(v any) (int, error) {
	var raw string
	switch x := v.(type) {
	case json.Number:
		raw = x.String()
	case string:
		raw = strings.TrimSpace(x)
	case float64:
		raw = fmt.Sprint(x)
	case int:
		raw = fmt.Sprint(x)
	default:
		return 0, errors.New("must be a port number")
	}
	n := 0
	if raw == "" || len(raw) > 5 {
		return 0, errors.New("must be a port number from 1 to 65535")
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errors.New("must be a port number from 1 to 65535")
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, errors.New("must be a port number from 1 to 65535")
	}
	return n, nil
}

// matchClient finds the OAuth client v2 names (google_client_id and
// secret, microsoft_…): the application's connector for the provider, or
// one of its credentials, with that client id. It returns the credential
// id ("" with own true: the connector's own client). The secret must be the
// one grantd holds for that client.
func (s *Service) matchClient(ctx context.Context, appID string, v2 v2Provider, clientID, secret string) (string, bool, error) {
	prefix := "google"
	if v2.Kind == kindMicrosoft {
		prefix = "microsoft"
	}
	check := func(r connector.Resolved) error {
		if subtle.ConstantTimeCompare([]byte(r.Client.ClientSecret), []byte(secret)) != 1 {
			return invalidf("settings.%s_client_secret is not the secret grantd holds for OAuth client %q of the %s connector", prefix, fault.Shorten(clientID, 128), v2.Provider)
		}
		return nil
	}
	own, err := s.Connectors.ResolveGrant(ctx, appID, v2.Provider, "")
	if err != nil {
		return "", false, err
	}
	if own.Client.ClientID == clientID {
		return "", true, check(own)
	}
	const page = 200
	for offset := 0; ; offset += page {
		creds, err := s.Connectors.ListCredentials(ctx, appID, v2.Provider, store.ListOptions{Limit: page, Offset: offset, Asc: true})
		if err != nil {
			return "", false, err
		}
		for _, c := range creds {
			if c.Type != connector.TypeConnector {
				continue
			}
			r, err := s.Connectors.Resolve(ctx, appID, v2.Provider, c.ID)
			if err != nil {
				return "", false, err
			}
			if r.Client.ClientID == clientID {
				return c.ID, false, check(r)
			}
		}
		if len(creds) < page {
			break
		}
	}
	return "", false, invalidf("settings.%s_client_id %q is not the OAuth client of the application's %s connector nor of one of its credentials: "+
		"set it on the connector (PATCH /v3/connectors/%s) or add it as a credential (POST /v3/connectors/%s/creds)",
		prefix, fault.Shorten(clientID, 128), v2.Provider, v2.Provider, v2.Provider)
}

// codeData is what a code carries besides its grant, sealed.
type codeData struct {
	Provider string `json:"v2_provider"`
}

// HashCode is the stored form of a code: its SHA-256 (a code is 256
// random bits, so no stretching is needed), in a namespace of its own.
func HashCode(code string) string {
	h := sha256.Sum256([]byte("grantd v2 native code\x00" + code))
	return hex.EncodeToString(h[:])
}

func codeAAD(appID, hash string) []byte { return []byte("code/" + appID + "/" + hash) }

// issueCode stores a new code for g and returns it.
func (s *Service) issueCode(ctx context.Context, g store.Grant, v2Name string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	code := base64.RawURLEncoding.EncodeToString(b)
	hash := HashCode(code)
	data, err := json.Marshal(codeData{Provider: v2Name})
	if err != nil {
		return "", err
	}
	sealed, err := s.Vault.Seal(data, codeAAD(g.AppID, hash))
	if err != nil {
		return "", err
	}
	now := s.now()
	err = s.Store.CreateCode(ctx, store.Code{Hash: hash, AppID: g.AppID, GrantID: g.ID, Data: sealed, ExpiresAt: now.Add(CodeTTL), CreatedAt: now})
	if err != nil {
		return "", err
	}
	return code, nil
}

// Account is the v2 account object (nylas-v3-api.md §9) of /connect/token.
type Account struct {
	ID               string `json:"id"`
	Object           string `json:"object"`
	AccountID        string `json:"account_id"`
	Name             string `json:"name"`
	EmailAddress     string `json:"email_address"`
	Provider         string `json:"provider"`
	OrganizationUnit string `json:"organization_unit"`
	SyncState        string `json:"sync_state"`
	LinkedAt         int64  `json:"linked_at"`
	BillingState     string `json:"billing_state"`
	AccessToken      string `json:"access_token,omitempty"`
}

// Redeem consumes a code of the application (client_id, authenticated by
// one of its API keys, client_secret) and returns the grant it names and
// the v2 provider name the account is shown with.
func (s *Service) Redeem(ctx context.Context, req TokenRequest) (store.Grant, string, error) {
	p, err := s.Auth.Authenticate(ctx, req.ClientSecret)
	if errors.Is(err, tenant.ErrUnauthorized) {
		return store.Grant{}, "", unauthorizedf("client_secret is not an API key of an application")
	}
	if err != nil {
		return store.Grant{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(p.App.ID), []byte(req.ClientID)) != 1 {
		return store.Grant{}, "", unauthorizedf("client_secret is not an API key of application %q", fault.Shorten(req.ClientID, 64))
	}
	hash := HashCode(req.Code)
	c, err := s.Store.ConsumeCode(ctx, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, "", errBadCode
	}
	if err != nil {
		return store.Grant{}, "", err
	}
	if c.AppID != p.App.ID {
		// Another application's code: burnt (deleted above), and not said.
		return store.Grant{}, "", errBadCode
	}
	var d codeData
	raw, err := s.Vault.Open(c.Data, codeAAD(c.AppID, c.Hash))
	if err != nil {
		return store.Grant{}, "", fmt.Errorf("open code data: %w", err)
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return store.Grant{}, "", fmt.Errorf("decode code data: %w", err)
	}
	g, err := s.Store.GetGrant(ctx, c.AppID, c.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, "", invalidf("the account of this code was deleted after the code was issued; authorize again")
	}
	if err != nil {
		return store.Grant{}, "", err
	}
	return g, d.Provider, nil
}

// Token runs POST /connect/token: it redeems the code and answers the v2
// account with a new access token for its grant. The code is spent even
// when the token cannot be issued (authorize again).
func (s *Service) Token(ctx context.Context, req TokenRequest) (Account, error) {
	g, v2Name, err := s.Redeem(ctx, req)
	if err != nil {
		return Account{}, err
	}
	tok, err := s.IssueToken(ctx, g.AppID, g.ID, g.Scope)
	if err != nil {
		return Account{}, fmt.Errorf("issue the access token of grant %s: %w", g.ID, err)
	}
	acc := AccountOf(g, v2Name)
	acc.AccessToken = tok
	return acc, nil
}

var errBadCode = invalidf("code is invalid, expired or already used: codes are single use and valid for %d minutes; authorize again", int(CodeTTL/time.Minute))

// AccountOf is the v2 account object of grant g shown as v2 provider v2Name.
func AccountOf(g store.Grant, v2Name string) Account {
	v2, _ := lookupProvider(v2Name)
	state := "running"
	if g.Status != store.GrantValid {
		state = "invalid"
	}
	return Account{
		ID: g.ID, Object: "account", AccountID: g.ID, Name: g.Name, EmailAddress: g.Email, Provider: v2Name,
		OrganizationUnit: v2.organizationUnit(), SyncState: state, LinkedAt: g.CreatedAt.Unix(), BillingState: "paid",
	}
}
