package api_test

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
)

// untilLimited sends requests until one is refused with a 429 (at most
// 100) and returns how many were answered before it, the 429 and the time
// taken.
func untilLimited(t *testing.T, e *apitest.Env, method, path, key string) (int, apitest.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	for n := range 100 {
		r := e.Do(method, path, key, nil)
		if r.Status == 429 {
			return n, r, time.Since(start)
		}
		if r.Status != 200 {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Raw)
		}
	}
	t.Fatalf("%s %s: 100 requests and no 429", method, path)
	return 0, apitest.Response{}, 0
}

// Each application has a token bucket on every authenticated route, and
// one of its own for detection; over it, a 429 in the Nylas envelope with
// Retry-After. Timing only loosens the counts (a slow machine refills
// buckets between requests), never fails them.
func TestRateLimits(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.RateLimit = config.RateLimit{RequestsPerSecond: 1, Burst: 3, DetectRequestsPerSecond: 2, DetectBurst: 5}
	}})
	_, key := e.App("acme")
	_, other := e.App("other")

	n, r, took := untilLimited(t, e, "GET", "/v3/grants", key)
	if n < 3 || float64(n) > 3+math.Ceil(took.Seconds())+1 {
		t.Errorf("%d requests answered in %v before the 429; want the burst of 3 and about 1 a second", n, took)
	}
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry != 1 {
		t.Errorf("Retry-After %q; want 1 (one request a second)", r.Header.Get("Retry-After"))
	}
	if r.ErrType() != "api.rate_limit_error" || !strings.Contains(r.ErrMessage(), "limit for the API is 1 per second on this grantd node, in bursts of 3; retry in 1 s") ||
		r.Body["request_id"] != r.Header.Get("x-request-id") {
		t.Errorf("429: %s (headers %v)", r.Raw, r.Header)
	}
	// Another application has its own bucket.
	if r := e.Do("GET", "/v3/applications", other, nil); r.Status != 200 {
		t.Errorf("another application: %d %s", r.Status, r.Raw)
	}
	// Detection has its own bucket too: it is full although the general
	// one is empty, and the general requests did not draw on it.
	const detect = "/v3/providers/detect?email=ada@gmail.com&all_provider_types=true"
	n, r, took = untilLimited(t, e, "POST", detect, key)
	if n < 5 || float64(n) > 5+2*math.Ceil(took.Seconds())+1 {
		t.Errorf("%d detections answered in %v before the 429; want the burst of 5 and about 2 a second", n, took)
	}
	if r.ErrType() != "api.rate_limit_error" || !strings.Contains(r.ErrMessage(), "limit for provider detection is 2 per second") || r.Header.Get("Retry-After") != "1" {
		t.Errorf("detection 429: %s (Retry-After %q)", r.Raw, r.Header.Get("Retry-After"))
	}
	// Requests without a valid key are refused as before and take nothing.
	if r := e.Do("GET", "/v3/grants", "grantd_wrong", nil); r.Status != 401 {
		t.Errorf("wrong key: %d %s", r.Status, r.Raw)
	}
	// Once Retry-After has passed, the application is served again.
	time.Sleep(time.Duration(retry) * time.Second)
	if r := e.Do("GET", "/v3/grants", key, nil); r.Status != 200 {
		t.Errorf("after Retry-After: %d %s", r.Status, r.Raw)
	}
	if m := e.Metrics(); !strings.Contains(m, `grantd_http_requests_total{method="GET",route="GET /v3/grants",status="429"}`) ||
		!strings.Contains(m, `grantd_http_requests_total{method="POST",route="POST /v3/providers/detect",status="429"}`) {
		t.Errorf("no 429 series in /metrics")
	}
}

// The defaults allow what an SDK client does at start-up (here, 100
// requests at once) without a 429.
func TestRateLimitDefaults(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) { c.RateLimit = config.Default().RateLimit }})
	_, key := e.App("acme")
	for i := range 100 {
		if r := e.Do("GET", "/v3/connectors", key, nil); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
}
