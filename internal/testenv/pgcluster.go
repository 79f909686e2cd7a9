package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PGCluster is a throwaway PostgreSQL cluster a test owns: its own data
// directory and port on 127.0.0.1, so the test may stop, crash, freeze and
// restart it without touching the server other tests share. Fault tests
// (a database outage while refreshes or requests are in flight) use it.
type PGCluster struct {
	t    testing.TB
	dir  string
	bin  string
	port int
	// URL is the database URL of the cluster's "test" database.
	URL string
}

// StartPGCluster starts a new cluster and stops it when t ends. Without
// PostgreSQL's server binaries (Debian's postgresql package) it skips t,
// or fails it under GRANTD_TEST_REQUIRE_ALL=1.
func StartPGCluster(t testing.TB) *PGCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		Skip(t, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin, Debian package postgresql) not found; skipping a test that runs its own throwaway cluster")
	}
	sort.Strings(bins)
	c := &PGCluster{t: t, bin: bins[len(bins)-1]}
	dir, err := os.MkdirTemp("", "grantd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Skip(t, "running as root without a postgres user to own a throwaway cluster")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	c.Start()
	c.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "test")
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", c.port)
	t.Cleanup(func() {
		c.Thaw()
		c.runQuiet("pg_ctl", "-D", c.data(), "stop", "-m", "immediate", "-w")
		os.RemoveAll(c.dir)
	})
	return c
}

func (c *PGCluster) data() string { return filepath.Join(c.dir, "data") }

// Port is the cluster's TCP port on 127.0.0.1.
func (c *PGCluster) Port() int { return c.port }

// Start starts the cluster (again) and waits until it accepts connections.
// The server runs with fsync on: a crash test must see what a real server
// keeps.
func (c *PGCluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", c.port, c.dir), "start")
}

// Stop stops the cluster with pg_ctl's mode: "fast" (clients are
// disconnected, a clean shutdown) or "immediate" (a crash; recovery at the
// next start).
func (c *PGCluster) Stop(mode string) {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "stop", "-m", mode, "-w", "-t", "60")
}

// Freeze stops every process of the cluster with SIGSTOP: connections stay
// open and nothing answers, as with a hung server or a black-holed network.
func (c *PGCluster) Freeze() { c.signalAll(syscall.SIGSTOP) }

// Thaw undoes Freeze.
func (c *PGCluster) Thaw() { c.signalAll(syscall.SIGCONT) }

// Log returns the server's log so far, for a failing test's message.
func (c *PGCluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}

func (c *PGCluster) signalAll(sig syscall.Signal) {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return
	}
	pids := []int{pid}
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(kids)) {
			if k, err := strconv.Atoi(f); err == nil {
				pids = append(pids, k)
			}
		}
	}
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

func (c *PGCluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *PGCluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := c.command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = os.TempDir()
	start := time.Now()
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("%s %s: %v after %s\n%s\n%s", name, strings.Join(args, " "), err, time.Since(start), out.String(), c.Log())
	}
}

func (c *PGCluster) runQuiet(name string, args ...string) {
	cmd := c.command(name, args...)
	cmd.Dir = os.TempDir()
	_ = cmd.Run()
}
