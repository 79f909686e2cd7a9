package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/store"
)

// verify checks a signature the way a receiver would, with the standard
// library only (not Sign).
func verify(secret string, body []byte, sig string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := m.Sum(nil)
	got, err := hex.DecodeString(sig)
	return err == nil && sig == strings.ToLower(sig) && hmac.Equal(got, want)
}

func TestSignKnownVector(t *testing.T) {
	// RFC 4231 test case 2.
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func testEvent() store.Event {
	return store.Event{Seq: 7, ID: "ev1", AppID: "app1", Type: "grant.created", GrantID: "g1",
		Payload: json.RawMessage(`{"application_id":"app1","object":{"grant_id":"g1","email":"a@b.c"}}`), CreatedAt: time.Unix(1700000000, 0)}
}

func TestBodyShape(t *testing.T) {
	b, err := Body(testEvent(), 3, false)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["specversion"] != "1.0" || m["type"] != "grant.created" || m["source"] != Source || m["id"] != "ev1" ||
		m["time"] != float64(1700000000) || m["webhook_delivery_attempt"] != float64(3) {
		t.Fatalf("body = %s", b)
	}
	if !bytes.Contains(b, []byte(`"data":{"application_id":"app1","object":{"grant_id":"g1","email":"a@b.c"}}`)) {
		t.Fatalf("data is not the payload byte for byte: %s", b)
	}
	z, err := Body(testEvent(), 3, true)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, b) {
		t.Fatalf("gunzipped body %s != %s", plain, b)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "required"},
		{"not a url", "absolute URL"},
		{"/relative", "absolute URL"},
		{"ftp://example.com/x", "http:// or https://"},
		{"javascript:alert(1)", "absolute URL"},
		{"https://", "no host"},
		{"https://u:p@example.com/", "user name or password"},
		{"https://example.com/#x", "fragment"},
		{"http://127.0.0.1/x", "non-public"},
		{"http://[::1]:8080/x", "non-public"},
		{"http://169.254.169.254/latest/meta-data", "non-public"},
		{"http://10.1.2.3/", "non-public"},
		{"http://[::ffff:192.168.1.1]/", "non-public"},
		{"https://" + strings.Repeat("a", 2050) + ".com/", "2048"},
	} {
		_, err := CheckURL(tc.url, netx.Guard{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckURL(%.60q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
	for _, ok := range []string{"https://example.com/hooks?x=1", "http://93.184.215.14:8080/"} {
		if _, err := CheckURL(ok, netx.Guard{}); err != nil {
			t.Errorf("CheckURL(%q) = %v", ok, err)
		}
	}
	if _, err := CheckURL("http://127.0.0.1/x", netx.Guard{AllowPrivate: true}); err != nil {
		t.Errorf("allow_private_urls: %v", err)
	}
}

func loopbackClient() *http.Client { return NewHTTPClient(netx.Guard{AllowPrivate: true}, nil, 8) }

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestChallenge(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("challenge method %s", r.Method)
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
	}))
	defer echo.Close()
	if err := challenge(context.Background(), loopbackClient(), mustURL(t, echo.URL+"/hook?keep=1"), time.Second); err != nil {
		t.Fatalf("echoing receiver: %v", err)
	}

	hang := make(chan struct{})
	defer close(hang)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"wrong value", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "nope") }, `body "nope" is not the challenge value`},
		{"json", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"challenge": r.URL.Query().Get("challenge")})
		}, "not the challenge value"},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such page", 404) }, `status 404 and body "no such page`},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/hook?"+r.URL.RawQuery, http.StatusFound)
		}, "redirects are not followed"},
		{"never answers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}, "did not answer the challenge within 300ms"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}, "did not finish its answer"},
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 1000 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, "not the challenge value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			start := time.Now()
			err := challenge(context.Background(), loopbackClient(), mustURL(t, srv.URL+"/h"), 300*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}

	// Refused by the guard: a loopback receiver, public addresses only.
	err := challenge(context.Background(), NewHTTPClient(netx.Guard{}, nil, 2), mustURL(t, echo.URL), time.Second)
	if err == nil || !strings.Contains(err.Error(), "allow_private_urls") {
		t.Fatalf("guarded challenge to loopback: %v", err)
	}
	// A name that resolves to loopback is refused when dialled.
	u := mustURL(t, echo.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	err = challenge(context.Background(), NewHTTPClient(netx.Guard{}, nil, 2), mustURL(t, "http://localhost:"+port+"/"), time.Second)
	if err == nil || !strings.Contains(err.Error(), "allow_private_urls") {
		t.Fatalf("guarded challenge to localhost: %v", err)
	}
}

func TestPostOutcomes(t *testing.T) {
	var (
		mu        sync.Mutex
		gotBody   []byte
		gotHeader http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			mu.Lock()
			gotBody, _ = io.ReadAll(r.Body)
			gotHeader = r.Header.Clone()
			mu.Unlock()
		case "/500":
			w.WriteHeader(500)
		case "/410":
			w.WriteHeader(410)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/endless":
			for {
				if _, err := w.Write(bytes.Repeat([]byte("y"), 32<<10)); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	c := loopbackClient()
	body := []byte(`{"x":1}`)
	o := post(context.Background(), c, srv.URL+"/ok", body, false, Sign([]byte("s3"), body), time.Second)
	if !o.Delivered() || o.Status != "200" {
		t.Fatalf("ok: %+v", o)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(gotBody, body) || !verify("s3", gotBody, gotHeader.Get("X-Nylas-Signature")) {
		t.Fatalf("receiver got %s with signature %q", gotBody, gotHeader.Get("X-Nylas-Signature"))
	}
	for path, want := range map[string]string{"/500": "500", "/410": "410", "/redirect": "307", "/slow": "timeout", "/endless": "200"} {
		start := time.Now()
		o := post(context.Background(), c, srv.URL+path, body, false, "x", 500*time.Millisecond)
		if o.Status != want {
			t.Errorf("%s: %+v, want status %s", path, o, want)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s took %v", path, time.Since(start))
		}
	}
	if o := post(context.Background(), c, srv.URL+"/410", body, false, "x", time.Second); !o.Gone() {
		t.Errorf("410 not Gone: %+v", o)
	}
	// A closed port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if o := post(context.Background(), c, "http://"+addr+"/", body, false, "x", time.Second); o.Status != "connection_refused" {
		t.Errorf("closed port: %+v", o)
	}
	// TLS with an untrusted certificate is a failed attempt.
	tsrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tsrv.Close()
	if o := post(context.Background(), c, tsrv.URL+"/", body, false, "x", time.Second); o.Status != "tls_error" {
		t.Errorf("untrusted TLS: %+v", o)
	}
	// The guard refuses loopback at delivery time too.
	if o := post(context.Background(), NewHTTPClient(netx.Guard{}, nil, 2), srv.URL+"/ok", body, false, "x", time.Second); o.Status != "not_public" {
		t.Errorf("guarded: %+v", o)
	}
}

func TestBackoff(t *testing.T) {
	min, max := 10*time.Second, 10*time.Minute
	for f := 1; f < 40; f++ {
		for range 50 {
			d := Backoff(f, min, max)
			if d < min || d > max {
				t.Fatalf("Backoff(%d) = %v outside [%v, %v]", f, d, min, max)
			}
		}
	}
	if d := Backoff(3, min, max); d < 32*time.Second || d > 48*time.Second {
		t.Fatalf("Backoff(3) = %v, want 40s ± 20%%", d)
	}
}

func TestStatusMachine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := store.Webhook{ID: "w", Status: store.WebhookActive}
	fail := func(at time.Time) store.DeliveryResult {
		return store.DeliveryResult{Failed: true, Status: "500", At: at}
	}
	ok := func(at time.Time) store.DeliveryResult { return store.DeliveryResult{Status: "200", At: at} }

	// Failures for less than the window: still active.
	w, _ = applyResults(w, []store.DeliveryResult{fail(t0), fail(t0.Add(time.Minute))}, false, t0.Add(time.Minute))
	if w.Status != store.WebhookActive || w.ConsecutiveFailures != 2 || w.LastDeliveryStatus != "500" {
		t.Fatalf("after 2 failures: %+v", w)
	}
	// One success in 20 attempts (5%) over 15 minutes: failing.
	rs := []store.DeliveryResult{ok(t0.Add(2 * time.Minute))}
	for i := range 17 {
		rs = append(rs, fail(t0.Add(3*time.Minute+time.Duration(i)*time.Second)))
	}
	now := t0.Add(15 * time.Minute)
	w, failed := applyResults(w, rs, false, now)
	if w.Status != store.WebhookFailing || failed || !w.FailingSince.Equal(now) || !w.StatusUpdatedAt.Equal(now) {
		t.Fatalf("at 95%% failures over 15 min: %+v", w)
	}
	// A success makes it active again.
	w2, _ := applyResults(w, []store.DeliveryResult{ok(now.Add(time.Minute))}, false, now.Add(time.Minute))
	if w2.Status != store.WebhookActive || w2.ConsecutiveFailures != 0 {
		t.Fatalf("after a success: %+v", w2)
	}
	// 72 hours failing without a success: failed.
	w3, failed := applyResults(w, []store.DeliveryResult{fail(now.Add(FailedAfter))}, false, now.Add(FailedAfter))
	if w3.Status != store.WebhookFailed || !failed {
		t.Fatalf("after 72 h failing: %+v", w3)
	}
	// 90% failures over a window: stays active.
	a := store.Webhook{Status: store.WebhookActive}
	rs = nil
	for i := range 10 {
		r := fail(t0.Add(time.Duration(i) * time.Minute))
		if i == 0 {
			r = ok(r.At)
		}
		rs = append(rs, r)
	}
	a, _ = applyResults(a, rs, false, t0.Add(16*time.Minute))
	if a.Status != store.WebhookActive {
		t.Fatalf("90%% failures: %+v", a)
	}
	// 410: failed at once.
	g, failed := applyResults(store.Webhook{Status: store.WebhookActive}, []store.DeliveryResult{{Failed: true, Status: "410", At: t0}}, true, t0)
	if g.Status != store.WebhookFailed || !failed {
		t.Fatalf("410: %+v", g)
	}
}
