package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

// The OAuth-shaped routes answer an unavailable store with a 503 that
// says when to retry, like the v3 envelope.
func TestRespondOAuthUnavailable(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	s.respondOAuth(w, httptest.NewRequest("POST", "/v3/connect/token", nil), fault.Unavailablef(nil, "store down"))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("%d Retry-After=%q %s; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

// An upstream provider's failure on an OAuth-shaped route is a 503
// temporarily_unavailable with the provider's message and its own pause
// (rounded up to whole seconds), as the v3 and v2 routes answer it.
func TestRespondOAuthProviderRetryAfter(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{4200 * time.Millisecond, "5"},
		{0, retryAfterUnavailable},
		{3 * time.Hour, "3600"},
	} {
		w := httptest.NewRecorder()
		pe := &provider.Error{Class: provider.ClassUnavailable, Message: "Acme's token endpoint is failing (HTTP 429); try again later", RetryAfter: tc.wait}
		s.respondOAuth(w, httptest.NewRequest("POST", "/v3/connect/token", nil), fmt.Errorf("exchange: %w", pe))
		var body oauthErrorBody
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != tc.want || body.Error != "temporarily_unavailable" || body.ErrorDescription != pe.Message {
			t.Errorf("RetryAfter %v: %d Retry-After=%q %s; want 503 temporarily_unavailable, Retry-After %s and the provider's message", tc.wait, w.Code, w.Header().Get("Retry-After"), w.Body, tc.want)
		}
	}
}

// TestRespondOAuthInvalidMessage: an invalid request's description on the
// OAuth-shaped endpoints is the message for people, not the error chain
// (a provider's cause names addresses and Go's transport errors).
func TestRespondOAuthInvalidMessage(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("exchange: %w", &provider.Error{Class: provider.ClassInvalidCredentials, Message: "Acme refused the code: it expired", Err: errors.New(`Post "https://10.0.0.7/token": EOF`)}),
			"Acme refused the code: it expired"},
		{fmt.Errorf("resolve client: %w", fault.Invalidf("the connector has no client_id")), "the connector has no client_id"},
	} {
		w := httptest.NewRecorder()
		s.respondOAuth(w, httptest.NewRequest("POST", "/v3/connect/token", nil), tc.err)
		var body oauthErrorBody
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || body.Error != "invalid_request" || body.ErrorDescription != tc.want {
			t.Errorf("%v: %d %s; want 400 invalid_request %q", tc.err, w.Code, w.Body, tc.want)
		}
	}
}
