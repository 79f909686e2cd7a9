package webhook_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/webhook"
)

// received is one delivery as the receiver saw it.
type received struct {
	raw       []byte
	signature string
	gzip      bool
	event     struct {
		SpecVersion string `json:"specversion"`
		Type        string `json:"type"`
		Source      string `json:"source"`
		ID          string `json:"id"`
		Time        int64  `json:"time"`
		Attempt     int    `json:"webhook_delivery_attempt"`
		Data        struct {
			ApplicationID string         `json:"application_id"`
			Object        map[string]any `json:"object"`
		} `json:"data"`
	}
}

// receiver is a webhook receiver on loopback. answer decides the status
// of each delivery (nil: 200); it answers the challenge itself.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r received) int
	calls  atomic.Int64
}

func newReceiver(t *testing.T, answer func(n int, r received) int) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.URL.Query().Get("challenge"); r.Method == http.MethodGet {
			_, _ = io.WriteString(w, c)
			return
		}
		n := int(rc.calls.Add(1))
		var rv received
		rv.raw, _ = io.ReadAll(r.Body)
		rv.signature = r.Header.Get("X-Nylas-Signature")
		rv.gzip = r.Header.Get("Content-Encoding") == "gzip"
		body := rv.raw
		if rv.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(rv.raw))
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			body, _ = io.ReadAll(zr)
		}
		if err := json.Unmarshal(body, &rv.event); err != nil {
			t.Errorf("delivery body is not JSON: %v: %q", err, body)
		}
		status := 200
		if rc.answer != nil {
			status = rc.answer(n, rv)
		}
		if status == 200 {
			rc.mu.Lock()
			rc.got = append(rc.got, rv)
			rc.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) delivered() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// validSignature checks x-nylas-signature with crypto/hmac, not webhook.Sign.
func validSignature(secret string, rv received) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(rv.raw)
	return hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(rv.signature))
}

func fastWebhooks(c *config.Config) {
	c.Webhooks.AllowPrivateURLs = true
	c.Webhooks.MinBackoff, c.Webhooks.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	c.Webhooks.Timeout, c.Webhooks.Lease = 300*time.Millisecond, 5*time.Second
	c.Webhooks.PollInterval = 10 * time.Millisecond
}

// env is a grantd (real SQLite store, sandbox providers) whose worker runs.
func env(t *testing.T) *apitest.Env {
	e := apitest.New(t, apitest.Options{Configure: fastWebhooks})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Server.Deliverer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func subscribe(t *testing.T, e *apitest.Env, key, url string, body map[string]any) (string, string) {
	t.Helper()
	b := map[string]any{"webhook_url": url, "trigger_types": webhook.Triggers}
	for k, v := range body {
		b[k] = v
	}
	r := e.Do("POST", "/v3/webhooks", key, b)
	if r.Status != 200 {
		t.Fatalf("create webhook: %d %s", r.Status, r.Raw)
	}
	return r.Data()["id"].(string), r.Data()["webhook_secret"].(string)
}

// newGrant creates a google grant for email and returns its id.
func newGrant(t *testing.T, e *apitest.Env, key, clientID, email string) string {
	t.Helper()
	rt := e.RefreshToken("google", clientID, email)
	r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	if r.Status != 201 {
		t.Fatalf("create grant: %d %s", r.Status, r.Raw)
	}
	return r.Data()["id"].(string)
}

func TestDeliveryEveryTrigger(t *testing.T) {
	e := env(t)
	appID, key := e.App("hooks")
	rc := newReceiver(t, nil)
	_, secret := subscribe(t, e, key, rc.URL+"/hook", nil)
	clientID := e.OAuthConnector(key, "google")

	id := newGrant(t, e, key, clientID, "ada@example.com")
	if r := e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"scope": []string{"openid", "email"}}); r.Status != 200 {
		t.Fatalf("patch: %s", r.Raw)
	}
	rt := e.RefreshToken("google", clientID, "ada@example.com")
	if r := e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": map[string]any{"refresh_token": rt}}); r.Status != 200 {
		t.Fatalf("reauth: %s", r.Raw)
	}
	// Deleting the connector invalidates the grant: grant.expired.
	if r := e.Do("DELETE", "/v3/connectors/google", key, nil); r.Status != 200 {
		t.Fatalf("delete connector: %s", r.Raw)
	}
	if r := e.Do("DELETE", "/v3/grants/"+id, key, nil); r.Status != 200 {
		t.Fatalf("delete grant: %s", r.Raw)
	}
	waitFor(t, "5 deliveries", func() bool { return len(rc.delivered()) >= 5 })
	got := rc.delivered()
	wantTypes := []string{"grant.created", "grant.updated", "grant.updated", "grant.expired", "grant.deleted"}
	if len(got) != len(wantTypes) {
		t.Fatalf("got %d deliveries, want %d", len(got), len(wantTypes))
	}
	ids := map[string]bool{}
	for i, rv := range got {
		ev := rv.event
		if ev.Type != wantTypes[i] {
			t.Errorf("delivery %d is %s, want %s (order per grant)", i, ev.Type, wantTypes[i])
		}
		if !validSignature(secret, rv) || rv.gzip {
			t.Errorf("delivery %d: signature %q does not verify (or gzipped)", i, rv.signature)
		}
		o := ev.Data.Object
		if ev.SpecVersion != "1.0" || ev.Source != "/nylas/system" || ev.ID == "" || ids[ev.ID] || ev.Attempt != 1 ||
			ev.Time < time.Now().Add(-time.Minute).Unix() || ev.Data.ApplicationID != appID ||
			o["grant_id"] != id || o["integration_id"] != appID || o["provider"] != "google" || o["email"] != "ada@example.com" ||
			o["name"] == nil || o["scope"] == nil || o["grant_status"] == nil {
			t.Errorf("delivery %d: %s", i, rv.raw)
		}
		ids[ev.ID] = true
	}
	if got[1].event.Data.Object["reauthentication_flag"] != false || got[2].event.Data.Object["reauthentication_flag"] != true {
		t.Errorf("reauthentication_flag: %s / %s", got[1].raw, got[2].raw)
	}
	exp := got[3].event.Data.Object
	if exp["grant_status"] != "invalid" || exp["last_failure_class"] != "connector_deleted" || exp["last_failure_message"] == "" || exp["grant_updated_at"] == nil {
		t.Errorf("grant.expired lacks its cause: %s", got[3].raw)
	}
	// The destination shows how it went.
	waitFor(t, "destination state", func() bool {
		r := e.Do("GET", "/v3/webhooks", key, nil).List()[0]["grantd"].(map[string]any)
		return r["last_delivery_status"] == "200" && r["last_delivery_at"].(float64) > 0
	})
	if m := e.Metrics(); !bytes.Contains([]byte(m), []byte(`grantd_webhook_deliveries_total{outcome="delivered"} 5`)) {
		t.Errorf("metrics lack 5 delivered")
	}
}

func TestDeliveryGzipRotateAndSubscription(t *testing.T) {
	e := env(t)
	_, key := e.App("hooks")
	rc := newReceiver(t, nil)
	hookID, secret := subscribe(t, e, key, rc.URL, map[string]any{"compressed_delivery": true, "trigger_types": []string{"grant.created"}})
	clientID := e.OAuthConnector(key, "google")
	newGrant(t, e, key, clientID, "gz@example.com")
	waitFor(t, "a delivery", func() bool { return len(rc.delivered()) == 1 })
	rv := rc.delivered()[0]
	if !rv.gzip || !validSignature(secret, rv) || rv.event.Type != "grant.created" {
		t.Fatalf("gzip delivery: gzip=%v signature ok=%v %+v", rv.gzip, validSignature(secret, rv), rv.event)
	}
	rot := e.Do("POST", "/v3/webhooks/rotate-secret/"+hookID, key, map[string]any{})
	secret2 := rot.Data()["webhook_secret"].(string)
	newGrant(t, e, key, clientID, "gz2@example.com")
	waitFor(t, "a second delivery", func() bool { return len(rc.delivered()) == 2 })
	rv = rc.delivered()[1]
	if !validSignature(secret2, rv) || validSignature(secret, rv) {
		t.Fatalf("after rotate-secret the delivery is not signed with the new secret only")
	}
	// Only subscribed types are sent: a delete is not.
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.delivered()); n != 2 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestDeliveryRetriesKeepOrder(t *testing.T) {
	e := env(t)
	_, key := e.App("hooks")
	// Every third call fails: 500, a hang past webhooks.timeout, or 503.
	rc := newReceiver(t, func(n int, rv received) int {
		switch n % 3 {
		case 1:
			return 500
		case 2:
			if n%2 == 0 {
				time.Sleep(500 * time.Millisecond) // beyond the 300ms timeout
				return 200                         // never seen by grantd
			}
			return 503
		}
		return 200
	})
	_, secret := subscribe(t, e, key, rc.URL, nil)
	clientID := e.OAuthConnector(key, "google")
	var grants []string
	for i := range 3 {
		grants = append(grants, newGrant(t, e, key, clientID, "retry"+string(rune('a'+i))+"@example.com"))
	}
	for round := range 4 {
		for _, id := range grants {
			if r := e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"scope": []string{"openid", "r" + string(rune('0'+round))}}); r.Status != 200 {
				t.Fatalf("patch: %s", r.Raw)
			}
		}
	}
	// 3 creates + 12 updates; the hung ones may also arrive: count by event id.
	waitFor(t, "15 events delivered", func() bool {
		ids := map[string]bool{}
		for _, rv := range rc.delivered() {
			ids[rv.event.ID] = true
		}
		return len(ids) >= 15
	})
	perGrant := map[string][]string{}
	seen := map[string]bool{}
	retried := 0
	for _, rv := range rc.delivered() {
		if !validSignature(secret, rv) {
			t.Fatalf("signature of a retry does not verify")
		}
		if rv.event.Attempt > 1 {
			retried++
		}
		if seen[rv.event.ID] {
			continue
		}
		seen[rv.event.ID] = true
		g := rv.event.Data.Object["grant_id"].(string)
		sc, _ := rv.event.Data.Object["scope"].([]any)
		label := rv.event.Type
		if rv.event.Type == "grant.updated" && len(sc) == 2 {
			label = sc[1].(string)
		}
		perGrant[g] = append(perGrant[g], label)
	}
	if retried == 0 {
		t.Fatal("no delivery needed a retry: the receiver's failures were not exercised")
	}
	for _, id := range grants {
		want := []string{"grant.created", "r0", "r1", "r2", "r3"}
		if got := perGrant[id]; len(got) != len(want) || !equal(got, want) {
			t.Errorf("grant %s: events arrived as %v, want %v", id, got, want)
		}
	}
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestDelivery410StopsAtOnce(t *testing.T) {
	e := env(t)
	_, key := e.App("hooks")
	rc := newReceiver(t, func(n int, rv received) int { return http.StatusGone })
	hookID, _ := subscribe(t, e, key, rc.URL, nil)
	clientID := e.OAuthConnector(key, "google")
	id := newGrant(t, e, key, clientID, "gone@example.com")
	for i := range 3 {
		e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"scope": []string{"s" + string(rune('0'+i))}})
	}
	waitFor(t, "the destination failed", func() bool {
		return e.Do("GET", "/v3/webhooks/"+hookID, key, nil).Data()["status"] == "failed"
	})
	time.Sleep(200 * time.Millisecond)
	if n := rc.calls.Load(); n != 1 {
		t.Fatalf("the receiver got %d calls after answering 410 once", n)
	}
	d := e.Do("GET", "/v3/webhooks/"+hookID, key, nil).Data()["grantd"].(map[string]any)
	if d["last_delivery_status"] != "410" {
		t.Fatalf("destination state %v", d)
	}
	if st, _ := e.Server.Store.DeliveryStats(context.Background()); st.Queued != 0 {
		t.Fatalf("%d deliveries still queued for a failed destination", st.Queued)
	}
	// New events are not queued for it; PUT status active re-activates it.
	e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"scope": []string{"later"}})
	if r := e.Do("PUT", "/v3/webhooks/"+hookID, key, map[string]any{"status": "active"}); r.Data()["status"] != "active" {
		t.Fatalf("reactivate: %s", r.Raw)
	}
}

func TestDeliveryDeletedDestinationStops(t *testing.T) {
	e := env(t)
	_, key := e.App("hooks")
	rc := newReceiver(t, func(n int, rv received) int { return 500 })
	hookID, _ := subscribe(t, e, key, rc.URL, nil)
	clientID := e.OAuthConnector(key, "google")
	newGrant(t, e, key, clientID, "del@example.com")
	waitFor(t, "two failed attempts", func() bool { return rc.calls.Load() >= 2 })
	e.Do("DELETE", "/v3/webhooks/"+hookID, key, nil)
	n := rc.calls.Load()
	// One chain: at most the attempt in flight at the delete may still
	// arrive; retries come every 20–200 ms, so a second would show.
	time.Sleep(time.Second)
	if m := rc.calls.Load(); m > n+1 {
		t.Fatalf("attempts went on after the destination was deleted: %d → %d", n, m)
	}
}

// clock is time.Now plus an offset the test moves.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) skip(d time.Duration) { c.off.Add(int64(d)) }

func TestDeliveryFailingThenFailed(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: fastWebhooks})
	_, key := e.App("hooks")
	rc := newReceiver(t, func(n int, rv received) int { return 503 })
	hookID, _ := subscribe(t, e, key, rc.URL, nil)
	var clk clock
	w := webhook.NewWorker(webhook.Config{Workers: 2, Timeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Lease: 5 * time.Second, PollInterval: 10 * time.Millisecond},
		e.Server.Store, e.Server.Webhooks, e.Server.Webhooks.HTTP, slog.Default(), clk.now, "clocked")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	clientID := e.OAuthConnector(key, "google")
	newGrant(t, e, key, clientID, "failing@example.com")
	status := func() (string, map[string]any) {
		d := e.Do("GET", "/v3/webhooks/"+hookID, key, nil).Data()
		return d["status"].(string), d["grantd"].(map[string]any)
	}
	waitFor(t, "3 failed attempts", func() bool { _, g := status(); return g["consecutive_failures"].(float64) >= 3 })
	if st, g := status(); st != "active" || g["last_delivery_status"] != "503" {
		t.Fatalf("after a few failures: %s %v", st, g)
	}
	clk.skip(16 * time.Minute)
	waitFor(t, "failing", func() bool { st, _ := status(); return st == "failing" })
	if _, g := status(); g["failing_since"].(float64) == 0 {
		t.Fatalf("failing_since not set: %v", g)
	}
	clk.skip(webhook.FailedAfter)
	waitFor(t, "failed", func() bool { st, _ := status(); return st == "failed" })
	if st, _ := e.Server.Store.DeliveryStats(context.Background()); st.Queued != 0 {
		t.Fatalf("%d deliveries queued for a failed destination", st.Queued)
	}
}

func TestDeliverySSRFAtDelivery(t *testing.T) {
	// The destination was accepted (private URLs allowed then); the
	// worker's client refuses private addresses: each attempt fails
	// without a connection, as when a name starts resolving to a private
	// address after the create (DNS rebinding).
	e := apitest.New(t, apitest.Options{Configure: fastWebhooks})
	_, key := e.App("hooks")
	rc := newReceiver(t, nil)
	hookID, _ := subscribe(t, e, key, rc.URL, nil)
	cfg := webhook.Config{Workers: 2, Timeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Lease: 5 * time.Second, PollInterval: 10 * time.Millisecond}
	w := webhook.NewWorker(cfg, e.Server.Store, e.Server.Webhooks, webhook.NewHTTPClient(netx.Guard{}, nil, 2), slog.Default(), time.Now, "guarded")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	newGrant(t, e, key, e.OAuthConnector(key, "google"), "ssrf@example.com")
	waitFor(t, "a refused attempt", func() bool {
		g := e.Do("GET", "/v3/webhooks/"+hookID, key, nil).Data()["grantd"].(map[string]any)
		return g["last_delivery_status"] == "not_public"
	})
	if n := rc.calls.Load(); n != 0 {
		t.Fatalf("the private receiver got %d deliveries", n)
	}
}
