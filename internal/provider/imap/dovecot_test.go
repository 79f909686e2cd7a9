package imap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
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
	dc := testenv.StartDovecot(t, "alice@example.com:alice-dovecot-pw\nbob@example.com:b\"ob p@ss w0rd!")
	ports := []int{dc.IMAPPort, dc.IMAPSPort, dc.SubPort, dc.SubsPort}
	pem, err := os.ReadFile(dc.CertFile)
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
