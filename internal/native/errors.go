package native

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

// v2 error types.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuth           = "auth_error"
	TypeNotFound       = "not_found_error"
	TypeAPI            = "api_error"
	TypeRateLimit      = "rate_limit_error"
)

// Error is an answer in v2's error shape, {"message", "type"}.
type Error struct {
	Status  int
	Type    string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (429,
	// 503, and 504 when the provider said how long to wait).
	RetryAfter int
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

func invalidf(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

func unauthorizedf(format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: TypeAuth, Message: fmt.Sprintf(format, args...)}
}

// refusedClasses are the provider failures v2 answered as an
// authentication error (403 auth_error): the account's credentials, not
// the request, are wrong.
var refusedClasses = []provider.Class{
	provider.ClassInvalidCredentials, provider.ClassAppPasswordRequired, provider.ClassBasicAuthDisabled,
	provider.ClassAccessDisabled, provider.ClassMissingScope,
}

// toError maps a service error onto the v2 shape; false means an
// internal error (logged, answered without its cause).
func toError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Class == provider.ClassUnavailable:
			return &Error{Status: http.StatusGatewayTimeout, Type: TypeAPI, Message: pe.Message, RetryAfter: provider.RetryAfterSeconds(pe)}, true
		case slices.Contains(refusedClasses, pe.Class):
			return &Error{Status: http.StatusForbidden, Type: TypeAuth, Message: pe.Message}, true
		default:
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: pe.Message}, true
		}
	}
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind != 0 {
		switch fe.Kind {
		case fault.NotFound:
			return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Message: fe.Message}, true
		case fault.Unavailable:
			return &Error{Status: http.StatusServiceUnavailable, Type: TypeAPI, Message: fe.Message, RetryAfter: retryAfterUnavailable}, true
		default:
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: fe.Message}, true
		}
	}
	return nil, false
}

// retryAfterUnavailable is the Retry-After of a 503 (the store or another
// dependency cannot answer now), in seconds, as on the v3 routes.
const retryAfterUnavailable = 5
