// Package provider defines what grantd needs from a provider (Google,
// Microsoft, IMAP, …): the Provider interface (check credentials against
// the real service and learn whom they belong to), the optional
// capabilities a provider may add (Refresher, Rechecker, …), the request
// and result types, and the classified Error every provider failure is.
// Each provider lives in its own package under internal/provider and
// implements Provider.
package provider

import (
	"context"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/emailaddr"
)

// Names of the providers, as they appear on the wire.
const (
	Google          = "google"
	Microsoft       = "microsoft"
	Yahoo           = "yahoo"
	Zoom            = "zoom"
	IMAP            = "imap"
	ICloud          = "icloud"
	EWS             = "ews"
	VirtualCalendar = "virtual-calendar"
	// Agent is the agent accounts' provider: mailboxes the application
	// runs on its own verified domains (internal/provider/agent).
	Agent = "nylas"
)

// Client is the OAuth client (the provider app) used for a request: the
// connector's settings, or a credential that overrides them.
type Client struct {
	ClientID     string
	ClientSecret string
	Tenant       string // Microsoft only
	// App is the application's own credential (a Google service account
	// key, a Microsoft admin consent) when the request or the grant uses
	// one instead of a user's refresh token (bulk authentication); nil
	// for an OAuth client.
	App *AppCredential
}

// Request is one validation: the settings the caller sent (raw, as decoded
// from JSON), the OAuth client to use and the requested scopes.
type Request struct {
	// AppID is the application the request is for (the agent provider
	// checks the address is on one of its verified domains).
	AppID    string
	Settings map[string]any
	Client   Client
	Scope    []string
	// Recheck says the settings were accepted before: a periodic re-check
	// of a stored grant. Input rules stricter than those the settings
	// passed must not refuse them (the grant would be invalidated though
	// the provider still accepts the credentials); only the provider's
	// answer counts.
	Recheck bool
}

// AccountAddress checks s, an account's address taken from the settings
// of a password grant: by emailaddr's rules (detection's), or, for a
// re-check of a stored grant (recheck), by LooseAddress, the rule it was
// accepted with. The error says what is wrong, beginning "email ...".
func AccountAddress(s string, recheck bool) error {
	if recheck && LooseAddress(s) {
		return nil
	}
	_, err := emailaddr.Parse(s)
	return err
}

// LooseAddress accepts every address the password validators accepted
// before emailaddr's rule (each had its own, all at least: an @ neither
// first nor last, no space, tab or angle bracket). Re-checks of stored
// grants use it (see Request.Recheck).
func LooseAddress(s string) bool {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t<>")
}

// Result is what a successful validation learned.
type Result struct {
	Email          string
	Name           string
	ProviderUserID string
	// Scope is the list the provider granted (or the requested list when the
	// provider does not report one).
	Scope []string
	// Secrets are stored encrypted: for OAuth providers refresh_token (the
	// rotated one when the provider rotated it) and access_token; for
	// password providers the passwords.
	Secrets map[string]string
	// Settings are the non-secret settings kept on the grant and returned
	// in responses (hosts, ports, usernames).
	Settings map[string]any
	// AccessTokenExpiresAt is when the returned access token expires; zero
	// when there is none.
	AccessTokenExpiresAt time.Time
}

// Provider is a provider grantd authenticates accounts of: it checks the
// credentials a caller brings (a refresh token, a password) against the
// real service and learns whom they belong to. Errors are classified
// *Error values. What else a provider can do is said by the optional
// capability interfaces it also implements (Refresher, Rechecker, …).
type Provider interface {
	Validate(ctx context.Context, req Request) (Result, error)
}

// MergeSettings returns settings and secrets in one map (secrets win), the
// shape of the settings a password grant was created with.
func MergeSettings(settings map[string]any, secrets map[string]string) map[string]any {
	m := make(map[string]any, len(settings)+len(secrets))
	for k, v := range settings {
		m[k] = v
	}
	for k, v := range secrets {
		m[k] = v
	}
	return m
}
