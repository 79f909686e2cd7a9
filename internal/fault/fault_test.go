package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

func TestKindOf(t *testing.T) {
	cause := errors.New("connection refused")
	for _, tc := range []struct {
		err  error
		want fault.Kind
	}{
		{fault.Invalidf("x"), fault.Invalid},
		{fault.NotFoundf("x"), fault.NotFound},
		{fmt.Errorf("a: %w", fault.Conflictf("x")), fault.Conflict},
		{fault.Unavailablef(cause, "x"), fault.Unavailable},
		{provider.Errorf(provider.ClassUnavailable, "x"), fault.Unavailable},
		{fmt.Errorf("a: %w", provider.Errorf(provider.ClassInvalidCredentials, "x")), fault.Invalid},
		{provider.Errorf(provider.ClassTLS, "x"), fault.Invalid},
		{cause, 0},
		{nil, 0},
	} {
		if got := fault.KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.want != 0 && !fault.Is(tc.err, tc.want) {
			t.Errorf("Is(%v, %v) = false", tc.err, tc.want)
		}
	}
	if fault.Is(cause, 0) {
		t.Error("Is(err, 0) = true: no error is of no kind")
	}
	err := fault.Unavailablef(cause, "the store did not answer within %s", "5s")
	if err.Error() != "the store did not answer within 5s" || !errors.Is(err, cause) {
		t.Errorf("%v does not say its message or wrap its cause", err)
	}
	if fault.Conflict.String() != "conflict" || fault.Kind(0).String() != "internal" {
		t.Errorf("kind names: %v %v", fault.Conflict, fault.Kind(0))
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven cha" + fault.Ellipsis},
		{"ééééé", 3, "é" + fault.Ellipsis}, // é is 2 bytes: never cut inside one
		{"ééééé", 4, "éé" + fault.Ellipsis},
		{"x", 0, "x"[:0] + fault.Ellipsis},
	} {
		if got := fault.Shorten(tc.s, tc.n); got != tc.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
