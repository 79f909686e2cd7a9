package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

// tx runs fn in a write transaction through the group writer.
func (s *Store) tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.gw.submit(ctx, func(ctx context.Context, q sqlstore.Querier) error {
		return fn(ctx, q.(querier[*sql.Tx]).c)
	})
}

func openInternal(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := s.w.Exec(`CREATE TABLE gc_test (k TEXT PRIMARY KEY, v INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	return s
}

// hold occupies the writer until release is closed, so that the operations
// submitted meanwhile are committed as one batch.
func hold(t *testing.T, s *Store) (release func(), wait func()) {
	t.Helper()
	started, stop, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-stop
			_, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES ('hold', 0)`)
			return err
		})
	}()
	<-started
	return func() { close(stop) }, func() {
		if err := <-done; err != nil {
			t.Errorf("holding transaction: %v", err)
		}
	}
}

// waitQueued waits until n operations are blocked submitting to the
// writer (the channel is unbuffered, so they are all gathered together).
func waitQueued(t *testing.T, n int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d operations submitted", count(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the last ones reach the channel
}

// batch runs op(0)…op(n-1) concurrently while the writer is held, so that
// they queue up and are committed together, and returns their errors and
// how many operations the writer committed in batches meanwhile.
func batch(t *testing.T, s *Store, n int, op func(i int) error) (errs []error, batched int64) {
	t.Helper()
	release, wait := hold(t, s)
	var (
		mu        sync.Mutex
		submitted int
		wg        sync.WaitGroup
	)
	errs = make([]error, n)
	for i := range n {
		wg.Go(func() {
			mu.Lock()
			submitted++
			mu.Unlock()
			errs[i] = op(i)
		})
	}
	waitQueued(t, n, func() int { mu.Lock(); defer mu.Unlock(); return submitted })
	before := s.gw.batched.Load()
	release()
	wait()
	wg.Wait()
	return errs, s.gw.batched.Load() - before
}

func keys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.r.Query(`SELECT k FROM gc_test`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	return out
}

// A failing operation of a batch (its closure errs, or one of its
// statements violates a constraint) leaves nothing behind and gets its own
// error; the others of the batch are committed.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openInternal(t)
	if _, err := s.w.Exec(`INSERT INTO gc_test (k, v) VALUES ('taken', 0)`); err != nil {
		t.Fatal(err)
	}
	errClosure := errors.New("closure failed")
	const n = 60
	errs, batched := batch(t, s, n, func(i int) error {
		return s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES (?, 1)`, fmt.Sprintf("%d-a", i)); err != nil {
				return err
			}
			switch i % 3 {
			case 1:
				return errClosure
			case 2:
				_, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES ('taken', 1)`)
				return flavor.Err("insert", err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES (?, 1)`, fmt.Sprintf("%d-b", i))
			return err
		})
	})
	if batched < 2 {
		t.Fatalf("%d operations were batched, want the concurrent ones committed together", batched)
	}
	have := keys(t, s)
	for i := range n {
		a, b := have[fmt.Sprintf("%d-a", i)], have[fmt.Sprintf("%d-b", i)]
		switch i % 3 {
		case 0:
			if errs[i] != nil || !a || !b {
				t.Errorf("op %d: err %v, rows %v %v; want both rows", i, errs[i], a, b)
			}
		case 1:
			if !errors.Is(errs[i], errClosure) || a || b {
				t.Errorf("op %d: err %v, rows %v %v; want the closure's error and no row", i, errs[i], a, b)
			}
		case 2:
			if !errors.Is(errs[i], store.ErrAlreadyExists) || a || b {
				t.Errorf("op %d: err %v, rows %v %v; want ErrAlreadyExists and no row", i, errs[i], a, b)
			}
		}
	}
}

// When the batch transaction itself breaks, every operation is run again
// on its own: the innocent ones are committed, the culprit gets an error.
func TestGroupCommitBrokenBatchRetriesAlone(t *testing.T) {
	s := openInternal(t)
	const n = 8
	var calls [n]int
	errs, _ := batch(t, s, n, func(i int) error {
		return s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			calls[i]++
			if _, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES (?, 1)`, fmt.Sprint(i)); err != nil {
				return err
			}
			if i == 3 {
				// Ends the transaction behind the store's back, as an
				// error that makes SQLite roll back would.
				_, err := tx.ExecContext(ctx, `ROLLBACK`)
				return err
			}
			return nil
		})
	})
	have := keys(t, s)
	for i := range n {
		if i == 3 {
			if errs[i] == nil || have["3"] {
				t.Errorf("culprit: err %v, row %v; want an error and no row", errs[i], have["3"])
			}
			continue
		}
		if errs[i] != nil || !have[fmt.Sprint(i)] {
			t.Errorf("op %d: err %v, row %v; want it committed", i, errs[i], have[fmt.Sprint(i)])
		}
	}
	// Which operations shared the culprit's batch (and so ran twice: in the
	// broken batch, then alone) depends on the order the writer received
	// them in; none may run more than twice.
	for i, c := range calls {
		if c < 1 || c > 2 {
			t.Errorf("op %d ran %d times, want once or twice", i, c)
		}
	}
}

// A caller whose context ends while its operation is queued gets the
// context's error and the operation never runs.
func TestGroupCommitCancelWhileQueued(t *testing.T) {
	s := openInternal(t)
	release, wait := hold(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	done := make(chan error, 1)
	go func() {
		done <- s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ran = true
			_, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES ('cancelled', 1)`)
			return err
		})
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	release()
	wait()
	if err := s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran || keys(t, s)["cancelled"] {
		t.Fatal("the cancelled operation ran")
	}
}

// A panic in a closure reaches the caller's goroutine; the writer goes on.
func TestGroupCommitPanic(t *testing.T) {
	s := openInternal(t)
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want boom", v)
			}
		}()
		_ = s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES ('panicked', 1)`); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if err := s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO gc_test (k, v) VALUES ('after', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if have := keys(t, s); have["panicked"] || !have["after"] {
		t.Fatalf("rows %v: want only the one written after the panic", have)
	}
}

// After Close, writes fail instead of hanging.
func TestGroupCommitClosed(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.tx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("err %v, want errClosed", err)
	}
}
