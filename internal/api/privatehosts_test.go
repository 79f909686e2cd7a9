package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	ewssb "github.com/grantd/grantd/internal/sandbox/ews"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// With network.allow_private_hosts off (the default), a caller's IMAP,
// SMTP or EWS host on loopback, a private network or the cloud metadata
// address is refused with a 400 saying why, without connecting and
// without saying what the name resolved to or what listens there; a
// range in network.allowed_cidrs is let through.
func TestPrivateHostsRefused(t *testing.T) {
	srv, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca, err := srv.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	ews, err := ewssb.Start(ewssb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ews.Close)
	ews.AddUser("alice@contoso.test", `CONTOSO\alice`, "alice-pw-1", "Alice Liddell")
	srv.AddUser("ada@example.com", "imap-pw")
	// Both stand-ins' CAs in one network.ca_file.
	cas := filepath.Join(t.TempDir(), "ca.pem")
	var pem []byte
	for _, f := range []string{ca, ews.CAFile()} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	if err := os.WriteFile(cas, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	guarded := func(allowed ...string) (*apitest.Env, string) {
		e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
			c.Network.CAFile = cas
			c.Network.Timeout = 2 * time.Second
			c.Network.AllowPrivateHosts = false
			c.Network.AllowedCIDRs = allowed
		}})
		_, key := e.App("acme")
		return e, key
	}
	e, key := guarded()
	for _, host := range []string{"127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "::1", "100.64.0.1"} {
		b := imapBody(srv, "ada@example.com", "imap-pw")
		s := b["settings"].(map[string]any)
		s["imap_host"], s["smtp_host"] = host, host
		if host != "127.0.0.1" && host != "localhost" {
			s["imap_port"] = "993" // nothing is dialled: the address is refused first
		}
		start := time.Now()
		r := e.Do("POST", "/v3/connect/custom", key, b)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "not a public internet address") ||
			!strings.Contains(r.ErrMessage(), "network.allow_private_hosts") {
			t.Errorf("imap_host %s: %d %s; want 400 saying the address is not public", host, r.Status, r.Raw)
		}
		if host == "localhost" && strings.Contains(string(r.Raw), "127.0.0.1") {
			t.Errorf("the refusal of localhost says what it resolved to: %s", r.Raw)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("imap_host %s: refused after %v; the address must be refused before connecting", host, took)
		}
	}
	// Nothing was stored.
	if l := e.Do("GET", "/v3/grants", key, nil); len(l.List()) != 0 {
		t.Errorf("grants after refusals: %s", l.Raw)
	}

	// EWS: the same for ews_host.
	r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": map[string]any{
		"email": "alice@contoso.test", "ews_username": `CONTOSO\alice`, "ews_password": "alice-pw-1", "ews_host": "169.254.169.254"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "not a public internet address") {
		t.Errorf("ews_host 169.254.169.254: %d %s; want 400 saying the address is not public", r.Status, r.Raw)
	}
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(ews, `CONTOSO\alice`, "alice-pw-1")})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "not a public internet address") {
		t.Errorf("ews_host on loopback: %d %s; want 400 saying the address is not public", r.Status, r.Raw)
	}

	// network.allowed_cidrs lets a range through: the same servers work.
	e2, key2 := guarded("127.0.0.0/8")
	if r := e2.Do("POST", "/v3/connect/custom", key2, imapBody(srv, "ada@example.com", "imap-pw")); r.Status != http.StatusCreated {
		t.Errorf("imap on an allowed range: %d %s", r.Status, r.Raw)
	}
	if r := e2.Do("POST", "/v3/connect/custom", key2, map[string]any{"provider": "ews", "settings": ewsSettings(ews, `CONTOSO\alice`, "alice-pw-1")}); r.Status != http.StatusCreated {
		t.Errorf("ews on an allowed range: %d %s", r.Status, r.Raw)
	}
	b := imapBody(srv, "ada@example.com", "imap-pw")
	b["settings"].(map[string]any)["imap_host"] = "10.1.2.3"
	if r := e2.Do("POST", "/v3/connect/custom", key2, b); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "not a public internet address") {
		t.Errorf("imap_host outside the allowed range: %d %s", r.Status, r.Raw)
	}
}

// bannerServer accepts connections on loopback and sends what another
// service would (an SSH banner), then waits for the client to hang up.
func bannerServer(t *testing.T, banner string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte(banner))
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = bufio.NewReader(c).ReadString('\n')
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// A server that does not speak IMAP, SMTP or HTTP is said to be one, and
// nothing it sent comes back to the caller (grantd is no banner grabber).
func TestForeignBannerNotEchoed(t *testing.T) {
	const banner = "SSH-2.0-OpenSSH_9.6p1 internal-build-host-7\r\n"
	port := fmt.Sprint(bannerServer(t, banner))
	srv, err := mail.Start(mail.Options{TLS: mail.Plain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("ada@example.com", "imap-pw")
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.Timeout = 2 * time.Second
		c.Network.AllowInsecure = true // plaintext peers: the banner is read as the greeting
	}})
	_, key := e.App("acme")
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"imap", func() map[string]any {
			b := imapBody(srv, "ada@example.com", "imap-pw")
			b["settings"].(map[string]any)["imap_port"] = port
			return b
		}(), "did not answer as an IMAP server"},
		{"smtp", func() map[string]any {
			b := imapBody(srv, "ada@example.com", "imap-pw")
			b["settings"].(map[string]any)["smtp_port"] = port
			return b
		}(), "did not answer as an SMTP server"},
		{"ews", map[string]any{"provider": "ews", "settings": map[string]any{
			"email": "ada@example.com", "ews_username": "ada@example.com", "ews_password": "pw",
			"ews_host": "http://127.0.0.1:" + port + "/EWS/Exchange.asmx"}}, "did not answer as an HTTP server"},
	} {
		r := e.Do("POST", "/v3/connect/custom", key, tc.body)
		if r.Status/100 != 4 && r.Status/100 != 5 || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s: %d %s; want an error saying %q", tc.name, r.Status, r.Raw, tc.want)
		}
		for _, leak := range []string{"SSH-2.0", "OpenSSH", "internal-build-host"} {
			if strings.Contains(string(r.Raw), leak) {
				t.Errorf("%s: the answer repeats what the server sent (%q): %s", tc.name, leak, r.Raw)
			}
		}
	}
}
