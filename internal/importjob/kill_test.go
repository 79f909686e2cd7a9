package importjob_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/testenv"
)

// TestImportJobKilled SIGKILLs the `grantd serve` process running an
// import job: on SQLite, the node is started again and resumes the job;
// on PostgreSQL with two nodes, only one node runs the job at a time and
// the other takes it over when the dead node's lease runs out. Either
// way every line is done exactly once: one outcome per line, one grant
// per line, and a line is re-sent only if it was in flight at the kill
// (reported reauthenticated, never failed).
func TestImportJobKilled(t *testing.T) {
	bin := apitest.BuildGrantd(t)
	t.Run("sqlite restart", func(t *testing.T) {
		dir := t.TempDir()
		killJob(t, bin, 1, func(c *config.Config) { c.DataDir = dir })
	})
	t.Run("postgres two nodes", func(t *testing.T) {
		dsn := testenv.PostgresSchema(t, "the import job cluster test")
		killJob(t, bin, 2, func(c *config.Config) { c.DatabaseURL = dsn })
	})
}

// node is a `grantd serve` child and its log.
type node struct {
	cmd  *exec.Cmd
	addr string
	log  *apitest.SyncBuffer
}

func killJob(t *testing.T, bin string, nodes int, store func(*config.Config)) {
	const (
		lines   = 90
		workers = 4
	)
	// An in-process grantd on the same database takes the upload (it runs
	// no job: it is not serving) and sets up the application.
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		store(c)
		c.Refresh.Enabled, c.Webhooks.Enabled = false, false
		c.Imports.Workers, c.Imports.Lease, c.Imports.PollInterval = workers, 3*time.Second, 50*time.Millisecond
		c.Imports.Rates = "google=30/s"
		c.Log.Level = "info"
	}})
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "google")
	var body []string
	for i := range lines {
		body = append(body, googleLine(e.RefreshToken("google", clientID, fmt.Sprintf("k%d@example.com", i)), fmt.Sprint("k", i)))
	}
	// Every line stays in flight a while at the provider, so that the
	// kill finds some.
	e.Sandbox.InjectFailure("google", sandbox.Failure{Delay: 200 * time.Millisecond, Count: -1})
	env := apitest.ChildEnv(t, e.Config)
	start := func(addr string) *node {
		if addr == "" {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr = ln.Addr().String()
			ln.Close()
		}
		n := &node{addr: addr, log: &apitest.SyncBuffer{}}
		n.cmd = apitest.StartServe(t, bin, append(env, "GRANTD_LISTEN="+addr), n.log)
		return n
	}
	ns := make([]*node, nodes)
	for i := range ns {
		ns[i] = start("")
	}
	c := client{t, e.HTTP.URL, key}
	j := c.post(strings.Join(body, "\n"), "")
	running := func(n *node) bool { return strings.Contains(n.log.String(), "import job running") }
	c.wait(j.ID, 30*time.Second, "a third done", func(j job) bool { return j.Done >= lines/3 })
	var runner *node
	for _, n := range ns {
		if running(n) {
			if runner != nil {
				t.Fatalf("two nodes ran the job at once:\n%s\n---\n%s", runner.log, n.log)
			}
			runner = n
		}
	}
	if runner == nil {
		t.Fatal("no node logged that it runs the job")
	}
	// The other nodes are frozen from before the kill until the lines in
	// flight are counted: on a loaded machine the count could otherwise
	// come after the dead node's lease ran out (3 s) and a survivor had
	// taken the job over, finishing a replayed line or sending new ones.
	for _, n := range ns {
		if n != runner {
			if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := runner.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = runner.cmd.Wait()
	killedAt := c.get(j.ID)
	// The lines the dead node was sending: the ones to be replayed.
	pending, err := e.Server.Store.PendingImportLines(context.Background(), j.ID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := 0
	for _, l := range pending {
		if l.Sending {
			inFlight++
		}
	}
	for _, n := range ns {
		if n != runner {
			if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	if nodes == 1 {
		// The same node, started again (its lease must run out first).
		ns[0] = start(runner.addr)
	}
	j = c.wait(j.ID, 60*time.Second, "finished", finished)
	var logs strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&logs, "--- %s\n%s", n.addr, n.log)
	}
	if j.State != "done" || j.Done != lines || j.Failed != 0 || j.Created+j.Reauthenticated != lines {
		t.Fatalf("after the kill: %+v (at the kill: %+v); logs:\n%s", j, killedAt, logs.String())
	}
	if j.Reauthenticated > workers {
		t.Errorf("%d lines re-sent, more than the %d in flight at the kill", j.Reauthenticated, workers)
	}
	if nodes == 2 {
		survivor := ns[0]
		if survivor == runner {
			survivor = ns[1]
		}
		if !running(survivor) {
			t.Errorf("the job finished but the other node never ran it:\n%s", logs.String())
		}
	}
	recs, _ := c.results(j.ID)
	grants, replayed := map[string]int{}, 0
	for n := 1; n <= lines; n++ {
		r, ok := recs[n]
		if !ok || (r.Outcome != "created" && r.Outcome != "reauthenticated") || r.GrantID == "" {
			t.Errorf("line %d: %+v", n, r)
			continue
		}
		if r.Outcome == "reauthenticated" && !r.Replayed {
			t.Errorf("line %d re-authenticated without being replayed: %+v", n, r)
		}
		if r.Replayed {
			replayed++
		}
		if prev, dup := grants[r.GrantID]; dup {
			t.Errorf("lines %d and %d have grant %s", prev, n, r.GrantID)
		}
		grants[r.GrantID] = n
	}
	if replayed != inFlight || replayed == 0 || replayed > workers {
		t.Errorf("%d lines replayed: want the %d lines in flight at the kill (1 to %d)", replayed, inFlight, workers)
	}
	st, raw := c.do("GET", "/v3/grants?limit=200", nil)
	if st != http.StatusOK || strings.Count(string(raw), `"grant_status"`) != lines {
		t.Errorf("want %d grants: %d %.300s", lines, st, raw)
	}
	if pending, err := e.Server.Store.PendingImportLines(context.Background(), j.ID, 0, 10); err != nil || len(pending) != 0 {
		t.Errorf("a finished job keeps %d sealed lines (%v)", len(pending), err)
	}
	for _, n := range ns {
		if n != runner || nodes == 1 {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			_ = n.cmd.Wait()
		}
	}
	t.Logf("done at the kill: %d; replayed: %d, of which re-authenticated: %d", killedAt.Done, replayed, j.Reauthenticated)
}
