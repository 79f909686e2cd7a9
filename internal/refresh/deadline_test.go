package refresh_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
)

// lateClaims is the store whose ClaimDueGrants answers late: the grants
// are leased when the claim runs, and handed to the refresher delay later
// (a slow database, a starved process).
type lateClaims struct {
	store.Store
	delay time.Duration

	mu      sync.Mutex
	claimed map[string]time.Time // grant id: when its claim started
}

func (s *lateClaims) ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Grant, error) {
	return s.late(func() ([]store.Grant, error) { return s.Store.ClaimDueGrants(ctx, now, owner, lease, limit) })
}

func (s *lateClaims) ClaimDueGrantsOf(ctx context.Context, now time.Time, owner string, lease time.Duration, prov string, limit int) ([]store.Grant, error) {
	return s.late(func() ([]store.Grant, error) { return s.Store.ClaimDueGrantsOf(ctx, now, owner, lease, prov, limit) })
}

func (s *lateClaims) late(claim func() ([]store.Grant, error)) ([]store.Grant, error) {
	at := time.Now()
	gs, err := claim()
	s.mu.Lock()
	for _, g := range gs {
		if _, ok := s.claimed[g.ID]; !ok {
			s.claimed[g.ID] = at
		}
	}
	s.mu.Unlock()
	time.Sleep(s.delay)
	return gs, err
}

// TestProviderCallEndsBeforeLease: the provider call of a refresh ends
// when a quarter of the lease is left, counted from the claim, whatever
// happened before the call: here the claim's answer comes half a lease
// late and the provider does not answer. Before, the call had half a lease
// from its start, and the grant's failure was stored when its lease ran
// out (or after).
func TestProviderCallEndsBeforeLease(t *testing.T) {
	t.Parallel()
	const lease = 4 * time.Second
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Refresh.Lease = lease
		cfg.Refresh.MaxBackoff = time.Minute // one attempt
		cfg.Refresh.MinBackoff = time.Minute
	})
	ids, _ := c.grants("google", c.connector("google"), 1)
	id := ids[0]
	if _, err := c.st().UpdateGrant(context.Background(), c.appID, id, func(g store.Grant) (store.Grant, []store.Event, error) {
		g.NextRefreshAt = time.Now().Add(-time.Minute)
		return g, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: time.Minute, Count: -1})

	srv := c.nodes[0].srv
	st := &lateClaims{Store: srv.Store, delay: lease / 2, claimed: map[string]time.Time{}}
	ref := server.NewRefresher(c.cfg, st, srv.Grants, srv.Connectors, srv.Log, nil)
	defer ref.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ref.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, 3*lease, "the refresh to fail", func() bool { return c.grant(id).RefreshFailures > 0 })
	g := c.grant(id)
	st.mu.Lock()
	claimed := st.claimed[id]
	st.mu.Unlock()
	took := g.LastFailureAt.Sub(claimed)
	t.Logf("claimed, answered %v later, failure stored %v after the claim (lease %v): %s", lease/2, took.Round(time.Millisecond), lease, g.LastFailureMessage)
	if limit := lease - lease/4 + 600*time.Millisecond; took > limit {
		t.Fatalf("the failure was stored %v after the claim, want at most %v (the call must end a quarter of the lease before it runs out)", took, limit)
	}
	if g.LeaseOwner != "" {
		t.Errorf("lease still held by %q", g.LeaseOwner)
	}
}
