// Package apitest runs a complete grantd (real SQLite file, real vault,
// real HTTP) against the provider sandbox, for tests of the API and of the
// commands. It is imported only by tests.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/testenv"
	"github.com/grantd/grantd/internal/vault"
)

// Env is one running grantd with its sandbox.
type Env struct {
	T       testing.TB
	Sandbox *sandbox.Sandbox
	Server  *server.Server
	HTTP    *httptest.Server
	Logs    *SyncBuffer
	Config  config.Config
	Client  *http.Client
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nxdomainServer starts a DNS server on loopback that answers NXDOMAIN to
// every question and returns its address.
func nxdomainServer(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// Options tweak the environment.
type Options struct {
	// Configure changes the configuration before grantd is assembled.
	Configure func(*config.Config)
	// Sandbox, when set, is the provider sandbox to use (shared with
	// another Env: a second grantd against the same providers); New
	// starts one otherwise.
	Sandbox *sandbox.Sandbox
}

// New starts grantd on a fresh SQLite file in a temporary directory.
func New(t testing.TB, opts ...Options) *Env {
	t.Helper()
	var sb *sandbox.Sandbox
	for _, o := range opts {
		if o.Sandbox != nil {
			sb = o.Sandbox
		}
	}
	if sb == nil {
		var err error
		if sb, err = sandbox.Start(sandbox.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	sp := sb.Providers()
	cfg.Providers.Google, cfg.Providers.Microsoft, cfg.Providers.Yahoo, cfg.Providers.Zoom = sp.Google, sp.Microsoft, sp.Yahoo, sp.Zoom
	cfg.Log.Level = "debug"
	cfg.Network.Timeout = 3e9
	// The sandbox's IMAP, SMTP and EWS servers are on loopback; the tests
	// of the guard turn this off.
	cfg.Network.AllowPrivateHosts = true
	// No test reaches the internet: detection asks a loopback DNS server
	// that knows no name (tests that need answers configure their own).
	cfg.Network.DNSServer = nxdomainServer(t)
	kr, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Vault.Keyring = kr.MarshalInline()
	// Tests send requests as fast as they can; those about rate limits
	// set them.
	cfg.RateLimit = config.RateLimit{}
	for _, o := range opts {
		if o.Configure != nil {
			o.Configure(&cfg)
		}
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.API)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &Env{T: t, Sandbox: sb, Server: srv, HTTP: ts, Logs: logs, Config: cfg, Client: ts.Client()}
}

// BuildGrantd builds cmd/grantd into a temporary directory (for tests
// that run `grantd serve` processes).
func BuildGrantd(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "the go command is not available to build grantd")
	}
	bin := filepath.Join(t.TempDir(), "grantd")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/grantd/grantd/cmd/grantd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ChildEnv is cfg as GRANTD_* variables, on top of the environment
// without its own GRANTD_* variables (for a `grantd serve` child).
func ChildEnv(t testing.TB, cfg config.Config) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	for _, k := range config.Keys() {
		v, err := cfg.Get(k.Path)
		if err != nil {
			t.Fatal(err)
		}
		if v != "" {
			env = append(env, k.Env+"="+v)
		}
	}
	return env
}

// StartServe starts `bin serve` with env and output to out; the process is
// killed at the end of the test if it is still running.
func StartServe(t testing.TB, bin string, env []string, out io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// App creates an application and returns its id and API key.
func (e *Env) App(name string) (string, string) {
	e.T.Helper()
	app, key, err := e.Server.Tenants.CreateApplication(context.Background(), name)
	if err != nil {
		e.T.Fatal(err)
	}
	return app.ID, key
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Data returns body["data"] as an object.
func (r Response) Data() map[string]any {
	m, _ := r.Body["data"].(map[string]any)
	return m
}

// List returns body["data"] as an array of objects.
func (r Response) List() []map[string]any {
	arr, _ := r.Body["data"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// ErrType returns error.type, ErrMessage error.message.
func (r Response) ErrType() string {
	m, _ := r.Body["error"].(map[string]any)
	s, _ := m["type"].(string)
	return s
}

// ErrMessage returns error.message.
func (r Response) ErrMessage() string {
	m, _ := r.Body["error"].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

// ProviderError returns error.provider_error.
func (r Response) ProviderError() map[string]any {
	m, _ := r.Body["error"].(map[string]any)
	pe, _ := m["provider_error"].(map[string]any)
	return pe
}

// Do sends a request with key as Bearer (none when key is ""); body is
// JSON-encoded unless it is a string or []byte, sent as is. Every answer
// must be JSON.
func (e *Env) Do(method, path, key string, body any) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, e.HTTP.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.T.Fatalf("%s %s: %d answer is not a JSON object: %v: %q", method, path, resp.StatusCode, err, raw)
		}
	}
	return out
}

// OAuthConnector creates the connector of prov for the app with a client
// registered in the sandbox, and returns the client id.
func (e *Env) OAuthConnector(key, prov string) string {
	e.T.Helper()
	clientID, secret := "client-"+prov, "secret-"+prov+"-canary"
	e.Sandbox.AddClient(prov, clientID, secret)
	r := e.Do("POST", "/v3/connectors", key, map[string]any{
		"name": prov, "provider": prov,
		"settings": map[string]any{"client_id": clientID, "client_secret": secret},
	})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("create %s connector: %d %s", prov, r.Status, r.Raw)
	}
	return clientID
}

// RefreshToken adds a sandbox user and mints a refresh token for it.
func (e *Env) RefreshToken(prov, clientID, email string, scopes ...string) string {
	e.T.Helper()
	e.Sandbox.AddUser(prov, sandbox.User{Email: email, Name: "User " + email})
	if len(scopes) == 0 {
		scopes = DefaultScopes[prov]
	}
	rt, err := e.Sandbox.MintRefreshToken(prov, clientID, email, scopes)
	if err != nil {
		e.T.Fatal(err)
	}
	return rt
}

// DefaultScopes are typical scopes per provider.
var DefaultScopes = map[string][]string{
	"google":    {"openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile", "https://www.googleapis.com/auth/gmail.readonly"},
	"microsoft": {"openid", "profile", "email", "offline_access", "User.Read", "Mail.Read"},
	"yahoo":     {"openid", "email", "profile", "mail-r"},
	"zoom":      {"meeting:write:meeting", "user:read:user"},
}

// Metrics returns grantd's /metrics page.
func (e *Env) Metrics() string {
	e.T.Helper()
	resp, err := e.Client.Get(e.HTTP.URL + "/metrics")
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.T.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// Scopes of Google service account tests.
const (
	GmailReadonly = "https://www.googleapis.com/auth/gmail.readonly"
	Calendar      = "https://www.googleapis.com/auth/calendar"
)

// ServiceAccount registers a Google service account for domain in the
// sandbox, delegated scopes (gmail.readonly and calendar when none are
// given), and returns its client_email and JSON key (as a map: the
// credential_data of a serviceaccount credential).
func (e *Env) ServiceAccount(domain string, scopes ...string) (string, map[string]any) {
	e.T.Helper()
	return ServiceAccountKey(e.T, e.Sandbox, domain, scopes...)
}

// ServiceAccountKey is Env.ServiceAccount for any sandbox.
func ServiceAccountKey(t testing.TB, sb *sandbox.Sandbox, domain string, scopes ...string) (string, map[string]any) {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{GmailReadonly, Calendar}
	}
	raw, err := sb.AddServiceAccount(sandbox.ServiceAccount{Domain: domain, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]any
	if err := json.Unmarshal(raw, &key); err != nil {
		t.Fatal(err)
	}
	return key["client_email"].(string), key
}
