package refresh_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// TestRefreshMillion measures the steady state of a large fleet kept fresh
// by `grantd serve` processes (docs/benchmarks.md, section A million
// grants). It runs only with GRANTD_REFRESH_MILLION=1:
//
//	GRANTD_REFRESH_MILLION=1 go test -run TestRefreshMillion -v -timeout 30m ./internal/refresh
//
// The fleet: GRANTD_REFRESH_MILLION_GRANTS (default 1,000,000) Google grants
// with one-hour access tokens, in the steady state where their planned
// refreshes are spread evenly over the hour: grants/3600 s refreshes are
// due every second (278/s for a million). The run observes
// GRANTD_REFRESH_MILLION_MEASURE (default 5m) of that hour rather than the
// whole of it: every grant due in that window is refreshed once, the rest
// sit in the table (they make the database a million grants large, and
// are planned after the window). The provider stand-in (the in-process
// sandbox) answers every token request after
// GRANTD_REFRESH_MILLION_LATENCY (default 100ms). GRANTD_REFRESH_MILLION_NODES
// (default 1) built `grantd serve` processes with the default refresh
// configuration (GRANTD_REFRESH_* variables override it) run on SQLite, or
// on a throwaway schema of GRANTD_TEST_DATABASE_URL when it is set.
//
// Reported: the refreshes per second the provider saw during the window
// (and what was due); each due grant's lateness (its refresh commit minus
// its planned time: p50, p99, max); how many access tokens expired before
// their refresh (commit after the seeded expiry, planned + refresh.margin,
// or never refreshed: must be 0); each node's RSS and Go heap in use over
// time (sampled every second from /metrics: the first and the last minute,
// and VmHWM), and its provider concurrency limit.
func TestRefreshMillion(t *testing.T) {
	if os.Getenv("GRANTD_REFRESH_MILLION") != "1" {
		t.Skip("set GRANTD_REFRESH_MILLION=1 to run the million-grant refresh benchmark")
	}
	n := envInt(t, "GRANTD_REFRESH_MILLION_GRANTS", 1000000)
	nodes := envInt(t, "GRANTD_REFRESH_MILLION_NODES", 1)
	measure := envDuration(t, "GRANTD_REFRESH_MILLION_MEASURE", 5*time.Minute)
	latency := envDuration(t, "GRANTD_REFRESH_MILLION_LATENCY", 100*time.Millisecond)
	const life = time.Hour // the access tokens' lifetime: the sandbox's default
	bin := apitest.BuildGrantd(t)
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
	margin := cfg.Refresh.Margin

	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, sb: sb, cfg: cfg, nodes: []*node{{srv: srv, http: httptest.NewServer(srv.API)}}, logs: &apitest.SyncBuffer{}}
	c.createApp()
	clientID := c.connector("google")
	scopes := apitest.DefaultScopes["google"]
	type seeder interface {
		SeedGrants(ctx context.Context, gs []store.Grant) error
	}
	var under store.Store = srv.Store
	if u, ok := under.(interface{ Unwrap() store.Store }); ok {
		under = u.Unwrap()
	}
	seed, ok := under.(seeder)
	if !ok {
		t.Fatalf("%T has no SeedGrants", under)
	}
	// grant i is planned at origin + life·i/n: due ones (in the window)
	// get a refresh token the sandbox knows, the others one it does not
	// (a refresh of them would make them invalid, which the run checks).
	// In keep_fresh mode the planned refreshes are spread over the
	// tokens' life; in on_demand mode over the keep-alive, and the stored
	// access tokens have expired (a mostly idle fleet).
	onDemand := cfg.Refresh.Mode == config.RefreshOnDemand
	span := life
	vend := 0
	if onDemand {
		span = cfg.Refresh.KeepAlive
		vend = envInt(t, "GRANTD_REFRESH_MILLION_VEND", 50000)
	}
	due := int(int64(n) * int64(measure) / int64(span))
	if due+vend > n {
		t.Fatalf("a window of %v is longer than the refresh period %v", measure, span)
	}
	setup := time.Now()
	dueIDs, vendIDs := make([]string, due), make([]string, vend)
	mk := func(i int, origin time.Time, rt string) (store.Grant, error) {
		at := origin.Add(time.Duration(float64(span) * float64(i) / float64(n))).Truncate(time.Microsecond)
		now := time.Now().UTC().Truncate(time.Microsecond)
		g := store.Grant{
			ID: tenant.NewID(), AppID: c.appID, Provider: "google", Email: fmt.Sprintf("user%07d@bench.example.com", i), Status: store.GrantValid,
			Scope: scopes, CreatedAt: now, UpdatedAt: now,
			AccessTokenExpiresAt: at.Add(margin), NextRefreshAt: at, LastRefreshAt: setup.UTC().Truncate(time.Microsecond),
		}
		if onDemand {
			g.AccessTokenExpiresAt = now.Add(-time.Minute)
		}
		if i < due {
			dueIDs[i] = g.ID
		} else if i < due+vend {
			vendIDs[i-due] = g.ID
		}
		var err error
		g.Secrets, err = sealSecrets(srv, g, map[string]string{"refresh_token": rt, "access_token": "bench-access-token"})
		return g, err
	}
	seedRange := func(from, to int, origin time.Time, token func(i int) string) {
		const batch = 100000
		for lo := from; lo < to; lo += batch {
			hi := min(lo+batch, to)
			gs := make([]store.Grant, hi-lo)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for w := range 4 {
				wg.Go(func() {
					for i := lo + w; i < hi; i += 4 {
						gs[i-lo], errs[w] = mk(i, origin, token(i))
						if errs[w] != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := seed.SeedGrants(ctx, gs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Refresh tokens the sandbox knows for the grants due in the window
	// and for those the on-demand clients ask for.
	tokens := make([]string, due+vend)
	for i := range due + vend {
		email := fmt.Sprintf("user%07d@bench.example.com", i)
		sb.AddUser("google", sandbox.User{Email: email})
		if tokens[i], err = sb.MintRefreshToken("google", clientID, email, scopes); err != nil {
			t.Fatal(err)
		}
	}
	// The grants not due in the window first, planned after it (an hour
	// from now and later: never due during the run).
	bgStart := time.Now()
	seedRange(due, n, time.Now().Add(time.Hour), func(i int) string {
		if i < due+vend {
			return tokens[i]
		}
		return "not-minted-" + tenant.NewID()
	})
	bgTook := time.Since(bgStart)
	bgRate := float64(n-due) / bgTook.Seconds()
	// Then the due ones, planned from base on; base leaves room for their
	// seeding (at the rate just seen, with half as much again) and for the
	// processes to start.
	base := time.Now().Add(15*time.Second + time.Duration(1.5*float64(due)/bgRate*float64(time.Second))).UTC().Truncate(time.Millisecond)
	dueStart := time.Now()
	seedRange(0, due, base, func(i int) string { return tokens[i] })
	tokens = nil
	c.nodes[0].http.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("setup: %d grants stored in %v (%d not due in the window at %.0f/s, then %d due in %v)", n, time.Since(setup).Round(time.Second),
		n-due, bgRate, due, time.Since(dueStart).Round(time.Millisecond))

	// The stand-in's latency, then the nodes.
	sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: latency, Count: -1})
	type proc struct {
		cmd     *exec.Cmd
		url     string
		logPath string
		samples []sample
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
	t.Logf("processes started; the window starts in %v", time.Until(base).Round(time.Millisecond))

	// Run until the window is over and its last grants had time to be
	// refreshed (the poll interval, jitter included), sampling.
	end := base.Add(measure)
	// On demand: clients ask for the access tokens of idle grants (expired
	// stored tokens: each request is a refresh), each grant once.
	var vendRes vendResult
	vendDone := make(chan struct{})
	if vend > 0 {
		go func() {
			defer close(vendDone)
			time.Sleep(time.Until(base))
			urls := make([]string, len(procs))
			for i, p := range procs {
				urls[i] = p.url
			}
			vendRes = vendLoad(urls, c.readKey, vendIDs, envInt(t, "GRANTD_REFRESH_MILLION_VEND_CLIENTS", 16), end)
		}()
	} else {
		close(vendDone)
	}
	stopAt := end.Add(cfg.Refresh.Interval*2 + 5*time.Second)
	var atBase, atEnd sandbox.Ledger
	var gotBase, gotEnd bool
	peakHeld := 0
	for now := time.Now(); now.Before(stopAt); now = time.Now() {
		if !gotBase && !now.Before(base) {
			atBase, gotBase = sb.Counters("google"), true
		}
		if !gotEnd && !now.Before(end) {
			atEnd, gotEnd = sb.Counters("google"), true
		}
		peakHeld = max(peakHeld, sb.Held())
		for _, p := range procs {
			m := scrapeLabelled(p.url + "/metrics")
			p.samples = append(p.samples, sample{at: now, rss: m["process_resident_memory_bytes"], heap: m["go_memstats_heap_inuse_bytes"],
				limit: m[`grantd_refresh_provider_concurrency{provider="google"}`], due: m["grantd_refresh_due_grants"]})
		}
		time.Sleep(time.Second)
	}
	vmHWM := make([]string, len(procs))
	for i, p := range procs {
		vmHWM[i] = procStatus(p.cmd.Process.Pid, "VmHWM")
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			b, _ := os.ReadFile(p.logPath)
			t.Fatalf("grantd serve: %v\n%s", err, b)
		}
	}

	// Read every due grant back.
	srv, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var (
		mu                             sync.Mutex
		late                           []time.Duration
		expired, invalid, notRefreshed int
		wg                             sync.WaitGroup
	)
	readErrs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < due; i += 8 {
				g, err := srv.Store.GetGrant(ctx, c.appID, dueIDs[i])
				if err != nil {
					readErrs[w] = err
					return
				}
				planned := base.Add(time.Duration(float64(span) * float64(i) / float64(n))).Truncate(time.Microsecond)
				mu.Lock()
				switch {
				case g.Status != store.GrantValid:
					invalid++
				case !g.LastRefreshAt.After(dueStart):
					notRefreshed++
				default:
					if !onDemand && g.LastRefreshAt.After(planned.Add(margin)) {
						expired++
					}
					late = append(late, g.LastRefreshAt.Sub(planned))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range readErrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := sb.Counters("google")
	slices.Sort(late)
	q := func(f float64) time.Duration {
		if len(late) == 0 {
			return 0
		}
		return late[min(len(late)-1, int(f*float64(len(late))))].Round(time.Millisecond)
	}
	rate := float64(atEnd.Redemptions-atBase.Redemptions) / measure.Seconds()
	t.Logf("RESULT store=%s mode=%s keepalive=%v nodes=%d grants=%d token_life=%v window=%v provider_latency=%v workers=%d provider_concurrency=%d..%d..%d: due %.0f/s; provider saw %.0f refreshes/s in the window (peak %d calls in flight); %d due grants: %d refreshed, %d never, %d after their access token expired, %d invalid; lateness p50 %v p99 %v max %v; provider: %d redemptions, %d rejections in the whole run",
		kind, cfg.Refresh.Mode, cfg.Refresh.KeepAlive, nodes, n, life, measure, latency, cfg.Refresh.Workers, cfg.Refresh.ProviderConcurrencyMin, cfg.Refresh.ProviderConcurrency, cfg.Refresh.ProviderConcurrencyMax,
		float64(n)/span.Seconds(), rate, peakHeld, due, len(late), notRefreshed, expired, invalid, q(0.5), q(0.99), q(1), after.Redemptions, after.Rejections)
	for i, p := range procs {
		first, last := window(p.samples, base, base.Add(time.Minute)), window(p.samples, end.Add(-time.Minute), end)
		t.Logf("RESULT node %d: RSS first minute ≤ %.0f MiB, last minute ≤ %.0f MiB (VmHWM %s); Go heap in use first minute ≤ %.0f MiB, last minute ≤ %.0f MiB; provider limit at the end of the window %.0f (range over the window %.0f–%.0f); due-grants gauge max %.0f",
			i, first.rss/(1<<20), last.rss/(1<<20), vmHWM[i], first.heap/(1<<20), last.heap/(1<<20), last.limit, minLimit(p.samples, base, end), window(p.samples, base, end).limit, window(p.samples, base, end).due)
	}
	t.Logf("machine: %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	<-vendDone
	if vend > 0 {
		t.Logf("RESULT on demand: %d clients asked for the access tokens of %d idle grants (stored token expired): %d answered with a refreshed token (%.0f/s), %d failed; latency p50 %v p99 %v max %v",
			vendRes.clients, vend, vendRes.ok, float64(vendRes.ok)/vendRes.took.Seconds(), vendRes.failed, vendRes.q(0.5), vendRes.q(0.99), vendRes.q(1))
		if vendRes.failed != 0 {
			t.Errorf("%d access-token requests failed (first: %s)", vendRes.failed, vendRes.firstErr)
		}
	}
	if notRefreshed != 0 || expired != 0 || invalid != 0 || len(late) != due || after.Rejections != 0 {
		t.Errorf("%d of %d due grants not refreshed, %d refreshed after their token expired, %d invalid", notRefreshed, due, expired, invalid)
	}
}

type sample struct {
	at                    time.Time
	rss, heap, limit, due float64
}

// window returns the maxima of the samples taken in [from, to].
func window(ss []sample, from, to time.Time) sample {
	var m sample
	for _, s := range ss {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		m.rss, m.heap, m.limit, m.due = max(m.rss, s.rss), max(m.heap, s.heap), max(m.limit, s.limit), max(m.due, s.due)
	}
	return m
}

func minLimit(ss []sample, from, to time.Time) float64 {
	m := -1.0
	for _, s := range ss {
		if !s.at.Before(from) && !s.at.After(to) && (m < 0 || s.limit < m) {
			m = s.limit
		}
	}
	return m
}

// scrapeLabelled returns every sample of a Prometheus text page by its
// name with labels as written.
func scrapeLabelled(url string) map[string]float64 {
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
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if f, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = f
		}
	}
	return out
}

func envInt(t *testing.T, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s: %q", name, v)
		}
		return n
	}
	return def
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s: %q", name, v)
		}
		return d
	}
	return def
}

type vendResult struct {
	clients, ok, failed int
	firstErr            string
	lat                 []time.Duration
	took                time.Duration
}

func (v vendResult) q(f float64) time.Duration {
	if len(v.lat) == 0 {
		return 0
	}
	return v.lat[min(len(v.lat)-1, int(f*float64(len(v.lat))))].Round(time.Millisecond)
}

// vendLoad has clients closed loops asking the nodes (round robin) for the
// access token of each grant of ids once, until end or ids run out.
func vendLoad(urls []string, key string, ids []string, clients int, end time.Time) vendResult {
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var (
		mu   sync.Mutex
		next int
		res  = vendResult{clients: clients}
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for time.Now().Before(end) {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(ids) {
					return
				}
				req, _ := http.NewRequest("GET", urls[i%len(urls)]+"/grantd/v1/grants/"+ids[i]+"/access-token", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				t0 := time.Now()
				resp, err := hc.Do(req)
				d := time.Since(t0)
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				switch {
				case err != nil:
					res.failed++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				case resp.StatusCode != http.StatusOK || strings.Contains(string(body), "bench-access-token"):
					res.failed++
					if res.firstErr == "" {
						res.firstErr = fmt.Sprintf("%d %.200s", resp.StatusCode, body)
					}
				default:
					res.ok++
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	slices.Sort(res.lat)
	return res
}
