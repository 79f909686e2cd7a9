package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/grantd/grantd/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/vault"
)

// cluster is one sandbox and one or more grantd nodes sharing a store.
type cluster struct {
	t       testing.TB
	sb      *sandbox.Sandbox
	cfg     config.Config
	nodes   []*node
	appID   string
	key     string // default API key
	readKey string // API key with credentials:read
	logs    *apitest.SyncBuffer
}

type node struct {
	srv    *server.Server
	http   *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// fastRefresh is a refresh configuration for tests: seconds-long tokens.
func fastRefresh(c *config.Config) {
	c.Refresh.Interval = 50 * time.Millisecond
	c.Refresh.Lease = 2 * time.Second
	c.Refresh.Margin = time.Second
	c.Refresh.MinBackoff = 50 * time.Millisecond
	c.Refresh.MaxBackoff = 400 * time.Millisecond
	c.Refresh.AccessTokenMargin = 300 * time.Millisecond
	c.Refresh.Workers = 4
}

// fixedConcurrency turns the adaptive per-provider limit off (min = max),
// for tests that count the per-grant retries during a provider outage:
// with it on, the provider-wide back-off (TestAdaptiveProviderConcurrency)
// makes fewer attempts than the counts they check.
func fixedConcurrency(c *config.Config) {
	c.Refresh.ProviderConcurrencyMin = c.Refresh.ProviderConcurrency
	c.Refresh.ProviderConcurrencyMax = c.Refresh.ProviderConcurrency
}

// newCluster starts a sandbox and n nodes on SQLite (databaseURL "") or on
// PostgreSQL. Schedulers are not started: see run.
func newCluster(t testing.TB, n int, databaseURL string, configure func(*config.Config)) *cluster {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := testConfig(t, sb, databaseURL)
	if configure != nil {
		configure(&cfg)
	}
	c := &cluster{t: t, sb: sb, cfg: cfg, logs: &apitest.SyncBuffer{}}
	for range n {
		c.addNode()
	}
	c.createApp()
	return c
}

// testConfig is grantd against sb with a fresh data directory and keyring
// and fastRefresh.
func testConfig(t testing.TB, sb *sandbox.Sandbox, databaseURL string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = databaseURL
	cfg.Listen = "127.0.0.1:0"
	sp := sb.Providers()
	cfg.Providers.Google, cfg.Providers.Microsoft, cfg.Providers.Yahoo, cfg.Providers.Zoom = sp.Google, sp.Microsoft, sp.Yahoo, sp.Zoom
	cfg.Network.Timeout = 3 * time.Second
	cfg.Network.AllowPrivateHosts = true // the sandbox's mail servers are on loopback
	kr, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Vault.Keyring = kr.MarshalInline()
	cfg.RateLimit = config.RateLimit{} // clients here hammer the API on purpose
	fastRefresh(&cfg)
	return cfg
}

// createApp creates the application and its two API keys on node 0.
func (c *cluster) createApp() {
	t := c.t
	t.Helper()
	app, key, err := c.nodes[0].srv.Tenants.CreateApplication(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, readKey, err := c.nodes[0].srv.Tenants.CreateAPIKey(context.Background(), app.ID, "reader", []string{tenant.ScopeReadCredentials})
	if err != nil {
		t.Fatal(err)
	}
	c.appID, c.key, c.readKey = app.ID, key, readKey
}

func (c *cluster) addNode() *node {
	c.t.Helper()
	log := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(context.Background(), c.cfg, log)
	if err != nil {
		c.t.Fatal(err)
	}
	n := &node{srv: srv, http: httptest.NewServer(srv.API)}
	c.t.Cleanup(func() {
		n.stop()
		n.http.Close()
		srv.Close()
	})
	c.nodes = append(c.nodes, n)
	return n
}

// run starts every node's scheduler.
func (c *cluster) run() {
	for _, n := range c.nodes {
		n.start()
	}
}

func (n *node) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		n.srv.Refresher.Run(ctx)
	}()
}

func (n *node) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

func (c *cluster) st() store.Store { return c.nodes[0].srv.Store }

type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r response) data() map[string]any { m, _ := r.Body["data"].(map[string]any); return m }

func (r response) errType() string {
	m, _ := r.Body["error"].(map[string]any)
	s, _ := m["type"].(string)
	return s
}

// do sends a request to node i (safe from any goroutine; errors are
// returned in Status 0).
func (c *cluster) do(i int, method, path, key string, body any) response {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	n := c.nodes[i%len(c.nodes)]
	req, err := http.NewRequest(method, n.http.URL+path, rd)
	if err != nil {
		return response{Raw: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := n.http.Client()
	if hc == nil {
		hc = http.DefaultClient // a server of another process
	}
	resp, err := hc.Do(req)
	if err != nil {
		return response{Raw: []byte(err.Error())}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// connector creates the connector of prov with a sandbox client.
func (c *cluster) connector(prov string) string {
	c.t.Helper()
	clientID, secret := "client-"+prov, "secret-"+prov
	c.sb.AddClient(prov, clientID, secret)
	r := c.do(0, "POST", "/v3/connectors", c.key, map[string]any{
		"name": prov, "provider": prov, "settings": map[string]any{"client_id": clientID, "client_secret": secret},
	})
	if r.Status != http.StatusCreated {
		c.t.Fatalf("create %s connector: %d %s", prov, r.Status, r.Raw)
	}
	return clientID
}

// grants creates n grants of prov and returns their ids and emails.
func (c *cluster) grants(prov, clientID string, n int) (ids, emails []string) {
	c.t.Helper()
	for i := range n {
		email := fmt.Sprintf("user%d.%s@example.com", i, prov)
		c.sb.AddUser(prov, sandbox.User{Email: email})
		rt, err := c.sb.MintRefreshToken(prov, clientID, email, apitest.DefaultScopes[prov])
		if err != nil {
			c.t.Fatal(err)
		}
		r := c.do(0, "POST", "/v3/connect/custom", c.key, map[string]any{
			"provider": prov, "settings": map[string]any{"refresh_token": rt},
		})
		if r.Status != http.StatusCreated {
			c.t.Fatalf("create grant: %d %s", r.Status, r.Raw)
		}
		ids = append(ids, r.data()["id"].(string))
		emails = append(emails, email)
	}
	return ids, emails
}

func (c *cluster) grant(id string) store.Grant {
	c.t.Helper()
	g, err := c.st().GetGrant(context.Background(), c.appID, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

func (c *cluster) secrets(g store.Grant) map[string]string {
	c.t.Helper()
	s, err := c.nodes[0].srv.Grants.Secrets(g)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// events returns the outbox events of type typ for grant id.
func (c *cluster) events(typ, id string) []store.Event {
	c.t.Helper()
	evs, err := c.st().ListEvents(context.Background(), 0, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.Type == typ && e.GrantID == id {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgSchema creates a throwaway schema in GRANTD_TEST_DATABASE_URL and
// returns a URL using it; it skips t when the variable is unset.
func pgSchema(t testing.TB) string {
	t.Helper()
	return testenv.PostgresSchema(t, "the multi-node PostgreSQL test")
}

// waitHealthy waits until every grant of ids is valid with no pending
// refresh failure.
func (c *cluster) waitHealthy(what string, ids []string) {
	c.t.Helper()
	waitFor(c.t, 5*time.Second, what, func() bool {
		for _, id := range ids {
			if g := c.grant(id); g.RefreshFailures != 0 || g.Status != store.GrantValid {
				return false
			}
		}
		return true
	})
}

// failIfLogged fails t when the logs contain s.
func (c *cluster) failIfLogged(s string) {
	c.t.Helper()
	if strings.Contains(c.logs.String(), s) {
		c.t.Errorf("log contains %q", s)
	}
}

// waitFailures waits until every grant of ids has at least n consecutive
// refresh failures, as read by grant.
func waitFailures(t testing.TB, d time.Duration, what string, grant func(id string) store.Grant, ids []string, n int) {
	t.Helper()
	waitFor(t, d, what, func() bool {
		for _, id := range ids {
			if g := grant(id); g.RefreshFailures < n {
				return false
			}
		}
		return true
	})
}

// sealSecrets seals a grant's secrets as the grant service does (tests
// that store grants or token sets directly, bypassing the service on
// purpose: a benchmark's bulk insert, a grant as stored by an older
// version).
func sealSecrets(srv *server.Server, g store.Grant, secrets map[string]string) ([]byte, error) {
	b, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	return srv.Vault.Seal(b, []byte("grant/"+g.AppID+"/"+g.ID))
}
