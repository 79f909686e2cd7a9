package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/testenv"
)

// shortRun are the flags of the test runs: every scenario at two
// concurrencies, for a fraction of a second each. The test checks that
// every figure is there and sane, never how fast anything is.
var shortRun = []string{"--grants", "25", "--concurrency", "1,2", "--duration", "200ms", "--warmup", "50ms", "--quiet"}

// asCommand makes the test binary grantd-bench itself: the tests run it
// with this variable set, and it runs itself again as the stand-in and
// the pass-through (which inherit the variable).
const asCommand = "GRANTD_BENCH_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if grantdDir != "" {
		os.RemoveAll(grantdDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	grantdDir string
	buildErr  error
)

// buildGrantdOnce builds cmd/grantd, once for all the tests.
func buildGrantdOnce(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "the go command is not available to build grantd")
	}
	buildOnce.Do(func() {
		if grantdDir, buildErr = os.MkdirTemp("", "grantd-bench-test-"); buildErr != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(grantdDir, "grantd"), "github.com/grantd/grantd/cmd/grantd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(grantdDir, "grantd")
}

// runBench runs grantd-bench self-contained with the flags of shortRun,
// then args.
func runBench(t *testing.T, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args = append(append(slices.Clone(shortRun), "--grantd", buildGrantdOnce(t)), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), asCommand+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("grantd-bench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestTable runs the command self-contained and checks that the table has
// every figure.
func TestTable(t *testing.T) {
	t.Parallel()
	out := runBench(t)
	t.Log("\n" + out)
	for _, head := range []string{"grantd:   ", "machine:  ", "seeded:   25 grants", "load:     ", "CPU:      "} {
		if !strings.Contains(out, "\n"+head) {
			t.Errorf("no line %q", head)
		}
	}
	num := `[0-9][0-9,]*(\.[0-9]+)?`
	for _, conc := range []string{"1", "2"} {
		for _, sc := range scenarioOrder {
			calls := `0\.00\+0\.00`
			if sc == "roundtrip" || sc == "passthrough" || sc == "create" || sc == "reauth" {
				calls = `[01]\.[0-9]{2}\+[01]\.[0-9]{2}`
			}
			// scenario, conc, ops/s, p50, p99, errors (0), calls/op, CPU of
			// grantd, stand-in, pass-through, load generator.
			row := `(?m)^` + sc + ` +` + conc + ` +` + num + ` +` + num + ` +` + num + ` +0 +` + calls + strings.Repeat(` +`+num, 4) + `$`
			if !regexp.MustCompile(row).MatchString(out) {
				t.Errorf("no complete row for %s at concurrency %s", sc, conc)
			}
		}
	}
	for _, ratio := range []string{
		`grantd CPU per create ÷ pass-through's, c=2 +` + num + `×`,
		`create throughput ÷ bare round trip, c=2 +` + num,
		`pass-through throughput ÷ bare round trip, c=2 +` + num,
		`create throughput ÷ pass-through's, c=2 +` + num,
		`added p50 of a create, c=1 \(p50 − round trip's\) +-?` + num + ` ms`,
		`added p50 of the pass-through, c=1 +-?` + num + ` ms`,
	} {
		if !regexp.MustCompile(ratio).MatchString(out) {
			t.Errorf("no figure %q", ratio)
		}
	}
}

// TestJSON runs the command self-contained with --json, on PostgreSQL
// when GRANTD_TEST_DATABASE_URL is set (SQLite otherwise), and checks
// every figure of the document.
func TestJSON(t *testing.T) {
	t.Parallel()
	var args []string
	store, procs := "SQLite", []string{procGrantd, procStandin, procPass, procLoad}
	if os.Getenv(testenv.DatabaseURLVar) != "" {
		args = []string{"--database-url", testenv.PostgresSchema(t, "the load command on PostgreSQL")}
		store, procs = "PostgreSQL", append(procs, procDB)
	}
	out := runBench(t, append(args, "--json")...)
	var rep report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("not the JSON report: %v\n%s", err, out)
	}
	if rep.Setup.Grants != 25 || rep.Setup.Store != store || rep.Machine.CPUs < 1 || rep.StartedAt.IsZero() || rep.CPUSource == "" {
		t.Errorf("setup or machine incomplete: %+v %+v", rep.Setup, rep.Machine)
	}
	if len(rep.Results) != 2*len(scenarioOrder) {
		t.Fatalf("%d results, want %d", len(rep.Results), 2*len(scenarioOrder))
	}
	var grantdCPU float64
	for _, r := range rep.Results {
		name := r.Scenario + " c=" + strconv.Itoa(r.Concurrency)
		if r.Ops < 1 || r.Errors != 0 || !(r.PerSecond > 0) || !(r.Seconds >= 0.2) || !(r.P50Ms > 0) || r.P99Ms < r.P50Ms {
			t.Errorf("%s: %+v", name, r)
		}
		if len(r.CPUPerOpUs) != len(procs) {
			t.Errorf("%s: CPU of %d processes, want %v", name, len(r.CPUPerOpUs), procs)
		}
		for _, p := range procs {
			v, c := r.CPUPerOpUs[p], r.CPUCores[p]
			if v == nil || c == nil || *v < 0 || *c < 0 || math.IsInf(*v, 0) {
				t.Errorf("%s: CPU of %s missing or wrong: %v %v", name, p, v, c)
			}
		}
		grantdCPU += *r.CPUPerOpUs[procGrantd]
		calls := r.ProviderCalls
		if calls == nil {
			t.Errorf("%s: no provider calls", name)
			continue
		}
		switch r.Scenario {
		case "roundtrip", "passthrough", "create", "reauth":
			// One token call and one userinfo call per operation (a call
			// or two in flight at the window's edges aside).
			if calls.Token < 0.5 || calls.Token > 1.5 || calls.Identity < 0.5 || calls.Identity > 1.5 {
				t.Errorf("%s: provider calls per operation %+v", name, calls)
			}
		default:
			if calls.Token != 0 || calls.Identity != 0 {
				t.Errorf("%s: provider calls per operation %+v", name, calls)
			}
		}
	}
	if !(grantdCPU > 0) {
		t.Error("grantd used no CPU in the whole run")
	}
	r := rep.Ratios
	if r.Concurrency != 2 || r.LatencyConcurrency != 1 {
		t.Errorf("ratios at %d and %d", r.Concurrency, r.LatencyConcurrency)
	}
	for name, v := range map[string]*float64{
		"create_cpu_vs_passthrough": r.CreateCPUVsPass, "create_throughput_vs_roundtrip": r.CreateVsRoundTrip,
		"passthrough_throughput_vs_roundtrip": r.PassVsRoundTrip, "create_throughput_vs_passthrough": r.CreateVsPass,
		"create_added_p50_ms": r.CreateAddedP50Ms, "passthrough_added_p50_ms": r.PassAddedP50Ms,
		"detect_cpu_vs_application": r.DetectCPUVsApp,
	} {
		if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
			t.Errorf("ratio %s: %v", name, v)
		}
	}
}
