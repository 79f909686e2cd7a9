package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Every kind of the services' error vocabulary has one status and type,
// wrapped or not; anything else is internal.
func TestToAPIError(t *testing.T) {
	pe := map[string]any{"error": "invalid_grant"}
	for _, tc := range []struct {
		err    error
		status int
		typ    string
		msg    string
		pe     bool
	}{
		{fault.Invalidf("bad %s", "x"), http.StatusBadRequest, TypeInvalidRequest, "bad x", false},
		{fault.NotFoundf("no grant"), http.StatusNotFound, TypeNotFound, "no grant", false},
		{fmt.Errorf("wrapped: %w", fault.Conflictf("taken")), http.StatusConflict, TypeConflict, "taken", false},
		{fault.Unavailablef(errors.New("dial tcp: refused"), "the store cannot answer; try again"), http.StatusServiceUnavailable, TypeUnavailable, "the store cannot answer; try again", false},
		{&provider.Error{Class: provider.ClassInvalidCredentials, Message: "refused", ProviderError: pe}, http.StatusBadRequest, TypeInvalidRequest, "refused", true},
		{&provider.Error{Class: provider.ClassBadRequest, Message: "settings.x is required"}, http.StatusBadRequest, TypeInvalidRequest, "settings.x is required", false},
		{fmt.Errorf("x: %w", &provider.Error{Class: provider.ClassUnavailable, Message: "try again", ProviderError: pe}), http.StatusGatewayTimeout, TypeProvider, "try again", true},
		{fmt.Errorf("update: %w", store.ErrInvalid), http.StatusBadRequest, TypeInvalidRequest, "a value in the request cannot be stored (a NUL character, a time out of range or a value too long)", false},
		{NotFound("no route"), http.StatusNotFound, TypeNotFound, "no route", false},
		// A database that cannot answer is retryable, never a bug; the
		// driver's words stay in the log.
		{store.Unavailable("postgres: get grant", errors.New("dial tcp 10.0.0.5:5432: connection refused")), http.StatusServiceUnavailable, TypeUnavailable, store.ErrUnavailable.Error(), false},
	} {
		ae, ok := toAPIError(tc.err)
		if !ok || ae.Status != tc.status || ae.Type != tc.typ || ae.Message != tc.msg || (ae.ProviderError != nil) != tc.pe {
			t.Errorf("%v: got %+v, %v; want %d %s %q (provider_error %v)", tc.err, ae, ok, tc.status, tc.typ, tc.msg, tc.pe)
		}
	}
	for _, err := range []error{errors.New("boom"), store.ErrNotFound, &fault.Error{Message: "no kind"}} {
		if ae, ok := toAPIError(err); ok {
			t.Errorf("%v: mapped to %+v, want an internal error", err, ae)
		}
	}
}
