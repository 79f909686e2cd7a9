// Package postgres is the PostgreSQL backend of store.Store, for
// deployments with several grantd nodes. It uses pgx (pgxpool).
//
// Update closures run inside a READ COMMITTED transaction that holds the
// row's lock (SELECT … FOR UPDATE), so concurrent updates of one record
// queue instead of losing writes. Transactions that append outbox events
// serialise on a transaction-scoped advisory lock, so events commit in Seq
// order and a reader paging by Seq never skips one that commits late.
//
// The schema is taken from the connection's search_path, which may be set
// in the URL (postgres://…/db?search_path=grantd).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store backed by a PostgreSQL database.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	now  func() time.Time
	// eventsLock is the advisory lock key taken before appending events;
	// it is derived from the schema so that schemas do not contend.
	eventsLock int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, with pgxpool's pool_* options) and applies the pending
// migrations. Several nodes may Open the same database at once.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema == nil {
		pool.Close()
		if err == nil {
			err = errors.New("the search_path names no existing schema: create it (CREATE SCHEMA name) or fix search_path in the database URL")
		}
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, now: time.Now}
	s.Store = sqlstore.New((*backend)(s), flavor)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT hashtext('grantd.events.' || current_schema())`).Scan(&s.eventsLock); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// migrate applies the pending migrations, each in its own transaction that
// first takes an advisory lock specific to the schema, so that nodes
// starting at once apply each migration exactly once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := sqlutil.Migrations(migrationFS)
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := s.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('grantd.migrate.' || current_schema()))`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL
			)`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// tx runs fn in a transaction. An error from fn is returned unchanged (so a
// closure's error reaches the caller as is).
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbErr("commit", err)
	}
	return nil
}

// dbErr maps a driver error to the store's errors: a missing row to
// ErrNotFound, a unique violation to ErrAlreadyExists and a foreign key
// violation (the parent is missing) to ErrNotFound.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w", op, store.ErrAlreadyExists)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		case "22021", "22P05", "22008", "22003", "54000":
			// character_not_in_repertoire, untranslatable_character
			// (NUL), datetime_field_overflow, numeric_value_out_of_range,
			// program_limit_exceeded (an index row too large)
			return fmt.Errorf("%s: %w", op, store.ErrInvalid)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// mustAffect reports ErrNotFound when tag changed no row.
func mustAffect(op string, tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ts is a time column value, NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromTS is the inverse of ts.
func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// blob is a bytea column value; a nil or empty blob is stored as NULL (and
// read back as nil).
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// limitOffset returns the LIMIT/OFFSET clause (limit 0 means no limit).
func limitOffset(limit, offset int) string {
	var b strings.Builder
	if limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", limit)
	}
	if offset > 0 {
		fmt.Fprintf(&b, " OFFSET %d", offset)
	}
	return b.String()
}

// collect scans every row of a query.
func collect[T any](rows pgx.Rows, err error, op string, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}
