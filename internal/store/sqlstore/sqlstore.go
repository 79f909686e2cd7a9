package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
)

// Row is one result row (*sql.Row, pgx.Row).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set (pgx.Rows; *sql.Rows behind a small adapter).
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}

// Querier runs statements with the flavour's placeholders: a pool, a
// connection or a transaction.
type Querier interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Writer runs single statements, each as a durable transaction of its own.
type Writer interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Stmt is a statement with its arguments, and the operation its error
// is reported as (Flavor.Err).
type Stmt struct {
	Op   string
	SQL  string
	Args []any
}

// Finisher is implemented by the Querier of a transaction that can send
// the transaction's last statements together with its commit (PostgreSQL:
// one round trip for them and COMMIT, instead of one each).
type Finisher interface {
	// Finish queues stmts to run in order, after fn returns nil and right
	// before the commit; Tx returns the first one's error, mapped by
	// Flavor.Err with its Op. fn runs nothing on the Querier after Finish.
	Finish(stmts ...Stmt)
}

// DB is what a backend provides underneath the shared queries: its
// connections and its way of running a transaction.
type DB interface {
	// Read runs reads outside a transaction.
	Read() Querier
	// Write runs one statement as a durable transaction of its own.
	Write() Writer
	// Lease runs one statement as a transaction of its own that is not
	// made durable against a crash of the machine, for the refresh leases
	// (losing one there only frees the grant for another claim).
	Lease() Querier
	// Tx runs fn in a durable write transaction. An error from fn is
	// returned unchanged and nothing fn wrote is kept. fn must run its
	// statements through the Querier and the ctx it is given, and may be
	// called more than once.
	Tx(ctx context.Context, fn func(ctx context.Context, q Querier) error) error
	// Close releases the connections.
	Close() error
}

// Flavor is what differs between the SQL dialects. Statements are written
// once with ? placeholders and the markers {forUpdate}, {forNoKeyUpdate}, {forKeyShare},
// {skipLocked}, {likely} and {noIndexOrder}; a Store renders them for its
// flavour when it is created.
// A statement must not contain a ? other than a placeholder.
type Flavor struct {
	// Name prefixes the errors the store does not map ("sqlite", "postgres").
	Name string
	// Numbered: placeholders are $1, $2…, not ?.
	Numbered bool
	// ForUpdate ends the read of a record an update closure will replace
	// (row lock; "" where a single writer serialises writes).
	ForUpdate string
	// ForKeyShare ends the read of the connector and credential a grant
	// write requires (Grant.RequireClient).
	ForKeyShare string
	// ForNoKeyUpdate ends the read of a record whose key columns the
	// transaction leaves alone (a webhook destination's delivery state):
	// it does not wait for the key-share locks of rows referencing it
	// (deliveries being queued).
	ForNoKeyUpdate string
	// SkipLocked ends the selection of due grants ClaimDueGrants leases,
	// so that concurrent claimers take disjoint sets.
	SkipLocked string
	// Likely marks a condition that most rows meet ("likely" on SQLite,
	// which has no statistics to know it); NoIndexOrder prefixes an ORDER
	// BY column that should not be read from an index ("+" on SQLite).
	// They render the markers {likely} and {noIndexOrder}.
	Likely, NoIndexOrder string
	// PageIDsFirst: a list page with an offset or two equality filters
	// selects its ids in a subquery first, then its rows (PostgreSQL,
	// where a plain index scan reads the table for every row it skips;
	// SQLite reads index columns before the row anyway).
	PageIDsFirst bool
	// NoLimit is the LIMIT of a query with an OFFSET and no limit.
	NoLimit string
	// Time encodes a non-zero time column value (the zero time is NULL).
	// Reading is done by TimeDest, which understands both encodings.
	Time func(t time.Time) any
	// JSON encodes a JSON column value.
	JSON func(b []byte) any
	// AnyOf returns the condition "col is one of vals" with one
	// placeholder, and the value for it.
	AnyOf func(col string, vals []string) (cond string, arg any)
	// Classify maps a driver error to store.ErrAlreadyExists,
	// store.ErrNotFound, store.ErrInvalid or store.ErrUnavailable (the
	// database unreachable, shutting down, read-only, locked or out of
	// resources: a condition a retry may find gone), or returns nil.
	Classify func(err error) error
	// LockEvents, when set, is run before a transaction appends outbox
	// events, so that such transactions commit in the order of their Seq.
	LockEvents string
	// LockMigrations, when set, is run first in each migration's
	// transaction, so that nodes starting at once apply it once.
	LockMigrations string
	// Explain prefixes a query to get its plan; ExplainSetup runs first in
	// the same transaction; ExplainLine reads one row of the plan.
	Explain      string
	ExplainSetup []string
	// ExplainNoScan is the setup of plans that may combine indexes
	// (ExplainDeleteStaleTokens: an OR of conditions on three indexed
	// columns) but should not scan the table.
	ExplainNoScan []string
	ExplainLine   func(row Row) (string, error)
	// AfterSeed, when set, runs after SeedGrants (PostgreSQL: VACUUM
	// ANALYZE, what autovacuum does after a bulk insert, at once: the
	// planner knows the table's size and index-only scans need not visit
	// the table; SQLite keeps no statistics and plans without them).
	AfterSeed string
	// DDL, when set, translates the shared migrations (written in
	// PostgreSQL's types; see migrate.go) for this database.
	DDL func(sql string) string
	// MigrationsTable creates the schema_migrations table if missing
	// (version, name, applied_at encoded by Time).
	MigrationsTable string
}

// Err maps a driver error: a missing row to store.ErrNotFound, the
// flavour's classes to store errors (store.ErrUnavailable keeping the
// driver's error for the logs), a passed deadline to
// store.ErrUnavailable, anything else wrapped with the flavour's name and
// op.
func (f *Flavor) Err(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) { // pgx.ErrNoRows is one too
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	se := f.Classify(err)
	if se == nil && errors.Is(err, context.DeadlineExceeded) {
		// The call's deadline (store.timeout, or the caller's) passed
		// before the database answered.
		se = store.ErrUnavailable
	}
	if se == store.ErrUnavailable {
		return store.Unavailable(f.Name+": "+op, err)
	}
	if se != nil {
		return fmt.Errorf("%s: %w", op, se)
	}
	return fmt.Errorf("%s: %s: %w", f.Name, op, err)
}

// stmt is a statement registered with newStmt; every Store renders each
// one once for its flavour.
type stmt int

var stmtTexts []string

// newStmt registers a statement (at package initialisation only).
func newStmt(text string) stmt {
	stmtTexts = append(stmtTexts, text)
	return stmt(len(stmtTexts) - 1)
}

// Store implements store.Store over a DB with a flavour.
type Store struct {
	db       DB
	f        Flavor
	markers  *strings.Replacer
	rendered []string // by stmt
	// updateGrantSQL: the UPDATE of each set of grant columns (a bit
	// mask of grantWriteColumns), rendered.
	updateGrantSQL sync.Map
	now            func() time.Time
}

var _ store.Store = (*Store)(nil)

// New returns a Store over db. It applies no migration (see Migrate).
func New(db DB, f Flavor) *Store {
	s := &Store{db: db, f: f, rendered: make([]string, len(stmtTexts)), now: time.Now,
		markers: strings.NewReplacer("{forUpdate}", f.ForUpdate, "{forKeyShare}", f.ForKeyShare, "{skipLocked}", f.SkipLocked,
			"{forNoKeyUpdate}", f.ForNoKeyUpdate, "{likely}", f.Likely, "{noIndexOrder}", f.NoIndexOrder)}
	for i, q := range stmtTexts {
		s.rendered[i] = s.render(q)
	}
	return s
}

// render rewrites a statement for the store's flavour: the markers
// replaced by the flavour's clauses, and each ? by $1, $2… when Numbered.
func (s *Store) render(q string) string {
	q = s.markers.Replace(q)
	if !s.f.Numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		n++
		b.WriteString(q[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		q = q[i+1:]
	}
}

// sql returns a registered statement rendered for the store's flavour.
func (s *Store) sql(st stmt) string { return s.rendered[st] }

// Close closes the backend.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the store answers with grantd's schema, not just a
// connection: a dropped schema or a wrong search_path is not ready.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.Read().QueryRow(ctx, s.sql(qPing)).Scan(&n); err != nil {
		return fmt.Errorf("%s: ping: %w", s.f.Name, err)
	}
	return nil
}

var qPing = newStmt(`SELECT count(*) FROM (SELECT 1 FROM schema_migrations LIMIT 1) m`)

func (s *Store) err(op string, err error) error { return s.f.Err(op, err) }

// finish runs the last statements of a transaction, whose results
// nothing reads: with the commit where the backend can (Finisher),
// otherwise now, one after the other. fn must return right after it.
func (s *Store) finish(ctx context.Context, q Querier, stmts ...Stmt) error {
	if f, ok := q.(Finisher); ok {
		f.Finish(stmts...)
		return nil
	}
	for _, st := range stmts {
		if _, err := q.Exec(ctx, st.SQL, st.Args...); err != nil {
			return s.err(st.Op, err)
		}
	}
	return nil
}

// mustAffect reports ErrNotFound when a statement changed no row.
func mustAffect(op string, n int64) error {
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// collect scans every row of a query.
func collect[T any](s *Store, rows Rows, err error, op string, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, s.err(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.err(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.err(op, err)
	}
	return out, nil
}

// updateRecord runs an update closure in one transaction: it reads the
// record with lock (a statement ending in {forUpdate}) and keys, hands it
// to update (whose error is returned unchanged), and stores the result
// with write, which returns the record as stored.
func updateRecord[T any](ctx context.Context, s *Store, op string, lock stmt, keys []any, scan func(Row) (T, error),
	update func(old T) (T, error), write func(ctx context.Context, q Querier, old, v T) (T, error)) (T, error) {
	var out T
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		var err error
		out, err = updateIn(ctx, s, q, op, lock, keys, scan, update, write)
		return err
	})
	return out, err
}

// updateConfig is updateRecord for a record of application appID's
// configuration: the transaction first bumps the application's
// configuration version (see bumpConfig).
func updateConfig[T any](ctx context.Context, s *Store, appID, op string, lock stmt, keys []any, scan func(Row) (T, error),
	update func(old T) (T, error), write func(ctx context.Context, q Querier, old, v T) (T, error)) (T, error) {
	var out T
	err := s.configTx(ctx, appID, func(ctx context.Context, q Querier) error {
		var err error
		out, err = updateIn(ctx, s, q, op, lock, keys, scan, update, write)
		return err
	})
	return out, err
}

func updateIn[T any](ctx context.Context, s *Store, q Querier, op string, lock stmt, keys []any, scan func(Row) (T, error),
	update func(old T) (T, error), write func(ctx context.Context, q Querier, old, v T) (T, error)) (T, error) {
	var zero T
	old, err := scan(q.QueryRow(ctx, s.sql(lock), keys...))
	if err != nil {
		return zero, s.err(op, err)
	}
	v, err := update(old)
	if err != nil {
		return zero, err
	}
	stored, err := write(ctx, q, old, v)
	if err != nil {
		return zero, err
	}
	return stored, nil
}

// time is a time column value: NULL for the zero time.
func (s *Store) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.f.Time(t)
}

// json encodes a map or slice column value (see encodeJSON).
func (s *Store) json(v any) (any, error) {
	b, err := encodeJSON(v)
	if err != nil {
		return nil, err
	}
	return s.f.JSON(b), nil
}

// limitOffset returns the LIMIT/OFFSET clause (limit 0 means no limit).
func (s *Store) limitOffset(limit, offset int) string {
	switch {
	case limit > 0 && offset > 0:
		return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	case limit > 0:
		return fmt.Sprintf(" LIMIT %d", limit)
	case offset > 0:
		return fmt.Sprintf(" LIMIT %s OFFSET %d", s.f.NoLimit, offset)
	}
	return ""
}

// blob is a blob column value; a nil or empty blob is stored as NULL (and
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

// TimeDest is the scan destination of a time column: scan into
// (*TimeDest)(&t). NULL reads as the zero time; a value as UTC. It reads
// SQLite's unix microseconds (through database/sql) and PostgreSQL's
// timestamptz (through pgx, without allocating).
type TimeDest time.Time

// Scan implements sql.Scanner.
func (t *TimeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = TimeDest{}
	case int64:
		*t = TimeDest(time.UnixMicro(v).UTC())
	case time.Time:
		*t = TimeDest(v.UTC())
	default:
		return fmt.Errorf("store: cannot read a time from %T", src)
	}
	return nil
}

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (t *TimeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*t = TimeDest{}
		return nil
	}
	*t = TimeDest(v.Time.UTC())
	return nil
}

// td is the scan destination for the time column read into *p.
func td(p *time.Time) *TimeDest { return (*TimeDest)(p) }
