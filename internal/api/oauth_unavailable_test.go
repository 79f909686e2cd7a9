package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grantd/grantd/internal/fault"
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
