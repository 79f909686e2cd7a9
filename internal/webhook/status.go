package webhook

import (
	"math/rand/v2"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The status rules of nylas-v3-api.md §8.
const (
	// FailingWindow is the shortest window over which the failure rate is
	// judged.
	FailingWindow = 15 * time.Minute
	// FailingRate is the share of failed attempts in a window that makes
	// a destination failing.
	FailingRate = 0.95
	// FailedAfter is how long a destination stays failing, without a
	// success, before it is failed.
	FailedAfter = 72 * time.Hour
	// MaxDeliveryAge is how long a delivery is retried before it is given
	// up (well beyond the 24 hours promised).
	MaxDeliveryAge = 72 * time.Hour
)

// Backoff is the delay before attempt number failures+1 after failures
// failed attempts: min doubled per failure up to max, with up to a fifth
// of jitter either way (never below min, never above max), so that
// deliveries failed together do not come back together.
func Backoff(failures int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	d = minDur(d, max)
	if j := d / 5; j > 0 {
		d += time.Duration(rand.Int64N(int64(2*j+1))) - j
	}
	if d < min {
		d = min
	}
	return minDur(d, max)
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// applyResults updates a destination's bookkeeping and status with the
// attempts in rs (in the order they ended) and reports whether it has just
// become failed (its queued deliveries are then dropped).
func applyResults(w store.Webhook, rs []store.DeliveryResult, gone bool, now time.Time) (store.Webhook, bool) {
	was := w.Status
	for _, r := range rs {
		if r.Status == "" {
			continue // dropped without an attempt
		}
		if r.At.After(w.LastDeliveryAt) {
			w.LastDeliveryAt, w.LastDeliveryStatus = r.At, r.Status
		}
		if w.WindowStart.IsZero() {
			w.WindowStart = r.At
		}
		w.WindowAttempts++
		if r.Failed {
			w.WindowFailures++
			w.ConsecutiveFailures++
			continue
		}
		w.ConsecutiveFailures = 0
		if w.Status == store.WebhookFailing {
			w.Status, w.FailingSince = store.WebhookActive, time.Time{}
		}
	}
	if w.Status == store.WebhookActive && !w.WindowStart.IsZero() && now.Sub(w.WindowStart) >= FailingWindow {
		if w.WindowAttempts > 0 && float64(w.WindowFailures) >= FailingRate*float64(w.WindowAttempts) {
			w.Status, w.FailingSince = store.WebhookFailing, now
		}
		w.WindowStart, w.WindowAttempts, w.WindowFailures = time.Time{}, 0, 0
	}
	if w.Status == store.WebhookFailing && now.Sub(w.FailingSince) >= FailedAfter {
		w.Status = store.WebhookFailed
	}
	if gone && w.Status != store.WebhookFailed && w.Status != store.WebhookPaused {
		w.Status = store.WebhookFailed
		if w.FailingSince.IsZero() {
			w.FailingSince = now
		}
	}
	if w.Status != was {
		w.StatusUpdatedAt = now
	}
	return w, w.Status == store.WebhookFailed && was != store.WebhookFailed
}

// Deliverable reports whether a destination in status st gets deliveries.
func Deliverable(st string) bool {
	return st == store.WebhookActive || st == store.WebhookFailing
}
