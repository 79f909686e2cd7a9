package imap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/imap"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

type env struct {
	srv *mail.Server
	v   *imap.Provider
}

type envOpts struct {
	insecure bool
	timeout  time.Duration
	noCA     bool
	finder   provider.ServerFinder
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

func startEnv(t testing.TB, mode mail.TLSMode, o envOpts) env {
	t.Helper()
	srv, err := mail.Start(mail.Options{TLS: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if pem := srv.CAPEM(); pem != nil && !o.noCA {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tc.RootCAs = pool
	}
	if o.timeout == 0 {
		o.timeout = 3 * time.Second
	}
	v := imap.New(imap.Options{
		Network: netx.Config{AllowPrivateHosts: true, Timeout: o.timeout, AllowInsecure: o.insecure},
		TLS:     tc, Finder: o.finder, Dial: o.dial,
	})
	return env{srv: srv, v: v}
}

// settings for user on e's servers; ports as numeric strings, like the
// Nylas examples.
func (e env) settings(user, pass string) map[string]any {
	return map[string]any{
		"imap_username": user, "imap_password": pass,
		"imap_host": e.srv.Host(), "imap_port": fmt.Sprint(e.srv.IMAPPort()),
		"smtp_host": e.srv.Host(), "smtp_port": json.Number(fmt.Sprint(e.srv.SMTPPort())),
	}
}

func (e env) validate(t testing.TB, s map[string]any) (provider.Result, *provider.Error) {
	t.Helper()
	r, err := e.v.Validate(context.Background(), provider.Request{Settings: s})
	if err == nil {
		return r, nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
	return r, pe
}

// noSecret fails when secret appears anywhere in pe.
func noSecret(t testing.TB, pe *provider.Error, secrets ...string) {
	t.Helper()
	b, _ := json.Marshal(pe.ProviderError)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, where := range []string{pe.Error(), pe.Message, string(b)} {
			if strings.Contains(where, s) {
				t.Errorf("secret %q leaked: %s", s, where)
			}
		}
	}
}

func TestModesGoodAndBadPassword(t *testing.T) {
	for _, mode := range []mail.TLSMode{mail.Plain, mail.StartTLS, mail.ImplicitTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			e := startEnv(t, mode, envOpts{insecure: mode == mail.Plain})
			e.srv.AddUser("alice@example.com", "alice-secret-pw")
			r, pe := e.validate(t, e.settings("Alice@Example.com", "alice-secret-pw"))
			if pe != nil {
				t.Fatalf("good password: %v", pe)
			}
			if r.Email != "alice@example.com" {
				t.Errorf("email %q", r.Email)
			}
			want := map[string]any{"imap_host": "127.0.0.1", "imap_port": e.srv.IMAPPort(), "imap_username": "Alice@Example.com", "smtp_host": "127.0.0.1", "smtp_port": e.srv.SMTPPort(), "smtp_username": "Alice@Example.com"}
			if fmt.Sprint(r.Settings) != fmt.Sprint(want) {
				t.Errorf("settings %v, want %v", r.Settings, want)
			}
			if len(r.Secrets) != 1 || r.Secrets["imap_password"] != "alice-secret-pw" {
				t.Errorf("secrets %v", r.Secrets)
			}
			for k, v := range r.Settings {
				if fmt.Sprint(v) == "alice-secret-pw" {
					t.Errorf("password in settings.%s", k)
				}
			}
			if il, sl := e.srv.Logins(); il != 1 || sl != 1 {
				t.Errorf("logins imap=%d smtp=%d, want 1 and 1", il, sl)
			}

			_, pe = e.validate(t, e.settings("alice@example.com", "wrong-password-123"))
			if pe == nil || pe.Class != provider.ClassInvalidCredentials {
				t.Fatalf("bad password: %v", pe)
			}
			if !strings.Contains(pe.Message, "rejected the username or password") {
				t.Errorf("message %q", pe.Message)
			}
			resp, _ := pe.ProviderError["response"].(string)
			if !strings.Contains(resp, "AUTHENTICATIONFAILED") && !strings.Contains(resp, "535 5.7.8") {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
			noSecret(t, pe, "wrong-password-123")
		})
	}
}

func TestSeparateSMTPCredentials(t *testing.T) {
	e := startEnv(t, mail.ImplicitTLS, envOpts{})
	e.srv.AddAccount(mail.User{Email: "bob@example.com", Password: "imap-pw-bob", SMTPPassword: "smtp-pw-bob"})
	_, pe := e.validate(t, e.settings("bob@example.com", "imap-pw-bob"))
	if pe == nil || pe.Class != provider.ClassInvalidCredentials || pe.ProviderError["protocol"] != "smtp" {
		t.Fatalf("SMTP refusal: %v", pe)
	}
	s := e.settings("bob@example.com", "imap-pw-bob")
	s["smtp_password"] = "smtp-pw-bob"
	r, pe := e.validate(t, s)
	if pe != nil {
		t.Fatal(pe)
	}
	if r.Secrets["smtp_password"] != "smtp-pw-bob" || r.Secrets["imap_password"] != "imap-pw-bob" {
		t.Errorf("secrets %v", r.Secrets)
	}
}

func TestFailureClassesFromServer(t *testing.T) {
	e := startEnv(t, mail.StartTLS, envOpts{})
	cases := []struct {
		user     mail.User
		password string
		class    provider.Class
		msg      string // in the message
		resp     string // in provider_error.response
		proto    string // "" when either protocol may answer first
	}{
		{mail.User{Behavior: mail.AppPasswordOnly, Password: "regular-pw-1", AppPassword: "abcd-efgh-ijkl-mnop"}, "regular-pw-1", provider.ClassAppPasswordRequired, "app-specific password", "app-specific password", ""},
		{mail.User{Behavior: mail.AppPasswordOnly, Password: "regular-pw-1", AppPassword: "abcd-efgh-ijkl-mnop"}, "other-pw-22", provider.ClassInvalidCredentials, "rejected", "", ""},
		{mail.User{Behavior: mail.AppPasswordRequired, Password: "gmail-pw-1"}, "gmail-pw-1", provider.ClassAppPasswordRequired, "app-specific password", "pplication-specific password required", ""},
		{mail.User{Behavior: mail.IMAPDisabled, Password: "pw-imap-off"}, "pw-imap-off", provider.ClassAccessDisabled, "IMAP access is not enabled", "not enabled for IMAP use", "imap"},
		{mail.User{Behavior: mail.WebLoginRequired, Password: "pw-web-login"}, "pw-web-login", provider.ClassAccessDisabled, "IMAP access is not enabled", "log in via your web browser", "imap"},
		{mail.User{Behavior: mail.ListFails, Password: "pw-list-fails"}, "pw-list-fails", provider.ClassAccessDisabled, "IMAP access", mail.ListDisabledText, "imap"},
		{mail.User{Behavior: mail.BasicAuthDisabled, Password: "pw-basic-off"}, "pw-basic-off", provider.ClassBasicAuthDisabled, "basic authentication", "asic authentication is disabled", ""},
		{mail.User{Behavior: mail.Unavailable, Password: "pw-unavail"}, "pw-unavail", provider.ClassUnavailable, "temporarily unavailable", "", ""},
	}
	for i, c := range cases {
		c.user.Email = fmt.Sprintf("user%d@example.com", i)
		e.srv.AddAccount(c.user)
		t.Run(fmt.Sprintf("%d-%s", c.user.Behavior, c.class), func(t *testing.T) {
			_, pe := e.validate(t, e.settings(c.user.Email, c.password))
			if pe == nil {
				t.Fatal("accepted")
			}
			if pe.Class != c.class || !strings.Contains(pe.Message, c.msg) {
				t.Fatalf("got %s %q, want %s with %q", pe.Class, pe.Message, c.class, c.msg)
			}
			resp, _ := pe.ProviderError["response"].(string)
			if resp == "" || !strings.Contains(resp, c.resp) {
				t.Errorf("provider_error.response %q, want it to contain %q", resp, c.resp)
			}
			if c.proto != "" && pe.ProviderError["protocol"] != c.proto {
				t.Errorf("protocol %v, want %s", pe.ProviderError["protocol"], c.proto)
			}
			noSecret(t, pe, c.password, c.user.AppPassword)
		})
	}
	// The iCloud-like account accepts its app password.
	if _, pe := e.validate(t, e.settings("user0@example.com", "abcd-efgh-ijkl-mnop")); pe != nil {
		t.Fatalf("app password refused: %v", pe)
	}
}

func TestTLSFailures(t *testing.T) {
	t.Run("untrusted certificate", func(t *testing.T) {
		for _, mode := range []mail.TLSMode{mail.ImplicitTLS, mail.StartTLS} {
			e := startEnv(t, mode, envOpts{noCA: true})
			e.srv.AddUser("a@example.com", "pw-untrusted")
			_, pe := e.validate(t, e.settings("a@example.com", "pw-untrusted"))
			if pe == nil || pe.Class != provider.ClassTLS || !strings.Contains(pe.Message, "network.ca_file") {
				t.Errorf("%s: %v", mode, pe)
			}
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		e := startEnv(t, mail.ImplicitTLS, envOpts{dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, p, _ := net.SplitHostPort(addr)
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
		}})
		e.srv.AddUser("a@example.com", "pw-hostname")
		s := e.settings("a@example.com", "pw-hostname")
		s["imap_host"], s["smtp_host"] = "mail.wrong.test", "mail.wrong.test"
		_, pe := e.validate(t, s)
		if pe == nil || pe.Class != provider.ClassTLS || !strings.Contains(pe.Message, "not valid for this host") {
			t.Errorf("%v", pe)
		}
	})
	t.Run("plaintext server refused without allow_insecure", func(t *testing.T) {
		e := startEnv(t, mail.Plain, envOpts{insecure: false})
		e.srv.AddUser("a@example.com", "pw-plain")
		_, pe := e.validate(t, e.settings("a@example.com", "pw-plain"))
		if pe == nil || pe.Class != provider.ClassTLS || !strings.Contains(pe.Message, "does not offer TLS") {
			t.Fatalf("%v", pe)
		}
		if il, sl := e.srv.Logins(); il+sl != 0 {
			t.Errorf("a password was sent in plaintext: %d %d", il, sl)
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		e := startEnv(t, mail.ImplicitTLS, envOpts{timeout: 300 * time.Millisecond})
		e.srv.AddUser("a@example.com", "pw-slow")
		e.srv.SetGreetingDelay(5 * time.Second)
		start := time.Now()
		_, pe := e.validate(t, e.settings("a@example.com", "pw-slow"))
		if pe == nil || pe.Class != provider.ClassUnavailable || !strings.Contains(pe.Message, "did not answer within") {
			t.Fatalf("%v", pe)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v with a 300ms timeout", d)
		}
	})
	for _, mode := range []mail.TLSMode{mail.Plain, mail.StartTLS, mail.ImplicitTLS} {
		t.Run("dropping/"+mode.String(), func(t *testing.T) {
			e := startEnv(t, mode, envOpts{insecure: true})
			e.srv.AddUser("a@example.com", "pw-drop")
			e.srv.SetDrop(true)
			start := time.Now()
			_, pe := e.validate(t, e.settings("a@example.com", "pw-drop"))
			if pe == nil || pe.Class != provider.ClassUnavailable || !strings.Contains(pe.Message, "closed the connection") {
				t.Fatalf("%v", pe)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		// The sandbox first: a port freed before it started could become
		// one of its own (a run found the SMTP server on it).
		e := startEnv(t, mail.ImplicitTLS, envOpts{})
		// (A real account: SMTP, checked at the same time, must not fail
		// first with a refused login.)
		e.srv.AddUser("a@example.com", "pw")
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s := e.settings("a@example.com", "pw")
		s["imap_port"] = p
		_, pe := e.validate(t, s)
		if pe == nil || pe.Class != provider.ClassUnavailable || !strings.Contains(pe.Message, "could not connect") {
			t.Fatalf("%v", pe)
		}
	})
	t.Run("dns", func(t *testing.T) {
		e := startEnv(t, mail.ImplicitTLS, envOpts{dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}}
		}})
		s := e.settings("a@example.com", "pw")
		s["imap_host"] = "imap.nowhere.test"
		_, pe := e.validate(t, s)
		if pe == nil || pe.Class != provider.ClassUnavailable || !strings.Contains(pe.Message, "could not be resolved") {
			t.Fatalf("%v", pe)
		}
	})
}

type fakeFinder struct {
	ms  provider.MailServers
	err error
	got string
}

func (f *fakeFinder) FindMailServers(_ context.Context, email string) (provider.MailServers, error) {
	f.got = email
	return f.ms, f.err
}

func TestSettings(t *testing.T) {
	e := startEnv(t, mail.ImplicitTLS, envOpts{})
	e.srv.AddUser("carol@example.com", "pw-carol")
	e.srv.AddUser("carol", "pw-carol-local")
	bad := []struct {
		change map[string]any
		want   string
	}{
		{map[string]any{"imap_username": nil}, "settings.imap_username is required"},
		{map[string]any{"imap_password": nil}, "settings.imap_password is required"},
		{map[string]any{"imap_password": 42}, "settings.imap_password must be a string"},
		{map[string]any{"imap_port": "nine"}, "settings.imap_port must be a port number"},
		{map[string]any{"smtp_port": 70000}, "settings.smtp_port must be a port number"},
		{map[string]any{"smtp_port": 5.5}, "settings.smtp_port must be a port number"},
		{map[string]any{"imap_port": true}, "settings.imap_port must be a port number"},
		{map[string]any{"imap_host": "imaps://x.example.com"}, "settings.imap_host must be a host name"},
		{map[string]any{"smtp_host": "x.example.com:587"}, "settings.smtp_host must not contain a port"},
		{map[string]any{"imap_host": "x\x00.example.com"}, "settings.imap_host must be a host name"},
		{map[string]any{"smtp_host": strings.Repeat("a", 300) + ".com"}, "settings.smtp_host must be a host name"},
		{map[string]any{"imap_host": nil}, "settings.imap_host is required"},
		{map[string]any{"imap_username": "carol"}, "add settings.email"},
		{map[string]any{"email": "nope"}, "settings.email"},
		// The rules detection uses: a trailing dot would make a second
		// grant for the same mailbox.
		{map[string]any{"email": "dev.imap@EXAMPLE.com."}, "settings.email"},
		{map[string]any{"email": "a@b@c.com"}, "settings.email"},
		{map[string]any{"email": "@@x"}, "settings.email"},
		{map[string]any{"email": "a\u0001b@example.com"}, "control character"},
		{map[string]any{"email": strings.Repeat("a", 5000) + "@example.com"}, "settings.email"},
	}
	for _, b := range bad {
		s := e.settings("carol@example.com", "pw-carol")
		for k, v := range b.change {
			if v == nil {
				delete(s, k)
			} else {
				s[k] = v
			}
		}
		_, pe := e.validate(t, s)
		if pe == nil || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, b.want) {
			t.Errorf("%v: %v, want bad request with %q", b.change, pe, b.want)
		}
	}
	// Ports as float64 (encoding/json without UseNumber) and int.
	s := e.settings("carol@example.com", "pw-carol")
	s["imap_port"], s["smtp_port"] = float64(e.srv.IMAPPort()), e.srv.SMTPPort()
	if _, pe := e.validate(t, s); pe != nil {
		t.Errorf("float/int ports: %v", pe)
	}
	// A non-address username with settings.email.
	s = e.settings("carol", "pw-carol-local")
	s["email"] = "Carol@Example.com"
	r, pe := e.validate(t, s)
	if pe != nil || r.Email != "carol@example.com" || r.Settings["email"] != "carol@example.com" {
		t.Errorf("username + email: %v %v", r, pe)
	}
}

func TestServerFinder(t *testing.T) {
	f := &fakeFinder{}
	e := startEnv(t, mail.ImplicitTLS, envOpts{finder: f})
	e.srv.AddUser("dan@example.com", "pw-dan")
	f.ms = provider.MailServers{IMAPHost: e.srv.Host(), IMAPPort: e.srv.IMAPPort(), SMTPHost: e.srv.Host(), SMTPPort: e.srv.SMTPPort(), Source: "config"}
	s := map[string]any{"imap_username": "dan@example.com", "imap_password": "pw-dan"}
	r, pe := e.validate(t, s)
	if pe != nil || f.got != "dan@example.com" || r.Settings["imap_port"] != e.srv.IMAPPort() {
		t.Fatalf("found servers: %v %v (asked for %q)", r.Settings, pe, f.got)
	}
	f.ms, f.err = provider.MailServers{}, provider.Errorf(provider.ClassBadRequest, "no MX records for example.com")
	_, pe = e.validate(t, s)
	if pe == nil || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, "imap_host") || !strings.Contains(pe.Message, "no MX records") {
		t.Fatalf("not found: %v", pe)
	}
	f.ms, f.err = provider.MailServers{IMAPHost: e.srv.Host(), IMAPPort: e.srv.IMAPPort()}, nil
	_, pe = e.validate(t, s)
	if pe == nil || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, "settings.smtp_host") || strings.Contains(pe.Message, "settings.imap_host") {
		t.Fatalf("SMTP not found: %v", pe)
	}
	f.err = provider.Errorf(provider.ClassUnavailable, "DNS timeout")
	if _, pe = e.validate(t, s); pe == nil || pe.Class != provider.ClassUnavailable {
		t.Fatalf("transient finder failure: %v", pe)
	}
}

// A server that repeats the credentials it got in its refusal (raw, as an
// IMAP quoted string, as SASL PLAIN) does not get them into the error.
func TestEchoedPasswordRedacted(t *testing.T) {
	e := startEnv(t, mail.ImplicitTLS, envOpts{})
	// (\x00 + user + \x00 is not a multiple of 3 bytes long, so the SASL
	// PLAIN form does not contain the password's own base64.)
	const pw = `echo "pass\word" 7`
	e.srv.AddAccount(mail.User{Email: "echo1@example.com", Password: pw, Behavior: mail.EchoesCredentials})
	_, pe := e.validate(t, e.settings("echo1@example.com", pw))
	if pe == nil || pe.Class != provider.ClassInvalidCredentials {
		t.Fatalf("got %v", pe)
	}
	resp, _ := pe.ProviderError["response"].(string)
	if !strings.Contains(resp, "refused") || !strings.Contains(resp, provider.Redacted) {
		t.Errorf("provider_error.response %q: want the server's words, redacted", resp)
	}
	noSecret(t, pe, pw, `echo \"pass\\word\" 7`, base64.StdEncoding.EncodeToString([]byte("\x00echo1@example.com\x00"+pw)))
}

// A stored grant accepted under the looser address rule of earlier
// versions (a single-label domain, as self-hosted servers use) is not
// invalidated by its re-check; a new authentication gets the strict rule.
func TestRecheckKeepsLooseAddress(t *testing.T) {
	e := startEnv(t, mail.ImplicitTLS, envOpts{})
	e.srv.AddUser("ada@mailhost", "pw-1")
	s := e.settings("ada@mailhost", "pw-1")
	delete(s, "imap_password")
	if err := e.v.Recheck(context.Background(), s, map[string]string{"imap_password": "pw-1"}, nil); err != nil {
		t.Fatalf("re-check of a stored ada@mailhost grant: %v", err)
	}
	_, pe := e.validate(t, e.settings("ada@mailhost", "pw-1"))
	if pe == nil || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, "add settings.email") {
		t.Fatalf("new authentication of ada@mailhost: %v", pe)
	}
}
