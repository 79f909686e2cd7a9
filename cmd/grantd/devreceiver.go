package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/webhook"
)

// devReceiverDescription marks the destination `grantd dev` makes for its
// receiver (a later run replaces it).
const devReceiverDescription = "grantd dev receiver"

// devReceiver is a webhook receiver on loopback that answers the
// challenge, checks each delivery's signature and prints the event: what
// a newcomer's own receiver has to do, seen working.
type devReceiver struct {
	srv    *http.Server
	ln     net.Listener
	out    io.Writer
	mu     sync.Mutex
	secret []byte
}

// lockedWriter serialises writes to w (the banner and the receiver's lines).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func startDevReceiver(out io.Writer) (*devReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &devReceiver{ln: ln, out: out}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *devReceiver) URL() string { return "http://" + r.ln.Addr().String() + "/webhooks" }

func (r *devReceiver) Close() { _ = r.srv.Close() }

// OAuthCallbackURL is the dev application's redirect URI for hosted
// OAuth: the receiver shows the code it brings back.
func (r *devReceiver) OAuthCallbackURL() string {
	return "http://" + r.ln.Addr().String() + "/oauth/callback"
}

func (r *devReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet && req.URL.Path == "/oauth/callback" {
		q := req.URL.Query()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(r.out, "hosted OAuth: the sign-in failed: %s: %s (state %q)\n", e, q.Get("error_description"), q.Get("state"))
			fmt.Fprintf(w, "The sign-in failed: %s: %s\n", e, q.Get("error_description"))
			return
		}
		fmt.Fprintf(r.out, "hosted OAuth: code %s (state %q): exchange it at POST /v3/connect/token within 5 minutes\n", q.Get("code"), q.Get("state"))
		fmt.Fprintf(w, "Signed in. grantd's authorization code (single use, 5 minutes):\n\n%s\n\nstate: %s\n", q.Get("code"), q.Get("state"))
		return
	}
	if req.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, req.URL.Query().Get("challenge"))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	m := hmac.New(sha256.New, secret)
	m.Write(raw)
	ok := hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(req.Header.Get(webhook.SignatureHeader)))
	body := raw
	if req.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			body, _ = io.ReadAll(io.LimitReader(zr, 1<<20))
		}
	}
	var ev struct {
		Type    string `json:"type"`
		Attempt int    `json:"webhook_delivery_attempt"`
		Data    struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	verdict := "signature ok"
	if !ok {
		verdict = "SIGNATURE MISMATCH"
	}
	fmt.Fprintf(r.out, "webhook: %s grant %v %v (attempt %d, %s)\n  %s\n", ev.Type, ev.Data.Object["grant_id"], ev.Data.Object["email"], ev.Attempt, verdict, body)
}

// subscribe replaces the development application's receiver destination
// with one for this run's receiver, subscribed to every trigger.
func (r *devReceiver) subscribe(ctx context.Context, srv *server.Server, appID string) (string, error) {
	hooks, err := srv.Webhooks.List(ctx, appID)
	if err != nil {
		return "", err
	}
	for _, h := range hooks {
		if h.Description == devReceiverDescription {
			if err := srv.Webhooks.Delete(ctx, appID, h.ID); err != nil {
				return "", err
			}
		}
	}
	u, desc := r.URL(), devReceiverDescription
	w, secret, err := srv.Webhooks.Create(ctx, appID, webhook.Input{URL: &u, Description: &desc, TriggerTypes: webhook.Triggers})
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.secret = []byte(secret)
	r.mu.Unlock()
	return w.ID, nil
}
