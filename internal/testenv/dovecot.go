package testenv

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a throwaway Dovecot (IMAP and submission, see
// scripts/dovecot-start.sh) on loopback ports, stopped when the test ends.
type Dovecot struct {
	Dir string
	// IMAPPort (STARTTLS), IMAPSPort (implicit TLS), SubPort (submission
	// with STARTTLS) and SubsPort (implicit TLS) are on 127.0.0.1; the
	// certificate (CertFile) is for localhost and 127.0.0.1.
	IMAPPort, IMAPSPort, SubPort, SubsPort int
	CertFile                               string
}

// StartDovecot starts Dovecot with users ("user:password" lines), or skips
// t (see Skip) where Dovecot is not installed or the test is not root
// (Dovecot drops privileges to its own users), and in -short mode.
func StartDovecot(t testing.TB, users string) *Dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		Skip(t, "SKIPPED: dovecot is not installed (apt-get install dovecot-imapd dovecot-submissiond); the Dovecot interop test did not run")
	}
	if os.Geteuid() != 0 {
		Skip(t, "SKIPPED: the Dovecot interop test needs root (Dovecot drops privileges to its own users)")
	}
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: Dovecot interop")
	}
	ports := FreePorts(t, 5)
	// Not t.TempDir: its parent is 0700 and Dovecot's own users must read
	// the users file and the certificate.
	dir, err := os.MkdirTemp("", "grantd-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "scripts", "dovecot-start.sh")
	cmd := exec.Command("bash", script, dir)
	cmd.Env = append(os.Environ(),
		"IMAP_PORT="+strconv.Itoa(ports[0]), "IMAPS_PORT="+strconv.Itoa(ports[1]),
		"SUB_PORT="+strconv.Itoa(ports[2]), "SUBS_PORT="+strconv.Itoa(ports[3]), "RELAY_PORT="+strconv.Itoa(ports[4]),
		"USERS="+users)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dovecot-start.sh: %v\n%s", err, out)
	}
	dc := exec.Command(bin, "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	dc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dc.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = dc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = dc.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot.log:\n%s", log)
		}
	})
	waitGreeting(t, ports[0], "ready.")
	waitGreeting(t, ports[2], "ready.")
	return &Dovecot{Dir: dir, IMAPPort: ports[0], IMAPSPort: ports[1], SubPort: ports[2], SubsPort: ports[3], CertFile: filepath.Join(dir, "cert.pem")}
}

// FreePorts returns n TCP ports free on 127.0.0.1 a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range ls {
		ln.Close()
	}
	return ports
}

// waitGreeting waits until the server on port greets with want (Dovecot
// first answers "Waiting for authentication process" while it starts).
func waitGreeting(t testing.TB, port int, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			last = line
			if strings.Contains(line, want) && !strings.Contains(line, "Waiting") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q greeting on port %d within 10s (last: %q)", want, port, last)
}
