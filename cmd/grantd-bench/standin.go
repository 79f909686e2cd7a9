package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/sandbox"
)

// secretEnv carries the pass-through's OAuth client secret, kept off the
// command line (which other users of the machine can read).
const secretEnv = "GRANTD_BENCH_CLIENT_SECRET"

// cmdStandin runs grantd's OAuth sandbox as the provider stand-in, in a
// process of its own. Its first line on stdout is its base URL.
func cmdStandin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("standin: unexpected argument %q", fs.Arg(0))
	}
	sb, err := sandbox.Start(sandbox.Options{Addr: *listen})
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintln(stdout, sb.URL())
	<-ctx.Done()
	return nil
}

// cmdPassthrough runs the pass-through: an HTTP server that answers
// POST /v3/connect/custom by making exactly the provider calls of a
// validated Google create (the token redemption, then userinfo) with
// grantd's provider HTTP client settings, and nothing else: no API key, no
// connector, no store, no encryption, no event, no log line. It is the
// yardstick grantd's own cost is measured against. Its first line on
// stdout is its base URL.
func cmdPassthrough(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passthrough", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	standin := fs.String("standin", "", "base URL of the provider stand-in (required)")
	clientID := fs.String("client-id", "", "OAuth client id of the Google connector (required); the secret is read from $"+secretEnv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("passthrough: unexpected argument %q", fs.Arg(0))
	}
	if *standin == "" || *clientID == "" {
		return errors.New("passthrough: --standin and --client-id are required")
	}
	hc, err := netx.NewHTTPClient(config.Default().Network)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(*standin, "/")
	p := &passThrough{hc: hc, tokenURL: base + "/google/token", userinfoURL: base + "/google/userinfo", clientID: *clientID, secret: os.Getenv(secretEnv)}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v3/connect/custom", p)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintln(stdout, "http://"+ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type passThrough struct {
	hc                              *http.Client
	tokenURL, userinfoURL, clientID string
	secret                          string
}

func (p *passThrough) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Settings struct {
			RefreshToken string `json:"refresh_token"`
		} `json:"settings"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Google takes the client's credentials in the form, as grantd sends
	// them (oauth2.AuthStyleInParams).
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {in.Settings.RefreshToken}, "client_id": {p.clientID}, "client_secret": {p.secret}}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := p.getJSON(req, &tok); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req, _ = http.NewRequestWithContext(r.Context(), http.MethodGet, p.userinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var id struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := p.getJSON(req, &id); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
		"provider": "google", "grant_status": "valid", "email": id.Email, "name": id.Name, "provider_user_id": id.Sub,
	}})
}

func (p *passThrough) getJSON(req *http.Request, v any) error {
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
