package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/grantd/grantd/internal/store/sqlstore"
)

// Group commit.
//
// Every write transaction (sqlstore.DB.Tx) is handed to one writer goroutine.
// While it runs a transaction, the transactions submitted meanwhile queue
// up; it then runs up to maxBatch of them in one SQLite transaction, each
// inside its own SAVEPOINT, and commits once. A commit costs SQLite far
// more than a small insert (it writes every touched page to the WAL, and
// the pages of concurrent inserts mostly coincide), so under load this
// divides the cost of a write, and the time the single write connection is
// held, by the batch size. At concurrency 1 a batch is one transaction,
// run as before (no savepoint), so latency only gains two goroutine
// hand-offs.
//
// What each caller sees is unchanged:
//   - An operation that fails (its closure or a statement returns an
//     error) is rolled back to its savepoint and gets its error; the other
//     operations of the batch are unaffected. Its error is only delivered
//     once the batch has committed, so that a caller reacting to it (say,
//     reading the row that made its insert fail) sees the committed state.
//   - An operation that succeeds is reported only after the commit.
//   - If the batch transaction itself fails (BEGIN, a savepoint statement
//     or COMMIT fails, or an error made SQLite roll the whole transaction
//     back), nothing of it was written, and every operation of the batch
//     is run again in a transaction of its own, so each gets its own
//     outcome. Closures may therefore be called twice; each call sees the
//     current committed state, as an update closure must expect anyway.
//   - A caller whose context ends while its operation is still queued gets
//     the context's error and the operation never runs. Once an operation
//     has started it runs to completion (its statements run under a context
//     that keeps the caller's values but not its cancellation: interrupting
//     a statement would make SQLite roll back the whole batch).
//   - A panic in a closure is re-raised in the caller's goroutine.
//
// Durability. The writer connection runs at synchronous=NORMAL, and every
// batch switches it to FULL for its commit (the level cannot change inside
// a transaction, so the batch holds the connection from before BEGIN until
// it has set NORMAL again). In WAL mode, NORMAL syncs the WAL only at
// checkpoints: "A transaction committed in WAL mode with
// synchronous=NORMAL might roll back following a power loss or system
// crash" (https://www.sqlite.org/pragma.html#pragma_synchronous), though
// never partially ("WAL mode is always consistent with
// synchronous=NORMAL"), and any commit survives a crash of the process.
// FULL syncs the WAL at each commit ("Writers sync the WAL on every
// transaction commit if PRAGMA synchronous is set to FULL",
// https://www.sqlite.org/wal.html), so a commit reported to a caller
// survives a power loss, with everything committed before it (a sync
// covers the whole WAL). Every write of grantd's store goes through this
// writer, and so is durable, except the refresh leases (sqlstore.DB.Lease:
// losing one in a power loss only frees its grant for another claim),
// which run on the same connection at NORMAL between batches. The sync
// costs one fsync of the WAL per batch, shared by all of its operations.

// maxBatch bounds the operations committed together.
const maxBatch = 128

var errClosed = errors.New("sqlite: store is closed")

// Operation states.
const (
	opQueued    int32 = iota
	opTaken           // the writer runs it and will deliver its result
	opAbandoned       // the caller gave up before it ran
)

type writeOp struct {
	ctx   context.Context
	fn    func(ctx context.Context, q sqlstore.Querier) error
	state atomic.Int32
	err   error
	panic any // a closure's panic, re-raised by the caller
	done  chan struct{}
}

type groupWriter struct {
	db   *sql.DB
	ckpt *checkpointer
	// commits counts committed transactions (for the checkpointer, and
	// tests).
	commits atomic.Int64
	ops     chan *writeOp
	// truncates asks for a truncating checkpoint between batches (see
	// checkpoint.go); the channel sent is closed when it is done.
	truncates chan chan struct{}
	quit      chan struct{}
	exit      chan struct{}
	// batches counts batch transactions and batched counts the operations
	// they committed (tests assert that batching happens).
	batches, batched atomic.Int64
}

func newGroupWriter(db *sql.DB, ckpt *checkpointer) *groupWriter {
	w := &groupWriter{db: db, ckpt: ckpt, ops: make(chan *writeOp), truncates: make(chan chan struct{}), quit: make(chan struct{}), exit: make(chan struct{})}
	go w.loop()
	return w
}

// close stops the writer once its current batch is done; operations
// submitted afterwards fail with errClosed.
func (w *groupWriter) close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.exit
}

// submit runs fn in a write transaction and returns its outcome.
func (w *groupWriter) submit(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return errClosed
	}
	select {
	case <-op.done:
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		<-op.done // it is running: wait for its real outcome
	}
	if op.panic != nil {
		panic(op.panic)
	}
	return op.err
}

func (w *groupWriter) loop() {
	defer close(w.exit)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		var first *writeOp
		select {
		case first = <-w.ops:
		case done := <-w.truncates:
			w.truncateWAL()
			close(done)
			continue
		case <-w.quit:
			return
		}
		batch = append(batch[:0], first)
		batch = w.gather(batch)
		if len(batch) < maxBatch {
			// Let the goroutines that are ready to run (under load, the
			// requests about to submit their writes) run first, so that
			// they join this batch. When nothing else is runnable
			// (concurrency 1) this returns at once.
			runtime.Gosched()
			batch = w.gather(batch)
		}
		w.run(batch)
		clear(batch)
	}
}

// gather adds the operations waiting to be submitted to batch.
func (w *groupWriter) gather(batch []*writeOp) []*writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-w.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// take claims op for running; false when its caller has gone (or goes
// now, its context having ended), in which case it must not run.
func take(op *writeOp) bool {
	if !op.state.CompareAndSwap(opQueued, opTaken) {
		return false
	}
	if err := op.ctx.Err(); err != nil {
		finish(op, err)
		return false
	}
	return true
}

func finish(op *writeOp, err error) {
	op.err = err
	close(op.done)
}

// call runs op's closure, turning a panic into an error (and remembering
// it for the caller).
func call(op *writeOp, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			op.panic = v
			err = fmt.Errorf("sqlite: panic in write transaction: %v", v)
		}
	}()
	return op.fn(context.WithoutCancel(op.ctx), querier[*sql.Tx]{tx})
}

func (w *groupWriter) run(batch []*writeOp) {
	// The batch holds the writer connection throughout, so that it commits
	// at synchronous=FULL while every other use of the connection (the
	// refresh leases) stays at NORMAL (see durability below).
	ctx := context.Background()
	conn, err := w.db.Conn(ctx)
	if err == nil {
		if _, err = conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
			_ = conn.Close()
		}
	}
	if err != nil {
		for _, op := range batch {
			if take(op) {
				finish(op, fmt.Errorf("sqlite: %w", err))
			}
		}
		return
	}
	defer func() {
		// Should this fail, the connection stays at FULL: the leases
		// become durable too, and slower; nothing is lost.
		_, _ = conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`)
		_ = conn.Close()
	}()

	if len(batch) == 1 {
		if take(batch[0]) {
			w.solo(conn, batch[0])
		}
		return
	}
	// Claim the operations only once the write lock is held, so that a
	// caller can still give up while BEGIN waits for another process.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		for _, op := range batch {
			if take(op) {
				finish(op, fmt.Errorf("sqlite: begin: %w", err))
			}
		}
		return
	}
	live := batch[:0]
	for _, op := range batch {
		if take(op) {
			live = append(live, op)
		}
	}
	errs := make([]error, len(live))
	ok := w.savepoints(tx, live, errs)
	if ok {
		ok = tx.Commit() == nil
	} else {
		_ = tx.Rollback()
	}
	if !ok {
		// Nothing was written: give every operation a transaction of its
		// own.
		for _, op := range live {
			op.panic = nil
			w.solo(conn, op)
		}
		return
	}
	w.committed()
	w.batches.Add(1)
	w.batched.Add(int64(len(live)))
	for i, op := range live {
		finish(op, errs[i])
	}
}

// savepoints runs each operation in its own savepoint of tx, recording its
// error in errs; false when the transaction itself broke.
func (w *groupWriter) savepoints(tx *sql.Tx, ops []*writeOp, errs []error) bool {
	ctx := context.Background()
	for i, op := range ops {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			return false
		}
		if errs[i] = call(op, tx); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
				return false
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			return false
		}
	}
	return true
}

func (w *groupWriter) committed() {
	w.ckpt.committed(w.commits.Add(1))
}

// solo runs op (already taken) in a transaction of its own on conn and
// delivers its outcome.
func (w *groupWriter) solo(conn *sql.Conn, op *writeOp) {
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		finish(op, fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	if err := call(op, tx); err != nil {
		_ = tx.Rollback()
		finish(op, err)
		return
	}
	if err := tx.Commit(); err != nil {
		finish(op, fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	w.committed()
	finish(op, nil)
}

// truncateWAL runs a truncating checkpoint on the writer's connection,
// between batches: it never waits for the write lock (the writer holds
// it), and waits at most checkpointBusyTimeout for readers still using
// the WAL; if they outlast it, the WAL is left for the next round.
func (w *groupWriter) truncateWAL() {
	ctx := context.Background()
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(checkpointBusyTimeout.Milliseconds(), 10)); err != nil {
		return
	}
	_, _ = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	_, _ = conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(busyTimeout.Milliseconds(), 10))
}

// requestTruncate asks the writer for a truncating checkpoint and waits
// for it (false when the writer is closed).
func (w *groupWriter) requestTruncate() bool {
	done := make(chan struct{})
	select {
	case w.truncates <- done:
	case <-w.quit:
		return false
	}
	select {
	case <-done:
		return true
	case <-w.exit:
		return false
	}
}
