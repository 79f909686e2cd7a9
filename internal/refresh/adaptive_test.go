package refresh_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestAdaptiveProviderConcurrency runs the scheduler against the sandbox
// with more due grants than the starting limit lets through: the limit
// on calls in flight to the provider grows while the provider answers in
// 50 ms, halves down to the minimum when it answers 429 (and no call is
// made during the Retry-After pause the sandbox asks for), grows again
// once the provider recovers, and falls when the provider's latency rises
// from 50 to 400 ms. No grant is invalidated on the way.
func TestAdaptiveProviderConcurrency(t *testing.T) {
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Refresh.Workers = 32
		cfg.Refresh.ProviderConcurrency = 2
		cfg.Refresh.ProviderConcurrencyMin = 1
		cfg.Refresh.ProviderConcurrencyMax = 16
		cfg.Refresh.Lease = 8 * time.Second // waits for a slot: at most 2 s; pauses: at most 2 s
	})
	c.sb.SetAccessTokenTTL("google", time.Second) // refreshed at 80% of a second: always due
	ids, _ := c.grants("google", c.connector("google"), 100)
	ref := c.nodes[0].srv.Refresher
	limit := func() int { return ref.ProviderLimit("google") }

	// Sample the calls the sandbox holds (in flight) while the test runs.
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				if n := int64(c.sb.Held()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()

	// Growth.
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: 50 * time.Millisecond, Count: -1})
	if got := limit(); got != 2 {
		t.Fatalf("starting limit %d, want refresh.provider_concurrency (2)", got)
	}
	c.run()
	waitFor(t, 20*time.Second, "the limit to grow", func() bool { return limit() >= 8 })
	if p := peak.Load(); p <= 2 {
		t.Fatalf("at most %d calls in flight at the provider, want more than the starting limit", p)
	}
	t.Logf("grew from 2 to %d; peak %d calls in flight at the provider", limit(), peak.Load())

	// Back-off on 429 with Retry-After (the sandbox sends Retry-After: 1).
	c.sb.ClearFailures()
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 429, Count: -1})
	waitFor(t, 10*time.Second, "the limit to fall to the minimum on 429s", func() bool { return limit() == 1 })
	before := c.sb.Counters("google").InjectedFailures
	time.Sleep(3 * time.Second)
	// At a limit of 1 and one 1 s pause per 429, about 3 calls in 3 s;
	// without the pause, hundreds.
	if n := c.sb.Counters("google").InjectedFailures - before; n > 8 {
		t.Fatalf("%d calls answered 429 in 3 s: the Retry-After pause is not honoured", n)
	}

	// Recovery: 100 grants with one-second tokens at 50 ms need about 6
	// calls in flight.
	c.sb.ClearFailures()
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: 50 * time.Millisecond, Count: -1})
	waitFor(t, 20*time.Second, "the limit to grow again after the 429s stopped", func() bool { return limit() >= 4 })

	// Rising latency: 50 ms → 400 ms. Demand now exceeds what the limit
	// lets through (about 50 in flight would be needed), so without the
	// latency signal the limit would grow to the maximum.
	c.sb.ClearFailures()
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: 400 * time.Millisecond, Count: -1})
	start := limit()
	waitFor(t, 8*time.Second, "the limit to fall when the latency rises", func() bool { return limit() <= max(1, start/2) })
	t.Logf("latency 50 → 400 ms: limit fell from %d to %d", start, limit())
	c.stop()
	c.sb.ClearFailures()
	for _, id := range ids {
		if g := c.grant(id); g.Status != store.GrantValid {
			t.Fatalf("grant %s is %s after throttling (%s)", id, g.Status, g.LastFailureMessage)
		}
	}
}
