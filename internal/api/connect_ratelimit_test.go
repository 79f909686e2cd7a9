package api_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
)

// fromAddr makes e's requests leave from the loopback address ip (Linux
// routes all of 127.0.0.0/8 to lo), so that grantd sees another client.
func fromAddr(e *apitest.Env, ip string) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	e.Client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}

func oauth429(t *testing.T, what string, r apitest.Response, who string) {
	t.Helper()
	if r.Status != 429 || r.Body["error"] != "rate_limit_exceeded" || r.Body["error_code"] != float64(429) ||
		!strings.Contains(r.Body["error_description"].(string), "limit of hosted OAuth for "+who+" is 1 per second on this grantd node, in bursts of 3") ||
		r.Body["type"] != nil || r.Body["error"] == nil || r.Header.Get("Retry-After") != "1" {
		t.Errorf("%s: %d %s (Retry-After %q); want an OAuth-shaped 429 for %s", what, r.Status, r.Raw, r.Header.Get("Retry-After"), who)
	}
}

// The unauthenticated hosted OAuth routes have a token bucket per client
// IP and one per client_id; over either, a 429 with Retry-After, in the
// OAuth shape on token, tokeninfo and revoke and in the Nylas envelope on
// auth and callback. (Timing can only refill buckets between requests:
// each bucket is emptied by its own loop, which stops at the first 429.)
func TestConnectRateLimits(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.RateLimit.ConnectRequestsPerSecond, c.RateLimit.ConnectBurst = 1, 3
	}})
	appID, _ := e.App("acme")
	tokenReq := func(clientID string) apitest.Response {
		return e.Do("POST", "/v3/connect/token", "", map[string]any{"client_id": clientID, "grant_type": "refresh_token", "refresh_token": "grt_nope", "client_secret": "nope"})
	}

	// 127.0.0.1 empties its bucket and the client_id's on the token
	// endpoint (the answers before it are the usual OAuth errors).
	var r apitest.Response
	n := 0
	for ; n < 100; n++ {
		if r = tokenReq(appID); r.Status == 429 {
			break
		}
		if r.Status != 401 || r.Body["error"] != "invalid_client" {
			t.Fatalf("token request %d: %d %s", n, r.Status, r.Raw)
		}
	}
	if n < 3 || n > 10 {
		t.Errorf("%d token requests answered before the 429; want the burst of 3", n)
	}
	oauth429(t, "token", r, "this client address")
	oauth429(t, "tokeninfo", e.Do("GET", "/v3/connect/tokeninfo?access_token=gat_x", "", nil), "this client address")
	oauth429(t, "revoke", e.Do("POST", "/v3/connect/revoke?token=gat_x", "", nil), "this client address")
	for _, path := range []string{"/v3/connect/auth?client_id=" + appID + "&redirect_uri=http://x&response_type=code", "/v3/connect/callback?state=x&code=y"} {
		r := e.Do("GET", path, "", nil)
		if r.Status != 429 || r.ErrType() != "api.rate_limit_error" || !strings.Contains(r.ErrMessage(), "for this client address is 1 per second") ||
			r.Body["request_id"] != r.Header.Get("x-request-id") || r.Header.Get("Retry-After") != "1" {
			t.Errorf("GET %s: %d %s; want a 429 in the Nylas envelope", path, r.Status, r.Raw)
		}
	}
	// An authenticated route does not draw on these buckets.
	_, key := e.App("other")
	if r := e.Do("GET", "/v3/grants", key, nil); r.Status != 200 {
		t.Errorf("GET /v3/grants: %d %s", r.Status, r.Raw)
	}

	// Another address has its own bucket, but the client_id's is empty:
	// its token requests for appID are refused, for another client_id
	// not. The auth endpoint counts client_id too (Nylas envelope).
	fromAddr(e, "127.0.0.2")
	r = tokenReq(appID)
	oauth429(t, "token from another address, same client_id", r, "this client_id")
	if r := tokenReq("another-client"); r.Status != 401 {
		t.Errorf("token from another address and client_id: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("GET", "/v3/connect/auth?client_id="+appID+"&redirect_uri=http://x&response_type=code", "", nil); r.Status != 429 ||
		r.ErrType() != "api.rate_limit_error" || !strings.Contains(r.ErrMessage(), "for this client_id") {
		t.Errorf("auth from another address, same client_id: %d %s", r.Status, r.Raw)
	}
	if retry, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || retry < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if m := e.Metrics(); !strings.Contains(m, `route="POST /v3/connect/token",status="429"`) {
		t.Error("the 429s are not in grantd_http_requests_total")
	}
}

// The v2 native routes take no API key either: they draw on the client
// IP's bucket too (unknown client_ids on /connect/authorize, and every
// /connect/token, had no limit at all), and over it answer v2's 429,
// {message, type: rate_limit_error}, with Retry-After.
func TestV2ConnectRateLimits(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.RateLimit.ConnectRequestsPerSecond, c.RateLimit.ConnectBurst = 1, 3
	}})
	appID, key := e.App("acme")
	v2429 := func(what string, r apitest.Response) {
		t.Helper()
		msg, _ := r.Body["message"].(string)
		if r.Status != 429 || r.Body["type"] != "rate_limit_error" || len(r.Body) != 2 ||
			!strings.Contains(msg, "limit of v2 native authentication for this client address is 1 per second on this grantd node, in bursts of 3") ||
			r.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d %s (Retry-After %q); want a v2-shaped 429", what, r.Status, r.Raw, r.Header.Get("Retry-After"))
		}
	}
	var r apitest.Response
	n := 0
	for ; n < 100; n++ {
		if r = e.Do("POST", "/connect/token", "", map[string]any{"client_id": appID, "client_secret": key, "code": "guess"}); r.Status == 429 {
			break
		}
		if r.Status != 400 || r.Body["type"] != "invalid_request_error" {
			t.Fatalf("token request %d: %d %s", n, r.Status, r.Raw)
		}
	}
	if n < 3 || n > 10 {
		t.Errorf("%d /connect/token requests answered before the 429; want the burst of 3", n)
	}
	v2429("/connect/token", r)
	v2429("/connect/authorize with an unknown client_id", e.Do("POST", "/connect/authorize", "", map[string]any{"client_id": "0192d2c4-0000-7000-8000-000000000000", "provider": "imap"}))
	// The hosted routes share the address's bucket.
	oauth429(t, "/v3/connect/token after /connect/token", e.Do("POST", "/v3/connect/token", "", map[string]any{"client_id": appID, "grant_type": "refresh_token", "refresh_token": "grt_nope", "client_secret": "nope"}), "this client address")
	// Another address has its own.
	fromAddr(e, "127.0.0.2")
	if r := e.Do("POST", "/connect/token", "", map[string]any{"client_id": appID, "client_secret": key, "code": "guess"}); r.Status != 400 {
		t.Errorf("/connect/token from another address: %d %s", r.Status, r.Raw)
	}
}
