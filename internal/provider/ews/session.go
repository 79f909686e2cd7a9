package ews

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-ntlmssp"

	"github.com/grantd/grantd/internal/provider"
)

// session is one check: its own transport and at most one connection.
type session struct {
	ep       endpoint
	user, pw string
	timeout  time.Duration
	tr       *http.Transport
	rec      *recorder
	ntlm     *http.Client // ntlmssp.Negotiator: anonymous, then NTLM or Basic per the 401
	direct   *http.Client // Basic sent up front, once the server chose Basic
	method   string       // "basic" or "ntlm", once a call succeeded
}

func (v *Provider) newSession(ep endpoint, user, pw string) *session {
	t := v.timeout()
	dial := v.Dial
	if dial == nil {
		dial = v.network.Guard().Dialer(net.Dialer{Timeout: min(t, 10*time.Second)}).DialContext
	}
	// A proxy would be the address the guard checks, not the server's:
	// the environment's proxy is used only when every address is
	// permitted anyway.
	var proxy func(*http.Request) (*url.URL, error)
	if v.network.AllowPrivateHosts {
		proxy = http.ProxyFromEnvironment
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		TLSClientConfig:       v.tls.Clone(),
		TLSHandshakeTimeout:   min(t, 10*time.Second),
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only: NTLM needs a connection
		MaxConnsPerHost:       1,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       t,
		ResponseHeaderTimeout: t,
	}
	rec := &recorder{rt: tr}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &session{
		ep: ep, user: user, pw: pw, timeout: t, tr: tr, rec: rec,
		ntlm:   &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: rec, AllowBasicAuth: true}, Timeout: t, CheckRedirect: noRedirect},
		direct: &http.Client{Transport: rec, Timeout: t, CheckRedirect: noRedirect},
	}
}

func (c *session) close() { c.tr.CloseIdleConnections() }

// recorder notes which kind of Authorization each round trip carried (never
// the value), and the last transport error: the Negotiator hides errors of
// the handshake's later legs behind the first 401.
type recorder struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	sent    []string
	lastErr error
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := authKind(req.Header.Get("Authorization"))
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		// Read the answer now: the Negotiator keeps the first 401 open
		// while it runs the handshake, and an unread body would hold the
		// session's only connection (IIS sends a body with its 401s).
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			resp, err = nil, rerr
		} else {
			resp.Body = io.NopCloser(bytes.NewReader(data))
			resp.ContentLength = int64(len(data))
		}
	}
	r.mu.Lock()
	r.sent = append(r.sent, kind)
	r.lastErr = err
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.sent, r.lastErr = nil, nil
	r.mu.Unlock()
}

func (r *recorder) state() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...), r.lastErr
}

// authKind classifies an Authorization header: "", "basic",
// "ntlm-negotiate", "ntlm-authenticate" or "other".
func authKind(h string) string {
	if h == "" {
		return ""
	}
	scheme, tok, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return "basic"
	case "ntlm", "negotiate":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		if err == nil && len(b) >= 12 && string(b[:8]) == "NTLMSSP\x00" {
			switch b[8] {
			case 1:
				return "ntlm-negotiate"
			case 3:
				return "ntlm-authenticate"
			}
		}
	}
	return "other"
}

// call sends one SOAP request and returns the parsed 200 answer, or a
// classified error.
func (c *session) call(ctx context.Context, op string, body []byte) (envelope, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.url, bytes.NewReader(body))
	if err != nil {
		return envelope{}, bad("%s: %v", c.ep.what, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", "grantd-ews-check/1")
	req.SetBasicAuth(c.user, c.pw)
	client := c.ntlm
	if c.method == "basic" {
		client = c.direct
	}
	c.rec.reset()
	resp, err := client.Do(req)
	sent, lastErr := c.rec.state()
	if err != nil {
		return envelope{}, c.transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return envelope{}, c.transportError(op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && lastErr != nil {
		// The handshake broke off (timeout, reset): not the credentials.
		return envelope{}, c.transportError(op, lastErr)
	}
	method := ""
	for _, k := range sent {
		switch k {
		case "basic":
			method = "basic"
		case "ntlm-negotiate", "ntlm-authenticate":
			method = "ntlm"
		}
	}
	pe := map[string]any{"operation": op, "status": resp.StatusCode}
	if method != "" {
		pe["auth_method"] = method
	} else if c.method != "" {
		pe["auth_method"] = c.method
	}
	if d := resp.Header.Get("X-Ms-Diagnostics"); d != "" {
		pe["x_ms_diagnostics"] = d
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		env, ok := parseEnvelope(data)
		if !ok {
			return envelope{}, c.notEWS("answered 200 but not with a SOAP envelope", pe)
		}
		if env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		if c.method == "" {
			c.method = method
		}
		return env, nil
	case code == http.StatusUnauthorized:
		return envelope{}, c.unauthorized(resp, sent, pe)
	case code == http.StatusForbidden:
		return envelope{}, &provider.Error{Class: provider.ClassAccessDisabled, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s accepted the credentials but refused EWS access (403 Forbidden): EWS is disabled for this mailbox or user, or blocked by policy", c.ep.host)}
	case code == http.StatusNotFound:
		return envelope{}, c.notEWS("answered 404 Not Found", pe)
	case code >= 300 && code < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			pe["location"] = loc
		}
		return envelope{}, c.notEWS(fmt.Sprintf("redirected (%d) instead of answering", code), pe)
	case code == http.StatusTooManyRequests || code >= 500:
		if env, ok := parseEnvelope(data); ok && env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		ra := resp.Header.Get("Retry-After")
		if ra != "" {
			pe["retry_after"] = ra
		}
		return envelope{}, &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Answered: true, RetryAfter: provider.ParseRetryAfter(ra, time.Now()),
			Message: fmt.Sprintf("the Exchange server at %s is unavailable (%s); nothing was stored, retry later", c.ep.host, resp.Status)}
	default:
		if env, ok := parseEnvelope(data); ok && env.Body.Fault != nil {
			return envelope{}, c.faultError(op, env.Body.Fault, pe)
		}
		return envelope{}, &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the EWS server at %s (%s) refused the request: %s", c.ep.url, c.ep.what, resp.Status)}
	}
}
