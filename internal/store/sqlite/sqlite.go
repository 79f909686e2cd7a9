// Package sqlite is the SQLite backend of store.Store, for single-node
// deployments. It uses modernc.org/sqlite (pure Go).
//
// All writes go through one connection (a *sql.DB limited to one open
// connection, whose transactions begin IMMEDIATE), so writers queue in Go
// instead of failing with SQLITE_BUSY, and an update closure runs while
// its transaction holds the database's write lock. Reads use a separate
// pool of read-only connections, which WAL lets run alongside the writer.
// Write transactions go through one writer goroutine that commits
// concurrent ones together, each in its own savepoint (group commit, see
// groupcommit.go), at synchronous=FULL: a write reported done survives a
// power loss. Only the refresh leases run outside it, at NORMAL.
//
// The queries themselves are sqlstore's, shared with PostgreSQL; this
// package provides the connections (backend.go), the group writer, a
// per-connection statement cache (stmtcache.go) and the checkpointer
// (checkpoint.go).
//
// Update closures must not call back into the Store's write methods: they
// run on the writer goroutine, which waits for them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout bounds how long a connection waits for a lock held by another
// process (another grantd, or the sqlite3 shell) before failing.
const busyTimeout = 5 * time.Second

// Store is a store.Store backed by one SQLite database file: the shared
// queries of sqlstore over this package's connections.
type Store struct {
	*sqlstore.Store
	w    *sql.DB // the single writer
	r    *sql.DB // read-only pool
	c    *sql.DB // the checkpointer's connection
	ckpt *checkpointer
	gw   *groupWriter
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it with mode 0600 if missing) the database file at
// path and applies the pending migrations. In-memory databases are not
// supported: the reader and writer pools must share one file.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: %q: want a plain file path", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	pragmas := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
		q.Add("_pragma", "foreign_keys(1)")
		// NORMAL for the leases and the readers; the group writer
		// commits at FULL (groupcommit.go).
		q.Add("_pragma", "synchronous(NORMAL)")
		// Statement and savepoint journals (group commit puts every write
		// in a savepoint) in memory rather than in temporary files.
		q.Add("_pragma", "temp_store(MEMORY)")
		if readOnly {
			q.Set("_query_only", "1")
		} else {
			q.Add("_pragma", "journal_mode(WAL)")
			// A WAL that restarts is cut to walLimit (checkpoint.go).
			q.Add("_pragma", "journal_size_limit("+strconv.FormatInt(walLimit, 10)+")")
			q.Set("_txlock", "immediate")
		}
		// No connection checkpoints when it commits: the checkpointer
		// does (see checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
		return path + "?" + q.Encode()
	}

	w, err := sql.Open(driverName, pragmas(false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Open the writer first: it switches the file to WAL before any reader
	// connects.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	r, err := sql.Open(driverName, pragmas(true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	c, err := sql.Open(driverName, pragmas(false))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)

	ckpt := newCheckpointer(c, path+"-wal")

	s := &Store{w: w, r: r, c: c, ckpt: ckpt, gw: newGroupWriter(w, ckpt)}
	ckpt.start(s.gw.commits.Load, s.gw.requestTruncate)
	s.Store = sqlstore.New((*backend)(s), flavor)
	if err := s.Migrate(ctx, migrationFS); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks the writer and the schema through the read pool.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return s.Store.Ping(ctx)
}
