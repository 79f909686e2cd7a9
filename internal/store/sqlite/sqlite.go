// Package sqlite is the SQLite backend of store.Store, for single-node
// deployments. It uses modernc.org/sqlite (pure Go).
//
// All writes go through one connection (a *sql.DB limited to one open
// connection, whose transactions begin IMMEDIATE), so writers queue in Go
// instead of failing with SQLITE_BUSY, and an update closure runs while
// its transaction holds the database's write lock. Reads use a separate
// pool of read-only connections, which WAL lets run alongside the writer.
// Multi-statement write transactions go through one writer goroutine that
// commits concurrent ones together, each in its own savepoint (group
// commit, see groupcommit.go).
//
// Update closures must not call back into the Store's write methods: they
// run on the writer goroutine, which waits for them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	sqlitedrv "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
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
	now  func() time.Time
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
		q.Add("_pragma", "synchronous(NORMAL)")
		// Statement and savepoint journals (group commit puts every write
		// in a savepoint) in memory rather than in temporary files.
		q.Add("_pragma", "temp_store(MEMORY)")
		if readOnly {
			q.Set("_query_only", "1")
		} else {
			q.Add("_pragma", "journal_mode(WAL)")
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
	ckpt := newCheckpointer(c)

	s := &Store{w: w, r: r, c: c, ckpt: ckpt, gw: newGroupWriter(w, ckpt), now: time.Now}
	s.Store = sqlstore.New((*backend)(s), flavor)
	if err := s.migrate(ctx); err != nil {
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

// migrate applies the pending migrations, each in its own (immediate, so
// exclusive among writers) transaction that also records it in
// schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := sqlutil.Migrations(migrationFS)
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range ms {
		err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, s.now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// tx runs fn in a write transaction, committed together with the write
// transactions submitted concurrently (see groupcommit.go). An error from
// fn is returned unchanged (so a closure's error reaches the caller as is)
// and nothing fn wrote is kept. fn must run its statements with the ctx it
// is given, and may be called more than once.
func (s *Store) tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.gw.submit(ctx, fn)
}

// dbErr maps a driver error to the store's errors: a missing row to
// ErrNotFound, a unique violation to ErrAlreadyExists and a foreign key
// violation (the parent is missing) to ErrNotFound.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", op, store.ErrAlreadyExists)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// mustAffect reports ErrNotFound when res changed no row.
func mustAffect(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// micros is a time column value: unix microseconds, NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// blob is a blob column value; a nil or empty blob is stored as NULL (and
// read back as nil).
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

type scanner interface{ Scan(dest ...any) error }

// limitOffset returns the LIMIT/OFFSET clause for opts (0 means no limit).
func limitOffset(limit, offset int) string {
	if limit <= 0 && offset <= 0 {
		return ""
	}
	if limit <= 0 {
		limit = -1
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
}

// encodeJSON encodes a map or slice field as JSON text (see
// sqlutil.EncodeJSON); STRICT tables refuse a BLOB in a TEXT column.
func encodeJSON(v any) (string, error) {
	b, err := sqlutil.EncodeJSON(v)
	return string(b), err
}
