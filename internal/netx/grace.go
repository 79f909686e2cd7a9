package netx

import (
	"context"
	"errors"
	"time"
)

// ResumeGrace is how long WithGraceTimeout waits before it cancels when
// its timer fired late (the process was paused or starved).
const ResumeGrace = 2 * time.Second

// lateness beyond which a timer is taken to have fired after a pause.
const pauseThreshold = 250 * time.Millisecond

// WithGraceTimeout is context.WithTimeout(parent, d) for a call whose
// answer must not be thrown away once it has arrived, such as a refresh
// token redemption at a provider that rotates (the old token is dead the
// moment the provider answers). The process may have been paused (SIGSTOP,
// a VM migration, CPU throttling) past the deadline: then every timer
// fires at once on resume, before the goroutine reading an answer already
// sitting in the socket buffer has run, and the answer would be dropped.
// So when its timer fires more than a moment late, it waits grace more,
// counted from the resume, before cancelling; on time, it cancels at
// once. Its timeout reads as context.DeadlineExceeded, from Err and as
// the cause.
func WithGraceTimeout(parent context.Context, d, grace time.Duration) (context.Context, context.CancelFunc) {
	return withGraceTimeout(parent, d, grace, time.Now)
}

func withGraceTimeout(parent context.Context, d, grace time.Duration, now func() time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	deadline := now().Add(d)
	t := time.AfterFunc(d, func() {
		if now().Sub(deadline) > pauseThreshold {
			time.AfterFunc(grace, func() { cancel(context.DeadlineExceeded) })
			return
		}
		cancel(context.DeadlineExceeded)
	})
	return graceCtx{ctx}, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// graceCtx reports its own timeout from Err as context.DeadlineExceeded,
// as a context.WithTimeout would (a cause alone is lost where errors are
// wrapped with %v, as x/oauth2 does).
type graceCtx struct{ context.Context }

func (c graceCtx) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}
