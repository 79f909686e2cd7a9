package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/testenv"
	"github.com/grantd/grantd/internal/vault"
	"github.com/grantd/grantd/internal/webhook"
)

// arrival is one delivery the cluster's receiver took.
type arrival struct {
	eventID string
	grant   string
	n       int
	attempt int
	at      time.Time // when the request reached the receiver
}

// TestClusterSIGKILL runs two, then three `grantd serve` processes on one
// PostgreSQL schema delivering to one receiver while events keep coming,
// and kills one node with SIGKILL while deliveries are in flight at the
// receiver. Every event must arrive at least once, the events of each
// grant in order (a re-delivery of the event in flight at the kill may
// repeat it, never go back), and duplicates only for events first
// received before the kill, at most the killed node's workers.
func TestClusterSIGKILL(t *testing.T) {
	bin := apitest.BuildGrantd(t)
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) { clusterKill(t, bin, nodes) })
	}
}

func clusterKill(t *testing.T, bin string, nodes int) {
	dsn := testenv.PostgresSchema(t, "the webhook cluster test")
	const (
		grants  = 12
		perG    = 15
		workers = 4
	)
	var (
		mu       sync.Mutex
		got      []arrival
		inFlight atomic.Int64
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		inFlight.Add(1)
		defer inFlight.Add(-1)
		var ev struct {
			ID      string `json:"id"`
			Attempt int    `json:"webhook_delivery_attempt"`
			Data    struct {
				Object struct {
					GrantID string `json:"grant_id"`
					N       int    `json:"n"`
				} `json:"object"`
			} `json:"data"`
		}
		started := time.Now()
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body: %v", err)
		}
		time.Sleep(40 * time.Millisecond) // deliveries stay in flight a while
		mu.Lock()
		got = append(got, arrival{ev.ID, ev.Data.Object.GrantID, ev.Data.Object.N, ev.Attempt, started})
		mu.Unlock()
	}))
	defer rcv.Close()

	kr, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = dsn
	cfg.Vault.Keyring = kr.MarshalInline()
	cfg.Refresh.Enabled = false
	cfg.Log.Level = "warn"
	cfg.Webhooks.AllowPrivateURLs = true
	cfg.Webhooks.Workers = workers
	cfg.Webhooks.Timeout, cfg.Webhooks.Lease = time.Second, 3*time.Second
	cfg.Webhooks.MinBackoff, cfg.Webhooks.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	cfg.Webhooks.PollInterval = 20 * time.Millisecond

	// The application, its destination and the grants, written by an
	// in-process grantd on the same database.
	ctx := context.Background()
	admin, app := appWithHook(t, cfg, rcv.URL+"/hook")
	st := admin.Store
	ids := make([]string, grants)
	event := func(g string, n int) store.Event {
		return store.Event{ID: fmt.Sprintf("%s-%02d", g, n), Type: "grant.updated", CreatedAt: time.Now(),
			Payload: fmt.Appendf(nil, `{"application_id":%q,"object":{"grant_id":%q,"n":%d}}`, app.ID, g, n)}
	}
	for i := range ids {
		g := store.Grant{ID: fmt.Sprintf("g%02d", i), AppID: app.ID, Provider: "google", Email: fmt.Sprintf("c%d@example.com", i),
			Status: store.GrantValid, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		ids[i] = g.ID
		if err := st.CreateGrant(ctx, g, event(g.ID, 0)); err != nil {
			t.Fatal(err)
		}
	}

	env := apitest.ChildEnv(t, cfg)
	var logs strings.Builder
	var logMu sync.Mutex
	logw := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
	start := func() *exec.Cmd {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return apitest.StartServe(t, bin, append(env, "GRANTD_LISTEN="+addr), logw)
	}
	cmds := make([]*exec.Cmd, nodes)
	for i := range cmds {
		cmds[i] = start()
	}

	// Events keep coming while the nodes deliver and one is killed.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for n := 1; n < perG; n++ {
			for _, g := range ids {
				_, err := st.UpdateGrant(ctx, app.ID, g, func(old store.Grant) (store.Grant, []store.Event, error) {
					return old, []store.Event{event(g, n)}, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(30 * time.Millisecond)
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	waitFor(t, "a third of the events delivered", func() bool { return count() >= grants*perG/3 })
	waitFor(t, "deliveries in flight at the receiver", func() bool { return inFlight.Load() > 0 })
	held := inFlight.Load()
	killedAt := time.Now()
	if err := cmds[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmds[0].Wait()
	<-produced

	total := grants * perG
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		seen := map[string]bool{}
		for _, a := range got {
			seen[a.eventID] = true
		}
		mu.Unlock()
		if len(seen) == total {
			break
		}
		if time.Now().After(deadline) {
			logMu.Lock()
			t.Fatalf("%d of %d events delivered within 60 s of the kill; logs:\n%s", len(seen), total, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range cmds[1:] {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}

	mu.Lock()
	defer mu.Unlock()
	first := map[string]arrival{}
	dups := 0
	dupsOf := map[string]int{} // grant → its events delivered twice
	last := map[string]int{}
	for _, a := range got {
		if prev, dup := first[a.eventID]; dup {
			dups++
			dupsOf[a.grant]++
			// The first copy came from the killed node: its request
			// reached the receiver by the kill (a request written just
			// before may be read just after; the others' re-delivery
			// waits for the 3 s lease).
			if !prev.at.Before(killedAt.Add(time.Second)) {
				t.Errorf("event %s delivered twice, first at %v, after the kill (%v)", a.eventID, prev.at, killedAt)
			}
		} else {
			first[a.eventID] = a
		}
		if a.n < last[a.grant] {
			t.Errorf("grant %s: event %d arrived after event %d", a.grant, a.n, last[a.grant])
		}
		last[a.grant] = a.n
	}
	// A grant's next delivery is claimed only once its previous one is
	// recorded, so the killed node can have left at most one delivery of
	// each grant unrecorded: in flight at the receiver, or answered and
	// waiting in its batch of results (workers free their slot when the
	// result is queued, not when it is written). Each of those may repeat,
	// nothing else.
	for g, n := range dupsOf {
		if n > 1 {
			t.Errorf("grant %s: %d events delivered twice; at most the one the killed node had not recorded may repeat", g, n)
		}
	}
	t.Logf("%d nodes: %d events, %d deliveries, %d in flight at the receiver when node 0 was killed, %d duplicates (all first received before the kill)",
		nodes, total, len(got), held, dups)
	if st, err := st.DeliveryStats(ctx); err != nil || st.Queued != 0 {
		t.Errorf("queue after the run: %+v %v", st, err)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// appWithHook assembles an in-process grantd from cfg (closed at the end
// of the test) with an application whose destination, subscribed to every
// trigger, is url.
func appWithHook(t *testing.T, cfg config.Config, url string) (*server.Server, tenant.Application) {
	t.Helper()
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	app, _, err := srv.Tenants.CreateApplication(ctx, "webhooks")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Webhooks.Create(ctx, app.ID, webhook.Input{URL: &url, TriggerTypes: webhook.Triggers}); err != nil {
		t.Fatal(err)
	}
	return srv, app
}
