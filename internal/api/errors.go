package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// toAPIError maps the errors of the services to API errors, the one place
// the services' error vocabulary (package fault) meets HTTP; false means an
// internal error.
//
//	fault.Invalid      400 api.invalid_request_error
//	fault.NotFound     404 api.not_found_error
//	fault.Conflict     409 api.conflict_error
//	fault.Unavailable  504 api.provider_error for a provider's failure
//	                   (with Retry-After when the provider said how
//	                   long to wait), 503 api.service_unavailable for
//	                   anything else
//
// A provider's failure (*provider.Error) also carries the provider's own
// words (provider_error). store.ErrInvalid, a value no store can hold, is
// an invalid request.
func toAPIError(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, true
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		e := fromKind(pe.FaultKind(), true, pe.Message, pe.ProviderError)
		if e.Status == http.StatusGatewayTimeout {
			e.RetryAfter = provider.RetryAfterSeconds(pe)
		}
		return e, true
	}
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind != 0 {
		return fromKind(fe.Kind, false, fe.Message, nil), true
	}
	if errors.Is(err, store.ErrInvalid) {
		return fromKind(fault.Invalid, false, "a value in the request cannot be stored (a NUL character, a time out of range or a value too long)", nil), true
	}
	return nil, false
}

// fromKind is the API error of a failure of kind k; fromProvider says the
// provider failed (not grantd or its store).
func fromKind(k fault.Kind, fromProvider bool, message string, providerError map[string]any) *Error {
	e := &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: message, ProviderError: providerError}
	switch k {
	case fault.NotFound:
		e.Status, e.Type = http.StatusNotFound, TypeNotFound
	case fault.Conflict:
		e.Status, e.Type = http.StatusConflict, TypeConflict
	case fault.Unavailable:
		e.Status, e.Type = http.StatusServiceUnavailable, TypeUnavailable
		if fromProvider {
			e.Status, e.Type = http.StatusGatewayTimeout, TypeProvider
		}
	}
	return e
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
	TypeUnavailable      = "api.service_unavailable"
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
	// RetryAfter, when positive, is sent as the Retry-After header, in
	// seconds: the pause a provider asked for (provider.RetryAfterSeconds).
	RetryAfter int
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
