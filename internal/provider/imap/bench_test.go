package imap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/imap"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// BenchmarkIMAPSMTPValidate measures a whole provider "imap" validation
// (IMAP login + LIST and SMTP AUTH, concurrently) against the in-process
// servers, next to the bare round trip with go-imap and go-smtp clients
// doing the same exchanges (also concurrently): the difference is grantd's
// own time. Run with
//
//	go test -run '^$' -bench BenchmarkIMAPSMTPValidate -benchtime 2s ./internal/provider/imap/
func BenchmarkIMAPSMTPValidate(b *testing.B) {
	for _, mode := range []mail.TLSMode{mail.ImplicitTLS, mail.StartTLS} {
		srv, err := mail.Start(mail.Options{TLS: mode, Users: []mail.User{{Email: "bench@example.com", Password: "bench-pw"}}})
		if err != nil {
			b.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(srv.CAPEM())
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		// The standard ports (993/465 implicit TLS, 143/587 STARTTLS) are
		// dialled at the servers' addresses, so that grantd picks the mode
		// from the port as it does in production (on other ports it tries
		// implicit TLS first and falls back to STARTTLS, which costs a
		// connection).
		imapPort, smtpPort := 993, 465
		if mode == mail.StartTLS {
			imapPort, smtpPort = 143, 587
		}
		addrs := map[string]string{strconv.Itoa(imapPort): srv.IMAPAddr(), strconv.Itoa(smtpPort): srv.SMTPAddr()}
		v := imap.New(imap.Options{Network: netx.Config{Timeout: 10 * time.Second}, TLS: tc,
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, p, _ := net.SplitHostPort(addr)
				var d net.Dialer
				return d.DialContext(ctx, network, addrs[p])
			}})
		settings := map[string]any{
			"imap_username": "bench@example.com", "imap_password": "bench-pw", "imap_host": "127.0.0.1", "imap_port": imapPort,
			"smtp_host": "127.0.0.1", "smtp_port": smtpPort,
		}
		grantd := func() error {
			_, err := v.Validate(context.Background(), provider.Request{Settings: settings})
			return err
		}
		bare := func() error { return bareRoundTrip(srv, mode, tc) }
		for _, c := range []struct {
			name string
			f    func() error
		}{{"grantd", grantd}, {"bare", bare}} {
			b.Run(mode.String()+"/"+c.name+"/serial", func(b *testing.B) {
				for b.Loop() {
					if err := c.f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
			})
			b.Run(mode.String()+"/"+c.name+"/parallel", func(b *testing.B) {
				b.SetParallelism(4)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := c.f(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "validations/s")
			})
		}
		srv.Close()
	}
}

// bareRoundTrip is the minimum a validation needs: IMAP LOGIN, LIST and
// LOGOUT, and SMTP EHLO, AUTH PLAIN and QUIT, concurrently.
func bareRoundTrip(srv *mail.Server, mode mail.TLSMode, tc *tls.Config) error {
	var wg sync.WaitGroup
	var imapErr, smtpErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		var c *imapclient.Client
		var err error
		if mode == mail.ImplicitTLS {
			c, err = imapclient.DialTLS(srv.IMAPAddr(), &imapclient.Options{TLSConfig: tc})
		} else {
			c, err = imapclient.DialStartTLS(srv.IMAPAddr(), &imapclient.Options{TLSConfig: tc})
		}
		if err != nil {
			imapErr = err
			return
		}
		defer c.Close()
		if imapErr = c.Login("bench@example.com", "bench-pw").Wait(); imapErr != nil {
			return
		}
		if _, imapErr = c.List("", "%", nil).Collect(); imapErr != nil {
			return
		}
		imapErr = c.Logout().Wait()
	}()
	go func() {
		defer wg.Done()
		var c *smtp.Client
		var err error
		if mode == mail.ImplicitTLS {
			c, err = smtp.DialTLS(srv.SMTPAddr(), tc)
		} else {
			c, err = smtp.DialStartTLS(srv.SMTPAddr(), tc)
		}
		if err != nil {
			smtpErr = err
			return
		}
		defer c.Close()
		if smtpErr = c.Auth(sasl.NewPlainClient("", "bench@example.com", "bench-pw")); smtpErr != nil {
			return
		}
		smtpErr = c.Quit()
	}()
	wg.Wait()
	if imapErr != nil {
		return imapErr
	}
	return smtpErr
}
