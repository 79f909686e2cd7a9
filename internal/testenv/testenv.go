// Package testenv lets tests that need something outside Go (PostgreSQL,
// Dovecot, Apache, Chromium, Node.js) skip, saying so, on a developer's
// machine without it, and fail instead under CI, where .ci/run installs
// everything and sets GRANTD_TEST_REQUIRE_ALL=1: an interop test that
// silently skips in CI proves nothing.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireAllVar is the environment variable that turns Skip into a failure.
const RequireAllVar = "GRANTD_TEST_REQUIRE_ALL"

// Skip skips t with the message, or fails it when RequireAllVar is "1".
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireAllVar) == "1" {
		t.Fatalf("%s (%s=1: every test must run)", msg, RequireAllVar)
	}
	t.Skip(msg)
}
