package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
)

func TestApplicationsAndAuth(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")

	r := e.Do("GET", "/v3/applications", key, nil)
	if r.Status != 200 || r.Data()["application_id"] != appID {
		t.Fatalf("GET /v3/applications: %d %s", r.Status, r.Raw)
	}
	if b, _ := r.Data()["branding"].(map[string]any); b["name"] != "acme" {
		t.Errorf("branding.name: %v", r.Data()["branding"])
	}
	if r.Body["request_id"] == "" || r.Header.Get("x-request-id") != r.Body["request_id"] {
		t.Errorf("request id: header %q body %v", r.Header.Get("x-request-id"), r.Body["request_id"])
	}

	for name, k := range map[string]string{"wrong key": "grantd_wrong", "no key": ""} {
		r = e.Do("GET", "/v3/applications", k, nil)
		if r.Status != 401 || r.ErrType() != "api.authentication_error" || r.ErrMessage() == "" {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
		if r.Header.Get("x-request-id") == "" || r.Body["request_id"] != r.Header.Get("x-request-id") {
			t.Errorf("%s: request id missing", name)
		}
	}

	// A revoked key stops working at once.
	k, plain, err := e.Server.Tenants.CreateAPIKey(t.Context(), appID, "second", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r = e.Do("GET", "/v3/applications", plain, nil); r.Status != 200 {
		t.Fatalf("second key: %d", r.Status)
	}
	if err := e.Server.Tenants.RevokeAPIKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	if r = e.Do("GET", "/v3/applications", plain, nil); r.Status != 401 {
		t.Fatalf("revoked key: %d", r.Status)
	}
}

func TestShellRoutes(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")

	if r := e.Do("GET", "/healthz", "", nil); r.Status != 200 || r.Body["status"] != "ok" {
		t.Errorf("healthz: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("GET", "/readyz", "", nil); r.Status != 200 {
		t.Errorf("readyz: %d %s", r.Status, r.Raw)
	}
	r := e.Do("GET", "/v3/nothing-here", key, nil)
	if r.Status != 404 || r.ErrType() != "api.not_found_error" {
		t.Errorf("unknown route: %d %s", r.Status, r.Raw)
	}
	r = e.Do("DELETE", "/v3/applications", key, nil)
	if r.Status != 405 || !strings.Contains(r.Header.Get("Allow"), "GET") || r.ErrType() == "" {
		t.Errorf("405: %d allow=%q %s", r.Status, r.Header.Get("Allow"), r.Raw)
	}
	// The Node SDK with a trailing slash on apiUri sends //v3/…; a POST
	// must not be redirected (fetch would turn it into a GET).
	r = e.Do("GET", "//v3/applications", key, nil)
	if r.Status != 200 {
		t.Errorf("//v3/applications: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", "//v3/connectors", key, `{"provider":"imap","name":"imap"}`)
	if r.Status != 201 {
		t.Errorf("POST //v3/connectors: %d %s", r.Status, r.Raw)
	}

	metrics := e.Metrics()
	for _, want := range []string{`grantd_http_requests_total{method="GET",route="GET /v3/applications",status="200"}`, `grantd_http_request_duration_seconds_bucket{method="GET",route="GET /healthz"`, `route="unmatched",status="404"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestBadInput(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	cases := []struct {
		name, body string
		status     int
		typ, msg   string
	}{
		{"not json", `{"provider":`, 400, "api.invalid_request_payload", "truncated"},
		{"syntax", `{"provider" "google"}`, 400, "api.invalid_request_payload", "not valid JSON"},
		{"empty", ``, 400, "api.invalid_request_payload", "empty"},
		{"array", `[1,2]`, 400, "api.invalid_request_payload", "JSON object"},
		{"wrong type", `{"provider":"google","settings":"x"}`, 400, "api.invalid_request_payload", "settings must be an object"},
		{"wrong type nested", `{"provider":12}`, 400, "api.invalid_request_payload", "provider must be a string"},
		{"scope type", `{"provider":"google","settings":{},"scope":5}`, 400, "api.invalid_request_payload", "scope must be an array of strings"},
		{"trailing", `{"provider":"google"} {}`, 400, "api.invalid_request_payload", "after the JSON object"},
		{"missing provider", `{"settings":{}}`, 400, "api.invalid_request_error", "provider is required"},
		{"missing settings", `{"provider":"google"}`, 400, "api.invalid_request_error", "settings is required"},
		{"too large", `{"provider":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "api.request_too_large", "larger than"},
		{"invalid UTF-8", "{\"provider\":\"imap\",\"settings\":{\"imap_password\":\"caf\xe9\"}}", 400, "api.invalid_request_payload", "not valid UTF-8"},
		// Lone UTF-16 surrogates would be read as U+FFFD, as invalid UTF-8.
		{"lone high surrogate", `{"provider":"imap","settings":{"imap_password":"pa\ud800ss"}}`, 400, "api.invalid_request_payload", `field settings.imap_password: contains \ud800, half of a UTF-16 surrogate pair`},
		{"lone low surrogate", `{"provider":"imap","settings":{"imap_password":"\uDC00"}}`, 400, "api.invalid_request_payload", `field settings.imap_password: contains \uDC00`},
		{"two high surrogates", `{"provider":"imap","settings":{"imap_password":"\ud83d\ud83d\ude00"}}`, 400, "api.invalid_request_payload", `contains \ud83d, half`},
		{"surrogate at the end", `{"provider":"imap","settings":{"imap_password":"x\ud83d"}}`, 400, "api.invalid_request_payload", `field settings.imap_password`},
		{"surrogate in an array", `{"provider":"google","settings":{},"scope":["openid","\ud800"]}`, 400, "api.invalid_request_payload", "field scope[1]: contains"},
		{"surrogate in a key", `{"provider":"imap","settings":{"a\udfff":"x"}}`, 400, "api.invalid_request_payload", "a field name in settings: contains"},
		{"surrogate pair is a character", `{"provider":"imap","settings":{"imap_password":"\ud83d\ude00"}}`, 400, "api.invalid_request_error", "imap_username"},
		{"escaped backslash is no escape", `{"provider":"imap","settings":{"imap_password":"\\ud800"}}`, 400, "api.invalid_request_error", "imap_username"},
		{"byte order mark is ignored", "\xef\xbb\xbf{\"settings\":{}}", 400, "api.invalid_request_error", "provider is required"},
		{"field twice", `{"provider":"google","settings":{},"scope":["a"],"scope":"b"}`, 400, "api.invalid_request_payload", "field scope is given twice"},
		{"field in another case", `{"PROVIDER":"google","settings":{}}`, 400, "api.invalid_request_payload", "field names are case-sensitive; use provider"},
		{"field by Unicode folding", `{"provider":"google","settings":{},"ſcope":["x"]}`, 400, "api.invalid_request_payload", "use scope"},
		{"state too long", `{"provider":"google","settings":{},"state":"` + strings.Repeat("s", 257) + `"}`, 400, "api.invalid_request_error", "state is 257 characters long"},
		{"blank scope", `{"provider":"google","settings":{},"scope":["openid"," "]}`, 400, "api.invalid_request_error", "scope[1] is empty"},
		{"too many scopes", `{"provider":"google","settings":{},"scope":[` + strings.Repeat(`"s",`, 200) + `"s"]}`, 400, "api.invalid_request_error", "scope has 201 entries"},
		{"number underflow", `{"provider":"imap","settings":{"x":1e-400}}`, 400, "api.invalid_request_payload", "too small"},
		{"integer beyond 2^53", `{"provider":"imap","settings":{"x":12345678901234567890}}`, 400, "api.invalid_request_payload", "too large an integer"},
		{"number with too many digits", `{"provider":"imap","settings":{"x":1.` + strings.Repeat("1", 900) + `}}`, 400, "api.invalid_request_payload", "more than 800 characters"},
		{"2^53 + 1", `{"provider":"imap","settings":{"x":9007199254740993}}`, 400, "api.invalid_request_payload", "too large an integer"},
		{"integer in exponent form", `{"provider":"imap","settings":{"x":1234567890123456789e0}}`, 400, "api.invalid_request_payload", "too large an integer"},
		// Representable: decoded further (the connector check refuses the
		// setting itself).
		{"2^53 + 2 is representable", `{"provider":"imap","settings":{"x":9007199254740994}}`, 400, "api.invalid_request_error", "settings"},
		{"1e300 is representable", `{"provider":"imap","settings":{"x":1e300}}`, 400, "api.invalid_request_error", "settings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do("POST", "/v3/connect/custom", key, c.body)
			if r.Status != c.status || r.ErrType() != c.typ || !strings.Contains(r.ErrMessage(), c.msg) {
				t.Errorf("got %d %s %q", r.Status, r.ErrType(), r.ErrMessage())
			}
		})
	}
	// Two Authorization headers: refused, whichever is good.
	req, _ := http.NewRequest("GET", e.HTTP.URL+"/v3/applications", nil)
	req.Header.Add("Authorization", "Bearer "+key)
	req.Header.Add("Authorization", "Bearer nope")
	if resp, err := e.Client.Do(req); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "2 Authorization headers") {
			t.Errorf("two Authorization headers: %d %s", resp.StatusCode, b)
		}
	}
	// /metrics answers other methods with a 405 in the envelope.
	if r := e.Do("POST", "/metrics", "", nil); r.Status != 405 || r.ErrType() == "" {
		t.Errorf("POST /metrics: %d %s", r.Status, r.Raw)
	}
	// A declared length over the limit is refused at once, not after the
	// read timeout.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.HTTP.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /v3/connect/custom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}", key)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("Content-Length 99999999999: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 413 || !strings.Contains(string(b), "api.request_too_large") {
		t.Errorf("Content-Length 99999999999: %d %s", resp.StatusCode, b)
	}
	// Query parameters are checked too.
	// (A query string url.Values cannot parse is refused, not dropped: the
	// list would be answered unfiltered.)
	for _, q := range []string{"limit=abc", "limit=-1", "offset=-1", "sort_by=name", "order_by=up", "since=yesterday", "grant_status=broken",
		"provider=google%", "grant_status=invalid%2", "email=x@y.com;"} {
		r := e.Do("GET", "/v3/grants?"+q, key, nil)
		if r.Status != 400 || r.ErrMessage() == "" {
			t.Errorf("%s: %d %s", q, r.Status, r.Raw)
		}
	}
}

// No path is answered with a redirect: net/http's mux redirects a path
// that is not clean to the cleaned one, and clients follow a 307 with the
// same method, body and key, so an id such as "x//../../connectors/zoom"
// (one escaped segment next to "//") or a ".." id would reach another
// resource. They get a 404 in the envelope and change nothing.
func TestPathsNeverRedirect(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	if r := e.Do("POST", "/v3/connectors", key, `{"provider":"imap","name":"imap"}`); r.Status != 201 {
		t.Fatalf("create connector: %d %s", r.Status, r.Raw)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/v3/grants/x%2F%2F..%2F..%2Fconnectors%2Fimap"},  // what the SDK sends for that id
		{"DELETE", "//v3/grants/x%2F%2F..%2F..%2Fconnectors%2Fimap"}, // with apiUri ending in "/"
		{"DELETE", "//v3/grants/..%2Fconnectors%2Fimap"},
		{"DELETE", "/v3/connectors/imap/creds/.."}, // encodeURIComponent leaves dots alone
		{"DELETE", "/v3/connectors/imap/creds/."},
		{"PATCH", "/v3/grants/../connectors/imap"},
		{"GET", "/v3/grants/%2E%2E"},
		{"GET", "//v3//grants//.."},
	} {
		req, err := http.NewRequest(c.method, e.HTTP.URL+c.path, strings.NewReader(`{"name":"hijacked"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct {
			Error struct{ Type string } `json:"error"`
		}
		if resp.StatusCode != 404 || json.Unmarshal(body, &env) != nil || env.Error.Type != "api.not_found_error" {
			t.Errorf("%s %s: %d %s (location %q); want a 404 in the error envelope", c.method, c.path, resp.StatusCode, body, resp.Header.Get("Location"))
		}
	}
	if r := e.Do("GET", "/v3/connectors/imap", key, nil); r.Status != 200 || r.Data()["name"] != "imap" {
		t.Errorf("the imap connector after the requests: %d %s", r.Status, r.Raw)
	}
	// Collapsing "//" keeps escaped characters escaped.
	if r := e.Do("GET", "//v3/grants/a%2Fb", key, nil); r.Status != 404 || !strings.Contains(string(r.Raw), "a/b") {
		t.Errorf("//v3/grants/a%%2Fb: %d %s", r.Status, r.Raw)
	}
}
