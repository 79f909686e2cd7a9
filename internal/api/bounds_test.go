package api_test

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
)

// tokenChars are the characters net/http accepts in a method (RFC 9110
// token).
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomToken(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenChars[rng.IntN(len(tokenChars))]
	}
	return string(b)
}

// send makes one request and reads the answer, whatever it is.
func send(t *testing.T, e *apitest.Env, method, path, key string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.HTTP.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Labels of grantd_http_* series come from closed sets: a method net/http
// accepts (any token, 64 KB long here) is the label "other" unless it is
// a known one, the route is the pattern, never the path. The access log
// carries neither in full. Before, every such method became a new series
// of its own size, for good, and a line of the log.
func TestMetricsAndLogStayBounded(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	rng := rand.New(rand.NewPCG(16, 1))
	hostile := func() {
		m := randomToken(rng, 64<<10)
		seg := url.PathEscape(randomToken(rng, 200))
		send(t, e, m, "/v3/grants/"+seg, key)
		send(t, e, m, "/"+seg+"/"+seg, "")
		send(t, e, "GET", "/v3/nowhere/"+seg, key)
		send(t, e, strings.ToLower(m[:8]), "/metrics", "")
	}
	hostile() // the series of odd methods and unmatched paths exist now
	metricsBefore, logBefore := len(e.Metrics()), len(e.Logs.String())
	const rounds = 30
	for range rounds {
		hostile()
	}
	metrics := e.Metrics()
	// Only counter values and latency sums change.
	if grew := len(metrics) - metricsBefore; grew > 4<<10 {
		t.Errorf("/metrics grew by %d bytes over %d rounds of odd methods and paths", grew, rounds)
	}
	series := regexp.MustCompile(`(?m)^grantd_http_requests_total\{method="([^"]*)",route="([^"]*)",status="([^"]*)"\}`)
	for _, m := range series.FindAllStringSubmatch(metrics, -1) {
		if len(m[1]) > 8 || len(m[2]) > 64 || len(m[3]) != 3 {
			t.Errorf("unbounded label in %.200s", m[0])
			break
		}
	}
	if !strings.Contains(metrics, `grantd_http_requests_total{method="other",route="GET /v3/grants/{id}"`) &&
		!strings.Contains(metrics, `grantd_http_requests_total{method="other",route="/v3/grants/{id}"`) {
		t.Errorf("no series for method other on the grant route:\n%s", series.FindAllString(metrics, -1))
	}
	logs := e.Logs.String()[logBefore:]
	// Four requests a round, each logged on one line of modest size.
	if limit := rounds * 4 * 600; len(logs) > limit {
		t.Errorf("the log grew by %d bytes over %d rounds (limit %d); a line: %.300s", len(logs), rounds, limit, logs)
	}
	for line := range strings.Lines(logs) {
		if len(line) > 600 {
			t.Errorf("log line of %d bytes: %.300s", len(line), line)
			break
		}
	}
}
