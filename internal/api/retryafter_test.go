package api_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
	ewssb "github.com/grantd/grantd/internal/sandbox/ews"
)

// TestProviderRetryAfter: a provider that answers 429 or 503 with
// Retry-After has its pause passed to the client as grantd's own
// Retry-After, in whole seconds rounded up and at most an hour, on the v3
// routes (504 api.provider_error) and on v2's /connect/authorize (504
// api_error); an answer without one gets none.
func TestProviderRetryAfter(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")
	client := e.OAuthConnector(key, "google")
	custom := func(email string) apitest.Response {
		return e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google",
			"settings": map[string]any{"refresh_token": e.RefreshToken("google", client, email)}})
	}
	retryAfter := func(r apitest.Response) int {
		t.Helper()
		v := r.Header.Get("Retry-After")
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("Retry-After %q is not whole positive seconds", v)
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		failure  sandbox.Failure
		min, max int // the Retry-After wanted (0: none)
	}{
		{"token endpoint 429", sandbox.Failure{Endpoint: "token", Status: 429, RetryAfter: "7"}, 7, 7},
		{"token endpoint 503, an HTTP date", sandbox.Failure{Endpoint: "token", Status: 503,
			RetryAfter: time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)}, 18, 20},
		{"token endpoint 429 asking for a day", sandbox.Failure{Endpoint: "token", Status: 429, RetryAfter: "86400"}, 3600, 3600},
		{"token endpoint 500 without Retry-After", sandbox.Failure{Endpoint: "token", Status: 500}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Sandbox.InjectFailure("google", tc.failure)
			defer e.Sandbox.ClearFailures()
			r := custom("ra@example.com")
			if r.Status != http.StatusGatewayTimeout || r.ErrType() != "api.provider_error" {
				t.Fatalf("%d %s; want 504 api.provider_error", r.Status, r.Raw)
			}
			if got := retryAfter(r); got < tc.min || got > tc.max {
				t.Errorf("Retry-After = %d; want %d..%d", got, tc.min, tc.max)
			}
		})
	}

	t.Run("identity endpoint 429", func(t *testing.T) {
		// Zoom learns the account at /users/me (Google reads the id_token).
		zc := e.OAuthConnector(key, "zoom")
		e.Sandbox.InjectFailure("zoom", sandbox.Failure{Endpoint: "identity", Status: 429, RetryAfter: "5", Count: -1})
		defer e.Sandbox.ClearFailures()
		r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "zoom",
			"settings": map[string]any{"refresh_token": e.RefreshToken("zoom", zc, "zoom@example.com")}})
		if r.Status != http.StatusGatewayTimeout || retryAfter(r) != 5 {
			t.Errorf("%d Retry-After=%q %s; want 504 with Retry-After 5", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	})

	t.Run("v2 /connect/authorize", func(t *testing.T) {
		e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503, RetryAfter: "9"})
		defer e.Sandbox.ClearFailures()
		r := e.Do("POST", "/connect/authorize", "", map[string]any{"client_id": appID, "email_address": "v2@example.com", "provider": "gmail",
			"settings": map[string]any{"google_client_id": client, "google_client_secret": "secret-google-canary",
				"google_refresh_token": e.RefreshToken("google", client, "v2@example.com")}})
		if r.Status != http.StatusGatewayTimeout || r.Body["type"] != "api_error" || retryAfter(r) != 9 {
			t.Errorf("%d Retry-After=%q %s; want 504 api_error with Retry-After 9", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	})

}

// TestEWSRetryAfter: Exchange's throttling (ErrorServerBusy with
// BackOffMilliseconds) and a 503 with Retry-After reach the client as
// Retry-After.
func TestEWSRetryAfter(t *testing.T) {
	e, srv, key := ewsEnv(t, ewssb.NTLM)
	for _, tc := range []struct {
		name    string
		failure ewssb.Failure
		want    string
	}{
		{"ErrorServerBusy, BackOffMilliseconds 29775", ewssb.FailServerBusy, "30"},
		{"503 Retry-After 30", ewssb.FailUnavailable, "30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Fail(tc.failure)
			defer srv.Fail(ewssb.FailNone)
			r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1")})
			if r.Status != http.StatusGatewayTimeout || r.Header.Get("Retry-After") != tc.want {
				t.Errorf("%d Retry-After=%q %s; want 504 with Retry-After %s", r.Status, r.Header.Get("Retry-After"), r.Raw, tc.want)
			}
		})
	}
}

// TestCallbackRetryAfter: a provider's pause during the callback's code
// exchange reaches the application in the redirect's error_description
// (a redirect carries no Retry-After header).
func TestCallbackRetryAfter(t *testing.T) {
	e := apitest.New(t)
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})
	a := newHostedApp(t, e, "acme")
	a.connector("google")
	e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: http.StatusTooManyRequests, RetryAfter: "8"})
	back := a.authorize(t, url.Values{"provider": {"google"}, "state": {"s1"}}, "ada@example.com")
	if back.Get("error") != "temporarily_unavailable" || !strings.Contains(back.Get("error_description"), "asked to wait 8 s") || back.Get("state") != "s1" {
		t.Errorf("callback during a 429: %v", back)
	}
}
