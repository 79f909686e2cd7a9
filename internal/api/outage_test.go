package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/testenv"
)

// outcome is one request sent while the database came and went.
type outcome struct {
	what       string
	start, end time.Time
	status     int
	errType    string
	retryAfter string
	err        error
}

// flow sends requests from a few workers until stop is closed: reads
// (authenticate, get and list grants) and writes (create a credential, a
// transaction), each with a client timeout far beyond the bound the test
// asserts, so that a hang shows as a duration, not as a client error.
type flow struct {
	e      *apitest.Env
	key    string
	grant  string
	mu     sync.Mutex
	out    []outcome
	n      atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
	client *http.Client
}

func startFlow(e *apitest.Env, key, grant string, workers int) *flow {
	f := &flow{e: e, key: key, grant: grant, stop: make(chan struct{}), client: &http.Client{Timeout: 30 * time.Second}}
	for w := range workers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-f.stop:
					return
				default:
				}
				f.one(w, i)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return f
}

func (f *flow) one(w, i int) {
	var method, path, what string
	var body []byte
	switch i % 3 {
	case 0:
		method, path, what = "GET", "/v3/grants/"+f.grant, "get grant"
	case 1:
		method, path, what = "GET", "/v3/grants?limit=5", "list grants"
	case 2:
		method, path, what = "POST", "/v3/connectors/google/creds", "create credential"
		body, _ = json.Marshal(map[string]any{"name": fmt.Sprintf("c-%d-%d", w, f.n.Add(1)), "credential_type": "connector",
			"credential_data": map[string]any{"client_id": "x", "client_secret": "y"}})
	}
	o := outcome{what: what, start: time.Now()}
	req, _ := http.NewRequest(method, f.e.HTTP.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.status, o.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		var eb struct {
			Error struct{ Type string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		o.errType = eb.Error.Type
	}
	o.err, o.end = err, time.Now()
	f.mu.Lock()
	f.out = append(f.out, o)
	f.mu.Unlock()
}

// since returns the outcomes of the requests started in [from, to).
func (f *flow) between(from, to time.Time) []outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []outcome
	for _, o := range f.out {
		if !o.start.Before(from) && o.start.Before(to) {
			out = append(out, o)
		}
	}
	return out
}

func (f *flow) halt() []outcome {
	close(f.stop)
	f.wg.Wait()
	return f.out
}

// waitServed waits until a request of every kind started after from has
// succeeded, or fails the test after limit: grantd recovered by itself.
func (f *flow) waitServed(t *testing.T, from time.Time, limit time.Duration, phase string) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok := map[string]bool{}
		for _, o := range f.between(from, time.Now()) {
			if o.status/100 == 2 {
				ok[o.what] = true
			}
		}
		if len(ok) == 3 {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: grantd did not serve every kind of request again within %v", phase, limit)
	return time.Time{}
}

// TestPostgresOutage is the fault test of issue 16: grantd on a
// throwaway PostgreSQL cluster with requests flowing; the cluster is
// stopped, started, frozen (SIGSTOP: connections stay open, nothing
// answers) and thawed. Every request answers within the store deadline
// plus a margin; during each outage the answers are 503
// api.service_unavailable with Retry-After, never a 500; grantd serves
// again by itself after each.
func TestPostgresOutage(t *testing.T) {
	c := testenv.StartPGCluster(t)
	const storeTimeout = 500 * time.Millisecond
	// A request fails at its first call that meets the outage; one that
	// was past it meets it at the next. Two deadlines and a margin for a
	// loaded machine.
	const bound = 2*storeTimeout + 2*time.Second
	e := apitest.New(t, apitest.Options{Configure: func(cfg *config.Config) {
		cfg.DatabaseURL = c.URL
		cfg.Store.Timeout = storeTimeout
	}})
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "google")
	rt := e.RefreshToken("google", clientID, "ada@example.com")
	g := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	if g.Status != http.StatusOK && g.Status != http.StatusCreated {
		t.Fatalf("create grant: %d %s", g.Status, g.Raw)
	}
	grant, _ := g.Data()["id"].(string)

	f := startFlow(e, key, grant, 4)
	defer func() {
		select {
		case <-f.stop:
		default:
			f.halt()
		}
	}()
	f.waitServed(t, time.Now(), 10*time.Second, "before the outage")

	outage := func(name string, begin, end func()) {
		begin()
		from := time.Now()
		time.Sleep(bound + 1500*time.Millisecond) // requests flow into the outage
		to := time.Now()
		ready := e.Do("GET", "/readyz", "", nil)
		if ready.Status != http.StatusServiceUnavailable || ready.Header.Get("Retry-After") == "" {
			t.Errorf("%s: /readyz %d (Retry-After %q), want 503 with Retry-After", name, ready.Status, ready.Header.Get("Retry-After"))
		}
		end()
		// Requests started while the database was out (after the first
		// deadline, when every one still in flight has met it).
		during := f.between(from.Add(bound), to)
		if len(during) == 0 {
			t.Errorf("%s: no request was sent during the outage", name)
		}
		for _, o := range during {
			if o.err != nil || o.status != http.StatusServiceUnavailable || o.errType != "api.service_unavailable" || o.retryAfter == "" {
				t.Errorf("%s: %s during the outage: %d %s (Retry-After %q, err %v); want 503 api.service_unavailable with Retry-After",
					name, o.what, o.status, o.errType, o.retryAfter, o.err)
			}
		}
		f.waitServed(t, time.Now(), 20*time.Second, "after "+name)
		if r := e.Do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
			t.Errorf("after %s: /readyz %d", name, r.Status)
		}
	}
	outage("stop", func() { c.Stop("fast") }, c.Start)
	outage("freeze", c.Freeze, c.Thaw)

	all := f.halt()
	var n503 int
	for _, o := range all {
		if d := o.end.Sub(o.start); d > bound || o.err != nil {
			t.Errorf("%s took %v (err %v); every answer must come within %v", o.what, d.Round(time.Millisecond), o.err, bound)
		}
		switch {
		case o.status == http.StatusServiceUnavailable:
			n503++
			if o.retryAfter == "" || o.errType != "api.service_unavailable" {
				t.Errorf("%s: 503 %s without Retry-After", o.what, o.errType)
			}
		case o.status/100 != 2 && o.err == nil:
			t.Errorf("%s: %d %s; want a success or 503", o.what, o.status, o.errType)
		}
	}
	if strings.Contains(e.Logs.String(), "internal error") {
		t.Errorf("an outage was logged as an internal error:\n%s", grepLines(e.Logs.String(), "internal error", 5))
	}
	t.Logf("%d requests, %d answered 503", len(all), n503)
}

func grepLines(s, sub string, max int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < max {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSQLiteLocked: another process holding SQLite's write lock past the
// busy timeout makes writes fail with 503 and Retry-After (SQLITE_BUSY is
// store.ErrUnavailable), not 500; reads go on (WAL), and writes work
// again once the lock is released.
func TestSQLiteLocked(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	db, err := sql.Open("sqlite", filepath.Join(e.Config.DataDir, "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	create := func(name string) apitest.Response {
		return e.Do("POST", "/v3/connectors/google/creds", key, map[string]any{"name": name, "credential_type": "connector",
			"credential_data": map[string]any{"client_id": "x", "client_secret": "y"}})
	}
	start := time.Now()
	r := e.Do("POST", "/v3/connectors", key, map[string]any{"name": "g", "provider": "google",
		"settings": map[string]any{"client_id": "c", "client_secret": "s"}})
	took := time.Since(start)
	if r.Status != http.StatusServiceUnavailable || r.ErrType() != "api.service_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Errorf("write while locked: %d %s (Retry-After %q); want 503 api.service_unavailable with Retry-After", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	t.Logf("write while locked answered in %v", took.Round(time.Millisecond))
	if g := e.Do("GET", "/v3/connectors", key, nil); g.Status != http.StatusOK {
		t.Errorf("read while locked: %d %s", g.Status, g.Raw)
	}
	// A client that gives up while its write waits for the lock: the
	// write is made once the lock is released, and the request is not
	// counted or logged as a success the client never heard.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
	}()
	req, _ := http.NewRequest("POST", e.HTTP.URL+"/v3/connectors", strings.NewReader(`{"name":"late","provider":"microsoft","settings":{"client_id":"c","client_secret":"s"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := (&http.Client{Timeout: 500 * time.Millisecond}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the write answered %d while the database was locked", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.Logs.String(), `route="POST /v3/connectors" status=499`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if logs := e.Logs.String(); !strings.Contains(logs, `route="POST /v3/connectors" status=499`) || strings.Contains(logs, `route="POST /v3/connectors" status=201`) {
		t.Errorf("a write the client gave up on was logged as a success (want status=499 completed=true):\n%s", grepLines(logs, "POST /v3/connectors", 5))
	}
	if g := e.Do("GET", "/v3/connectors/microsoft", key, nil); g.Status != http.StatusOK {
		t.Errorf("the write the client gave up on was not made: %d %s", g.Status, g.Raw)
	}
	if r := e.Do("POST", "/v3/connectors", key, map[string]any{"name": "g", "provider": "google",
		"settings": map[string]any{"client_id": "c", "client_secret": "s"}}); r.Status != http.StatusCreated {
		t.Errorf("write after the lock: %d %s", r.Status, r.Raw)
	}
	if r := create("one"); r.Status/100 != 2 {
		t.Errorf("credential after the lock: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(e.Logs.String(), "internal error") {
		t.Errorf("a locked database was logged as an internal error")
	}
}
