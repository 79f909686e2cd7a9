// Package ratelimit keeps one token bucket per key (an application id),
// for request limits that one tenant cannot use up for the others. The
// buckets live in the memory of one process: a limit holds per node.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// minSweep is the number of buckets below which idle ones are not looked
// for.
const minSweep = 1024

// Limiter holds a token bucket per key, all with the same rate and burst.
// A nil *Limiter allows everything. It is safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int // the size at which a new bucket first drops idle ones
}

// New returns a limiter that allows perSecond requests a second per key,
// in bursts of up to burst (at least 1). A perSecond of 0 or less means no
// limit: New returns nil.
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// Rate is the limiter's requests per second and burst (0, 0 for nil).
func (l *Limiter) Rate() (perSecond float64, burst int) {
	if l == nil {
		return 0, 0
	}
	return float64(l.limit), l.burst
}

// Allow takes a token from key's bucket at now. When there is none, it
// takes nothing and says how long until there is one.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	r := l.bucket(key, now).ReserveN(now, 1)
	if !r.OK() {
		return false, time.Duration(math.MaxInt64) // burst < 1: cannot happen
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		return b
	}
	if len(l.buckets) >= l.sweepAt {
		l.sweep(now)
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b
	return b
}

// sweep drops the buckets that have filled up again: a full bucket is the
// same as a new one, so forgetting it changes no answer. The next sweep
// waits until the map has doubled, so that sweeping costs O(1) a bucket.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}
