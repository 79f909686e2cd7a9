package imap_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/testenv"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/imap"
)

// TestDovecotInterop validates credentials against a real Dovecot (IMAP,
// IMAPS, submission with STARTTLS and with implicit TLS) started by
// scripts/dovecot-start.sh on free loopback ports. The standard ports
// (993, 143, 465, 587) are mapped onto Dovecot's by the dialer, so each
// port's security mode is exercised. Skipped where Dovecot is not
// installed (scripts/test installs it under CI).
func TestDovecotInterop(t *testing.T) {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		testenv.Skip(t, "SKIPPED: dovecot is not installed (apt-get install dovecot-imapd dovecot-submissiond); the Dovecot interop test did not run")
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "SKIPPED: the Dovecot interop test needs root (Dovecot drops privileges to its own users)")
	}
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: Dovecot interop")
	}
	ports := freePorts(t, 5)
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
	script, err := filepath.Abs("../../../scripts/dovecot-start.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, dir)
	cmd.Env = append(os.Environ(),
		"IMAP_PORT="+strconv.Itoa(ports[0]), "IMAPS_PORT="+strconv.Itoa(ports[1]),
		"SUB_PORT="+strconv.Itoa(ports[2]), "SUBS_PORT="+strconv.Itoa(ports[3]), "RELAY_PORT="+strconv.Itoa(ports[4]),
		"USERS=alice@example.com:alice-dovecot-pw\nbob@example.com:b\"ob p@ss w0rd!")
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

	pem, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	portMap := map[string]int{"993": ports[1], "143": ports[0], "465": ports[3], "587": ports[2]}
	v := imap.New(imap.Options{
		Network: netx.Config{Timeout: 5 * time.Second},
		TLS:     &tls.Config{RootCAs: pool},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, p, _ := net.SplitHostPort(addr)
			if m, ok := portMap[p]; ok {
				p = strconv.Itoa(m)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
		},
	})
	settings := func(user, pass string, imapPort, smtpPort int) map[string]any {
		return map[string]any{"imap_username": user, "imap_password": pass, "imap_host": "localhost", "imap_port": imapPort, "smtp_host": "localhost", "smtp_port": smtpPort}
	}
	combos := []struct {
		name               string
		imapPort, smtpPort int
	}{
		{"implicit TLS (993, 465)", 993, 465},
		{"STARTTLS (143, 587)", 143, 587},
		{"other ports (TLS first, then STARTTLS)", ports[1], ports[2]},
		{"other ports (STARTTLS servers)", ports[0], ports[3]},
	}
	for _, c := range combos {
		t.Run(c.name, func(t *testing.T) {
			r, err := v.Validate(context.Background(), provider.Request{Settings: settings("alice@example.com", "alice-dovecot-pw", c.imapPort, c.smtpPort)})
			if err != nil {
				t.Fatalf("good password: %v", err)
			}
			if r.Email != "alice@example.com" || r.Secrets["imap_password"] != "alice-dovecot-pw" {
				t.Errorf("result %+v", r)
			}
			_, err = v.Validate(context.Background(), provider.Request{Settings: settings("alice@example.com", "not-alice-pw", c.imapPort, c.smtpPort)})
			pe, _ := err.(*provider.Error)
			if pe == nil || pe.Class != provider.ClassInvalidCredentials {
				t.Fatalf("bad password: %v", err)
			}
			resp, _ := pe.ProviderError["response"].(string)
			if !strings.Contains(resp, "AUTHENTICATIONFAILED") && !strings.Contains(resp, "535") {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
			if strings.Contains(pe.Error(), "not-alice-pw") || strings.Contains(fmt.Sprint(pe.ProviderError), "not-alice-pw") {
				t.Error("password in the error")
			}
		})
	}
	// A password with a quote, spaces and an @ survives LOGIN quoting and
	// SASL PLAIN.
	if _, err := v.Validate(context.Background(), provider.Request{Settings: settings("bob@example.com", "b\"ob p@ss w0rd!", 993, 587)}); err != nil {
		t.Errorf("special characters: %v", err)
	}
	// An unknown user is wrong credentials too.
	_, err = v.Validate(context.Background(), provider.Request{Settings: settings("nobody@example.com", "whatever-pw", 143, 465)})
	if provider.ClassOf(err) != provider.ClassInvalidCredentials {
		t.Errorf("unknown user: %v", err)
	}
}

func freePorts(t *testing.T, n int) []int {
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
func waitGreeting(t *testing.T, port int, want string) {
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
