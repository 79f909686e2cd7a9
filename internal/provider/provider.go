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
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/fault"
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
)

// Client is the OAuth client (the provider app) used for a request: the
// connector's settings, or a credential that overrides them.
type Client struct {
	ClientID     string
	ClientSecret string
	Tenant       string // Microsoft only
}

// Request is one validation: the settings the caller sent (raw, as decoded
// from JSON), the OAuth client to use and the requested scopes.
type Request struct {
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

// Rechecker re-checks the stored credentials of a grant that has no
// refresh token (the password providers: IMAP, iCloud, EWS), cheaply and
// without storing anything: settings are the grant's stored non-secret
// settings (as Result.Settings returned them, possibly after a JSON round
// trip), secrets its decrypted secrets (Result.Secrets), scope its scope.
// Errors are classified *Error values, as with Provider.Validate.
type Rechecker interface {
	Recheck(ctx context.Context, settings map[string]any, secrets map[string]string, scope []string) error
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

// Class says what kind of failure an Error is; the API maps it to a status.
type Class string

// Failure classes.
const (
	// ClassBadRequest: the request itself is incomplete or malformed (a
	// missing or wrongly typed setting). 400.
	ClassBadRequest Class = "bad_request"
	// ClassInvalidCredentials: the provider rejected the credentials
	// (invalid_grant, revoked or expired token, wrong password). 400.
	ClassInvalidCredentials Class = "invalid_credentials"
	// ClassInvalidClient: the provider rejected the OAuth client (the
	// connector's or the credential's client_id and client_secret), not
	// the user's token. 400 when authenticating; the background refresher
	// keeps the grant valid and retries, since the token may well be good
	// once the client is fixed.
	ClassInvalidClient Class = "invalid_client"
	// ClassAppPasswordRequired: the provider wants an app-specific password. 400.
	ClassAppPasswordRequired Class = "app_password_required"
	// ClassBasicAuthDisabled: password login is disabled by the provider. 400.
	ClassBasicAuthDisabled Class = "basic_auth_disabled"
	// ClassAccessDisabled: the protocol (IMAP, EWS) is disabled for the account. 400.
	ClassAccessDisabled Class = "access_disabled"
	// ClassMissingScope: the token lacks a scope grantd needs. 400.
	ClassMissingScope Class = "missing_scope"
	// ClassTLS: TLS handshake or certificate failure. 400.
	ClassTLS Class = "tls_error"
	// ClassUnavailable: the provider could not be reached, timed out or
	// answered with a server error; nothing is wrong with the credentials
	// and the caller may retry. 504.
	ClassUnavailable Class = "provider_unavailable"
)

// Error is a classified provider failure. Message is for people and never
// contains a secret; ProviderError carries the provider's own words (error
// code, description, server response line), also without secrets.
type Error struct {
	Class         Class
	Message       string
	ProviderError map[string]any
	Err           error // underlying cause, for logs; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Class, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Class, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// FaultKind places e in the services' error vocabulary: a provider that
// cannot be reached or answer now is fault.Unavailable (the caller may
// retry); every other class is fault.Invalid (the request or the
// credentials must change).
func (e *Error) FaultKind() fault.Kind {
	if e.Class == ClassUnavailable {
		return fault.Unavailable
	}
	return fault.Invalid
}

// Errorf returns an *Error of class c.
func Errorf(c Class, format string, args ...any) *Error {
	return &Error{Class: c, Message: fmt.Sprintf(format, args...)}
}

// ClassOf returns the class of err, or "" when err is not an *Error.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return ""
}

// Transient reports whether err is a failure the caller may retry.
func Transient(err error) bool { return ClassOf(err) == ClassUnavailable }

// MailServers are the IMAP and SMTP endpoints of a mailbox.
type MailServers struct {
	IMAPHost string
	IMAPPort int
	SMTPHost string
	SMTPPort int
	// Source says how they were found: "known_domain", "mx", "srv",
	// "autoconfig", "config".
	Source string
}

// ServerFinder finds the mail servers of an email address when the caller
// did not give them (internal/detect implements it). It returns an
// *Error of ClassBadRequest when nothing is found, naming what is missing.
type ServerFinder interface {
	FindMailServers(ctx context.Context, email string) (MailServers, error)
}

// EWSFinder finds the Exchange Web Services URL of an email address
// through Autodiscover (internal/detect implements it).
type EWSFinder interface {
	FindEWS(ctx context.Context, email string) (ewsURL string, err error)
}
