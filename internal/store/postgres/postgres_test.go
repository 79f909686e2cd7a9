package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/grantd/grantd/internal/testenv"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/conformance"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

const envURL = "GRANTD_TEST_DATABASE_URL"

// baseURL returns the test database URL, skipping t when there is none.
func baseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		testenv.Skip(t, envURL+" is not set; skipping PostgreSQL conformance (example: postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// testSchema creates a schema with a random name, drops it when t ends, and
// returns the test database URL with search_path pointing at it.
func testSchema(t testing.TB) string {
	t.Helper()
	return testenv.PostgresSchema(t, "PostgreSQL conformance")
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() }) // registered after the drop: runs first
	return s
}

func TestConformance(t *testing.T) {
	baseURL(t)
	conformance.Run(t, func(t *testing.T) store.Store {
		return open(t, testSchema(t))
	})
}

// TestOpenConcurrently opens one schema from several "nodes" at once: the
// migrations must be applied exactly once, in the schema of the URL.
func TestOpenConcurrently(t *testing.T) {
	dsn := testSchema(t)
	const nodes = 5
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if err := stores[0].CreateApplication(t.Context(), store.Application{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[nodes-1].GetApplication(t.Context(), "app"); err != nil {
		t.Fatalf("GetApplication on another node: %v", err)
	}

	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var schema string
	var migrations, grantsTables int
	err = conn.QueryRow(t.Context(), `SELECT current_schema(), (SELECT count(*) FROM schema_migrations),
		(SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'grants')`).
		Scan(&schema, &migrations, &grantsTables)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	if want := u.Query().Get("search_path"); schema != want || grantsTables != 1 {
		t.Fatalf("schema %q has %d grants tables; want the tables in %q", schema, grantsTables, want)
	}
	if want := migrationFiles(); migrations != want {
		t.Fatalf("schema_migrations has %d rows, want %d (one per migrations/*.sql, shared or own)", migrations, want)
	}
}

func BenchmarkPostgres(b *testing.B) {
	baseURL(b)
	conformance.Bench(b, func(b *testing.B) store.Store {
		return open(b, testSchema(b))
	})
}

// Ping answers for grantd's schema, not only for the connection: a
// dropped schema is not ready.
func TestPingNeedsTheSchema(t *testing.T) {
	dsn := testSchema(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	u, _ := url.Parse(dsn)
	conn, err := pgx.Connect(t.Context(), baseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "DROP SCHEMA "+u.Query().Get("search_path")+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded without the schema")
	}
	// (the cleanup's DROP SCHEMA now reports an error: recreate it)
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+u.Query().Get("search_path")); err != nil {
		t.Fatal(err)
	}
}

// A search_path naming no existing schema is refused with a message that
// says so (not a migration error about "no schema selected").
func TestOpenMissingSchema(t *testing.T) {
	u, err := url.Parse(baseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "grantd_no_such_schema")
	u.RawQuery = q.Encode()
	s, err := postgres.Open(t.Context(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded without the schema")
	}
	if !strings.Contains(err.Error(), "names no existing schema") {
		t.Errorf("Open: %v", err)
	}
}

// A grant write that requires its client, queued behind a connector
// deletion on the same credential row, must not deadlock with it: the
// write locks the credential before the connector, the order the deletion
// deletes them in (a review forced the deadlock with the opposite order).
func TestRequireClientDoesNotDeadlockWithDeleteConnector(t *testing.T) {
	dsn := testSchema(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateApplication(ctx, store.Application{ID: "app-dl", Name: "a", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateConnector(ctx, store.Connector{AppID: "app-dl", Provider: "google", Name: "g", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateCredential(ctx, store.Credential{ID: "cred-dl", AppID: "app-dl", Provider: "google", Name: "c", CreatedAt: now, UpdatedAt: now}))

	// A third transaction holds the credential row, so that both queue.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	hold, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Exec(ctx, `SELECT 1 FROM credentials WHERE id = 'cred-dl' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- s.DeleteConnector(ctx, "app-dl", "google") }()
	time.Sleep(200 * time.Millisecond) // the deletion queues first
	go func() {
		g := store.Grant{ID: "grant-dl", AppID: "app-dl", Provider: "google", Email: "dl@example.com", Status: store.GrantValid,
			CredentialID: "cred-dl", RequireClient: true, CreatedAt: now, UpdatedAt: now}
		errs <- s.CreateGrant(ctx, g)
	}()
	time.Sleep(200 * time.Millisecond)
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil && !errors.Is(err, store.ErrClientGone) {
				t.Errorf("%v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stuck")
		}
	}
}

// TestScale: GRANTD_SCALE_GRANTS=N seeds N grants and measures every list
// filter (conformance.Scale; docs/benchmarks.md).
func TestScale(t *testing.T) {
	n := conformance.ScaleGrants()
	if n == 0 {
		t.Skip("set GRANTD_SCALE_GRANTS=N to seed N grants and measure the lists")
	}
	baseURL(t)
	conformance.Scale(t, open(t, testSchema(t)), n)
}

// migrationFiles counts the migrations: the shared files of sqlstore and
// this backend's own, a file of each kind with one name counting once.
func migrationFiles() int {
	shared, _ := filepath.Glob("../sqlstore/migrations/*.sql")
	own, _ := filepath.Glob("migrations/*.sql")
	names := map[string]bool{}
	for _, f := range append(shared, own...) {
		names[filepath.Base(f)] = true
	}
	return len(names)
}

// The grant writes take as few round trips as their statements allow:
// BEGIN goes with the first statement and the last ones (the insert or
// update and its events) with COMMIT. Counted after a warm-up, so that
// every statement is prepared on the one connection.
func TestGrantWriteRoundTrips(t *testing.T) {
	dsn := testSchema(t)
	ctx := t.Context()
	var writes atomic.Int64
	s, err := postgres.OpenCountingWrites(ctx, dsn+"&pool_max_conns=1", &writes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateApplication(ctx, store.Application{ID: "app-rt", Name: "a", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateConnector(ctx, store.Connector{AppID: "app-rt", Provider: "google", Name: "g", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateCredential(ctx, store.Credential{ID: "cred-rt", AppID: "app-rt", Provider: "google", Name: "c", CreatedAt: now, UpdatedAt: now}))
	n := 0
	newGrant := func(client bool) store.Grant {
		n++
		g := store.Grant{ID: fmt.Sprintf("grant-rt-%d", n), AppID: "app-rt", Provider: "google", Email: fmt.Sprintf("rt%d@example.com", n),
			Status: store.GrantValid, CreatedAt: now, UpdatedAt: now}
		if client {
			g.CredentialID, g.RequireClient = "cred-rt", true
		}
		return g
	}
	event := func(typ string) store.Event {
		return store.Event{ID: fmt.Sprintf("ev-rt-%d-%s", n, typ), Type: typ, Payload: []byte(`{}`)}
	}
	var id string
	ops := []struct {
		name string
		want int64
		op   func() error
	}{
		{"CreateGrant with an event", 1, func() error {
			g := newGrant(false)
			id = g.ID
			return s.CreateGrant(ctx, g, event("grant.created"))
		}},
		{"CreateGrant requiring its credential and connector, with an event", 3, func() error {
			return s.CreateGrant(ctx, newGrant(true), event("grant.created"))
		}},
		// An authentication (grant.Service): the insert that does nothing
		// when the email is taken is answered before the events go with
		// the commit; a re-authentication locks, then updates with the
		// commit.
		{"UpsertGrant of a new email, with an event", 2, func() error {
			_, _, err := s.UpsertGrant(ctx, newGrant(false), []store.Event{event("grant.created")}, nil)
			return err
		}},
		{"UpsertGrant of a new email requiring its credential and connector", 4, func() error {
			_, _, err := s.UpsertGrant(ctx, newGrant(true), []store.Event{event("grant.created")}, nil)
			return err
		}},
		{"UpsertGrant of a taken email (re-authentication), with an event", 3, func() error {
			g := newGrant(false)
			g.Email = "rt1@example.com"
			_, _, err := s.UpsertGrant(ctx, g, []store.Event{event("grant.created")}, func(old store.Grant) (store.Grant, []store.Event, error) {
				return old, []store.Event{event("grant.updated")}, nil
			})
			return err
		}},
		{"GetGrant", 1, func() error { _, err := s.GetGrant(ctx, "app-rt", id); return err }},
		{"UpdateGrant with an event", 2, func() error {
			_, err := s.UpdateGrant(ctx, "app-rt", id, func(old store.Grant) (store.Grant, []store.Event, error) {
				old.Name = fmt.Sprint(n)
				n++
				return old, []store.Event{event("grant.updated")}, nil
			})
			return err
		}},
	}
	for _, o := range ops {
		must(o.op()) // prepares the statements
		writes.Store(0)
		must(o.op())
		if got := writes.Load(); got != o.want {
			t.Errorf("%s: %d round trips, want %d", o.name, got, o.want)
		}
	}
	// A failed write in the batch is the statement's error and leaves
	// nothing behind.
	dup := newGrant(false)
	dup.Email = "rt1@example.com"
	if err := s.CreateGrant(ctx, dup, event("grant.created")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateGrant of a taken email: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.GetGrant(ctx, "app-rt", dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed create left its grant: %v", err)
	}
	evs, err := s.ListEvents(ctx, 0, 0)
	must(err)
	for _, e := range evs {
		if e.GrantID == dup.ID {
			t.Fatalf("the failed create left its event %+v", e)
		}
	}
}

// A transaction whose closure ignored a failed statement (the server
// aborted the transaction) and returned nil is not reported committed:
// PostgreSQL answers its COMMIT with the tag ROLLBACK, not an error.
func TestCommitOfAbortedTransactionFails(t *testing.T) {
	s := open(t, testSchema(t))
	ctx := t.Context()
	if _, err := postgres.PoolOf(s).Exec(ctx, `CREATE TABLE tx_probe (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	err := postgres.TxOf(s)(ctx, func(ctx context.Context, q sqlstore.Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO tx_probe VALUES (1)`); err != nil {
			return err
		}
		_, _ = q.Exec(ctx, `INSERT INTO tx_probe VALUES (1)`) // fails: the transaction is aborted
		return nil
	})
	var n int
	if qerr := postgres.PoolOf(s).QueryRow(ctx, `SELECT count(*) FROM tx_probe`).Scan(&n); qerr != nil {
		t.Fatal(qerr)
	}
	if err == nil || n != 0 {
		t.Fatalf("Tx returned %v with %d rows committed; want an error and 0 rows", err, n)
	}
}
