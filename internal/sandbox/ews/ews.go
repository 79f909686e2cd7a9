// Package ews is an in-process Exchange Web Services stand-in for tests and
// `grantd dev`: an HTTPS server (its own CA) at /EWS/Exchange.asmx that
// answers the GetFolder and ResolveNames SOAP operations for its users,
// with Basic and with NTLM authentication.
//
// NTLM is checked for real: the server sends a CHALLENGE, verifies the
// client's NTLMv2 response against NTOWFv2 of the user's password, and then
// treats the TCP connection as authenticated, like IIS and Apache
// mod_auth_gssapi do (a later request on that connection needs no
// Authorization header at all). That is why a client must use a fresh
// connection for every credential check; Stats counts connections so tests
// can assert it does.
//
//	srv, err := ews.Start(ews.Options{Auth: ews.Both})
//	defer srv.Close()
//	srv.AddUser("alice@contoso.test", `CONTOSO\alice`, "alicepw", "Alice Liddell")
//	// point grantd at it: network.ca_file = srv.CAFile(),
//	// settings {"ews_host": srv.Host(), "ews_port": srv.Port(), …}
//
// Scripted failures (Fail, SetDelay, DisableEWS) reproduce what Exchange
// answers when basic authentication is turned off (401 with only a Bearer
// challenge, as Exchange Online does), when EWS is not allowed (403, or
// ErrorAccessDenied), when it is throttled (ErrorServerBusy) or down (503),
// and when it is slow.
package ews

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Path is where the EWS endpoint lives, as on Exchange.
const Path = "/EWS/Exchange.asmx"

// Auth is a set of authentication methods.
type Auth int

// Authentication methods.
const (
	Basic Auth = 1 << iota
	NTLM
	Both = Basic | NTLM
)

func (a Auth) String() string {
	switch a {
	case Basic:
		return "basic"
	case NTLM:
		return "ntlm"
	case Both:
		return "basic+ntlm"
	}
	return "none"
}

// Options configure a Server.
type Options struct {
	// Auth is what the server offers in its 401 challenges: Basic
	// (`Basic realm=…`), NTLM (`Negotiate` and `NTLM`, like IIS) or Both.
	// Zero means Both.
	Auth Auth
	// Domain is the NTLM domain (NetBIOS name) announced in the challenge;
	// default "CONTOSO".
	Domain string
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
}

// User is a mailbox of the stand-in.
type User struct {
	// Email is the primary SMTP address (what ResolveNames returns).
	Email string
	// Username is the logon name: `DOMAIN\user` or a UPN. The primary SMTP
	// address is accepted as a UPN too.
	Username    string
	Password    string
	DisplayName string
	// Auth restricts the methods that may log this user in; zero means
	// whatever the server offers.
	Auth Auth
	// EWSDisabled makes every authenticated request of this user a 403, as
	// Exchange answers when EWS is turned off for the mailbox.
	EWSDisabled bool
}

// Failure is a scripted server-wide failure.
type Failure int

// Failures.
const (
	// FailNone: normal service.
	FailNone Failure = iota
	// FailBasicDisabled: every request gets 401 with only
	// `WWW-Authenticate: Bearer …` (Exchange Online after basic
	// authentication was retired).
	FailBasicDisabled
	// FailForbidden: authenticated requests get 403.
	FailForbidden
	// FailAccessDenied: authenticated requests get a SOAP response whose
	// ResponseMessage is an Error with ResponseCode ErrorAccessDenied.
	FailAccessDenied
	// FailServerBusy: authenticated requests get a 500 SOAP fault
	// ErrorServerBusy with a BackOffMilliseconds hint (throttling).
	FailServerBusy
	// FailUnavailable: every request gets 503 Service Unavailable.
	FailUnavailable
	// FailEchoCredentials: authenticated requests get a 500 SOAP fault
	// that repeats the user's password and the Authorization header it
	// received (a careless server, for tests of redaction).
	FailEchoCredentials
)

// Stats are counters since Start.
type Stats struct {
	// Connections is the number of TCP connections accepted.
	Connections int64
	// Requests is the number of HTTP requests received.
	Requests int64
	// BasicLogins and NTLMLogins count successful authentications;
	// NTLMLogins counts AUTHENTICATE messages that verified.
	BasicLogins int64
	NTLMLogins  int64
	// Failed counts rejected credentials.
	Failed int64
}

// Request describes the last SOAP request served (for tests).
type Request struct {
	Operation     string // GetFolder, ResolveNames
	ServerVersion string // RequestServerVersion Version
	ContentType   string
	User          string // the authenticated user's email
	AuthMethod    string // "basic", "ntlm" or "connection" (an NTLM-authenticated connection)
	FolderIDs     []string
	Mailbox       string // GetFolder's Mailbox, if any
	Entry         string // ResolveNames' UnresolvedEntry
}

// Server is a running stand-in.
type Server struct {
	opts  Options
	ts    *httptest.Server
	caPEM []byte
	dir   string

	mu      sync.Mutex
	users   []*User
	failure Failure
	delay   time.Duration
	last    Request

	conns, requests, basicOK, ntlmOK, failed atomic.Int64
}

type connKey struct{}

// connState is the authentication bound to one TCP connection.
type connState struct {
	mu        sync.Mutex
	challenge *challenge
	user      *User
}

// Start starts a server on loopback.
func Start(opts Options) (*Server, error) {
	if opts.Auth == 0 {
		opts.Auth = Both
	}
	if opts.Domain == "" {
		opts.Domain = "CONTOSO"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	caPEM, leaf, err := newCertificates()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "grantd-ews-sandbox-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ews sandbox: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{opts: opts, caPEM: caPEM, dir: dir}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener.Close()
	ts.Listener = ln
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are test cases, not noise
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		s.conns.Add(1)
		return context.WithValue(ctx, connKey{}, &connState{})
	}
	ts.StartTLS()
	s.ts = ts
	return s, nil
}

// Close stops the server and removes its CA file.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
	os.RemoveAll(s.dir)
}

// URL is the EWS endpoint, https://127.0.0.1:port/EWS/Exchange.asmx.
func (s *Server) URL() string { return s.ts.URL + Path }

// Host is the server's host (an IP address the certificate covers).
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.ts.Listener.Addr().String())
	return h
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.ts.Listener.Addr().(*net.TCPAddr).Port }

// CAPEM is the PEM certificate of the CA that signed the server's
// certificate (valid for localhost, 127.0.0.1 and ::1).
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CAFile is a file holding CAPEM, removed by Close.
func (s *Server) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// Domain is the NTLM domain.
func (s *Server) Domain() string { return s.opts.Domain }

// AddUser adds (or replaces, by email) a mailbox that may log in with any
// method the server offers.
func (s *Server) AddUser(email, username, password, displayName string) {
	s.Add(User{Email: email, Username: username, Password: password, DisplayName: displayName})
}

// Add adds (or replaces, by email) a mailbox.
func (s *Server) Add(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.users {
		if strings.EqualFold(o.Email, u.Email) {
			s.users[i] = &u
			return
		}
	}
	s.users = append(s.users, &u)
}

// SetPassword changes a user's password; false when there is no such user.
func (s *Server) SetPassword(email, password string) bool {
	return s.update(email, func(u *User) { u.Password = password })
}

// DisableEWS turns EWS off (403) or on again for one mailbox.
func (s *Server) DisableEWS(email string, disabled bool) bool {
	return s.update(email, func(u *User) { u.EWSDisabled = disabled })
}

func (s *Server) update(email string, f func(*User)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.users {
		if strings.EqualFold(o.Email, email) {
			c := *o
			f(&c)
			s.users[i] = &c
			return true
		}
	}
	return false
}

// Fail scripts a server-wide failure until Fail(FailNone).
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	s.failure = f
	s.mu.Unlock()
}

// SetDelay makes every request wait d before it is answered.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.conns.Load(), Requests: s.requests.Load(),
		BasicLogins: s.basicOK.Load(), NTLMLogins: s.ntlmOK.Load(), Failed: s.failed.Load(),
	}
}

// LastRequest describes the last SOAP request that was authenticated and
// parsed.
func (s *Server) LastRequest() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.last
	r.FolderIDs = append([]string(nil), r.FolderIDs...)
	return r
}

func (s *Server) snapshot() (Failure, time.Duration, []*User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure, s.delay, append([]*User(nil), s.users...)
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	failure, delay, users := s.snapshot()
	// Read the body first: only then does net/http notice a client that
	// hangs up, which ends a scripted delay early.
	body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if !strings.EqualFold(r.URL.Path, Path) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html><body><h1>404 - File or directory not found.</h1></body></html>")
		return
	}
	switch failure {
	case FailUnavailable:
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><h1>Service Unavailable</h1></body></html>")
		return
	case FailBasicDisabled:
		w.Header().Set("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
		w.Header().Set("X-Ms-Diagnostics", `2000000;reason="The authentication method is not supported.";error_category="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	u, method := s.authenticate(w, r, users)
	if u == nil {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if u.EWSDisabled || failure == FailForbidden {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<html><body><h1>403 - Forbidden: Access is denied.</h1></body></html>")
		return
	}
	if failure == FailEchoCredentials {
		writeFault(w, "a:ErrorInternalServerError", fmt.Sprintf("Logon of %s with password %s failed (Authorization: %s)", u.Username, u.Password, r.Header.Get("Authorization")), "")
		return
	}
	if failure == FailServerBusy {
		writeFault(w, "a:ErrorServerBusy", "The server cannot service this request right now. Try again later.",
			`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">29775</t:Value></t:MessageXml>`)
		return
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "text/xml") {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	if bodyErr != nil {
		writeFault(w, "a:ErrorSchemaValidation", "The request failed schema validation: "+bodyErr.Error(), "")
		return
	}
	env, err := parseRequest(bytes.NewReader(body))
	if err != nil {
		writeFault(w, "a:ErrorSchemaValidation", "The request failed schema validation: "+err.Error(), "")
		return
	}
	rec := Request{ServerVersion: env.Header.Version.Version, ContentType: ct, User: u.Email, AuthMethod: method}
	switch {
	case env.Body.GetFolder != nil:
		rec.Operation = "GetFolder"
		for _, f := range env.Body.GetFolder.Folders {
			rec.FolderIDs = append(rec.FolderIDs, f.ID)
			if f.Mailbox != "" {
				rec.Mailbox = f.Mailbox
			}
		}
	case env.Body.ResolveNames != nil:
		rec.Operation, rec.Entry = "ResolveNames", env.Body.ResolveNames.Entry
	default:
		writeFault(w, "a:ErrorInvalidRequest", "The request is invalid.", "")
		return
	}
	s.mu.Lock()
	s.last = rec
	s.mu.Unlock()
	if env.Header.Version.Version == "" {
		writeFault(w, "a:ErrorInvalidServerVersion", "The specified server version is invalid.", "")
		return
	}
	if failure == FailAccessDenied {
		writeResponse(w, responseMessage(rec.Operation, "Error", "ErrorAccessDenied", "Access is denied. Check credentials and try again.", ""))
		return
	}
	if rec.Operation == "GetFolder" {
		writeResponse(w, getFolder(u, users, env.Body.GetFolder.Folders))
		return
	}
	writeResponse(w, resolveNames(users, env.Body.ResolveNames.Entry))
}

// unauthorized writes the 401 of an unauthenticated request: the
// challenges of the methods the server offers.
func (s *Server) unauthorized(w http.ResponseWriter) {
	if s.opts.Auth&NTLM != 0 {
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", "NTLM")
	}
	if s.opts.Auth&Basic != 0 {
		w.Header().Add("WWW-Authenticate", `Basic realm="`+s.Host()+`"`)
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, "<html><body><h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1></body></html>")
}

// authenticate returns the request's user and how it was authenticated,
// or writes the 401 (a challenge, or a refusal) and returns nil.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, users []*User) (*User, string) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	authz := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(authz, " ")
	switch {
	case authz == "" && cs.user != nil:
		// An NTLM-authenticated connection stays authenticated.
		return cs.user, "connection"
	case strings.EqualFold(scheme, "Basic") && s.opts.Auth&Basic != 0:
		name, pass, ok := r.BasicAuth()
		if ok {
			for _, u := range users {
				if u.allows(Basic) && u.logon(name) && subtle.ConstantTimeCompare([]byte(pass), []byte(u.Password)) == 1 {
					s.basicOK.Add(1)
					return u, "basic"
				}
			}
		}
		s.failed.Add(1)
	case (strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate")) && s.opts.Auth&NTLM != 0:
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil {
			break
		}
		typ, err := ntlmMessageType(msg)
		if err != nil {
			break
		}
		switch typ {
		case 1:
			ch, m, err := newChallenge(s.opts.Domain, "EXCH01")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return nil, ""
			}
			cs.challenge, cs.user = &ch, nil
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(m))
			w.WriteHeader(http.StatusUnauthorized)
			return nil, ""
		case 3:
			ch := cs.challenge
			cs.challenge, cs.user = nil, nil
			a, err := parseAuthenticate(msg)
			if ch == nil || err != nil {
				break
			}
			for _, u := range users {
				if u.allows(NTLM) && u.ntlmLogon(a) && verifyNTLMv2(*ch, a, u.Password) {
					s.ntlmOK.Add(1)
					cs.user = u
					return u, "ntlm"
				}
			}
			s.failed.Add(1)
		}
	}
	s.unauthorized(w)
	return nil, ""
}

func (u *User) allows(a Auth) bool { return u.Auth == 0 || u.Auth&a != 0 }

// logon reports whether name (as sent with Basic) names u.
func (u *User) logon(name string) bool {
	return strings.EqualFold(name, u.Username) || strings.EqualFold(name, u.Email)
}

// ntlmLogon reports whether the AUTHENTICATE message names u.
func (u *User) ntlmLogon(a authenticate) bool {
	if a.Domain == "" {
		return u.logon(a.User)
	}
	return strings.EqualFold(a.Domain+`\`+a.User, u.Username)
}
