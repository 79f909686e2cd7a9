// Package fault is the error vocabulary of grantd's services: what kind of
// failure an error is, so that callers (the API, the refresher, the CLI)
// decide from the kind alone, and the API maps each kind to a status once
// (internal/api/errors.go).
//
// A service returns an *Error of a Kind for a failure it can name: the
// caller's input is invalid, a resource is not found, a request conflicts
// with what exists, a dependency cannot answer now. A provider's failure
// is a *provider.Error, which keeps its class (stored on grants, counted
// in metrics) and the provider's own words, and belongs to a kind too
// (provider.Error.FaultKind). Any other error is internal: a bug or a
// broken dependency, logged and never shown.
package fault

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Kind is a kind of failure.
type Kind uint8

// Kinds. The zero Kind is no kind: an internal error.
const (
	// Invalid: the caller's request is incomplete, malformed or refused
	// (a missing field, an unknown provider, credentials the provider
	// refused). Retrying it unchanged fails again.
	Invalid Kind = iota + 1
	// NotFound: what the request names does not exist (for the caller).
	NotFound
	// Conflict: the request clashes with what exists (a second connector
	// for a provider, a name already taken).
	Conflict
	// Unavailable: a store, provider or other dependency cannot answer
	// now; nothing was changed and the caller may retry.
	Unavailable
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case Unavailable:
		return "unavailable"
	}
	return "internal"
}

// Error is a failure of a kind. Message is for people: what is wrong and
// what to do, never a secret.
type Error struct {
	Kind    Kind
	Message string
	Err     error // underlying cause, for logs; may be nil
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// FaultKind is e's kind (see KindOf).
func (e *Error) FaultKind() Kind { return e.Kind }

// Invalidf returns an Invalid error.
func Invalidf(format string, args ...any) error { return newf(Invalid, format, args...) }

// NotFoundf returns a NotFound error.
func NotFoundf(format string, args ...any) error { return newf(NotFound, format, args...) }

// Conflictf returns a Conflict error.
func Conflictf(format string, args ...any) error { return newf(Conflict, format, args...) }

// Unavailablef returns an Unavailable error caused by cause (which may be
// nil).
func Unavailablef(cause error, format string, args ...any) error {
	return &Error{Kind: Unavailable, Message: fmt.Sprintf(format, args...), Err: cause}
}

func newf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first error in err's chain that has one
// (an *Error, or another type with a FaultKind method such as
// *provider.Error), or 0 when none has: an internal error.
func KindOf(err error) Kind {
	var k interface{ FaultKind() Kind }
	if errors.As(err, &k) {
		return k.FaultKind()
	}
	return 0
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return k != 0 && KindOf(err) == k }

// Ellipsis ends a text that was shortened.
const Ellipsis = "…"

// Shorten cuts s, a value quoted in a message, to at most n bytes, between
// two characters, followed by Ellipsis when anything was cut.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Ellipsis
}
