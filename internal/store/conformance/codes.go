package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// One-time codes.

func testCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := time.Now()
	c := store.Code{Hash: "h-" + newID("c"), AppID: app, GrantID: "g1", Data: []byte("payload"), ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	must(t, "CreateCode", s.CreateCode(ctx, c))
	mustIs(t, "CreateCode duplicate", s.CreateCode(ctx, c), store.ErrAlreadyExists)

	got, err := s.ConsumeCode(ctx, c.Hash, now)
	must(t, "ConsumeCode", err)
	want := c
	want.ExpiresAt, want.CreatedAt = us(c.ExpiresAt), us(c.CreatedAt)
	mustEqual(t, "ConsumeCode", got, want)
	_, err = s.ConsumeCode(ctx, c.Hash, now)
	mustIs(t, "ConsumeCode twice", err, store.ErrNotFound)

	expired := store.Code{Hash: "h-" + newID("c"), AppID: app, ExpiresAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Minute)}
	must(t, "CreateCode expired", s.CreateCode(ctx, expired))
	_, err = s.ConsumeCode(ctx, expired.Hash, now)
	mustIs(t, "ConsumeCode expired", err, store.ErrNotFound)
	// The expired code was deleted: it is gone even for an earlier clock.
	_, err = s.ConsumeCode(ctx, expired.Hash, now.Add(-time.Hour))
	mustIs(t, "ConsumeCode expired, again", err, store.ErrNotFound)

	_, err = s.ConsumeCode(ctx, "never-issued", now)
	mustIs(t, "ConsumeCode unknown", err, store.ErrNotFound)
	mustIs(t, "CreateCode for missing app", s.CreateCode(ctx, store.Code{Hash: "h-" + newID("c"), AppID: "no-such-app", ExpiresAt: now.Add(time.Minute)}), store.ErrNotFound)
}

func testCodesDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := time.Now()
	for i := range 5 {
		c := store.Code{Hash: fmt.Sprintf("old%d-%s", i, app), AppID: app, ExpiresAt: now.Add(-time.Duration(i+1) * time.Minute), CreatedAt: now.Add(-time.Hour)}
		must(t, "CreateCode expired", s.CreateCode(ctx, c))
	}
	live := store.Code{Hash: "live-" + app, AppID: app, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	must(t, "CreateCode live", s.CreateCode(ctx, live))
	n, err := s.DeleteExpiredCodes(ctx, now, 3)
	must(t, "DeleteExpiredCodes", err)
	if n != 3 {
		t.Fatalf("DeleteExpiredCodes(limit 3) deleted %d", n)
	}
	n, err = s.DeleteExpiredCodes(ctx, now, 100)
	must(t, "DeleteExpiredCodes again", err)
	if n != 2 {
		t.Fatalf("DeleteExpiredCodes deleted %d of the 2 left", n)
	}
	if _, err := s.ConsumeCode(ctx, live.Hash, now); err != nil {
		t.Fatalf("the live code was deleted: %v", err)
	}
}

func testCodesConcurrentConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := time.Now()
	for round := range 3 {
		c := store.Code{Hash: fmt.Sprintf("h%d-%s", round, app), AppID: app, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		must(t, "CreateCode", s.CreateCode(ctx, c))
		const n = 10
		start := make(chan struct{})
		errs := make(chan error, n)
		for range n {
			go func() {
				<-start
				_, err := s.ConsumeCode(ctx, c.Hash, now)
				errs <- err
			}()
		}
		close(start)
		wins := 0
		for range n {
			err := <-errs
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrNotFound):
			default:
				t.Fatalf("ConsumeCode: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent ConsumeCode calls succeeded, want exactly 1", wins)
		}
	}
}
