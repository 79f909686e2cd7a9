package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/passthrough"
)

// The BYO benchmarks create grants through grantd's HTTP API against the
// sandbox (Yahoo: a token redemption and a userinfo call per create), and
// measure the same two provider calls made directly, so that grantd's own
// cost is the difference. Run:
//
//	go test -run '^$' -bench 'BYO|SandboxRoundTrip' -benchtime 3000x ./internal/api/
//
// The serial variants report p50/p99 latency at concurrency 1; the
// parallel ones report throughput at saturation (client, grantd and the
// sandbox share the machine's cores). Both report cpu-µs/op: the CPU the
// whole process (client, grantd and sandbox) used per operation.

type benchEnv struct {
	e        *apitest.Env
	key      string
	clientID string
	client   *http.Client
	tokens   []string
	next     atomic.Int64
}

func newBenchEnv(b *testing.B, n int) *benchEnv {
	b.Helper()
	e := apitest.New(b, apitest.Options{Configure: func(c *config.Config) { c.Log.Level = "error" }})
	_, key := e.App("bench")
	be := &benchEnv{e: e, key: key, clientID: e.OAuthConnector(key, "yahoo")}
	be.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	be.tokens = make([]string, n)
	for i := range be.tokens {
		be.tokens[i] = e.RefreshToken("yahoo", be.clientID, fmt.Sprintf("bench%07d@example.com", i), "email", "profile", "mail-r")
	}
	return be
}

func (be *benchEnv) token() string { return be.tokens[int(be.next.Add(1)-1)%len(be.tokens)] }

// create makes one grant through the API.
func (be *benchEnv) create(b *testing.B) { be.createAt(b, be.e.HTTP.URL) }

// createAt posts one BYO request to base (grantd, or the pass-through).
func (be *benchEnv) createAt(b *testing.B, base string) {
	body := `{"provider":"yahoo","settings":{"refresh_token":"` + be.token() + `"}}`
	req, _ := http.NewRequest("POST", base+"/v3/connect/custom", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+be.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := be.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// roundTrip makes the provider calls of one create directly.
func (be *benchEnv) roundTrip(b *testing.B) {
	p := be.e.Config.Providers.Yahoo
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {be.token()}}
	req, _ := http.NewRequest("POST", p.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(be.clientID, "secret-yahoo-canary")
	resp, err := be.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("token status %d: %s", resp.StatusCode, buf.String())
	}
	at := between(buf.String(), `"access_token":"`, `"`)
	req, _ = http.NewRequest("GET", p.UserinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err = be.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("userinfo status %d", resp.StatusCode)
	}
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}

// cpuTime is the CPU (user+system) the process has used: the client,
// grantd and the sandbox all run in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

func serial(b *testing.B, op func(*testing.B)) {
	lat := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		op(b)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func parallel(b *testing.B, op func(*testing.B)) {
	b.SetParallelism(8)
	start, cpu0 := time.Now(), cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op(b)
		}
	})
	b.StopTimer()
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

func BenchmarkBYOCreateSerial(b *testing.B) {
	be := newBenchEnv(b, b.N)
	serial(b, be.create)
}

func BenchmarkSandboxRoundTripSerial(b *testing.B) {
	be := newBenchEnv(b, b.N)
	serial(b, be.roundTrip)
}

func BenchmarkBYOCreateParallel(b *testing.B) {
	be := newBenchEnv(b, b.N)
	parallel(b, be.create)
}

func BenchmarkSandboxRoundTripParallel(b *testing.B) {
	be := newBenchEnv(b, b.N)
	parallel(b, be.roundTrip)
}

// The pass-through benchmark measures the floor of any service in grantd's
// place (package passthrough): the same two provider calls with grantd's
// provider HTTP client (netx) and nothing else. grantd's throughput against
// the pass-through's is the share its own work costs.

// BenchmarkPassThroughParallel: see above.
func BenchmarkPassThroughParallel(b *testing.B) {
	be := newBenchEnv(b, b.N)
	hc, err := netx.NewHTTPClient(be.e.Config.Network)
	if err != nil {
		b.Fatal(err)
	}
	y := be.e.Config.Providers.Yahoo
	ts := httptest.NewServer(&passthrough.Handler{
		Client: hc, Provider: "yahoo", TokenURL: y.TokenURL, UserinfoURL: y.UserinfoURL,
		ClientID: be.clientID, Secret: "secret-yahoo-canary", BasicAuth: true,
	})
	b.Cleanup(ts.Close)
	parallel(b, func(b *testing.B) { be.createAt(b, ts.URL) })
}
