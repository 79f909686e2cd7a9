package refresh_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
)

// TestSIGKILLMidRefresh runs `grantd serve` as a child process refreshing
// grants of a provider without rotation (Google), with grace rotation
// (Microsoft) and with strict rotation (Zoom), every token request held
// back at the provider before and after the redemption, kills it with
// SIGKILL while refreshes are in flight, several times, and lets a last
// process run and stop gracefully. Then, read from the database:
//   - no rotation and grace rotation: every grant is valid and its stored
//     refresh token is one the provider accepts (nothing was lost);
//   - strict rotation: a kill after the provider rotated and before its
//     answer reached grantd is inherently lossy (see the package comment;
//     an answer that arrived is in the spool and replayed by the next
//     process): such grants must be invalid with exactly one grant.expired
//     and an orphaned live successor at the provider, never valid with a
//     dead token; every other grant is valid with a live token.
func TestSIGKILLMidRefresh(t *testing.T) {
	t.Parallel()
	bin := apitest.BuildGrantd(t)
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := testConfig(t, sb, "")
	cfg.Refresh.Workers = 8
	cfg.Log.Level = "info"
	provs := map[string]sandbox.Rotation{
		"google":    {Mode: sandbox.RotateNone},
		"microsoft": {Mode: sandbox.RotateGrace, Grace: time.Minute}, // longer than the whole kill sequence
		"zoom":      {Mode: sandbox.RotateStrict},
	}
	const perProvider = 5

	// Create the grants in-process, then close the store.
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{srv: srv, http: httptest.NewServer(srv.API)}
	c := &cluster{t: t, sb: sb, cfg: cfg, nodes: []*node{n}, logs: &apitest.SyncBuffer{}}
	c.createApp()
	ids, emails := map[string][]string{}, map[string]string{}
	for prov, rot := range provs {
		sb.SetRotation(prov, rot)
		sb.SetAccessTokenTTL(prov, time.Second)
		var es []string
		ids[prov], es = c.grants(prov, c.connector(prov), perProvider)
		for i, id := range ids[prov] {
			emails[id] = es[i]
		}
	}
	n.http.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for prov := range provs {
		sb.InjectFailure(prov, sandbox.Failure{Endpoint: "token", Delay: 50 * time.Millisecond, AnswerDelay: 150 * time.Millisecond, Count: -1})
	}

	logPath := filepath.Join(t.TempDir(), "grantd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("grantd log:\n%s", b)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	ln.Close()
	env := apitest.ChildEnv(t, cfg)
	start := func() *exec.Cmd {
		return apitest.StartServe(t, bin, env, logf)
	}

	const kills = 5
	for i := range kills {
		cmd := start()
		waitFor(t, 15*time.Second, "refreshes in flight at the provider", func() bool { return sb.Held() > 0 })
		time.Sleep(time.Duration(rand.N(200)) * time.Millisecond)
		held := sb.Held()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		t.Logf("kill %d: %d token requests held at the provider", i+1, held)
	}

	// A last process runs until every grant was refreshed (or found
	// invalid) after the leases of the killed ones ran out, then stops
	// gracefully (SIGTERM: refreshes in flight are committed).
	final := time.Now()
	cmd := start()
	c.nodes = []*node{{http: &httptest.Server{URL: "http://" + cfg.Listen}}}
	all := append(append(append([]string(nil), ids["google"]...), ids["microsoft"]...), ids["zoom"]...)
	waitFor(t, 30*time.Second, "every grant refreshed after the last restart", func() bool {
		for _, id := range all {
			r := c.do(0, "GET", "/v3/grants/"+id, c.key, nil)
			ext, _ := r.data()["grantd"].(map[string]any)
			last, _ := ext["last_refresh_at"].(float64)
			if r.data()["grant_status"] != "invalid" && int64(last) <= final.Unix() {
				return false
			}
		}
		return true
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("grantd serve after SIGTERM: %v", err)
	}

	// Read the database after the child is gone.
	srv, err = server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c.nodes = []*node{{srv: srv}}
	lost := 0
	for prov, rot := range provs {
		l := sb.Ledger(prov)
		lost += l.LostAnswers
		invalid := 0
		for _, id := range ids[prov] {
			g := c.grant(id)
			rt := c.secrets(g)["refresh_token"]
			live := sb.IsValidRefreshToken(prov, rt)
			expired := len(c.events("grant.expired", id))
			switch {
			case g.Status == store.GrantValid && (!live || expired != 0):
				t.Errorf("%s %s: valid with a refresh token the provider refuses (live %v) or %d grant.expired", prov, id, live, expired)
			case g.Status != store.GrantValid && rot.Mode != sandbox.RotateStrict:
				t.Errorf("%s %s: invalid after kills (%s: %s): a %s-rotation provider's token was lost", prov, id, g.LastFailureClass, g.LastFailureMessage, rot.Mode)
			case g.Status != store.GrantValid:
				invalid++
				if expired != 1 || g.LastFailureClass != "invalid_credentials" || live {
					t.Errorf("%s %s: invalid (%s) with %d grant.expired, stored token live %v; want invalid_credentials, 1 event, dead token", prov, id, g.LastFailureClass, expired, live)
				}
				// Lost to a kill means: the provider rotated the stored
				// token and its successor, still live (nobody knows it to
				// redeem it), never reached the database.
				if l.Valid(emails[id]) == 0 {
					t.Errorf("%s %s: invalid, but the provider holds no successor of its stored token: it was not lost to a kill", prov, id)
				}
				// ...and it went to a process that was killed, not to the
				// last one, which stopped gracefully and must have stored
				// everything it received (a second of slack for answers
				// to killed processes whose handlers ran late).
				for _, orphan := range l.ValidTokens[strings.ToLower(emails[id])] {
					if at, ok := sb.RefreshTokenAnswered(prov, orphan); ok && at.After(final.Add(time.Second)) {
						t.Errorf("%s %s: a rotated token answered %s after the last (graceful) process started was never stored", prov, id, at.Sub(final).Round(time.Millisecond))
					}
				}
			}
			if valid := l.ValidTokens[emails[id]]; rot.Mode != sandbox.RotateNone && g.Status == store.GrantValid && (len(valid) == 0 || valid[len(valid)-1] != rt) {
				// The last refresh committed after every kill: the stored
				// token is the newest one the provider issued (older ones
				// may live on: lost answers, or within the grace period).
				t.Errorf("%s %s: the stored refresh token is not the newest the provider issued (%d valid)", prov, id, len(valid))
			}
			if g.LeaseOwner != "" {
				t.Errorf("%s %s: lease %q left after a graceful stop", prov, id, g.LeaseOwner)
			}
		}
		t.Logf("%s (%s rotation): %d redemptions, %d answers lost to kills, %d of %d grants invalid", prov, rot.Mode, l.Redemptions, l.LostAnswers, invalid, len(ids[prov]))
		// Every answer lost on the wire kills a grant. A kill can also land
		// after an answer arrived and before its commit, which the
		// provider cannot see: more grants may die than answers were lost
		// on the wire, each with an orphaned successor (checked above).
		if rot.Mode == sandbox.RotateStrict && l.LostAnswers > 0 && invalid == 0 {
			t.Errorf("%s: no grant invalid for %d rotated tokens lost on the wire", prov, l.LostAnswers)
		}
	}
	if lost == 0 {
		t.Errorf("no kill landed between a redemption and its answer: the test did not exercise the window")
	}
}
