package mail_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/grantd/grantd/internal/sandbox/mail"
)

func TestSandboxServers(t *testing.T) {
	srv, err := mail.Start(mail.Options{TLS: mail.ImplicitTLS, Users: []mail.User{
		{Email: "a@example.com", Password: "apw"},
		{Email: "i@icloud.com", Password: "account", AppPassword: "app-pw", Behavior: mail.AppPasswordOnly},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca, err := srv.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil || string(pem) != string(srv.CAPEM()) {
		t.Fatalf("CA file: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool}

	c, err := imapclient.DialTLS(srv.IMAPAddr(), &imapclient.Options{TLSConfig: tc})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login("i@icloud.com", "account").Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("account password: %v", err)
	}
	if err := c.Login("i@icloud.com", "app-pw").Wait(); err != nil {
		t.Fatalf("app password: %v", err)
	}
	if l, err := c.List("", "%", nil).Collect(); err != nil || len(l) != 2 {
		t.Fatalf("list: %v %v", l, err)
	}
	c.Close()

	// SMTP AUTH LOGIN (the validator prefers PLAIN).
	s, err := smtp.DialTLS(srv.SMTPAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Auth(sasl.NewLoginClient("a@example.com", "apw")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	if il, sl := srv.Logins(); il != 1 || sl != 1 {
		t.Errorf("logins %d %d", il, sl)
	}
	s2, err := smtp.DialTLS(srv.SMTPAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var se *smtp.SMTPError
	if err := s2.Auth(sasl.NewLoginClient("a@example.com", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("AUTH LOGIN wrong password: %v", err)
	}
}

// Close right after Start returns, whether or not the servers' Serve loops
// have started (go-smtp's Serve used to miss a Close that came first and
// accept for ever; a hung test run found it).
func TestCloseRightAfterStart(t *testing.T) {
	for i := 0; i < 300; i++ {
		s, err := mail.Start(mail.Options{TLS: mail.Plain})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Close hung (start %d)", i)
		}
	}
}
