package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

// flavor is SQLite's dialect for the shared queries: ? placeholders, no
// row locks (the single writer serialises every write), times as unix
// microseconds, JSON as TEXT (STRICT tables refuse a BLOB in a TEXT
// column).
var flavor = sqlstore.Flavor{
	Name:         "sqlite",
	NoLimit:      "-1",
	Likely:       "likely",
	NoIndexOrder: "+",
	Time:         func(t time.Time) any { return t.UnixMicro() },
	JSON:         func(b []byte) any { return string(b) },
	AnyOf: func(col string, vals []string) (string, any) {
		b, _ := json.Marshal(vals) // a []string always encodes
		return col + " IN (SELECT value FROM json_each(?))", string(b)
	},
	Classify: classify,
	DDL:      ddl,
	Explain:  "EXPLAIN QUERY PLAN ",
	ExplainLine: func(row sqlstore.Row) (string, error) {
		var id, parent, notUsed int64
		var detail string
		err := row.Scan(&id, &parent, &notUsed, &detail)
		return detail, err
	},
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
}

// classify maps a unique violation to ErrAlreadyExists, a foreign key
// violation (the parent is missing) to ErrNotFound, and a database that
// cannot serve now to ErrUnavailable: locked by another process past the
// busy timeout (BUSY, LOCKED), read-only (a read-only file, directory or
// mount), unable to read or write its file (IOERR, CANTOPEN), or out of
// disk (FULL).
func classify(err error) error {
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return store.ErrAlreadyExists
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.ErrNotFound
		}
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL:
			return store.ErrUnavailable
		}
	}
	return nil
}

// unavailable reports the error of a write transaction's own statements
// (BEGIN, COMMIT) as ErrUnavailable when it is one; any other error,
// a closure's included, is returned unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if classify(err) == store.ErrUnavailable {
		return store.Unavailable("sqlite: write", err)
	}
	return err
}

// backend is the view of a Store that sqlstore runs its queries on
// (sqlstore.DB): reads on the read pool, writes on the single writer.
type backend Store

func (b *backend) Read() sqlstore.Querier  { return querier[*sql.DB]{b.r} }
func (b *backend) Lease() sqlstore.Querier { return querier[*sql.DB]{b.w} }
func (b *backend) Write() sqlstore.Writer  { return durable{b.gw} }

// Tx hands fn to the group writer (groupcommit.go), which commits it
// together with the write transactions submitted concurrently.
func (b *backend) Tx(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier) error) error {
	return unavailable(b.gw.submit(ctx, fn))
}

// Close stops the group writer and the checkpointer and closes the pools.
func (b *backend) Close() error {
	b.gw.close()
	b.ckpt.close()
	return errors.Join(b.r.Close(), b.c.Close(), b.w.Close())
}

// conn is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs statements on a database/sql pool or transaction.
type querier[C conn] struct{ c C }

func (q querier[C]) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier[C]) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier[C]) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.c.QueryRowContext(ctx, query, args...)
}

// sqlRows is a *sql.Rows as sqlstore.Rows (whose Close returns nothing:
// Err reports what went wrong while reading).
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// durable runs each statement as a write transaction of its own, through
// the group writer (so as durable as every Tx).
type durable struct{ gw *groupWriter }

func (d durable) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := d.gw.submit(ctx, func(ctx context.Context, q sqlstore.Querier) error {
		var err error
		n, err = q.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// QueryRow runs the statement when its row is scanned.
func (d durable) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return durableRow{d.gw, ctx, query, args}
}

type durableRow struct {
	gw    *groupWriter
	ctx   context.Context
	query string
	args  []any
}

func (r durableRow) Scan(dest ...any) error {
	return r.gw.submit(r.ctx, func(ctx context.Context, q sqlstore.Querier) error {
		return q.QueryRow(ctx, r.query, r.args...).Scan(dest...)
	})
}
