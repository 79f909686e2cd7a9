package netx

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestWithGraceTimeout(t *testing.T) {
	// On time: cancelled at the deadline, as a timeout.
	start := time.Now()
	ctx, cancel := WithGraceTimeout(context.Background(), 20*time.Millisecond, time.Hour)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("never cancelled")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancelled after %v; want about the 20ms deadline", el)
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) || ctx.Err() != context.DeadlineExceeded {
		t.Errorf("cause %v, Err %v; want context.DeadlineExceeded", context.Cause(ctx), ctx.Err())
	}

	// Late (the clock says the timer fired 10 s after the deadline, as
	// after a pause): the grace runs from then.
	var calls atomic.Int32
	paused := func() time.Time {
		if calls.Add(1) == 1 {
			return time.Now() // when the deadline is computed
		}
		return time.Now().Add(10 * time.Second) // when the timer fires
	}
	ctx, cancel = withGraceTimeout(context.Background(), 20*time.Millisecond, 300*time.Millisecond, paused)
	defer cancel()
	time.Sleep(150 * time.Millisecond)
	if err := ctx.Err(); err != nil {
		t.Fatalf("a late timer cancelled without the grace: %v", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("never cancelled after the grace")
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("cause %v, want context.DeadlineExceeded", context.Cause(ctx))
	}

	// cancel stops it at once; the parent's cancellation passes through.
	ctx, cancel = WithGraceTimeout(context.Background(), time.Hour, time.Hour)
	cancel()
	if !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Errorf("after cancel: cause %v", context.Cause(ctx))
	}
	parent, pcancel := context.WithCancel(context.Background())
	ctx, cancel = WithGraceTimeout(parent, time.Hour, time.Hour)
	defer cancel()
	pcancel()
	<-ctx.Done()
}
