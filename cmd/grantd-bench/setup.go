package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

// Process names, as the results show them.
const (
	procGrantd  = "grantd"
	procDB      = "postgres"
	procStandin = "stand-in"
	procPass    = "pass-through"
	procLoad    = "load-gen"
)

// Modes of a run.
const (
	modeSelfContained = "self-contained"
	modeAttached      = "attached"
)

// proc is a process whose CPU is measured.
type proc struct {
	name    string
	pid     int                                      // 0: not on this machine (or not said): no CPU figure
	pids    func(ctx context.Context) ([]int, error) // several processes (the database's backends), instead of pid
	process *os.Process                              // nil when grantd-bench did not start it
	done    chan struct{}
	log     string // its stderr, when grantd-bench started it
}

// start starts cmd as p, logging to p.log, and reaps it when it ends.
func (e *env) start(p *proc, cmd *exec.Cmd) error {
	lf, err := os.Create(p.log)
	if err != nil {
		return err
	}
	defer lf.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = lf
	}
	cmd.Stderr = lf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p.process, p.pid, p.done = cmd.Process, cmd.Process.Pid, make(chan struct{})
	e.procs = append(e.procs, p)
	go func() { _ = cmd.Wait(); close(p.done) }()
	return nil
}

// env is what the load is driven at: grantd, the stand-in and the
// pass-through, started here or attached to.
type env struct {
	mode, store                string
	grantdURL, apiKey, readKey string
	standinURL, passURL        string
	providers                  providers.Config // the stand-in's endpoints
	runID                      string           // in emails and names of this run
	db                         *pgx.Conn        // watches the PostgreSQL backends
	clientID, clientSecret     string
	procs                      []*proc // grantd, stand-in, pass-through
	dir                        string  // temporary directory, "" when attached
	keep                       bool
	grantdBuild                string // what grantd was built from
	hc                         *http.Client
	say                        func(format string, args ...any)
}

// scopes of the refresh tokens minted for the load: Google's identity
// scopes without openid, so that the token response has no id_token and a
// validated create makes the token call and the userinfo call, like the
// pass-through.
var scopes = []string{
	"https://www.googleapis.com/auth/userinfo.email",
	"https://www.googleapis.com/auth/userinfo.profile",
	"https://www.googleapis.com/auth/gmail.readonly",
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			Proxy:               nil, // loopback or the user's own hosts: never a proxy
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

func setUp(ctx context.Context, o options, say func(string, ...any)) (_ *env, err error) {
	e := &env{hc: newHTTPClient(max(slices.Max(o.concurrency), o.seedConcurrency) + 8), say: say, keep: o.keep, runID: strings.ToLower(rand.Text()[:8])}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if o.attached() {
		e.mode = modeAttached
		e.grantdURL, e.apiKey, e.readKey = strings.TrimSuffix(o.url, "/"), o.apiKey, o.readAPIKey
		e.standinURL = strings.TrimSuffix(o.standinURL, "/")
		e.providers = standinProviders(e.standinURL)
		e.procs = []*proc{{name: procGrantd, pid: o.grantdPID}, {name: procStandin, pid: o.standinPID}}
		if err := e.connector(ctx, true); err != nil {
			return nil, err
		}
	} else {
		e.mode, e.store = modeSelfContained, "SQLite"
		if o.databaseURL != "" {
			e.store = "PostgreSQL"
		}
		if e.dir, err = os.MkdirTemp("", "grantd-bench-"); err != nil {
			return nil, err
		}
		if e.standinURL, err = e.startChild(ctx, procStandin, self, []string{"standin"}, nil); err != nil {
			return nil, err
		}
		e.providers = standinProviders(e.standinURL)
		bin := o.grantdBin
		if bin == "" {
			say("building grantd")
			if bin, e.grantdBuild, err = buildGrantd(ctx, e.dir); err != nil {
				return nil, err
			}
		} else {
			e.grantdBuild = bin
		}
		app := ""
		if o.databaseURL != "" {
			if o.databaseURL, app, err = withAppName(o.databaseURL, "grantd-bench-"+e.runID); err != nil {
				return nil, fmt.Errorf("--database-url: %w", err)
			}
		}
		say("starting grantd serve (%s)", e.store)
		if err := e.startGrantd(ctx, bin, o); err != nil {
			return nil, err
		}
		if app != "" {
			if err := e.watchDatabase(ctx, o.databaseURL, app); err != nil {
				return nil, err
			}
		}
		if err := e.connector(ctx, false); err != nil {
			return nil, err
		}
	}
	if o.passthroughURL != "" {
		e.passURL = strings.TrimSuffix(o.passthroughURL, "/")
		e.procs = append(e.procs, &proc{name: procPass, pid: o.passPID})
	} else if e.passURL, err = e.startChild(ctx, procPass, self, []string{"passthrough", "--standin", e.standinURL, "--client-id", e.clientID},
		[]string{secretEnv + "=" + e.clientSecret}); err != nil {
		return nil, err
	}
	// Shown in this order: grantd, its database, stand-in, pass-through.
	order := []string{procGrantd, procDB, procStandin, procPass}
	slices.SortStableFunc(e.procs, func(a, b *proc) int { return slices.Index(order, a.name) - slices.Index(order, b.name) })
	return e, nil
}

// Close stops the processes grantd-bench started (grantd gracefully) and
// removes the temporary directory unless --keep.
func (e *env) Close() {
	if e.db != nil {
		_ = e.db.Close(context.Background())
	}
	for _, p := range slices.Backward(e.procs) {
		if p.process == nil {
			continue
		}
		_ = p.process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.process.Kill()
			<-p.done
		}
	}
	if e.dir == "" {
		return
	}
	if e.keep {
		e.say("kept %s (grantd's data directory and the processes' logs)", e.dir)
		return
	}
	_ = os.RemoveAll(e.dir)
}

// startChild starts a subcommand of grantd-bench that prints its URL as
// its first line on stdout.
func (e *env) startChild(ctx context.Context, name, bin string, args, extraEnv []string) (string, error) {
	p := &proc{name: name, log: e.logPath(name)}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := e.start(p, cmd); err != nil {
		return "", err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "http://") {
			<-p.done
			return "", fmt.Errorf("%s did not start: %s", name, tail(p.log))
		}
		return s, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("%s did not say its URL within 30 s", name)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// logPath is where a process started here logs.
func (e *env) logPath(name string) string {
	if e.dir == "" {
		return os.DevNull
	}
	return filepath.Join(e.dir, strings.ReplaceAll(name, "-", "")+".log")
}

// buildGrantd builds cmd/grantd of the repository the working directory
// is in, and says from which commit.
func buildGrantd(ctx context.Context, dir string) (bin, from string, err error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "", errors.New("no go command to build grantd with: give --grantd BINARY")
	}
	out, err := exec.CommandContext(ctx, goBin, "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	mod, root, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if err != nil || mod != "github.com/grantd/grantd" {
		return "", "", errors.New("the working directory is not in grantd's repository, so grantd cannot be built from it: run grantd-bench from the repository or give --grantd BINARY")
	}
	bin = filepath.Join(dir, "grantd")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/grantd")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/grantd: %v\n%s", err, b)
	}
	from = root
	if rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		from += " at " + strings.TrimSpace(string(rev))
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			from += " with uncommitted changes"
		}
	}
	return bin, from, nil
}

// grantdEnviron is the environment of the grantd processes: this one's
// without its GRANTD_* variables, the run's settings, then --grantd-env.
func (e *env) grantdEnviron(o options, listen string) ([]string, error) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(e.dir, "data")
	cfg.Listen = listen
	cfg.DatabaseURL = o.databaseURL
	cfg.Log.Level = o.logLevel
	cfg.Refresh.Enabled = o.refresh
	// A load run is one application sending far more than its per-node
	// rate limit allows: measure grantd's work, not its 429s.
	cfg.RateLimit = config.RateLimit{}
	sp := e.providers
	cfg.Providers.Google, cfg.Providers.Microsoft, cfg.Providers.Yahoo, cfg.Providers.Zoom = sp.Google, sp.Microsoft, sp.Yahoo, sp.Zoom
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if unknown := config.UnknownEnv(o.grantdEnv); len(unknown) > 0 {
		return nil, fmt.Errorf("--grantd-env: %s names no configuration key (docs/configuration.md)", unknown[0])
	}
	return append(cfg.Environ(os.Environ()), o.grantdEnv...), nil
}

// startGrantd creates the application and its keys with grantd's own
// commands, then runs `grantd serve` until it is ready.
func (e *env) startGrantd(ctx context.Context, bin string, o options) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	listen := ln.Addr().String()
	ln.Close()
	environ, err := e.grantdEnviron(o, listen)
	if err != nil {
		return err
	}
	admin := func(v any, args ...string) error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = environ
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("grantd %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return json.Unmarshal(out, v)
	}
	var app struct {
		ApplicationID string `json:"application_id"`
		APIKey        string `json:"api_key"`
	}
	var rk struct {
		APIKey string `json:"api_key"`
	}
	if err := admin(&app, "app", "create", "--name", "grantd-bench", "--json"); err != nil {
		return err
	}
	if err := admin(&rk, "apikey", "create", "--app", app.ApplicationID, "--name", "grantd-bench credentials:read", "--scope", "credentials:read", "--json"); err != nil {
		return err
	}
	e.apiKey, e.readKey = app.APIKey, rk.APIKey
	p := &proc{name: procGrantd, log: e.logPath(procGrantd)}
	cmd := exec.Command(bin, "serve")
	cmd.Env = environ
	if err := e.start(p, cmd); err != nil {
		return err
	}
	e.grantdURL = "http://" + listen
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := e.hc.Get(e.grantdURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("grantd serve exited: %s", tail(p.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("grantd serve not ready within a minute: %s", tail(p.log))
		}
	}
}

// standinProviders are the provider endpoints of the stand-in at url.
func standinProviders(url string) providers.Config {
	return sandbox.New(sandbox.Options{Issuer: url}).Providers()
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// connector makes sure the application has a Google connector whose client
// the stand-in knows. Attached, an existing connector is kept: the
// stand-in learns its client id as a public client (any secret goes),
// since grantd never shows a connector's secret.
func (e *env) connector(ctx context.Context, keepExisting bool) error {
	if keepExisting {
		var c struct {
			Data struct {
				Settings struct {
					ClientID string `json:"client_id"`
				} `json:"settings"`
			} `json:"data"`
		}
		status, err := e.call(ctx, http.MethodGet, e.grantdURL+"/v3/connectors/google", e.apiKey, nil, &c)
		switch {
		case err != nil:
			return err
		case status == http.StatusOK:
			e.clientID = c.Data.Settings.ClientID
			return e.standinAdmin(ctx, "/admin/clients", map[string]string{"provider": "google", "client_id": e.clientID}, nil)
		case status != http.StatusNotFound:
			return fmt.Errorf("GET /v3/connectors/google: status %d", status)
		}
	}
	e.clientID = "grantd-bench-" + strings.ToLower(rand.Text()[:10]) + ".apps.googleusercontent.com"
	e.clientSecret = rand.Text()
	if err := e.standinAdmin(ctx, "/admin/clients", map[string]string{"provider": "google", "client_id": e.clientID, "client_secret": e.clientSecret}, nil); err != nil {
		return err
	}
	body := map[string]any{"name": "grantd-bench", "provider": "google", "settings": map[string]string{"client_id": e.clientID, "client_secret": e.clientSecret}, "scope": scopes}
	status, err := e.call(ctx, http.MethodPost, e.grantdURL+"/v3/connectors", e.apiKey, body, nil)
	if err == nil && status != http.StatusCreated {
		err = fmt.Errorf("POST /v3/connectors: status %d", status)
	}
	return err
}

// standinAdmin calls the stand-in's admin surface.
func (e *env) standinAdmin(ctx context.Context, path string, in, out any) error {
	method := http.MethodPost
	if in == nil {
		method = http.MethodGet
	}
	status, err := e.call(ctx, method, e.standinURL+path, "", in, out)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("stand-in %s: status %d", path, status)
	}
	return err
}

// call makes one JSON request and decodes a 2xx answer into out.
func (e *env) call(ctx context.Context, method, url, key string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 && out != nil {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
