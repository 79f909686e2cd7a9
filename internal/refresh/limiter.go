package refresh

import (
	"context"
	"sync"
	"time"
)

// Adaptive concurrency per provider (refresh.provider_concurrency,
// refresh.provider_concurrency_min, refresh.provider_concurrency_max).
//
// Each provider has a limit on the calls this node has in flight to it,
// adjusted by AIMD, the way TCP adjusts its window:
//
//   - additive increase: each answer that came back in good time to a
//     call during which the limit was reached (every slot taken, or a call
//     waiting for one) raises the limit by 1/limit, so by one per round
//     trip while there is more demand than slots;
//   - multiplicative decrease: an overloaded answer (429, 5xx, timeout,
//     unreachable: provider.ClassUnavailable) halves it; an answer slower
//     than latencyTolerance times the provider's usual latency cuts it
//     by a tenth. At most one cut per round trip: an answer to a call made
//     before the last cut says nothing about the new limit;
//   - a Retry-After the provider sent (provider.Error.RetryAfter) pauses
//     every new call to it that long (at most maxPause).
//
// The usual latency is learned from the provider's answers only (a token,
// or an error the provider answered: sigAnswered); a failure decided
// without an answer (sigNone: a request refused before it was sent, a
// certificate, a refused address) would make it look like microseconds.
// It is the lowest seen, drifting up by 1/256 of the
// difference at each slower answer, so a provider that becomes slower for
// good is accepted as such after a few hundred answers.
//
// With min = max the limit is fixed: the refresher of before.
//
// The limiter also keeps the scheduler's share of the provider (Run): the
// grants of the provider the scheduler has claimed and not finished, in
// flight or waiting for a slot, number at most shareFactor times the
// current limit, and none is claimed during a pause. A provider that is
// throttled or slow ties up that many workers, not every worker.

// latencyTolerance: an answer this many times slower than the provider's
// usual latency (and at least minSlowdown slower) counts as a sign of
// overload.
const latencyTolerance = 2

// minSlowdown keeps the jitter of answers that take microseconds (a
// provider on loopback) from counting as overload.
const minSlowdown = 20 * time.Millisecond

// shareFactor: the scheduler holds at most this many times a provider's
// current limit of its grants (in flight, or waiting for a slot): enough
// that a slot that frees has a grant waiting for it, and that the limit
// can grow (it grows only while calls wait).
const shareFactor = 2

// signal is what one call tells the limiter.
type signal int

const (
	sigNone     signal = iota // no answer to judge (the call was not made, was cancelled, or failed without an answer)
	sigAnswered               // the provider answered (a token or a verdict on it)
	sigOverload               // the provider is overloaded or unavailable
)

// limiter is one provider's adaptive concurrency limit. Its methods are
// safe for concurrent use.
type limiter struct {
	lo, hi   float64
	maxPause time.Duration
	onChange func(limit int) // called with the new whole limit, under mu

	mu       sync.Mutex
	limit    float64
	inflight int
	paused   time.Time     // no new call before
	baseline time.Duration // usual latency; 0: none seen yet
	lastCut  time.Time
	full     time.Time     // last time every slot was taken, or a call waited for one
	wake     chan struct{} // closed and replaced when a slot may have freed

	// The scheduler's share (Run).
	claimed int  // grants claimed by the scheduler and not finished
	capped  bool // due grants of the provider may be waiting for room in the share
}

// bounds are the lowest, highest and first limit of the configured start,
// lo and hi: at least 1, hi at least lo, start between them.
func bounds(start, lo, hi int) (int, int, int) {
	lo = max(lo, 1)
	hi = max(hi, lo)
	return lo, hi, min(max(start, lo), hi)
}

func newLimiter(start, lo, hi int, maxPause time.Duration, onChange func(int)) *limiter {
	lo, hi, start = bounds(start, lo, hi)
	l := &limiter{lo: float64(lo), hi: float64(hi), maxPause: maxPause, onChange: onChange,
		limit: float64(start), wake: make(chan struct{})}
	if onChange != nil {
		onChange(int(l.limit))
	}
	return l
}

// Limit is the current whole limit.
func (l *limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// acquire waits for a slot, at most wait (and while ctx lasts); it
// returns when the slot was taken and false when none was.
func (l *limiter) acquire(ctx context.Context, wait time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		now := time.Now()
		if !now.Before(l.paused) && l.inflight < int(l.limit) {
			l.inflight++
			if l.inflight >= int(l.limit) {
				l.full = now
			}
			l.mu.Unlock()
			return now, true
		}
		if !now.Before(l.paused) {
			l.full = now // a call waits for a slot
		}
		wake := l.wake
		var resume *time.Timer
		var resumed <-chan time.Time
		if d := l.paused.Sub(now); d > 0 {
			resume = time.NewTimer(d)
			resumed = resume.C
		}
		l.mu.Unlock()
		ok := true
		select {
		case <-wake:
		case <-resumed:
		case <-deadline.C:
			ok = false
		case <-ctx.Done():
			ok = false
		}
		if resume != nil {
			resume.Stop()
		}
		if !ok {
			return time.Time{}, false
		}
	}
}

// release returns the slot of a call started at started, with what its
// answer said (retryAfter: the pause the provider asked for).
func (l *limiter) release(started time.Time, sig signal, retryAfter time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	full := !l.full.Before(started) // every slot was taken during this call
	l.inflight--
	before := int(l.limit)
	latency := now.Sub(started)
	switch sig {
	case sigOverload:
		if retryAfter > 0 {
			if until := now.Add(min(retryAfter, l.maxPause)); until.After(l.paused) {
				l.paused = until
			}
		}
		l.cut(started, now, 0.5)
	case sigAnswered:
		switch {
		case l.baseline == 0 || latency < l.baseline:
			l.baseline = latency
		default:
			l.baseline += (latency - l.baseline) / 256
		}
		if latency > latencyTolerance*l.baseline && latency-l.baseline > minSlowdown {
			l.cut(started, now, 0.9)
		} else if full {
			l.limit = min(l.hi, l.limit+1/l.limit)
		}
	}
	if after := int(l.limit); after != before && l.onChange != nil {
		l.onChange(after)
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// cut multiplies the limit by f, unless it was cut after the call that
// brought the news started.
func (l *limiter) cut(started, now time.Time, f float64) {
	if started.Before(l.lastCut) {
		return
	}
	l.limit = max(l.lo, l.limit*f)
	l.lastCut = now
}

// pausedFor is how long the pause the provider asked for (a Retry-After)
// still lasts at now; 0 when there is none.
func (l *limiter) pausedFor(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(0, l.paused.Sub(now))
}

// room is how many more grants of the provider the scheduler may claim
// now: none during a pause (until resume), otherwise what the share
// leaves. When there is none the provider is capped: it may have due
// grants the scheduler skips.
func (l *limiter) room(now time.Time) (n int, resume time.Time, capped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, resume = l.roomLocked(now)
	if n == 0 {
		l.capped = true
	}
	return n, resume, l.capped
}

func (l *limiter) roomLocked(now time.Time) (int, time.Time) {
	if now.Before(l.paused) {
		return 0, l.paused
	}
	return max(0, shareFactor*int(l.limit)-l.claimed), time.Time{}
}

// admit counts a claimed grant in the share; false when there is no room
// (the grant must be released, and the provider is capped).
func (l *limiter) admit(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, _ := l.roomLocked(now); n == 0 {
		l.capped = true
		return false
	}
	l.claimed++
	return true
}

// finish takes a grant admitted before out of the share; it reports
// whether the provider is capped (the scheduler should claim again).
func (l *limiter) finish() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.claimed--
	return l.capped
}

// uncap records that the provider has no due grant left unclaimed (a
// claim that did not skip it came back short).
func (l *limiter) uncap() {
	l.mu.Lock()
	l.capped = false
	l.mu.Unlock()
}
