package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
)

// defaultHostileRequests is how many requests TestHostileRequests sends
// unless GRANTD_HOSTILE_REQUESTS says otherwise: a few seconds of CI
// (half as many under the race detector, which makes each several times
// slower).
func defaultHostileRequests() int {
	if raceDetector {
		return 1500
	}
	return 3000
}

// TestHostileRequests starts a real grantd (the server assembly with the
// provider sandbox and a SQLite file) and sends it generated hostile
// requests over every route: bad and truncated JSON, wrong types, huge,
// deep and wide bodies, invalid UTF-8, lone surrogates, NUL characters and
// numbers no store keeps, odd and endless methods, odd headers, missing,
// garbled and doubled Authorization, path tricks and broken query strings.
// It asserts that no answer is a 5xx other than the documented 503 and 504,
// that every answer but /metrics is JSON and every error is in the Nylas
// envelope with the x-request-id of the answer, that nothing panicked or
// was logged as an error, and that /metrics stays bounded: every label
// comes from a closed set and the page stays under 2 MB.
//
// The requests are generated from a seed, printed when the test fails.
// Environment:
//
//	GRANTD_HOSTILE_REQUESTS=N   send N requests (default 3000, 1500 under
//	                            the race detector: a few seconds); a long
//	                            local run:
//	                            GRANTD_HOSTILE_REQUESTS=200000 go test ./internal/api -run TestHostileRequests -timeout 1h
//	GRANTD_HOSTILE_SEED=S       replay the requests of seed S
//
// The requests are the same for a seed; four clients send them at once,
// so their interleaving is not.
func TestHostileRequests(t *testing.T) {
	total := defaultHostileRequests()
	if v := os.Getenv("GRANTD_HOSTILE_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("GRANTD_HOSTILE_REQUESTS=%q: want a positive number", v)
		}
		total = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("GRANTD_HOSTILE_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("GRANTD_HOSTILE_SEED=%q: want a number", v)
		}
		seed = s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with GRANTD_HOSTILE_SEED=%d GRANTD_HOSTILE_REQUESTS=%d go test ./internal/api -run TestHostileRequests", seed, seed, total)
		}
	})

	e := apitest.New(t)
	_, key := e.App("acme")
	e.App("other")
	clientID := e.OAuthConnector(key, "google")
	e.OAuthConnector(key, "microsoft")
	if r := e.Do("POST", "/v3/connectors", key, `{"provider":"imap","name":"imap"}`); r.Status != 201 {
		t.Fatalf("imap connector: %d %s", r.Status, r.Raw)
	}
	cred := e.Do("POST", "/v3/connectors/google/creds", key, map[string]any{"name": "second", "credential_type": "connector",
		"credential_data": map[string]any{"client_id": clientID, "client_secret": "secret-google-canary"}})
	grant := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google",
		"settings": map[string]any{"refresh_token": e.RefreshToken("google", clientID, "ada@example.com")}})
	if cred.Status != 201 || grant.Status != 201 {
		t.Fatalf("setup: credential %d %s, grant %d %s", cred.Status, cred.Raw, grant.Status, grant.Raw)
	}
	g := &hostileGen{
		rng:    rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		routes: e.Server.API.Routes(),
		key:    key,
		ids:    []string{grant.Data()["id"].(string), cred.Data()["id"].(string)},
		token:  e.RefreshToken("google", clientID, "bob@example.com"),
	}
	metricsBefore := len(e.Metrics())

	reqs := make(chan hostileReq, 16)
	go func() {
		defer close(reqs)
		for i := range total {
			reqs <- g.request(i)
		}
	}()
	var (
		mu       sync.Mutex
		failures []string
		perRoute = map[string]int{}
		statuses = map[int]int{}
		skipped  int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for hr := range reqs {
				status, ok := sendHostile(t, e, hr, fail)
				mu.Lock()
				if ok {
					perRoute[hr.route]++
					statuses[status]++
				} else {
					skipped++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests in %v (%d refused by the Go client, or cut off by a 413); statuses %v", total, time.Since(start).Round(time.Millisecond), skipped, statuses)

	for _, f := range failures {
		t.Error(f)
	}
	if skipped > total/10 {
		t.Errorf("%d of %d generated requests could not be sent", skipped, total)
	}
	for _, r := range g.routes {
		if perRoute[r] == 0 && total >= 1000 {
			t.Errorf("no request reached route %s", r)
		}
	}
	logs := e.Logs.String()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
			t.Errorf("logged: %.500s", line)
			break
		}
		if len(line) > 4096 {
			t.Errorf("log line of %d bytes: %.300s", len(line), line)
			break
		}
	}
	metrics := e.Metrics()
	t.Logf("/metrics: %d bytes before the run, %d after", metricsBefore, len(metrics))
	// The closed sets allow about 37 routes (patterns, 405 paths,
	// unmatched) × 10 methods × (18 histogram lines + a dozen statuses) ×
	// 150 bytes: 1.7 MB. A run stays far below (about 250 KB).
	if len(metrics) > 2<<20 {
		t.Errorf("/metrics is %d bytes after the run (%d before)", len(metrics), metricsBefore)
	}
	checkMetricLabels(t, metrics, g.routes)
}

// checkMetricLabels checks that every grantd_http_* series has labels from
// the closed sets: a route pattern (or the path pattern a 405 answers
// for, or "unmatched"), a known method or "other", a 3-digit status.
func checkMetricLabels(t *testing.T, metrics string, routes []string) {
	t.Helper()
	known := map[string]bool{"unmatched": true}
	for _, r := range routes {
		known[r] = true
		_, path, _ := strings.Cut(r, " ")
		known[path] = true
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"}
	labelRE := regexp.MustCompile(`(\w+)="([^"]*)"`)
	for line := range strings.Lines(metrics) {
		if !strings.HasPrefix(line, "grantd_http_") {
			continue
		}
		for _, m := range labelRE.FindAllStringSubmatch(line, -1) {
			name, v := m[1], m[2]
			bad := false
			switch name {
			case "route":
				bad = !known[v]
			case "method":
				bad = !slices.Contains(methods, v)
			case "status":
				bad = len(v) != 3 || strings.Trim(v, "0123456789") != ""
			}
			if bad {
				t.Errorf("label %s=%.100q is outside its closed set: %.200s", name, v, line)
				return
			}
		}
	}
}

// hostileReq is one generated request.
type hostileReq struct {
	n       int
	route   string // the pattern it was made from
	method  string
	path    string // escaped path and query, as sent
	header  http.Header
	body    []byte // nil: none
	chunked bool   // sent without Content-Length
}

func (r hostileReq) String() string {
	return fmt.Sprintf("request #%d (from %s): %.60s %.300s headers %.300v body (%d bytes) %.300q", r.n, r.route, r.method, r.path, r.header, len(r.body), r.body)
}

// sendHostile sends hr and checks the answer; ok is false when the Go
// client refused to send it (an invalid header value, say).
func sendHostile(t *testing.T, e *apitest.Env, hr hostileReq, fail func(string, ...any)) (status int, ok bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if hr.body != nil {
		body = bytes.NewReader(hr.body)
		if hr.chunked {
			body = io.MultiReader(body) // no length: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(ctx, hr.method, e.HTTP.URL+hr.path, body)
	if err != nil {
		return 0, false
	}
	req.Header = hr.header
	resp, err := e.Client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid") { // a header or method the client will not send
			return 0, false
		}
		if len(hr.body) > 1<<20 && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			// grantd answers 413 at once and closes the connection
			// (net/http does not read a large unread body): the client
			// may fail writing before it reads the answer.
			return 0, false
		}
		fail("%v: %v", hr, err)
		return 0, true
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		fail("%v: reading the answer: %v", hr, err)
		return resp.StatusCode, true
	}
	if resp.StatusCode >= 500 && resp.StatusCode != 503 && resp.StatusCode != 504 {
		fail("%v: answered %d %.500s", hr, resp.StatusCode, raw)
	}
	if hr.method == http.MethodHead || (hr.route == "GET /metrics" && resp.StatusCode == 200) {
		return resp.StatusCode, true
	}
	if strings.HasPrefix(strings.TrimLeft(resp.Request.URL.Path, "/"), "connect/") && resp.StatusCode >= 400 {
		// The v2 handlers answer v2's error shape, {message, type}; what
		// is refused before routing (a ".." segment, a bad query) keeps
		// the envelope.
		var v2 struct{ Message, Type string }
		if json.Unmarshal(raw, &v2) == nil && v2.Message != "" && v2.Type != "" && !strings.HasPrefix(v2.Type, "api.") {
			return resp.StatusCode, true
		}
	}
	// The OAuth endpoints answer their errors OAuth-shaped (the SDK
	// reads them so); a 405 there is still the envelope.
	var probe struct {
		Error any `json:"error"`
	}
	_ = json.Unmarshal(raw, &probe)
	if _, flat := probe.Error.(string); flat && oauthRoute(hr.route) && resp.StatusCode >= 400 {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Code        int    `json:"error_code"`
		}
		if err := json.Unmarshal(raw, &oe); err != nil || oe.Error == "" || oe.Description == "" || oe.Code != resp.StatusCode {
			fail("%v: %d is not an OAuth error: %.500s", hr, resp.StatusCode, raw)
		}
		return resp.StatusCode, true
	}
	var env struct {
		RequestID string `json:"request_id"`
		Error     *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		fail("%v: %d answer is not a JSON object: %v: %.300q", hr, resp.StatusCode, err, raw)
		return resp.StatusCode, true
	}
	if resp.StatusCode >= 400 && (env.Error == nil || !strings.HasPrefix(env.Error.Type, "api.") || env.Error.Message == "" ||
		env.RequestID == "" || env.RequestID != resp.Header.Get("x-request-id")) {
		fail("%v: %d is not in the Nylas error envelope: %.500s", hr, resp.StatusCode, raw)
	}
	return resp.StatusCode, true
}

// oauthRoute reports whether route (a pattern) is one of the OAuth
// endpoints, whose errors are OAuth-shaped.
func oauthRoute(route string) bool {
	_, path, _ := strings.Cut(route, " ")
	switch path {
	case "/v3/connect/auth", "/v3/connect/callback", "/v3/connect/token", "/v3/connect/tokeninfo", "/v3/connect/revoke":
		return true
	}
	return false
}

// hostileGen makes requests from one random source, in order.
type hostileGen struct {
	rng    *rand.Rand
	routes []string
	key    string
	ids    []string // ids of real resources (a grant, a credential)
	token  string   // a valid refresh token
	raws   []string // JSON texts of the body being made (see raw)
}

func (g *hostileGen) pct(p int) bool { return g.rng.IntN(100) < p }

func pick[T any](g *hostileGen, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

func (g *hostileGen) request(n int) hostileReq {
	route := g.routes[g.rng.IntN(len(g.routes))]
	if route == "GET /metrics" && g.pct(80) {
		// Rendering the page is slow and does nothing with the request:
		// fewer of them leaves more time for the others.
		route = g.routes[g.rng.IntN(len(g.routes))]
	}
	method, pattern, _ := strings.Cut(route, " ")
	hr := hostileReq{n: n, route: route, method: method, header: http.Header{}}
	switch {
	case g.pct(10):
		hr.method = pick(g, "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
	case g.pct(4):
		hr.method = randomToken(g.rng, pick(g, 1, 8, 100, 4000))
	case g.pct(2):
		hr.method = strings.ToLower(method)
	}
	hr.path = g.path(pattern) + g.query()
	g.headers(hr.header)
	if hr.method == "POST" || hr.method == "PUT" || hr.method == "PATCH" || g.pct(15) {
		hr.body = g.body(pattern)
		hr.chunked = g.pct(15)
	}
	return hr
}

// path fills the wildcards of pattern and sometimes plays a trick.
func (g *hostileGen) path(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		switch s {
		case "{provider}":
			segs[i] = g.segment("google", "imap", "microsoft", "zoom", "yahoo", "ews", "icloud", "nylas", "GOOGLE")
		case "{id}":
			segs[i] = g.segment(append(slices.Clone(g.ids), "0195c1f0-0000-7000-8000-000000000000")...)
		}
	}
	p := strings.Join(segs, "/")
	if !g.pct(20) {
		return p
	}
	switch g.rng.IntN(10) {
	case 0:
		return "/" + p // the Node SDK's //v3/…
	case 1:
		return p + "/"
	case 2:
		return strings.Replace(p, "/v3/", "/v3/./", 1)
	case 3:
		return p + "/.."
	case 4:
		return strings.Replace(p, "/v3/", "//v3//", 1) + "//"
	case 5:
		return p + ";jsessionid=1"
	case 6:
		return strings.ToUpper(p)
	case 7:
		return p + strings.Repeat("/x", g.rng.IntN(500))
	case 8:
		return p + "/%2e%2e/%2E"
	default:
		return "/" + url.PathEscape(randomToken(g.rng, 30)) + p
	}
}

// segment is a path segment: mostly one of real, else something odd.
func (g *hostileGen) segment(real ...string) string {
	if g.pct(60) {
		return url.PathEscape(pick(g, real...))
	}
	return pick(g, "..", ".", "%2e%2e", "%2E", "a%2Fb", "%00", "%ff", "%c3%28", "%ed%a0%80", "%20", "%25", "é", "%E2%80%AE",
		strings.Repeat("a", 300), strings.Repeat("%41", 200), url.PathEscape(randomToken(g.rng, 40)), "x%2F%2F..%2F..%2Fconnectors%2Fimap", "")
}

var queryKeys = []string{"limit", "offset", "sort_by", "order_by", "since", "before", "email", "grant_status", "provider", "ip",
	"account_id", "account_ids", "workspace_id", "all_provider_types", "page_token", "select", "LIMIT", "x"}

// query is "" or a query string, well formed or not.
func (g *hostileGen) query() string {
	if !g.pct(35) {
		return ""
	}
	if g.pct(10) {
		return "?" + pick(g, "%", "&&&=", "a=%zz", "limit=1%", "=", "email=%00", "email=%ff%fe", ";;", "limit=1;offset=2", "%26=%3D")
	}
	q := url.Values{}
	for range 1 + g.rng.IntN(4) {
		k := pick(g, queryKeys...)
		q.Add(k, pick(g, "-1", "0", "1", "10", "201", "1e9", "99999999999999999999", "abc", "", "created_at", "updated_at", "name",
			"asc", "DESC", "valid", "invalid", "true", "false", "yes", "ada@example.com", "ada@gmail.com", "a b@example.com",
			"@", "a@", "<a@b.c>", "Ada <a@b.c>", "a@[127.0.0.1]", "a@b.invalid", strings.Repeat("e", 400)+"@x.io", "é", "\u202e",
			"1,2,3", "google", "imap", "1.2.3.4", "::1", "9999999999999"))
	}
	return "?" + q.Encode()
}

func (g *hostileGen) headers(h http.Header) {
	switch {
	case g.pct(70):
		h.Set("Authorization", "Bearer "+g.key)
	case g.pct(10):
		// nothing
	default:
		h.Set("Authorization", pick(g, "Bearer", "Bearer ", "Bearer  "+g.key+" ", "bearer "+g.key, "BEARER "+g.key, "Basic dXNlcjpwYXNz",
			"Bearer grantd_"+randomToken(g.rng, 32), "Bearer "+strings.Repeat("k", 8000), "Token "+g.key, g.key, "Bearer "+g.key+"x",
			"Bearer \xc3\xa9\xff", "Bearer "+g.key[:len(g.key)/2]))
		if g.pct(20) {
			h.Add("Authorization", "Bearer "+g.key)
		}
	}
	if g.pct(60) {
		h.Set("Content-Type", "application/json")
	} else if g.pct(50) {
		h.Set("Content-Type", pick(g, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"application/json; charset=latin1", "application/json; charset=utf-16", "", ";;;", "application/json, text/html"))
	}
	if g.pct(10) {
		h.Set(pick(g, "Content-Encoding", "Accept-Encoding", "Accept", "X-Forwarded-For", "X-Request-Id", "Origin", "Range", "If-None-Match", "X-HTTP-Method-Override"),
			pick(g, "gzip", "br", "*/*", "text/html", "1.2.3.4, ::1, unknown", "../../etc", strings.Repeat("v", 16000), "bytes=0-1", "DELETE", "\xff\xfe"))
	}
	if g.pct(5) {
		h.Set("Expect", "100-continue")
	}
}

// body is a request body: mostly a plausible one for the route, mutated.
func (g *hostileGen) body(pattern string) []byte {
	if g.pct(8) {
		return []byte(pick(g, "", " ", "null", "[]", `"x"`, "123", "{", "}", "{}", "\xef\xbb\xbf{}", "{}{}", `{"a":1}x`,
			string(randomBytes(g.rng, 200)), "\x00", `{"provider":"imap"`))
	}
	g.raws = g.raws[:0]
	v := g.template(pattern)
	for range g.rng.IntN(3) {
		g.mutate(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a bug of the test
	}
	for i, raw := range g.raws {
		b = bytes.Replace(b, []byte(`"`+rawPlaceholder(i)+`"`), []byte(raw), 1)
	}
	switch {
	case g.pct(5):
		return b[:g.rng.IntN(len(b))] // truncated
	case g.pct(4):
		i := g.rng.IntN(len(b))
		return slices.Concat(b[:i], []byte(pick(g, "\xff", "\xc3", "\xed\xa0\x80", "\x00", "\xef\xbf\xbd")), b[i:]) // bad bytes
	case g.pct(3):
		return slices.Concat([]byte(`{"PROVIDER":"google","provider":"imap",`), b[1:]) // a case variant and a repeat
	case g.pct(2):
		return slices.Concat([]byte("\xef\xbb\xbf"), b, []byte(pick(g, " ", "\n", " {}", "]")))
	}
	return b
}

// raw returns a placeholder string that body replaces with the JSON text
// raw (deeper than encoding/json writes, or a value it would not write).
func (g *hostileGen) raw(raw string) string {
	g.raws = append(g.raws, raw)
	return rawPlaceholder(len(g.raws) - 1)
}

func rawPlaceholder(i int) string { return "@@raw" + strconv.Itoa(i) + "@@" }

// template is a plausible body for the route.
func (g *hostileGen) template(pattern string) map[string]any {
	switch {
	case strings.HasSuffix(pattern, "/creds") || strings.HasSuffix(pattern, "/creds/{id}"):
		return map[string]any{"name": "cred " + strconv.Itoa(g.rng.IntN(50)), "credential_type": pick(g, "connector", "adminconsent", "serviceaccount", "x"),
			"credential_data": map[string]any{"client_id": "c", "client_secret": "s", "tenant": "t", "private_key": "-----BEGIN"}}
	case strings.HasPrefix(pattern, "/v3/connectors"):
		return map[string]any{"provider": pick(g, "google", "imap", "zoom", "yahoo", "microsoft", "ews", "icloud", "bogus"), "name": "n",
			"settings": map[string]any{"client_id": "id", "client_secret": "secret", "tenant": "common"}, "scope": []any{"openid", "email"},
			"active_credential_id": pick(g, g.ids...)}
	case pattern == "/v3/connect/custom" || pattern == "/v3/grants/{id}":
		settings := pick(g,
			map[string]any{"refresh_token": pick(g, g.token, "garbage")},
			map[string]any{"imap_username": "ada@example.com", "imap_password": "pw", "imap_host": pick(g, "127.0.0.1", "no-such-host.invalid", "imap.example"),
				"imap_port": pick[any](g, 1, "993", 70000, -1), "smtp_host": "127.0.0.1", "smtp_port": 1},
			map[string]any{"username": "ada@icloud.com", "password": "abcd-efgh-ijkl-mnop"},
			map[string]any{"email": "ada@contoso.invalid", "ews_username": `CONTOSO\ada`, "ews_password": "pw", "ews_host": pick(g, "127.0.0.1:1", "https://no-such-host.invalid/EWS")},
		)
		return map[string]any{"provider": pick(g, "google", "imap", "icloud", "ews", "microsoft", "zoom", "nylas", ""), "settings": settings,
			"scope": pick[any](g, []any{"openid"}, "openid,email", "ews.messages"), "state": "s"}
	}
	return map[string]any{"x": 1}
}

// hostileValue replaces a value: wrong types, values no store keeps as
// sent, and sizes no field allows.
func (g *hostileGen) hostileValue() any {
	switch g.rng.IntN(22) {
	case 0:
		d := 100 + g.rng.IntN(20000)
		return g.raw(strings.Repeat("[", d) + strings.Repeat("]", d)) // deep
	case 1:
		d := 100 + g.rng.IntN(12000)
		return g.raw(strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d)) // deep
	case 2:
		m := map[string]any{}
		for i := range 2000 + g.rng.IntN(8000) {
			m["k"+strconv.Itoa(i)] = i
		}
		return m // wide
	case 3:
		return strings.Repeat("x", pick(g, 300, 5000, 300_000, 1_100_000)) // long, or over the body limit
	case 4:
		return g.raw(pick(g, `"\ud800"`, `"a\udc00b"`, `"\ud83d\ud83d"`, `"\uDBFF"`, `"\u0000"`, `"a\u0000"`))
	case 5:
		return g.raw(pick(g, "1e400", "-1e400", "1e-400", "12345678901234567890", "9007199254740993", "-0", "1."+strings.Repeat("1", 900)))
	case 6:
		return nil
	case 7:
		return true
	case 8:
		return 12.5
	case 9:
		return []any{1, "a", nil, []any{}}
	case 10:
		return map[string]any{"nested": map[string]any{"x": []any{1}}}
	case 11:
		return ""
	case 12:
		return "   "
	case 13:
		return "\u202e\u200b\ufeff"
	case 14:
		return []any{}
	case 15:
		return strings.Repeat("é", 200)
	case 16:
		return -1
	case 17:
		return []any{strings.Repeat("s", 600), " ", ""}
	default:
		return pick(g, "google", "imap", "ews", "..", "a,b,,c", "ada@example.com", g.token)
	}
}

// mutate changes one value of v (at the top level or one level down), or
// adds a key.
func (g *hostileGen) mutate(v map[string]any) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	})
	val := g.hostileValue()
	if len(keys) == 0 || g.pct(15) {
		v[pick(g, "extra", "provider", "settings", "scope", "state", "name", "Provider", "ſcope", "credential_data")] = val
		return
	}
	k := pick(g, keys...)
	if inner, ok := v[k].(map[string]any); ok && g.pct(60) {
		ik := pick(g, "client_secret", "refresh_token", "imap_password", "imap_port", "tenant", "new")
		inner[ik] = val
		return
	}
	v[k] = val
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}
