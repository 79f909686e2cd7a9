package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
	"github.com/grantd/grantd/internal/vault"
)

// TestDeliveryLoad is the benchmark of docs/benchmarks.md (Webhooks), run
// only with GRANTD_WEBHOOK_LOAD=1 (about two minutes; run it under
// `flock /tmp/grantd-bench.lock` on a shared machine):
//
//  1. outage: 10,000 grant events (1,000 grants × 10) are written while
//     the receiver is down (connection refused); after a minute it comes
//     up; every event must be delivered, in order per grant: the time to
//     drain is from the receiver's return to the last delivery;
//  2. burst: 10,000 more events written as fast as the store takes them
//     with the receiver up: deliveries per second (the queue builds up
//     while writes outpace deliveries, so latency here is queueing);
//  3. paced: 5,000 events at 500 a second: the median time from an
//     event's write to its arrival at the receiver;
//
// with the Go heap sampled every second throughout. One node, the
// embedded SQLite store (GRANTD_WEBHOOK_LOAD_DATABASE_URL: PostgreSQL),
// the default webhooks.* settings.
func TestDeliveryLoad(t *testing.T) {
	if os.Getenv("GRANTD_WEBHOOK_LOAD") == "" {
		t.Skip("set GRANTD_WEBHOOK_LOAD=1 to run the webhook load benchmark")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if u := os.Getenv("GRANTD_WEBHOOK_LOAD_DATABASE_URL"); u != "" {
		cfg.DatabaseURL = testenv.PostgresSchemaOf(t, u, "the webhook load benchmark")
	}
	kr, _ := vault.NewKeyring()
	cfg.Vault.Keyring = kr.MarshalInline()
	cfg.Refresh.Enabled = false
	cfg.Webhooks.AllowPrivateURLs = true
	down := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("GRANTD_WEBHOOK_LOAD_DOWN")); err == nil {
		down = d
	}
	ctx := context.Background()

	// The receiver: counts, checks order per grant, measures latency.
	var (
		mu        sync.Mutex
		firstSeen = map[string]bool{}
		lastN     = map[string]int{}
		latencies []time.Duration
		delivered atomic.Int64
		firstAt   atomic.Int64 // the first arrival of the outage phase
		lastAt    atomic.Int64
		disorder  atomic.Int64
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				Object struct {
					GrantID string `json:"grant_id"`
					N       int    `json:"n"`
					Written int64  `json:"written_ns"`
				} `json:"object"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		now := time.Now()
		mu.Lock()
		if !firstSeen[ev.ID] {
			firstSeen[ev.ID] = true
			delivered.Add(1)
			latencies = append(latencies, now.Sub(time.Unix(0, ev.Data.Object.Written)))
		}
		if ev.Data.Object.N < lastN[ev.Data.Object.GrantID] {
			disorder.Add(1)
		}
		lastN[ev.Data.Object.GrantID] = ev.Data.Object.N
		mu.Unlock()
		lastAt.Store(now.UnixNano())
		firstAt.CompareAndSwap(0, now.UnixNano())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	rsrv := &http.Server{Handler: handler}
	go func() { _ = rsrv.Serve(ln) }()
	srv, app := appWithHook(t, cfg, "http://"+addr+"/hook")
	_ = rsrv.Close() // down: connection refused

	// Heap samples.
	var heapMu sync.Mutex
	var heap []uint64
	stopSampling := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heapMu.Lock()
				heap = append(heap, ms.HeapInuse)
				heapMu.Unlock()
			}
		}
	}()
	defer close(stopSampling)

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); srv.Deliverer.Run(wctx) }()
	defer func() { cancel(); <-done }()

	const grants, perGrant = 1000, 10
	write := func(phase string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range grants {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				id := fmt.Sprintf("%s-%04d", phase, i)
				ev := func(n int) store.Event {
					return store.Event{ID: fmt.Sprintf("%s-%d", id, n), Type: "grant.updated", CreatedAt: time.Now(),
						Payload: fmt.Appendf(nil, `{"application_id":%q,"object":{"grant_id":%q,"n":%d,"written_ns":%d}}`, app.ID, id, n, time.Now().UnixNano())}
				}
				g := store.Grant{ID: id, AppID: app.ID, Provider: "google", Email: id + "@example.com", Status: store.GrantValid,
					CreatedAt: time.Now(), UpdatedAt: time.Now()}
				if err := srv.Store.CreateGrant(ctx, g, ev(0)); err != nil {
					t.Error(err)
					return
				}
				for n := 1; n < perGrant; n++ {
					if _, err := srv.Store.UpdateGrant(ctx, app.ID, id, func(old store.Grant) (store.Grant, []store.Event, error) {
						return old, []store.Event{ev(n)}, nil
					}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	total := int64(grants * perGrant)

	// 1. Outage.
	wrote := write("outage")
	t.Logf("outage: %d events written in %v with the receiver down", total, wrote.Round(time.Millisecond))
	time.Sleep(down - wrote)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("receiver back on %s: %v", addr, err)
	}
	rsrv = &http.Server{Handler: handler}
	go func() { _ = rsrv.Serve(ln) }()
	defer rsrv.Close()
	up := time.Now()
	waitLong(t, "the outage's events delivered", 10*time.Minute, func() bool { return delivered.Load() >= total })
	drain := time.Unix(0, lastAt.Load()).Sub(up)
	busy := time.Unix(0, lastAt.Load()).Sub(time.Unix(0, firstAt.Load()))
	t.Logf("outage: receiver down %v; all %d delivered %v after it came back; from the first arrival to the last %v: %.0f deliveries/s",
		down, total, drain.Round(time.Millisecond), busy.Round(time.Millisecond), float64(total)/busy.Seconds())

	// 2. Steady state.
	mu.Lock()
	latencies = nil
	mu.Unlock()
	start := time.Now()
	wrote = write("steady")
	waitLong(t, "the steady events delivered", 10*time.Minute, func() bool { return delivered.Load() >= 2*total })
	elapsed := time.Unix(0, lastAt.Load()).Sub(start)
	mu.Lock()
	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	mu.Unlock()
	t.Logf("burst: %d events written in %v, all delivered in %v: %.0f deliveries/s; event-to-receiver latency p50 %v, p99 %v",
		total, wrote.Round(time.Millisecond), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	// 3. Paced.
	mu.Lock()
	latencies = nil
	mu.Unlock()
	const paced = 5000
	tk := time.NewTicker(20 * time.Millisecond) // 10 events per tick: 500/s
	for i := range paced / 10 {
		<-tk.C
		id := fmt.Sprintf("paced-%04d", i)
		g := store.Grant{ID: id, AppID: app.ID, Provider: "google", Email: id + "@example.com", Status: store.GrantValid,
			CreatedAt: time.Now(), UpdatedAt: time.Now()}
		var wg sync.WaitGroup
		for n := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gid := fmt.Sprintf("%s-%d", id, n)
				g := g
				g.ID, g.Email = gid, gid+"@example.com"
				ev := store.Event{ID: gid + "-0", Type: "grant.created", CreatedAt: time.Now(),
					Payload: fmt.Appendf(nil, `{"application_id":%q,"object":{"grant_id":%q,"n":0,"written_ns":%d}}`, app.ID, gid, time.Now().UnixNano())}
				if err := srv.Store.CreateGrant(ctx, g, ev); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	tk.Stop()
	waitLong(t, "the paced events delivered", 10*time.Minute, func() bool { return delivered.Load() >= 2*total+paced })
	mu.Lock()
	slices.Sort(latencies)
	p50, p99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	mu.Unlock()
	t.Logf("paced: %d events at 500/s: event-to-receiver latency p50 %v, p99 %v", paced, p50.Round(time.Millisecond), p99.Round(time.Millisecond))

	heapMu.Lock()
	t.Logf("heap in use, sampled each second: first %d MiB, max %d MiB, last %d MiB (%d samples)",
		heap[0]>>20, slices.Max(heap)>>20, heap[len(heap)-1]>>20, len(heap))
	heapMu.Unlock()
	if n := disorder.Load(); n != 0 {
		t.Errorf("%d deliveries arrived out of order per grant", n)
	}
	// The last results may still be on their way to the store.
	waitLong(t, "an empty queue", time.Minute, func() bool { st, _ := srv.Store.DeliveryStats(ctx); return st.Queued == 0 })
}

func waitLong(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
