package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/tenant"
)

// blockingAuth waits for the request's end and fails with it, as a store
// call does when the client hangs up.
type blockingAuth struct{ called chan struct{} }

func (a blockingAuth) Authenticate(ctx context.Context, _ string) (tenant.Principal, error) {
	close(a.called)
	<-ctx.Done()
	return tenant.Principal{}, fmt.Errorf("store: look up key: %w", ctx.Err())
}

// A store call cancelled by the client's hang-up is not an internal error:
// it used to be logged as "ERROR internal error context canceled" and
// counted as a 500.
func TestCancelledStoreCallIsNotInternal(t *testing.T) {
	logs := &bytes.Buffer{} // read once the server has closed
	auth := blockingAuth{called: make(chan struct{})}
	s := New(Config{Auth: auth, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v3/grants", nil)
	req.Header.Set("Authorization", "Bearer k")
	go func() { <-auth.called; cancel() }()
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d", resp.StatusCode)
	}
	srv.Close() // waits for the handler
	got := logs.String()
	if !strings.Contains(got, "level=INFO msg=\"client closed the request\"") || !strings.Contains(got, "status=499") || strings.Contains(got, "ERROR") {
		t.Errorf("log:\n%s", got)
	}
}
