package refresh_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
)

// TestRefreshLoad measures the background refresh of many grants by
// `grantd serve` processes (docs/benchmarks.md, section Refresh). It runs
// only with GRANTD_REFRESH_BENCH=1:
//
//	GRANTD_REFRESH_BENCH=1 go test -run TestRefreshLoad -v -timeout 30m ./internal/refresh
//
// For each size in GRANTD_REFRESH_BENCH_GRANTS (default 10000,100000) it
// inserts that many Google grants (no rotation, one-hour access tokens)
// directly through the store, with sealed secrets and refresh tokens
// minted at the in-process OAuth sandbox, their planned refresh times
// (NextRefreshAt) spread evenly over GRANTD_REFRESH_BENCH_WINDOW (default
// 60s; 0s makes them all due at once, which measures the saturated rate).
// Then GRANTD_REFRESH_BENCH_NODES (default 1) built `grantd serve`
// processes refresh them with the default refresh configuration
// (GRANTD_REFRESH_* variables override it) on SQLite, or on a throwaway
// schema of GRANTD_TEST_DATABASE_URL when it is set. Reported: the
// refreshes per second (grants / time from first to last refresh), the
// lateness of each refresh past its planned time (commit time minus
// NextRefreshAt: p50, p99, max), and each process's peak RSS (VmHWM) and
// peak Go heap in use (sampled from /metrics every 500 ms).
func TestRefreshLoad(t *testing.T) {
	if os.Getenv("GRANTD_REFRESH_BENCH") != "1" {
		t.Skip("set GRANTD_REFRESH_BENCH=1 to run the refresh load benchmark")
	}
	sizes := []int{10000, 100000}
	if v := os.Getenv("GRANTD_REFRESH_BENCH_GRANTS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("GRANTD_REFRESH_BENCH_GRANTS: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	window := time.Minute
	if v := os.Getenv("GRANTD_REFRESH_BENCH_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("GRANTD_REFRESH_BENCH_WINDOW: %q", v)
		}
		window = d
	}
	nodes := 1
	if v := os.Getenv("GRANTD_REFRESH_BENCH_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("GRANTD_REFRESH_BENCH_NODES: %q", v)
		}
		nodes = n
	}
	bin := apitest.BuildGrantd(t)
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) { refreshLoad(t, bin, n, window, nodes) })
	}
}

func refreshLoad(t *testing.T, bin string, n int, window time.Duration, nodes int) {
	ctx := context.Background()
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dsn := ""
	if os.Getenv("GRANTD_TEST_DATABASE_URL") != "" {
		dsn = pgSchema(t)
	}
	cfg := testConfig(t, sb, dsn)
	cfg.Refresh = config.Default().Refresh
	for _, k := range config.Keys() {
		if v := os.Getenv(k.Env); v != "" && strings.HasPrefix(k.Path, "refresh.") {
			if err := cfg.Set(k.Path, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg.Log.Level = "warn"
	cfg.Network.Timeout = 15 * time.Second
	kind := "sqlite"
	if dsn != "" {
		kind = "postgres"
	}

	// Setup: application, connector, users, tokens and grants.
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, sb: sb, cfg: cfg, nodes: []*node{{srv: srv, http: httptest.NewServer(srv.API)}}, logs: &apitest.SyncBuffer{}}
	c.createApp()
	clientID := c.connector("google")
	scopes := apitest.DefaultScopes["google"]
	setup := time.Now()
	emails := make([]string, n)
	tokens := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("user%07d@bench.example.com", i)
		sb.AddUser("google", sandbox.User{Email: emails[i]})
		if tokens[i], err = sb.MintRefreshToken("google", clientID, emails[i], scopes); err != nil {
			t.Fatal(err)
		}
	}
	minted := time.Since(setup)
	// storeGrants stores count grants from 8 goroutines, grant i and its
	// refresh token made by mk(i), through the store with sealed secrets.
	storeGrants := func(count int, mk func(i int) (store.Grant, string)) error {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < count; i += 8 {
					g, token := mk(i)
					var err error
					g.Secrets, err = sealSecrets(srv, g, map[string]string{"refresh_token": token, "access_token": "bench-access-token"})
					if err == nil {
						err = srv.Store.CreateGrant(ctx, g)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	// How fast this machine stores grants, measured on grants of another
	// application that are never due (no planned refresh), sizes the
	// allowance for storing the n grants before the first is due: twice
	// the time measured for them, plus 15 s for the processes to start.
	calApp, _, err := srv.Tenants.CreateApplication(ctx, "calibration")
	if err != nil {
		t.Fatal(err)
	}
	calN := min(max(n/50, 200), 2000)
	calStart := time.Now()
	if err := storeGrants(calN, func(i int) (store.Grant, string) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		return store.Grant{ID: tenant.NewID(), AppID: calApp.ID, Provider: "google", Email: fmt.Sprintf("cal%07d@bench.example.com", i),
			Status: store.GrantValid, Scope: scopes, CreatedAt: now, UpdatedAt: now}, tokens[i%n]
	}); err != nil {
		t.Fatal(err)
	}
	perGrant := time.Since(calStart) / time.Duration(calN)
	allowance := 15*time.Second + 2*time.Duration(n)*perGrant
	t.Logf("setup: %d grants of another application stored in %v (%v each): the first refresh is planned %v from now",
		calN, time.Since(calStart).Round(time.Millisecond), perGrant.Round(time.Microsecond), allowance.Round(time.Second))
	base := time.Now().Add(allowance).UTC().Truncate(time.Millisecond)
	planned := make(map[string]time.Time, n)
	var mu sync.Mutex
	insertStart := time.Now()
	if err := storeGrants(n, func(i int) (store.Grant, string) {
		at := base
		if window > 0 {
			// In floating point: window × i overflows int64 nanoseconds
			// for long windows (a day at 107,000 grants).
			at = base.Add(time.Duration(float64(window) * float64(i) / float64(n)))
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		g := store.Grant{
			ID: tenant.NewID(), AppID: c.appID, Provider: "google", Email: emails[i], Status: store.GrantValid,
			Scope: scopes, CreatedAt: setup.UTC().Truncate(time.Microsecond).Add(time.Duration(i) * time.Microsecond), UpdatedAt: now,
			AccessTokenExpiresAt: at.Add(5 * time.Minute), NextRefreshAt: at, LastRefreshAt: now,
		}
		mu.Lock()
		planned[g.ID] = at
		mu.Unlock()
		return g, tokens[i]
	}); err != nil {
		t.Fatal(err)
	}
	inserted := time.Since(insertStart)
	c.nodes[0].http.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("setup: %d users and refresh tokens minted in %v, %d grants stored in %v (%.0f/s)", n, minted.Round(time.Millisecond), n, inserted.Round(time.Millisecond), float64(n)/inserted.Seconds())

	// Run the nodes.
	before := sb.Counters("google")
	type proc struct {
		cmd     *exec.Cmd
		url     string
		rss     float64 // peak sampled, bytes
		heap    float64
		vmHWM   string
		logPath string
	}
	var procs []*proc
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ncfg := cfg
		ncfg.Listen = ln.Addr().String()
		ln.Close()
		p := &proc{url: "http://" + ncfg.Listen, logPath: filepath.Join(t.TempDir(), fmt.Sprintf("grantd-%d.log", i))}
		lf, err := os.Create(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		p.cmd = exec.Command(bin, "serve")
		p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = apitest.ChildEnv(t, ncfg), lf, lf
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
				_ = p.cmd.Wait()
			}
		}()
		procs = append(procs, p)
	}
	if late := time.Since(base); late > 0 {
		t.Fatalf("setup took %v longer than planned: the first grants are already late", late)
	}
	deadline := base.Add(window + time.Duration(n)*2*time.Millisecond + time.Minute)
	for {
		for _, p := range procs {
			m := scrape(p.url + "/metrics")
			p.rss = max(p.rss, m["process_resident_memory_bytes"])
			p.heap = max(p.heap, m["go_memstats_heap_inuse_bytes"])
		}
		if sb.Counters("google").Redemptions-before.Redemptions >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d grants refreshed by %v", sb.Counters("google").Redemptions-before.Redemptions, n, deadline)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range procs {
		p.vmHWM = procStatus(p.cmd.Process.Pid, "VmHWM")
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			b, _ := os.ReadFile(p.logPath)
			t.Fatalf("grantd serve: %v\n%s", err, b)
		}
	}

	// Read every grant's refresh time.
	srv, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var late []time.Duration
	var first, last time.Time
	invalid := 0
	for off := 0; ; off += 5000 {
		gs, err := srv.Store.ListGrants(ctx, c.appID, store.GrantFilter{ListOptions: store.ListOptions{Limit: 5000, Offset: off, Asc: true}})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			p, ok := planned[g.ID]
			if !ok || !g.LastRefreshAt.After(insertStart) {
				t.Fatalf("grant %s not refreshed (status %s, %s)", g.ID, g.Status, g.LastFailureMessage)
			}
			if g.Status != store.GrantValid {
				invalid++
			}
			late = append(late, g.LastRefreshAt.Sub(p))
			if first.IsZero() || g.LastRefreshAt.Before(first) {
				first = g.LastRefreshAt
			}
			if g.LastRefreshAt.After(last) {
				last = g.LastRefreshAt
			}
		}
		if len(gs) < 5000 {
			break
		}
	}
	if len(late) != n || invalid != 0 {
		t.Fatalf("%d grants read, %d invalid", len(late), invalid)
	}
	slices.Sort(late)
	q := func(f float64) time.Duration {
		return late[min(len(late)-1, int(f*float64(len(late))))].Round(time.Millisecond)
	}
	rate := float64(n) / last.Sub(first).Seconds()
	after := sb.Counters("google")
	t.Logf("RESULT store=%s nodes=%d grants=%d window=%v workers=%d provider_concurrency=%d interval=%v: %.0f refreshes/s (%v from first to last), lateness p50 %v p99 %v max %v; provider: %d redemptions, %d rejections",
		kind, nodes, n, window, cfg.Refresh.Workers, cfg.Refresh.ProviderConcurrency, cfg.Refresh.Interval,
		rate, last.Sub(first).Round(time.Millisecond), q(0.5), q(0.99), late[len(late)-1].Round(time.Millisecond),
		after.Redemptions-before.Redemptions, after.Rejections-before.Rejections)
	for i, p := range procs {
		t.Logf("RESULT node %d: peak RSS %s (sampled %.0f MiB), peak Go heap in use %.0f MiB", i, p.vmHWM, p.rss/(1<<20), p.heap/(1<<20))
	}
	t.Logf("machine: %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}

// scrape returns the unlabelled samples of a Prometheus text page.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// procStatus returns a field of /proc/pid/status ("" when unavailable).
func procStatus(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
