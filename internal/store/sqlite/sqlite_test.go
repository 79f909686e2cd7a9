package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/conformance"
	"github.com/grantd/grantd/internal/store/sqlite"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "grantd.db"))
	})
}

// The deadline decorator (store.WithTimeout, which grantd serve wraps
// every store in) passes every method through unchanged.
func TestConformanceWithTimeout(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store {
		return store.WithTimeout(open(t, filepath.Join(t.TempDir(), "grantd.db")), store.DefaultTimeout)
	})
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grantd.db")
	s := open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
	if err := s.CreateApplication(t.Context(), store.Application{ID: "app"}); err != nil {
		t.Fatal(err)
	}

	// Reopening applies no migration twice and keeps the data.
	s2 := open(t, path)
	if _, err := s2.GetApplication(t.Context(), "app"); err != nil {
		t.Fatalf("GetApplication after reopen: %v", err)
	}
	if err := s2.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The file is in WAL mode and each migration is recorded once.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var migrations int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	if want := migrationFiles(); mode != "wal" || migrations != want {
		t.Fatalf("journal_mode = %q, %d migrations recorded; want wal, %d (one per migrations/*.sql, shared or own)", mode, migrations, want)
	}

	for _, bad := range []string{"", ":memory:", "file:x.db", filepath.Join(dir, "x.db?mode=ro")} {
		if s, err := sqlite.Open(t.Context(), bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func BenchmarkSQLite(b *testing.B) {
	conformance.Bench(b, func(b *testing.B) store.Store {
		return open(b, filepath.Join(b.TempDir(), "grantd.db"))
	})
}

// TestScale: GRANTD_SCALE_GRANTS=N seeds N grants and measures every list
// filter (conformance.Scale; docs/benchmarks.md).
func TestScale(t *testing.T) {
	n := conformance.ScaleGrants()
	if n == 0 {
		t.Skip("set GRANTD_SCALE_GRANTS=N to seed N grants and measure the lists")
	}
	path := filepath.Join(t.TempDir(), "grantd.db")
	// The WAL's largest size while seeding and measuring.
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak.Load() {
				peak.Store(fi.Size())
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	conformance.Scale(t, open(t, path), n)
	t.Logf("WAL peak %d MB", peak.Load()>>20)
	for _, f := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			t.Logf("%s: %d MB", filepath.Base(f), fi.Size()>>20)
		}
	}
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
