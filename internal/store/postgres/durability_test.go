package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/grantd/grantd/internal/store/postgres"
)

// A role whose default is synchronous_commit = off (as a tuned server's
// may be) still gets sessions that wait for their commits to be durable:
// every connection of the store's pool says on. A URL asking for off is
// refused.
func TestSessionsCommitSynchronously(t *testing.T) {
	base := baseURL(t)
	ctx := t.Context()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role := "grantd_async_" + hex.EncodeToString(b)

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"ALTER ROLE " + role + " SET synchronous_commit = off",
		"CREATE SCHEMA " + role + " AUTHORIZATION " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer conn.Close(ctx)
		for _, q := range []string{"DROP SCHEMA " + role + " CASCADE", "DROP ROLE " + role} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	q := u.Query()
	q.Set("search_path", role)
	u.RawQuery = q.Encode()
	dsn := u.String()

	// The role's own sessions commit asynchronously.
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(ctx)
	if got := show(t, raw, "synchronous_commit"); got != "off" {
		t.Fatalf("a plain session of the role has synchronous_commit = %s; the test needs off", got)
	}

	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool := postgres.PoolOf(s)
	var conns []*pgxpool.Conn
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if got := show(t, c.Conn(), "synchronous_commit"); got != "on" {
			t.Fatalf("session %d of the store has synchronous_commit = %s, want on", len(conns), got)
		}
	}

	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	if s, err := postgres.Open(ctx, u.String()); err == nil {
		s.Close()
		t.Fatal("Open accepted a URL with synchronous_commit=off")
	} else if !strings.Contains(err.Error(), "synchronous_commit") {
		t.Fatalf("Open: %v", err)
	}
}

func show(t *testing.T, c *pgx.Conn, name string) string {
	t.Helper()
	var v string
	if err := c.QueryRow(t.Context(), "SHOW "+name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
