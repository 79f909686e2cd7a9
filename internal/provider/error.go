package provider

import (
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/fault"
)

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
	// ClassAddressRefused: the server's address is one grantd does not
	// connect to (loopback, private, link-local…; see
	// network.allow_private_hosts). 400; a re-check keeps the grant (the
	// operator may allow the range).
	ClassAddressRefused Class = "address_refused"
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
	// RetryAfter is how long the provider asked to be left alone (the
	// Retry-After header of a 429 or 503 answer); zero when it did not say.
	// The refresher pauses its calls to the provider that long.
	RetryAfter time.Duration
	// Answered: the provider answered the call, and the error is what its
	// answer said (an error response, a refusal, an unusable answer).
	// False when no answer was received or none was needed: a setting or
	// credential refused before any request, a certificate that does not
	// verify, an address grantd does not connect to, a connection that
	// failed or timed out. The refresher's adaptive limit learns the
	// provider's usual latency from answers only.
	Answered bool
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
