package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grantd/grantd/internal/tenant"
)

type panicAuth struct{}

func (panicAuth) Authenticate(context.Context, string) (tenant.Principal, error) { panic("boom") }

func TestPanicIsRecovered(t *testing.T) {
	s := New(Config{Auth: panicAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v3/applications", nil)
	req.Header.Set("Authorization", "Bearer x")
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct {
		RequestID string `json:"request_id"`
		Error     struct{ Type, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Type != TypeInternal || body.RequestID == "" || body.RequestID != rec.Header().Get("x-request-id") {
		t.Fatalf("body %s", rec.Body)
	}
}
