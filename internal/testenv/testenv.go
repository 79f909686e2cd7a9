// Package testenv lets tests that need something outside Go (PostgreSQL,
// Dovecot, Apache, Chromium, Node.js) skip, saying so, on a developer's
// machine without it, and fail instead under CI, where .ci/run installs
// everything and sets GRANTD_TEST_REQUIRE_ALL=1: an interop test that
// silently skips in CI proves nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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

// DatabaseURLVar names the PostgreSQL database the tests use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const DatabaseURLVar = "GRANTD_TEST_DATABASE_URL"

// PostgresSchema creates a schema with a random name in the database of
// DatabaseURLVar, drops it when t ends, and returns the database URL with
// search_path pointing at it. Without the variable it skips t (see Skip),
// saying that what is skipped.
func PostgresSchema(t testing.TB, what string) string {
	t.Helper()
	base := os.Getenv(DatabaseURLVar)
	if base == "" {
		Skip(t, "%s is not set; skipping %s (example: postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", DatabaseURLVar, what)
	}
	return PostgresSchemaOf(t, base, what)
}

// PostgresSchemaOf is PostgresSchema on the server of base.
func PostgresSchemaOf(t testing.TB, base, what string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", DatabaseURLVar, err)
	}
	schema := "grantd_test_" + strings.ToLower(rand.Text()[:16])
	exec := func(sql string) error {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", DatabaseURLVar, err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
