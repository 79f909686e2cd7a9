// Package mail is an in-process IMAP and SMTP server pair for tests, the
// benchmarks and `grantd dev`: a go-imap v2 server backed by imapmemserver
// and a go-smtp submission server with AUTH PLAIN and LOGIN, sharing one
// set of users. It listens on loopback, optionally with TLS (a self-signed
// certificate generated at start; CAPEM/CAFile export it for the client)
// either implicit or through STARTTLS, and can imitate what real providers
// answer: an iCloud-like account that only accepts its app-specific
// password, Gmail's app-password and IMAP-disabled alerts, Microsoft 365's
// "basic authentication is disabled", a transient [UNAVAILABLE], a slow
// greeting and a server that drops every connection.
//
//	srv, err := mail.Start(mail.Options{TLS: mail.ImplicitTLS})
//	defer srv.Close()
//	srv.AddUser("alice@example.com", "alicepw")
//	// grantd: network.ca_file = srv.CAFile(); providers.icloud = srv.MailHosts()
//	// settings: imap_host = srv.Host(), imap_port = srv.IMAPPort(), smtp_port = srv.SMTPPort()
package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"github.com/grantd/grantd/internal/provider/icloud"
)

// TLSMode is how the servers offer TLS.
type TLSMode int

// TLS modes.
const (
	// Plain: no TLS at all; logins in plaintext (clients need
	// network.allow_insecure).
	Plain TLSMode = iota
	// StartTLS: plaintext greeting, STARTTLS offered and required before
	// authentication.
	StartTLS
	// ImplicitTLS: TLS from the first byte (like ports 993 and 465).
	ImplicitTLS
)

func (m TLSMode) String() string {
	switch m {
	case Plain:
		return "plain"
	case StartTLS:
		return "starttls"
	case ImplicitTLS:
		return "tls"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// Behavior is how the servers treat one account's logins, imitating a real
// provider.
type Behavior int

// Behaviours.
const (
	// Normal: the password (or SMTPPassword for SMTP) is accepted, anything
	// else gets IMAP "NO [AUTHENTICATIONFAILED]" and SMTP "535 5.7.8".
	Normal Behavior = iota
	// AppPasswordOnly is iCloud: only AppPassword logs in; the account's
	// regular Password gets "NO [AUTHENTICATIONFAILED]" and "535 5.7.8"
	// with a hint that an app-specific password is needed.
	AppPasswordOnly
	// AppPasswordRequired is Gmail with 2-step verification: every login
	// gets "NO [ALERT] Application-specific password required" and SMTP
	// "534 5.7.9".
	AppPasswordRequired
	// IMAPDisabled is Gmail with IMAP turned off: the right password gets
	// "NO [ALERT] Your account is not enabled for IMAP use"; SMTP works.
	IMAPDisabled
	// WebLoginRequired is Gmail blocking the sign-in: the right password
	// gets "NO [ALERT] Please log in via your web browser"; SMTP works.
	WebLoginRequired
	// ListFails: LOGIN succeeds, LIST is refused ("NO [NOPERM]"); SMTP
	// works.
	ListFails
	// BasicAuthDisabled is Microsoft 365: every IMAP login gets "NO LOGIN
	// failed. Basic authentication is disabled", every SMTP AUTH "535
	// 5.7.139 Authentication unsuccessful, basic authentication is
	// disabled".
	BasicAuthDisabled
	// Unavailable is a transient outage: IMAP "BAD [UNAVAILABLE]" (what
	// iCloud sends) and SMTP "454 4.7.0".
	Unavailable
	// EchoesCredentials is a careless server: every login is refused with
	// a text that repeats the credentials it received, raw, as an IMAP
	// quoted string and as base64 SASL PLAIN (tests of redaction).
	EchoesCredentials
)

// Server responses for the behaviours (exported so that tests can look for
// the server's own words).
const (
	AppPasswordHint          = "This account requires an app-specific password: create one at appleid.apple.com (Sign-In and Security, App-Specific Passwords)."
	GmailAppPasswordText     = "Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)"
	GmailAppPasswordSMTPText = "Application-specific password required. For more information, go to https://support.google.com/mail/?p=InvalidSecondFactor"
	IMAPDisabledText         = "Your account is not enabled for IMAP use. Please visit your Gmail settings page and enable your account for IMAP access. (Failure)"
	WebLoginText             = "Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)"
	ListDisabledText         = "IMAP access to folders is disabled for this account"
	BasicAuthIMAPText        = "LOGIN failed. Basic authentication is disabled."
	BasicAuthSMTPText        = "Authentication unsuccessful, basic authentication is disabled. [PR1P264CA0001.FRAP264.PROD.OUTLOOK.COM]"
	UnavailableText          = "Service temporarily unavailable, try again later"
	UnavailableSMTPText      = "Temporary authentication failure, try again later"
)

// User is an account on both servers.
type User struct {
	Email string
	// Password logs in to IMAP, and to SMTP unless SMTPPassword is set.
	Password string
	// SMTPPassword, when set, is the SMTP password (a submission server
	// with its own credentials).
	SMTPPassword string
	// AppPassword is the only password an AppPasswordOnly account accepts.
	AppPassword string
	Behavior    Behavior
}

// Options configure Start.
type Options struct {
	TLS TLSMode
	// IMAPAddr and SMTPAddr are the listen addresses; empty means
	// 127.0.0.1 on a free port.
	IMAPAddr, SMTPAddr string
	// Users are added before the servers accept connections.
	Users []User
	// Logger receives the servers' error logs; nil discards them.
	Logger *log.Logger
}

// Server is a running IMAP and SMTP server pair.
type Server struct {
	mode       TLSMode
	tlsCfg     *tls.Config
	caPEM      []byte
	dir        string
	mem        *imapmemserver.Server
	imap       *imapserver.Server
	smtp       *smtp.Server
	imapLn     net.Listener
	smtpLn     net.Listener
	mu         sync.Mutex
	users      map[string]User // by lower-cased email
	delay      atomic.Int64    // greeting delay, nanoseconds
	drop       atomic.Bool
	closed     chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	imapLogins atomic.Int64
	smtpLogins atomic.Int64
}

// memPassword is the password of every imapmemserver user: the behaviours
// decide who logs in, then the session logs in to the memory store with it.
const memPassword = "sandbox-internal"

// Start starts both servers.
func Start(opts Options) (*Server, error) {
	s := &Server{
		mode:   opts.TLS,
		mem:    imapmemserver.New(),
		users:  map[string]User{},
		closed: make(chan struct{}),
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	if opts.TLS != Plain {
		cert, caPEM, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.caPEM = caPEM
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, u := range opts.Users {
		s.AddAccount(u)
	}

	var imapTLS *tls.Config
	if opts.TLS == StartTLS {
		imapTLS = s.tlsCfg
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{srv: s, inner: s.mem.NewSession()}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		Logger:       logger,
		TLSConfig:    imapTLS,
		InsecureAuth: opts.TLS == Plain,
	})
	s.smtp = smtp.NewServer(&smtpBackend{srv: s})
	s.smtp.Domain = "localhost"
	s.smtp.ErrorLog = logger
	s.smtp.AllowInsecureAuth = opts.TLS == Plain
	s.smtp.ReadTimeout = time.Minute
	s.smtp.WriteTimeout = time.Minute
	if opts.TLS == StartTLS {
		s.smtp.TLSConfig = s.tlsCfg
	}

	var err error
	if s.imapLn, err = s.listen(opts.IMAPAddr); err != nil {
		return nil, err
	}
	if s.smtpLn, err = s.listen(opts.SMTPAddr); err != nil {
		s.imapLn.Close()
		return nil, err
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.imap.Serve(s.imapLn) }()
	go func() { defer s.wg.Done(); _ = s.smtp.Serve(s.smtpLn) }()
	return s, nil
}

func (s *Server) listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mail sandbox: listen on %s: %w", addr, err)
	}
	var ln net.Listener = &behaviorListener{Listener: raw, srv: s}
	if s.mode == ImplicitTLS {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	return ln, nil
}

// Close stops both servers and removes the CA file.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.closed)
		// The listeners are closed, and both Serve loops waited for,
		// before the servers' own Close: a Close right after Start races
		// Serve's start in both libraries (go-smtp registers the listener
		// without checking for Close and would accept for ever; go-imap
		// adds to a WaitGroup its Close is waiting on).
		_ = s.imapLn.Close()
		_ = s.smtpLn.Close()
		s.wg.Wait()
		_ = s.imap.Close() // open connections
		_ = s.smtp.Close()
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
	})
	return nil
}

// TLS returns the servers' TLS mode.
func (s *Server) TLS() TLSMode { return s.mode }

// IMAPAddr is the IMAP server's host:port.
func (s *Server) IMAPAddr() string { return s.imapLn.Addr().String() }

// SMTPAddr is the SMTP server's host:port.
func (s *Server) SMTPAddr() string { return s.smtpLn.Addr().String() }

// Host is the host both servers listen on (127.0.0.1 by default).
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.IMAPAddr())
	return h
}

// IMAPPort is the IMAP server's port.
func (s *Server) IMAPPort() int { return s.imapLn.Addr().(*net.TCPAddr).Port }

// SMTPPort is the SMTP server's port.
func (s *Server) SMTPPort() int { return s.smtpLn.Addr().(*net.TCPAddr).Port }

// MailHosts returns both servers as the iCloud provider's configuration
// (providers.icloud).
func (s *Server) MailHosts() icloud.Config {
	return icloud.Config{IMAPHost: s.Host(), IMAPPort: s.IMAPPort(), SMTPHost: s.Host(), SMTPPort: s.SMTPPort()}
}

// CAPEM is the PEM certificate clients must trust (nil in Plain mode).
func (s *Server) CAPEM() []byte { return s.caPEM }

// CAFile writes CAPEM to a file (once; removed by Close) and returns its
// path, for grantd's network.ca_file. It is "" in Plain mode.
func (s *Server) CAFile() (string, error) {
	if s.caPEM == nil {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "grantd-mail-sandbox-")
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), s.caPEM, 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		s.dir = dir
	}
	return filepath.Join(s.dir, "ca.pem"), nil
}

// AddUser adds (or replaces) a Normal account.
func (s *Server) AddUser(email, password string) {
	s.AddAccount(User{Email: email, Password: password})
}

// AddAccount adds (or replaces) an account.
func (s *Server) AddAccount(u User) {
	key := strings.ToLower(u.Email)
	s.mu.Lock()
	_, existed := s.users[key]
	s.users[key] = u
	s.mu.Unlock()
	if !existed {
		mu := imapmemserver.NewUser(key, memPassword)
		_ = mu.Create("INBOX", nil)
		_ = mu.Create("Sent", nil)
		s.mem.AddUser(mu)
	}
}

func (s *Server) user(name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[strings.ToLower(name)]
	return u, ok
}

// SetGreetingDelay delays the first byte each server sends on every new
// connection (the greeting, or the TLS handshake) by d: a slow server.
func (s *Server) SetGreetingDelay(d time.Duration) { s.delay.Store(int64(d)) }

// SetDrop makes both servers close every new connection as soon as it is
// accepted (true), or serve normally again (false).
func (s *Server) SetDrop(drop bool) { s.drop.Store(drop) }

// Logins returns how many IMAP logins and SMTP authentications succeeded.
func (s *Server) Logins() (imapLogins, smtpAuths int64) {
	return s.imapLogins.Load(), s.smtpLogins.Load()
}

// behaviorListener applies SetDrop and SetGreetingDelay to new connections.
type behaviorListener struct {
	net.Listener
	srv *Server
}

func (l *behaviorListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.srv.drop.Load() {
			c.Close()
			continue
		}
		if d := time.Duration(l.srv.delay.Load()); d > 0 {
			return &slowConn{Conn: c, delay: d, closed: l.srv.closed, done: make(chan struct{})}, nil
		}
		return c, nil
	}
}

// slowConn holds back its first write.
type slowConn struct {
	net.Conn
	delay  time.Duration
	closed <-chan struct{}
	once   sync.Once
	done   chan struct{} // closed by Close
	cOnce  sync.Once
}

func (c *slowConn) Write(p []byte) (int, error) {
	var err error
	c.once.Do(func() {
		t := time.NewTimer(c.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
			err = net.ErrClosed
		case <-c.done:
			err = net.ErrClosed
		}
	})
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *slowConn) Close() error {
	c.cOnce.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// selfSigned makes a certificate for localhost, 127.0.0.1 and ::1 that is
// its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "grantd mail sandbox", Organization: []string{"grantd sandbox"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pemBytes, nil
}
