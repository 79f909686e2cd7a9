package refresh_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// outageConfig: a strictly rotating provider is refreshed all the time
// (tokens of 1.5s), answers after 300ms (after the redemption: the rotated
// token exists only in the answer), and leases are shorter than the
// outages the tests make.
func outageConfig(lease time.Duration) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Refresh.Lease = lease
		cfg.Refresh.AccessTokenMargin = time.Second
		cfg.Log.Level = "info"
	}
}

func outageSandbox(c *cluster) {
	c.sb.SetRotation("zoom", sandbox.Rotation{Mode: sandbox.RotateStrict})
	c.sb.SetAccessTokenTTL("zoom", 1500*time.Millisecond)
}

// checkNothingLost stops nothing; it reads every grant and the provider's
// ledger: each grant is valid, never had grant.expired, and its stored
// refresh token is the one live token the provider knows for the account;
// nobody was answered invalid_grant.
func checkNothingLost(t *testing.T, c *cluster, ids, emails []string) {
	t.Helper()
	l := c.sb.Ledger("zoom")
	if l.Rejections != 0 {
		t.Errorf("the provider refused %d token requests (invalid_grant: a dead rotated token was redeemed)", l.Rejections)
	}
	for i, id := range ids {
		g := c.grant(id)
		rt := c.secrets(g)["refresh_token"]
		valid := l.ValidTokens[strings.ToLower(emails[i])]
		if g.Status != store.GrantValid {
			t.Errorf("%s: %s (%s: %s)", id, g.Status, g.LastFailureClass, g.LastFailureMessage)
		}
		if len(valid) != 1 || valid[0] != rt || !c.sb.IsValidRefreshToken("zoom", rt) {
			t.Errorf("%s: the stored refresh token is not the live one (%d live at the provider, stored live: %v): a rotated token was lost",
				id, len(valid), c.sb.IsValidRefreshToken("zoom", rt))
		}
		if n := len(c.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired", id, n)
		}
	}
	t.Logf("%d redemptions, %d refused, %d answers lost on the wire", l.Redemptions, l.Rejections, l.LostAnswers)
}

// TestDatabaseOutage: three grantd nodes (in-process refreshers, each with
// its own connections and spool slot) on a PostgreSQL the test owns, 20
// grants at a strictly rotating provider answering after 300ms, access
// tokens vended all along. The database is stopped (pg_ctl -m fast, then
// -m immediate) for longer than the lease while refreshes are in flight,
// then started again: no grant is invalidated, no rotated token is lost
// (each grant's stored token is its live one at the provider), nobody is
// answered invalid_grant, and vending during the outage (through the API
// and the refresher) answers a retryable error (503
// api.service_unavailable; fault.Unavailable) and nothing else.
func TestDatabaseOutage(t *testing.T) {
	// Not parallel: it runs alone, before the package's parallel tests,
	// so that their load does not stretch its timings, nor its theirs.
	pg := testenv.StartPGCluster(t)
	const lease = 2 * time.Second
	c := newCluster(t, 3, pg.URL, outageConfig(lease))
	outageSandbox(c)
	ids, emails := c.grants("zoom", c.connector("zoom"), 20)
	c.sb.InjectFailure("zoom", sandbox.Failure{Endpoint: "token", AnswerDelay: 300 * time.Millisecond, Count: -1})
	c.run()

	// Vend access tokens all along, on every node.
	var (
		stop                       = make(chan struct{})
		wg                         sync.WaitGroup
		vended, retryable, outages atomic.Int64
		down                       atomic.Bool
		badMu                      sync.Mutex
		bad                        []string
		kinds                      = map[string]int{}
	)
	for w := range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(20+rand.N(40)) * time.Millisecond):
				}
				id := ids[rand.N(len(ids))]
				if rand.N(2) == 0 {
					// Through the API: 200, or 503 (retryable).
					r := c.do(w, "GET", "/grantd/v1/grants/"+id+"/access-token", c.readKey, nil)
					switch {
					case r.Status == http.StatusOK:
						vended.Add(1)
					case r.Status == http.StatusServiceUnavailable && r.errType() == "api.service_unavailable":
						retryable.Add(1)
						if down.Load() {
							outages.Add(1)
						}
					default:
						badMu.Lock()
						bad = append(bad, fmt.Sprintf("HTTP %d %s", r.Status, r.Raw))
						badMu.Unlock()
					}
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.nodes[w].srv.Refresher.AccessToken(ctx, c.appID, id)
				cancel()
				switch {
				case err == nil:
					vended.Add(1)
				case fault.Is(err, fault.Unavailable):
					retryable.Add(1)
					if down.Load() {
						outages.Add(1)
					} else {
						badMu.Lock()
						k := err.Error()
						if len(k) > 60 {
							k = k[:60] + "…"
						}
						kinds[k]++
						badMu.Unlock()
					}
				default:
					badMu.Lock()
					bad = append(bad, fmt.Sprintf("%T %v", err, err))
					badMu.Unlock()
				}
			}
		})
	}

	for _, mode := range []string{"fast", "immediate"} {
		waitFor(t, 10*time.Second, "refreshes in flight at the provider", func() bool { return c.sb.Held() >= 3 })
		pg.Stop(mode)
		down.Store(true)
		time.Sleep(lease + time.Second)
		heldMem := 0
		for _, n := range c.nodes {
			m, s, _ := n.srv.Refresher.Held()
			heldMem += m
			if s < m {
				t.Errorf("%s outage: %d answers held in memory, only %d in the spool", mode, m, s)
			}
		}
		pg.Start()
		restarted := time.Now()
		time.AfterFunc(time.Second, func() { down.Store(false) }) // (pooled connections broken by the restart fail once)
		t.Logf("%s outage: %d answers held", mode, heldMem)
		if heldMem == 0 {
			t.Errorf("%s outage: no answer was held: the test did not exercise the window", mode)
		}
		waitFor(t, 20*time.Second, "every held answer stored", func() bool {
			for _, n := range c.nodes {
				if m, s, _ := n.srv.Refresher.Held(); m+s != 0 {
					return false
				}
			}
			return true
		})
		waitFor(t, 20*time.Second, "every grant refreshed after the restart", func() bool {
			for _, id := range ids {
				g, err := c.st().GetGrant(context.Background(), c.appID, id)
				if err != nil || (g.Status == store.GrantValid && !g.LastRefreshAt.After(restarted)) {
					return false
				}
			}
			return true
		})
	}
	close(stop)
	wg.Wait()
	c.stop()
	checkNothingLost(t, c, ids, emails)
	if !strings.Contains(c.logs.String(), "held answer stored") {
		t.Errorf("no \"held answer stored\" log line")
	}
	t.Logf("retryable errors outside the outages: %v", kinds)
	t.Logf("vending: %d tokens, %d retryable errors (%d during the outages)", vended.Load(), retryable.Load(), outages.Load())
	if outages.Load() == 0 {
		t.Errorf("no access-token request met an outage")
	}
	if len(bad) > 0 {
		t.Errorf("access-token errors other than retryable: %d, e.g. %s", len(bad), bad[0])
	}
}

// TestDatabaseOutageNodeKilled: two `grantd serve` processes on a
// PostgreSQL the test owns; the database is stopped (-m immediate) while
// refreshes are in flight; once the answers are held, the node holding
// some in its spool is SIGKILLed; the database is started again and the
// node restarted: it replays its spool, and nothing is lost (as in
// TestDatabaseOutage), although the other node was running all along.
func TestDatabaseOutageNodeKilled(t *testing.T) {
	// Not parallel (see TestDatabaseOutage).
	pg := testenv.StartPGCluster(t)
	bin := apitest.BuildGrantd(t)
	const lease = 3 * time.Second
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := testConfig(t, sb, pg.URL)
	outageConfig(lease)(&cfg)

	// Grants are created in-process, then the store is closed.
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, sb: sb, cfg: cfg, nodes: []*node{{srv: srv, http: httptest.NewServer(srv.API)}}, logs: &apitest.SyncBuffer{}}
	c.createApp()
	outageSandbox(c)
	ids, emails := c.grants("zoom", c.connector("zoom"), 16)
	c.nodes[0].http.Close()
	srv.Close()
	sb.InjectFailure("zoom", sandbox.Failure{Endpoint: "token", AnswerDelay: 300 * time.Millisecond, Count: -1})

	type child struct {
		addr string
		log  string
		cmd  *exec.Cmd
	}
	var kids []*child
	start := func(k *child) {
		f, err := os.OpenFile(k.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		ccfg := cfg
		ccfg.Listen = k.addr
		k.cmd = apitest.StartServe(t, bin, apitest.ChildEnv(t, ccfg), f)
	}
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		k := &child{addr: ln.Addr().String(), log: filepath.Join(t.TempDir(), fmt.Sprintf("node%d.log", i))}
		ln.Close()
		start(k)
		kids = append(kids, k)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, k := range kids {
				b, _ := os.ReadFile(k.log)
				t.Logf("node %d log:\n%s", i, b)
			}
		}
	})
	// metric reads a gauge of a child's /metrics (-1: unreachable).
	metric := func(k *child, name string) float64 {
		resp, err := http.Get("http://" + k.addr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, name+" ") {
				v, _ := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
				return v
			}
		}
		return -1
	}
	spooled := `grantd_refresh_held_answers{place="spool"}`
	waitFor(t, 20*time.Second, "both nodes up and refreshes in flight", func() bool {
		return metric(kids[0], spooled) >= 0 && metric(kids[1], spooled) >= 0 && sb.Held() >= 2
	})

	pg.Stop("immediate")
	stopped := time.Now()
	var victim *child
	waitFor(t, lease, "answers held in a spool, none left at the provider", func() bool {
		if sb.Held() != 0 {
			return false
		}
		for _, k := range kids {
			if metric(k, spooled) > 0 {
				victim = k
				return true
			}
		}
		return false
	})
	n := metric(victim, spooled)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	t.Logf("killed a node holding %v answers in its spool", n)
	time.Sleep(time.Until(stopped.Add(lease + time.Second)))
	pg.Start()
	restarted := time.Now()
	time.Sleep(200 * time.Millisecond)
	start(victim)

	waitFor(t, 30*time.Second, "every held answer stored", func() bool {
		for _, k := range kids {
			if metric(k, spooled) != 0 || metric(k, `grantd_refresh_held_answers{place="memory"}`) != 0 {
				return false
			}
		}
		return true
	})
	// Read the grants with a store of our own while the nodes run on.
	srv, err = server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c.nodes = []*node{{srv: srv}}
	waitFor(t, 20*time.Second, "every grant refreshed after the restart", func() bool {
		for _, id := range ids {
			g, err := srv.Store.GetGrant(context.Background(), c.appID, id)
			if err != nil || (g.Status == store.GrantValid && !g.LastRefreshAt.After(restarted)) {
				return false
			}
		}
		return true
	})
	for _, k := range kids {
		if err := k.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := k.cmd.Wait(); err != nil {
			t.Errorf("grantd serve after SIGTERM: %v", err)
		}
	}
	checkNothingLost(t, c, ids, emails)
	b, _ := os.ReadFile(victim.log)
	if !strings.Contains(string(b), "replaying provider answers left in the spool") || !strings.Contains(string(b), "held answer stored") {
		t.Errorf("the restarted node did not replay its spool")
	}
}
