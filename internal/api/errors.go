package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// toAPIError maps the errors of the services to API errors; false means
// an internal error.
func toAPIError(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, true
	}
	if ae, ok := FromProvider(err); ok {
		return ae, true
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		switch ce.Kind {
		case connector.NotFound:
			return NotFound("%s", ce.Message), true
		case connector.Conflict:
			return Conflict("%s", ce.Message), true
		}
		return BadRequest("%s", ce.Message), true
	}
	var ge *grant.Error
	if errors.As(err, &ge) {
		if ge.NotFound {
			return NotFound("%s", ge.Message), true
		}
		return BadRequest("%s", ge.Message), true
	}
	if errors.Is(err, store.ErrInvalid) {
		return BadRequest("a value in the request cannot be stored (a NUL character, a time out of range or a value too long)"), true
	}
	return nil, false
}

// Error types sent in the Nylas error envelope.
const (
	TypeInvalidRequest   = "api.invalid_request_error"
	TypeInvalidPayload   = "api.invalid_request_payload"
	TypeAuthentication   = "api.authentication_error"
	TypeNotFound         = "api.not_found_error"
	TypeMethodNotAllowed = "api.method_not_allowed"
	TypeConflict         = "api.conflict_error"
	TypeProvider         = "api.provider_error"
	TypeInternal         = "api.internal_error"
	TypeForbidden        = "api.insufficient_scopes"
	TypeTooLarge         = "api.request_too_large"
)

// Error is an API error: its status, the Nylas error type and a message a
// person can act on. ProviderError carries the provider's own words.
type Error struct {
	Status        int
	Type          string
	Message       string
	ProviderError map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// BadRequest returns a 400 invalid request error.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a 404 error.
func NotFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns a 409 error.
func Conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Type: TypeConflict, Message: fmt.Sprintf(format, args...)}
}

// FromProvider maps a classified provider failure to an API error: a
// provider that cannot be reached is a 504 the caller may retry; everything
// else is a 400 about the request or the credentials.
func FromProvider(err error) (*Error, bool) {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return nil, false
	}
	e := &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: pe.Message, ProviderError: pe.ProviderError}
	if pe.Class == provider.ClassUnavailable {
		e.Status, e.Type = http.StatusGatewayTimeout, TypeProvider
	}
	return e, true
}
