package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

// flavor is PostgreSQL's dialect for the shared queries: numbered
// placeholders, row locks (FOR UPDATE for the record an update closure
// replaces, FOR KEY SHARE for the connector and credential a grant write
// requires, FOR UPDATE SKIP LOCKED for due-grant claims), timestamptz,
// jsonb, and transaction-scoped advisory locks (per schema) that order the
// outbox and the migrations.
var flavor = sqlstore.Flavor{
	Name:        "postgres",
	Numbered:    true,
	ForUpdate:   " FOR UPDATE",
	ForKeyShare: " FOR KEY SHARE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
	// The delivery state of a webhook destination, written while
	// deliveries referencing it are queued.
	ForNoKeyUpdate: " FOR NO KEY UPDATE",
	NoLimit:        "ALL",
	PageIDsFirst:   true,
	// After a bulk load, what autovacuum would do in its own time: the
	// statistics, and the visibility map that lets an index-only scan
	// skip the table.
	AfterSeed: "VACUUM ANALYZE grants",
	Time:      func(t time.Time) any { return t },
	JSON:      func(b []byte) any { return b },
	AnyOf: func(col string, vals []string) (string, any) {
		return col + " = ANY(?)", vals
	},
	Classify: classify,
	Explain:  "EXPLAIN (COSTS OFF) ",
	// No sequential scan (nor bitmap scan, which loses the order): on the tests' small
	// tables it is the cheapest plan; the question asked is whether an
	// index can answer in order.
	ExplainSetup:  []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"},
	ExplainNoScan: []string{"SET LOCAL enable_seqscan = off"},
	ExplainLine: func(row sqlstore.Row) (string, error) {
		var line string
		err := row.Scan(&line)
		return line, err
	},
	LockEvents:     `SELECT pg_advisory_xact_lock(hashtext('grantd.events.' || current_schema()))`,
	LockMigrations: `SELECT pg_advisory_xact_lock(hashtext('grantd.migrate.' || current_schema()))`,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`,
}

// errorCodes maps the SQLSTATE codes grantd's writes can meet to the
// store's errors.
var errorCodes = map[string]error{
	"23505": store.ErrAlreadyExists, // unique_violation
	"23503": store.ErrNotFound,      // foreign_key_violation: the parent is missing
	"22021": store.ErrInvalid,       // character_not_in_repertoire
	"22P05": store.ErrInvalid,       // untranslatable_character (NUL)
	"22008": store.ErrInvalid,       // datetime_field_overflow
	"22003": store.ErrInvalid,       // numeric_value_out_of_range
	"54000": store.ErrInvalid,       // program_limit_exceeded (an index row too large)
}

// unavailableClasses are the SQLSTATE classes of a server that cannot
// serve now: 08 connection exception, 53 insufficient resources (too many
// connections, disk full), 57P operator intervention (shutting down,
// starting up), and read-only transactions (25006, a standby or a
// database set read-only).
func unavailableCode(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57P") || code == "25006"
}

func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if unavailableCode(pe.Code) {
			return store.ErrUnavailable
		}
		return errorCodes[pe.Code]
	}
	if unreachable(err) {
		return store.ErrUnavailable
	}
	return nil
}

// unreachable reports an error of the connection rather than of the
// statement: the server could not be reached, closed the connection, or
// did not answer in time.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}

// backend is the view of a Store that sqlstore runs its queries on
// (sqlstore.DB): everything goes through the pgx pool, natively (pgx's own
// interface is faster than database/sql's).
type backend Store

func (b *backend) Read() sqlstore.Querier  { return querier[*pgxpool.Pool]{b.pool} }
func (b *backend) Lease() sqlstore.Querier { return querier[*pgxpool.Pool]{b.pool} }
func (b *backend) Write() sqlstore.Writer  { return querier[*pgxpool.Pool]{b.pool} }

// Tx runs fn in a READ COMMITTED transaction on a connection of the
// pool, in as few round trips as the statements allow: BEGIN goes with
// fn's first statement, and the statements fn hands to Finish go with
// COMMIT (see txQuerier). A transaction that ran nothing sends nothing.
func (b *backend) Tx(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier) error) error {
	c, err := b.pool.Acquire(ctx)
	if err != nil {
		return flavor.Err("begin", err)
	}
	// A connection left in a transaction or broken is closed by Release
	// rather than returned to the pool.
	defer c.Release()
	t := &txQuerier{conn: c.Conn()}
	err = fn(ctx, t)
	if err == nil {
		err = t.commit(ctx)
	}
	if err != nil && t.begun {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		_, _ = t.conn.Exec(rctx, "rollback")
		cancel()
	}
	return err
}

// txQuerier is the Querier of a transaction. BEGIN is not sent on its
// own: it is queued in front of the first statement (one round trip for
// both; a statement without arguments, which may hold several commands,
// goes with it in one simple-protocol message). Statements handed to
// Finish are sent with COMMIT in one batch when fn returns.
type txQuerier struct {
	conn    *pgx.Conn
	begun   bool
	pending []sqlstore.Stmt
}

var _ sqlstore.Finisher = (*txQuerier)(nil)

func (t *txQuerier) Finish(stmts ...sqlstore.Stmt) { t.pending = append(t.pending, stmts...) }

// begin sends BEGIN with the statement query: it returns the batch's
// results, positioned at query's.
func (t *txQuerier) begin(ctx context.Context, query string, args []any) (pgx.BatchResults, error) {
	t.begun = true
	var batch pgx.Batch
	batch.Queue("begin")
	batch.Queue(query, args...)
	br := t.conn.SendBatch(ctx, &batch)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

func (t *txQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if t.begun {
		tag, err := t.conn.Exec(ctx, query, args...)
		return tag.RowsAffected(), err
	}
	if len(args) == 0 {
		t.begun = true
		// Simple protocol: the tag is the last command's.
		tag, err := t.conn.Exec(ctx, "begin;\n"+query)
		return tag.RowsAffected(), err
	}
	br, err := t.begin(ctx, query, args)
	if err != nil {
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag.RowsAffected(), err
}

func (t *txQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if t.begun {
		return t.conn.Query(ctx, query, args...)
	}
	br, err := t.begin(ctx, query, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return batchRows{rows, br}, nil
}

func (t *txQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	rows, err := t.Query(ctx, query, args...)
	if err != nil {
		return errRow{err}
	}
	return firstRow{rows}
}

// commit sends the statements fn left to Finish, and COMMIT, in one
// batch (BEGIN in front when fn ran nothing else). The error is the
// first statement's that failed, mapped with its Op.
func (t *txQuerier) commit(ctx context.Context) error {
	if !t.begun && len(t.pending) == 0 {
		return nil
	}
	var (
		batch pgx.Batch
		ops   []string
	)
	if !t.begun {
		batch.Queue("begin")
		ops = append(ops, "begin")
		t.begun = true
	}
	for _, st := range t.pending {
		batch.Queue(st.SQL, st.Args...)
		ops = append(ops, st.Op)
	}
	batch.Queue("commit")
	ops = append(ops, "commit")
	br := t.conn.SendBatch(ctx, &batch)
	for _, op := range ops {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return flavor.Err(op, err)
		}
		// PostgreSQL answers COMMIT in a transaction an earlier error
		// aborted with the tag ROLLBACK, not with an error: nothing was
		// written, and the caller must not be told otherwise (pgx.Tx's
		// Commit reports it as ErrTxCommitRollback).
		if op == "commit" && tag.String() == "ROLLBACK" {
			_ = br.Close()
			return flavor.Err("commit", pgx.ErrTxCommitRollback)
		}
	}
	return flavor.Err("commit", br.Close())
}

// rollbackTimeout bounds the rollback of a failed transaction, which runs
// after the caller's context may have ended (a server that does not answer
// must not hold the caller; pgx closes a connection whose rollback fails).
const rollbackTimeout = time.Second

// Close closes the pool.
func (b *backend) Close() error {
	b.pool.Close()
	return nil
}

// conn is what the pool offers (an interface, for querier).
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batchRows are the rows of a batch's last statement: closing them
// closes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// firstRow is QueryRow's row over Query's rows.
type firstRow struct{ rows sqlstore.Rows }

func (r firstRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// querier runs statements on the pool.
type querier[C conn] struct{ c C }

func (q querier[C]) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q querier[C]) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return q.c.Query(ctx, query, args...)
}

func (q querier[C]) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.c.QueryRow(ctx, query, args...)
}
