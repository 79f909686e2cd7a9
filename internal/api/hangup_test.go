package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

// A client that hangs up mid-request is a client cancellation: logged at
// info, counted as status 499, never an internal error or a 500 (nor a
// 504 for a provider call it cut short). Real clients over loopback.
func TestClientHangUps(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "google")
	addr := strings.TrimPrefix(e.HTTP.URL, "http://")
	dial := func() net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		return conn
	}
	head := func(extra string, length int) string {
		return fmt.Sprintf("POST /v3/connect/custom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", key, length, extra)
	}
	body := fmt.Sprintf(`{"provider":"google","settings":{"refresh_token":%q}}`, e.RefreshToken("google", clientID, "ada@example.com"))

	// 1. Expect: 100-continue, then close once the server asks for the body.
	conn := dial()
	fmt.Fprint(conn, head("Expect: 100-continue\r\n", len(body)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("Expect: 100-continue: %v %v", resp, err)
	}
	conn.Close()
	waitStatus499(t, e, 1)

	// 2. A cancelled upload: half the body, then close.
	conn = dial()
	fmt.Fprint(conn, head("", len(body))+body[:len(body)/2])
	time.Sleep(50 * time.Millisecond) // let the server start reading
	conn.Close()
	waitStatus499(t, e, 2)

	// 3. The client's context ends while grantd waits for the provider.
	e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Delay: 30 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", e.HTTP.URL+"/v3/connect/custom", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.Client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); e.Sandbox.Held() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the token request never reached the sandbox")
		}
	}
	cancel()
	if err := <-done; !strings.Contains(fmt.Sprint(err), "context canceled") {
		t.Fatalf("client: %v", err)
	}
	waitStatus499(t, e, 3)
	e.Sandbox.ClearFailures()

	metrics := e.Metrics()
	if m := regexp.MustCompile(`grantd_http_requests_total\{[^}]*status="5\d\d"\} \d+`).FindAllString(metrics, -1); len(m) > 0 {
		t.Errorf("hang-ups counted as server errors: %v", m)
	}
	logs := e.Logs.String()
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("hang-ups logged as errors:\n%s", logs)
	}
	if n := strings.Count(logs, "client closed the request"); n != 3 {
		t.Errorf("%d client cancellations logged, want 3:\n%s", n, logs)
	}
	// Nothing was stored.
	if r := e.Do("GET", "/v3/grants", key, nil); len(r.List()) != 0 {
		t.Errorf("a grant was stored: %s", r.Raw)
	}
}

// waitStatus499 waits until /metrics counts n requests of POST
// /v3/connect/custom with status 499 (the server notices a hang-up on its
// own time).
func waitStatus499(t *testing.T, e *apitest.Env, n int) {
	t.Helper()
	want := fmt.Sprintf(`grantd_http_requests_total{method="POST",route="POST /v3/connect/custom",status="499"} %d`, n)
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if metrics = e.Metrics(); strings.Contains(metrics, want) {
			return
		}
	}
	series := regexp.MustCompile(`(?m)^grantd_http_requests_total\{[^}]*connect/custom[^}]*\} \d+`).FindAllString(metrics, -1)
	var log strings.Builder
	for line := range strings.Lines(e.Logs.String()) {
		if !strings.Contains(line, `route="GET /metrics"`) {
			log.WriteString(line)
		}
	}
	t.Fatalf("no %s in /metrics: %v\nlog:\n%s", want, series, log.String())
}
