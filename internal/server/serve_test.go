package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/server"
)

// testConfig is a grantd on loopback with its data in a test directory.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	return cfg
}

// serve runs `grantd serve`'s server with cfg until the test ends, and
// returns its API listener.
func serve(t *testing.T, cfg config.Config) net.Listener {
	t.Helper()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return ln
}

// "OPTIONS *" gets the API's JSON 404 in the envelope, not net/http's
// empty 200 (every answer carries a JSON body).
func TestServeOptionsStar(t *testing.T) {
	ln := serve(t, testConfig(t))

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"request_id"`) || !strings.Contains(string(b), "api.not_found_error") {
		t.Errorf("OPTIONS *: %d %q", resp.StatusCode, b)
	}
}

// http.pprof_listen serves Go's profiles on a listener of its own; the
// API's listener never does.
func TestServePprof(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := free.Addr().String()
	free.Close()
	cfg := testConfig(t)
	cfg.HTTP.PprofListen = pprofAddr
	ln := serve(t, cfg)

	get := func(url string) (int, string) {
		t.Helper()
		var resp *http.Response
		for range 50 { // Serve starts both listeners in its goroutine
			if resp, err = http.Get(url); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("pprof goroutine profile: %d %.200q", code, body)
	}
	if code, _ := get("http://" + ln.Addr().String() + "/debug/pprof/"); code != 404 {
		t.Errorf("the API listener answers /debug/pprof/ with %d", code)
	}
}
