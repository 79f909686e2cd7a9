package provider

import (
	"context"
	"time"
)

// The optional capabilities of a Provider. A provider package implements
// those its provider has; the services find them with Capable and
// Implements on the Registry. An interface is declared here when a coming
// feature needs it, even before a provider implements it; an
// implementation that cannot do the job is never declared to have it.

// Token is the answer to a refresh: a new access token and, when the
// provider rotated it, a new refresh token.
type Token struct {
	AccessToken string
	// RefreshToken is the rotated refresh token, or "" when the provider
	// kept the redeemed one valid and sent no new one (or sent it back).
	RefreshToken string
	// Expiry is when AccessToken expires; zero when the provider did not say.
	Expiry time.Time
	// Scope is what the provider granted (the requested scope when it does
	// not report one).
	Scope []string
}

// Refresher redeems a stored refresh token for a fresh access token, with
// no identity call (the background refresher and the access-token
// endpoint). Errors are classified *Error values, as with Provider.Validate:
// ClassUnavailable and ClassInvalidClient are transient for the grant, every
// other class is permanent.
type Refresher interface {
	Refresh(ctx context.Context, client Client, refreshToken string, scope []string) (Token, error)
}

// SettingsChecker checks the settings of a request as Validate reads
// them, without contacting the provider or storing anything, and returns
// the account's address when the settings say it (password providers,
// lower-cased; "" for OAuth providers, whose address only the provider
// knows). grantd import checks every line with it (internal/importer), so
// that a dry run refuses what Validate would refuse before it contacts the
// provider. Errors are ClassBadRequest *Error values.
type SettingsChecker interface {
	CheckSettings(settings map[string]any) (email string, err error)
}

// Rechecker re-checks the stored credentials of a grant that has no
// refresh token (the password providers: IMAP, iCloud, EWS), cheaply and
// without storing anything: settings are the grant's stored non-secret
// settings (as Result.Settings returned them, possibly after a JSON round
// trip), secrets its decrypted secrets (Result.Secrets), scope its scope.
// Errors are classified *Error values, as with Provider.Validate.
type Rechecker interface {
	Recheck(ctx context.Context, settings map[string]any, secrets map[string]string, scope []string) error
}

// ConnectorSetting is one setting of a provider's connector (the
// application's provider app, POST /v3/connectors {"settings": …}). Every
// connector setting is a string.
type ConnectorSetting struct {
	// Key is the setting's name ("client_id").
	Key string
	// Secret settings are sealed, never stored in clear and never
	// returned.
	Secret bool
	// Required settings must be set, not blank, on every connector of the
	// provider.
	Required bool
	// About says what the value is, for messages: "the OAuth client id"
	// (of your google app).
	About string
}

// OAuthClient is implemented by the providers whose grants belong to an
// OAuth client: the application's connector for the provider, or one of
// the connector's credentials (Google, Microsoft, Yahoo, Zoom).
// Authenticating and refreshing such a grant needs that client
// (Request.Client), a write of such a grant checks the client still exists,
// and its grants become invalid when the connector is deleted.
// ConnectorSettings lists what the provider's connector takes; the
// connectors of the other providers take no settings.
type OAuthClient interface {
	ConnectorSettings() []ConnectorSetting
}

// Authorization is what a provider's authorization URL is built from, for
// hosted OAuth (the authorization code grant).
type Authorization struct {
	// Client is the OAuth client the user authorizes (the connector's or a
	// credential's).
	Client Client
	// RedirectURI is where the provider sends the user back with a code
	// (grantd's callback).
	RedirectURI string
	// Scope is what to ask for; the provider adds what it needs to keep
	// the grant alive and to learn the identity (offline access, openid).
	Scope []string
	// State is echoed back to RedirectURI; it binds the callback to the
	// request.
	State string
	// CodeChallenge is the PKCE (RFC 7636) S256 challenge of the verifier
	// Exchange will send; empty without PKCE.
	CodeChallenge string
	// LoginHint proposes the account to sign in with; may be empty.
	LoginHint string
	// Prompt is the application's OpenID Connect prompt values (login,
	// consent, select_account, none), separated by spaces; empty for the
	// provider's default. The provider passes on those it has, in its
	// own words, and refuses the others (a ClassBadRequest *Error saying
	// which it takes).
	Prompt string
}

// CodeExchange is an authorization code to redeem.
type CodeExchange struct {
	Client      Client
	Code        string
	RedirectURI string // as in the Authorization
	// CodeVerifier is the PKCE verifier of the Authorization's
	// CodeChallenge; empty without PKCE.
	CodeVerifier string
	// Scope is what was asked for (the provider may report less).
	Scope []string
}

// AuthCodeExchanger is implemented by the providers whose accounts can be
// authorized in the browser (hosted OAuth): grantd sends the user to
// AuthorizeURL, the provider sends a code back to the redirect URI, and
// Exchange redeems it for the provider's token set and learns whom it
// belongs to. Google, Microsoft, Yahoo and Zoom implement it on oauthx
// (oauthx.AuthCodeURL, oauthx.StartCode, Session.Exchange), with the
// authorization endpoint in each provider's Config.
type AuthCodeExchanger interface {
	// AuthorizeURL returns the provider's authorization URL for a. Its
	// error is a ClassBadRequest *Error (a tenant that cannot be used, a
	// scope the provider cannot ask for).
	AuthorizeURL(a Authorization) (string, error)
	// Exchange redeems the code and returns what Provider.Validate
	// returns for a refresh token: the identity, the granted scope, and
	// Secrets holding refresh_token and access_token. Errors are
	// classified *Error values: a used, expired or foreign code is
	// ClassInvalidCredentials.
	Exchange(ctx context.Context, x CodeExchange) (Result, error)
}

// AppCredential is an application's own credential at a provider: a
// connector credential of a type other than "connector", decrypted.
type AppCredential struct {
	// Type is the credential type: "serviceaccount" (a Google service
	// account key), "adminconsent" (a Microsoft tenant's consent).
	Type string
	// Data is the credential's credential_data (client_email,
	// private_key, tenant, client_id, client_secret, …).
	Data map[string]any
}

// AppTokenMinter is implemented by the providers that can obtain an access
// token with the application's own credential instead of a user's refresh
// token: a Google service account acting for a user of its Workspace domain
// (domain-wide delegation, a signed JWT assertion), Microsoft's client
// credentials grant in a tenant whose administrator consented (app
// permissions). Bulk authentication and the refresher of such grants use
// it. No provider implements it yet.
type AppTokenMinter interface {
	// MintAppToken returns an access token for subject (a user's address)
	// where the provider mints per user, or for the whole tenant when
	// subject is "". Token.RefreshToken is always empty. Errors are
	// classified *Error values: a refused assertion or a withdrawn consent
	// is ClassInvalidCredentials, an unreachable provider
	// ClassUnavailable.
	MintAppToken(ctx context.Context, cred AppCredential, subject string, scope []string) (Token, error)
}

// CredentialChecker is implemented by the providers whose connector takes
// credentials of a type other than "connector" (a Google service account
// key, a Microsoft admin consent): CheckCredential checks credential_data
// of type typ when a credential is created or changed, so that a key that
// cannot work is refused with a 400 before anything is stored. It returns
// a ClassBadRequest *Error naming the exact problem and never echoing a
// secret, or nil; types the provider does not own are not its concern
// (nil).
type CredentialChecker interface {
	CheckCredential(typ string, data map[string]any) error
}

// AdminConsenter is implemented by the providers whose tenants'
// administrators consent to an application's app permissions in the
// browser (Microsoft): hosted OAuth's GET /v3/connect/auth with
// response_type=adminconsent sends the administrator to AdminConsentURL,
// and its callback reads the provider's answer with AdminConsentResult.
type AdminConsenter interface {
	// AdminConsentURL is where an administrator of client.Tenant consents
	// to client's app permissions, returning to redirectURI with state.
	// The error is a ClassBadRequest *Error.
	AdminConsentURL(client Client, redirectURI, state string) (string, error)
	// AdminConsentResult reads the query of the provider's redirect back:
	// the tenant that consented, or a ClassInvalidCredentials *Error
	// (the administrator declined) or ClassBadRequest *Error (an answer
	// that is no consent), with the provider's words.
	AdminConsentResult(query map[string][]string) (tenant string, err error)
}

// PasswordVerifier is implemented by the providers whose grants hold a
// password that grantd checks for the application itself (agent accounts:
// the application's own mail host asks grantd whether a mailbox's app
// password is right, POST /grantd/v1/agent-accounts/verify-password).
type PasswordVerifier interface {
	// VerifyPassword reports whether password matches the grant's stored
	// secrets (as Result.Secrets returned them), and whether the grant's
	// address may still be used (its domain still verified for appID).
	// With nil secrets (no such grant) it spends the time a comparison
	// takes and returns false, so that the answer's timing does not tell
	// whether the address has a grant. A comparison is constant-time.
	VerifyPassword(ctx context.Context, appID, email string, secrets map[string]string, password string) (bool, error)
}
