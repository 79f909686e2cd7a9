package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The webhook delivery queue: relay, chains, finish, concurrent claims.

func allHooks(ev store.Event, hooks []store.Webhook) []string {
	var ids []string
	for _, h := range hooks {
		ids = append(ids, h.ID)
	}
	return ids
}

func newHook(t testing.TB, s store.Store, appID string) store.Webhook {
	t.Helper()
	w := store.Webhook{ID: newID("wh"), AppID: appID, URL: "https://hooks.example/x", TriggerTypes: []string{"grant.created"},
		Status: store.WebhookActive, CreatedAt: t0, UpdatedAt: t0}
	must(t, "CreateWebhook", s.CreateWebhook(context.Background(), w))
	return w
}

// grantEvents creates a grant with n events (one at create, the others
// from updates) and returns it.
func grantEvents(t testing.TB, s store.Store, appID string, n int) store.Grant {
	t.Helper()
	ctx := context.Background()
	g := grant(appID, newID("u")+"@example.com")
	must(t, "CreateGrant", s.CreateGrant(ctx, g, store.Event{ID: newID("ev"), Type: "grant.created", Payload: []byte(`{"n":0}`), CreatedAt: t0}))
	for i := 1; i < n; i++ {
		_, err := s.UpdateGrant(ctx, appID, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
			return old, []store.Event{{ID: newID("ev"), Type: "grant.updated", Payload: fmt.Appendf(nil, `{"n":%d}`, i), CreatedAt: t0}}, nil
		})
		must(t, "UpdateGrant", err)
	}
	return g
}

func relayAll(t testing.TB, s store.Store, route func(store.Event, []store.Webhook) []string) int {
	t.Helper()
	total := 0
	for {
		n, err := s.RelayEvents(context.Background(), 3, route)
		must(t, "RelayEvents", err)
		total += n
		if n < 3 {
			return total
		}
	}
}

func testDeliveryRelay(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, other := newApp(t, s), newApp(t, s)
	w1, w2 := newHook(t, s, app), newHook(t, s, app)
	ow := newHook(t, s, other)
	g := grantEvents(t, s, app, 4)
	grantEvents(t, s, other, 1)
	var seen []string
	n := relayAll(t, s, func(ev store.Event, hooks []store.Webhook) []string {
		for _, h := range hooks {
			if h.AppID != ev.AppID {
				t.Errorf("event of %s routed with a destination of %s", ev.AppID, h.AppID)
			}
		}
		seen = append(seen, ev.ID)
		if ev.AppID == other {
			return nil // routed nowhere
		}
		return []string{w1.ID, w2.ID}
	})
	if n != 5 || len(seen) != 5 {
		t.Fatalf("relayed %d events (%d routed), want 5", n, len(seen))
	}
	if n := relayAll(t, s, allHooks); n != 0 {
		t.Fatalf("second relay: %d events, want 0 (each is relayed once)", n)
	}
	for _, w := range []store.Webhook{w1, w2} {
		ds, err := s.ListDeliveries(ctx, w.ID)
		must(t, "ListDeliveries", err)
		if len(ds) != 4 {
			t.Fatalf("%s: %d deliveries, want 4", w.ID, len(ds))
		}
		for i, d := range ds {
			if d.GrantID != g.ID || d.AppID != app || d.Attempts != 0 || d.LeaseOwner != "" || (i > 0 && d.EventSeq <= ds[i-1].EventSeq) {
				t.Fatalf("delivery %d: %+v", i, d)
			}
		}
	}
	if ds, _ := s.ListDeliveries(ctx, ow.ID); len(ds) != 0 {
		t.Fatalf("unrouted event queued: %+v", ds)
	}
	st, err := s.DeliveryStats(ctx)
	must(t, "DeliveryStats", err)
	if st.Queued != 8 || !st.Oldest.Equal(us(t0)) {
		t.Fatalf("stats %+v", st)
	}
	// A deleted destination takes its deliveries with it.
	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, app, w2.ID))
	if st, _ := s.DeliveryStats(ctx); st.Queued != 4 {
		t.Fatalf("after deleting a destination: %+v", st)
	}
}

func testDeliveryChains(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	w := newHook(t, s, app)
	g1 := grantEvents(t, s, app, 3)
	g2 := grantEvents(t, s, app, 1)
	relayAll(t, s, allHooks)
	now := time.Now()
	ds, err := s.ClaimDeliveries(ctx, now, "a", time.Minute, 10)
	must(t, "ClaimDeliveries", err)
	if len(ds) != 2 {
		t.Fatalf("claimed %d, want the head of each chain (2)", len(ds))
	}
	heads := map[string]store.Delivery{}
	for _, d := range ds {
		heads[d.GrantID] = d
		if d.LeaseOwner != "a" || d.Webhook.ID != w.ID || d.Event.Seq != d.EventSeq || d.Event.GrantID != d.GrantID || len(d.Event.Payload) == 0 {
			t.Fatalf("claimed %+v", d)
		}
	}
	if string(heads[g1.ID].Event.Payload) != `{"n":0}` {
		t.Fatalf("g1's head is not its first event: %s", heads[g1.ID].Event.Payload)
	}
	if more, _ := s.ClaimDeliveries(ctx, now, "b", time.Minute, 10); len(more) != 0 {
		t.Fatalf("leased heads (and what waits behind them) claimed again: %+v", more)
	}
	// g1's head fails: retried later; its chain waits.
	retryAt := now.Add(time.Hour)
	must(t, "FinishDeliveries", s.FinishDeliveries(ctx, "a", []store.DeliveryResult{
		{ID: heads[g1.ID].ID, WebhookID: w.ID, Failed: true, Attempts: 1, NextAttemptAt: retryAt, Status: "500", At: now},
		{ID: heads[g2.ID].ID, WebhookID: w.ID, Done: true, Attempts: 1, Status: "200", At: now},
	}, func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		return old, store.QueueKeep
	}))
	if more, _ := s.ClaimDeliveries(ctx, now.Add(time.Minute), "b", time.Minute, 10); len(more) != 0 {
		t.Fatalf("claimed behind a head waiting for its retry: %+v", more)
	}
	later := retryAt.Add(time.Second)
	ds, err = s.ClaimDeliveries(ctx, later, "b", time.Minute, 10)
	must(t, "ClaimDeliveries after the retry time", err)
	if len(ds) != 1 || ds[0].ID != heads[g1.ID].ID || ds[0].Attempts != 1 || ds[0].LeaseOwner != "b" {
		t.Fatalf("retry claim: %+v", ds)
	}
	// The lease runs out: another owner takes it.
	expired := later.Add(2 * time.Minute)
	ds, err = s.ClaimDeliveries(ctx, expired, "c", time.Minute, 10)
	must(t, "ClaimDeliveries after the lease", err)
	if len(ds) != 1 || ds[0].ID != heads[g1.ID].ID || ds[0].LeaseOwner != "c" {
		t.Fatalf("lapsed lease claim: %+v", ds)
	}
	// A result of the owner that lost the lease does not reschedule it.
	must(t, "FinishDeliveries by a former owner", s.FinishDeliveries(ctx, "b", []store.DeliveryResult{
		{ID: ds[0].ID, WebhookID: w.ID, Failed: true, Attempts: 9, NextAttemptAt: expired.Add(time.Hour), Status: "500", At: expired},
	}, func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		return old, store.QueueKeep
	}))
	q, _ := s.ListDeliveries(ctx, w.ID)
	if len(q) != 3 || q[0].Attempts != 1 || q[0].LeaseOwner != "c" {
		t.Fatalf("after a former owner's result: %+v", q)
	}
	// Delivered: the next of the chain, in order.
	for i := 1; i < 3; i++ {
		must(t, "FinishDeliveries", s.FinishDeliveries(ctx, q[i-1].LeaseOwner, []store.DeliveryResult{{ID: q[i-1].ID, WebhookID: w.ID, Done: true, Status: "200", At: expired}},
			func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
				return old, store.QueueKeep
			}))
		ds, err = s.ClaimDeliveries(ctx, expired, "d", time.Minute, 10)
		must(t, "ClaimDeliveries next", err)
		if len(ds) != 1 || ds[0].ID != q[i].ID || string(ds[0].Event.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("chain step %d: %+v", i, ds)
		}
		q[i].LeaseOwner = "d"
	}
}

// twoClaimed queues two deliveries (of two grants) to one destination and
// claims them for owner "a" at now.
func twoClaimed(t *testing.T, s store.Store) (app string, w store.Webhook, ds []store.Delivery, now time.Time) {
	t.Helper()
	app = newApp(t, s)
	w = newHook(t, s, app)
	grantEvents(t, s, app, 1)
	grantEvents(t, s, app, 1)
	relayAll(t, s, allHooks)
	now = time.Now()
	ds, err := s.ClaimDeliveries(t.Context(), now, "a", time.Minute, 10)
	must(t, "ClaimDeliveries", err)
	if len(ds) != 2 {
		t.Fatalf("claimed %d", len(ds))
	}
	return app, w, ds, now
}

func testDeliveryFinish(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, w, ds, now := twoClaimed(t, s)
	var got []store.DeliveryResult
	err := s.FinishDeliveries(ctx, "a", []store.DeliveryResult{
		{ID: ds[0].ID, WebhookID: w.ID, Failed: true, Done: true, Status: "410", At: now},
		{ID: ds[1].ID, WebhookID: "deleted-meanwhile", Done: true, Status: "200", At: now},
	}, func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		if old.ID != w.ID {
			t.Errorf("update called for %s", old.ID)
		}
		got = rs
		old.Status, old.LastDeliveryStatus, old.LastDeliveryAt, old.ConsecutiveFailures = store.WebhookFailed, "410", now, 1
		return old, store.QueueDrop
	})
	must(t, "FinishDeliveries", err)
	if len(got) != 1 || got[0].Status != "410" {
		t.Fatalf("update got %+v", got)
	}
	hw, err := s.GetWebhook(ctx, app, w.ID)
	must(t, "GetWebhook", err)
	if hw.Status != store.WebhookFailed || hw.LastDeliveryStatus != "410" || !hw.LastDeliveryAt.Equal(us(now)) || hw.ConsecutiveFailures != 1 {
		t.Fatalf("destination after finish: %+v", hw)
	}
	if st, _ := s.DeliveryStats(ctx); st.Queued != 0 || !st.Oldest.IsZero() {
		t.Fatalf("queue after finish: %+v", st)
	}
}

// testDeliveryRetryNow: a destination that answers again gets its
// backlog due at once.
func testDeliveryRetryNow(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, w, ds, now := twoClaimed(t, s)
	keep := func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		return old, store.QueueKeep
	}
	must(t, "FinishDeliveries", s.FinishDeliveries(ctx, "a", []store.DeliveryResult{
		{ID: ds[0].ID, WebhookID: w.ID, Failed: true, Attempts: 1, NextAttemptAt: now.Add(time.Hour), Status: "500", At: now},
		{ID: ds[1].ID, WebhookID: w.ID, Failed: true, Attempts: 1, NextAttemptAt: now.Add(time.Hour), Status: "500", At: now},
	}, keep))
	if more, _ := s.ClaimDeliveries(ctx, time.Now(), "a", time.Minute, 10); len(more) != 0 {
		t.Fatalf("claimed before the retry time: %+v", more)
	}
	ds, err := s.ClaimDeliveries(ctx, now.Add(2*time.Hour), "a", time.Minute, 1)
	must(t, "ClaimDeliveries", err)
	must(t, "FinishDeliveries", s.FinishDeliveries(ctx, "a", []store.DeliveryResult{
		{ID: ds[0].ID, WebhookID: w.ID, Done: true, Attempts: 2, Status: "200", At: now},
	}, func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		return old, store.QueueRetryNow
	}))
	more, err := s.ClaimDeliveries(ctx, time.Now(), "a", time.Minute, 10)
	must(t, "ClaimDeliveries after QueueRetryNow", err)
	if len(more) != 1 || more[0].Attempts != 1 {
		t.Fatalf("after QueueRetryNow: %+v", more)
	}
}

// testDeliveryClaimConcurrent: claimers racing (nodes on one PostgreSQL)
// never hold one delivery at once, and each is claimed.
func testDeliveryClaimConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	w := newHook(t, s, app)
	const grants = 40
	for range grants {
		grantEvents(t, s, app, 1)
	}
	relayAll(t, s, allHooks)
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		wg      sync.WaitGroup
	)
	now := time.Now()
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("node%d", i)
			for range 10 {
				ds, err := s.ClaimDeliveries(ctx, now, owner, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					if prev, dup := claimed[d.ID]; dup {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, owner)
					}
					claimed[d.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != grants {
		t.Fatalf("%d of %d deliveries claimed", len(claimed), grants)
	}
	_ = w
}
