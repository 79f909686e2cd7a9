package refresh_test

import (
	"context"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestThrottledProviderFair: one provider is throttled (it answers 429
// with Retry-After, or it is slow at a fixed limit of 1) and has many due
// grants, more overdue than another provider's. The other provider's due
// grants are all refreshed promptly meanwhile (before, the workers filled
// up with the throttled provider's grants, which waited for a slot, were
// released still due and, being the most overdue, claimed again first),
// and the throttled provider's grants are all refreshed once it recovers.
// On SQLite, and on PostgreSQL when GRANTD_TEST_DATABASE_URL is set.
func TestThrottledProviderFair(t *testing.T) {
	dbs := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgSchema(t) }},
	}
	modes := []struct {
		name      string
		concurr   int // provider concurrency; fixed when fixed
		fixed     bool
		throttled int // grants of the throttled provider
		failure   sandbox.Failure
	}{
		{"retry-after", 2, false, 24, sandbox.Failure{Endpoint: "token", Status: 429, Count: -1}},
		{"slow", 1, true, 12, sandbox.Failure{Endpoint: "token", Delay: time.Second, Count: -1}},
	}
	for _, db := range dbs {
		for _, mode := range modes {
			t.Run(db.name+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, 1, db.url(t), func(cfg *config.Config) {
					cfg.Refresh.Workers = 8
					cfg.Refresh.Lease = 8 * time.Second // waits for a slot: at most 2 s
					cfg.Refresh.ProviderConcurrency = mode.concurr
					if mode.fixed {
						fixedConcurrency(cfg)
					}
				})
				gIDs, _ := c.grants("google", c.connector("google"), mode.throttled)
				mIDs, _ := c.grants("microsoft", c.connector("microsoft"), 12)
				// Google's grants are the most overdue.
				ctx := context.Background()
				now := time.Now()
				due := func(id string, at time.Time) {
					if _, err := c.st().UpdateGrant(ctx, c.appID, id, func(g store.Grant) (store.Grant, []store.Event, error) {
						g.NextRefreshAt = at
						return g, nil, nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				for i, id := range gIDs {
					due(id, now.Add(-time.Hour+time.Duration(i)*time.Millisecond))
				}
				for _, id := range mIDs {
					due(id, now.Add(-time.Minute))
				}
				refreshed := func(ids []string, since time.Time) func() bool {
					return func() bool {
						for _, id := range ids {
							if g := c.grant(id); !g.LastRefreshAt.After(since) {
								return false
							}
						}
						return true
					}
				}

				c.sb.InjectFailure("google", mode.failure)
				start := time.Now()
				c.run()
				waitFor(t, 4*time.Second, "the other provider's due grants to be refreshed while google is throttled", refreshed(mIDs, start))
				t.Logf("%d microsoft grants refreshed in %v while google was throttled", len(mIDs), time.Since(start).Round(time.Millisecond))
				if mode.name == "retry-after" {
					// Still honouring the pauses: about one call a second.
					if n := c.sb.Counters("google").InjectedFailures; n > 12 {
						t.Errorf("%d calls to google answered 429 in %v: the Retry-After pauses are not honoured", n, time.Since(start))
					}
				}

				c.sb.ClearFailures()
				recovered := time.Now()
				waitFor(t, 15*time.Second, "google's grants to be refreshed after it recovered", refreshed(gIDs, start))
				t.Logf("%d google grants refreshed %v after google recovered", len(gIDs), time.Since(recovered).Round(time.Millisecond))
				c.stop()
				for _, id := range append(gIDs, mIDs...) {
					if g := c.grant(id); g.Status != store.GrantValid {
						t.Fatalf("grant %s (%s) is %s: %s", id, g.Provider, g.Status, g.LastFailureMessage)
					}
				}
			})
		}
	}
}
