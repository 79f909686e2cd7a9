package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is the whole output of a run (the --json document; a public
// contract: docs/benchmarks.md).
type report struct {
	StartedAt time.Time `json:"started_at"`
	Machine   machine   `json:"machine"`
	Setup     setupInfo `json:"setup"`
	CPUSource string    `json:"cpu_source"`
	Results   []result  `json:"results"`
	Ratios    ratios    `json:"ratios"`
}

type machine struct {
	CPUModel    string     `json:"cpu_model"`
	CPUs        int        `json:"cpus"`
	MemoryGiB   float64    `json:"memory_gib"`
	OS          string     `json:"os"`
	Arch        string     `json:"arch"`
	Kernel      string     `json:"kernel"`
	Go          string     `json:"go"`
	LoadAverage [2]float64 `json:"load_average_1m"` // at the start and at the end of the run
}

type setupInfo struct {
	Mode         string   `json:"mode"`            // self-contained or attached
	Store        string   `json:"store,omitempty"` // SQLite or PostgreSQL; empty when attached
	Grantd       string   `json:"grantd"`
	GrantdURL    string   `json:"grantd_url"`
	StandinURL   string   `json:"standin_url"`
	PassURL      string   `json:"passthrough_url"`
	LogLevel     string   `json:"log_level,omitempty"`
	Refresher    *bool    `json:"refresher,omitempty"`
	GrantdEnv    []string `json:"grantd_env,omitempty"` // names only: values may be secrets
	Scenarios    []string `json:"scenarios"`
	Concurrency  []int    `json:"concurrency"`
	DurationS    float64  `json:"duration_seconds"`
	WarmupS      float64  `json:"warmup_seconds"`
	Grants       int      `json:"grants_seeded"`
	SeedSeconds  float64  `json:"seed_seconds"`
	SeedPerSec   float64  `json:"seed_per_second"`
	MintSeconds  float64  `json:"seed_mint_seconds"`
	MintedDuring int      `json:"tokens_minted_during_load"`
}

// ratios are issue 17's figures, all from this run; null when a scenario
// they need did not run.
type ratios struct {
	// At the highest concurrency.
	Concurrency        int      `json:"concurrency"`
	CreateCPUVsPass    *float64 `json:"create_cpu_vs_passthrough"`      // grantd's CPU per create ÷ the pass-through's per create
	CreateVsRoundTrip  *float64 `json:"create_throughput_vs_roundtrip"` // creates/s ÷ bare round trips/s
	PassVsRoundTrip    *float64 `json:"passthrough_throughput_vs_roundtrip"`
	CreateVsPass       *float64 `json:"create_throughput_vs_passthrough"`
	LatencyConcurrency int      `json:"latency_concurrency"` // the lowest concurrency
	CreateAddedP50Ms   *float64 `json:"create_added_p50_ms"` // create p50 − round trip p50
	PassAddedP50Ms     *float64 `json:"passthrough_added_p50_ms"`
	// Issue 18's: grantd's CPU per detection ÷ per GET /v3/applications,
	// at the highest concurrency.
	DetectCPUVsApp *float64 `json:"detect_cpu_vs_application"`
}

// Issue 17's targets.
const (
	targetCPU      = 1.5
	targetShare    = 0.45
	targetAddedP50 = 0.5
	// Issue 18: detection within twice the cheapest authenticated request.
	targetDetect = 2.0
)

func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	p := newProgress(stderr, o.quiet)
	rep := report{StartedAt: time.Now().UTC().Truncate(time.Second), CPUSource: cpuSource, Machine: machineInfo()}
	e, err := setUp(ctx, o, func(f string, a ...any) { p.done(f, a...) })
	if err != nil {
		return err
	}
	defer e.Close()
	l := &load{o: o, e: e, p: p}
	if l.pool, err = l.mint(ctx, 1000); err != nil {
		return err
	}
	if err := l.seed(ctx); err != nil {
		return err
	}
	scs := l.scenarios()
	var failed error
run:
	for _, conc := range o.concurrency {
		for _, name := range o.scenarios {
			sc := scs[name]
			if name == "token" && e.readKey == "" {
				p.done("token: skipped: give --read-api-key (a credentials:read key of the application)")
				continue
			}
			if sc.prepare != nil {
				if err := sc.prepare(ctx, conc); err != nil {
					return err
				}
			}
			r, err := l.drive(ctx, sc, conc)
			if err != nil {
				failed = err
				break run
			}
			l.results = append(l.results, r)
		}
	}
	rep.Machine.LoadAverage[1] = loadAverage()
	rep.Results = l.results
	rep.Ratios = computeRatios(l.results)
	rep.Setup = setupInfo{
		Mode: e.mode, Store: e.store, Grantd: e.grantdBuild, GrantdURL: e.grantdURL, StandinURL: e.standinURL, PassURL: e.passURL,
		Scenarios: o.scenarios, Concurrency: o.concurrency, DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(),
		Grants: len(l.seeded), SeedSeconds: l.seedSeconds, MintSeconds: l.mintSeconds, MintedDuring: l.mintedDuring,
	}
	if l.seedSeconds > 0 {
		rep.Setup.SeedPerSec = float64(len(l.seeded)) / l.seedSeconds
	}
	if !o.attached() {
		rep.Setup.LogLevel, rep.Setup.Refresher = o.logLevel, &o.refresh
		for _, kv := range o.grantdEnv {
			k, _, _ := strings.Cut(kv, "=")
			rep.Setup.GrantdEnv = append(rep.Setup.GrantdEnv, k)
		}
	}
	if len(rep.Results) > 0 {
		if o.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printTable(stdout, rep, l.procNames())
		}
	}
	if errors.Is(failed, context.Canceled) {
		return errors.New("interrupted")
	}
	if failed != nil {
		return failed
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			return fmt.Errorf("%s at concurrency %d: %d requests failed, e.g. %s", r.Scenario, r.Concurrency, r.Errors, strings.Join(r.ErrorSamples, "; "))
		}
	}
	return nil
}

func find(rs []result, scenario string, conc int) *result {
	for i := range rs {
		if rs[i].Scenario == scenario && rs[i].Concurrency == conc {
			return &rs[i]
		}
	}
	return nil
}

func computeRatios(rs []result) ratios {
	var r ratios
	if len(rs) == 0 {
		return r
	}
	var concs []int
	for _, x := range rs {
		concs = append(concs, x.Concurrency)
	}
	hi, lo := slices.Max(concs), slices.Min(concs)
	r.Concurrency, r.LatencyConcurrency = hi, lo
	div := func(a, b float64) *float64 {
		if b == 0 {
			return nil
		}
		v := a / b
		return &v
	}
	create, pass, rt := find(rs, "create", hi), find(rs, "passthrough", hi), find(rs, "roundtrip", hi)
	if create != nil && pass != nil && create.CPUPerOpUs[procGrantd] != nil && pass.CPUPerOpUs[procPass] != nil {
		r.CreateCPUVsPass = div(*create.CPUPerOpUs[procGrantd], *pass.CPUPerOpUs[procPass])
	}
	if create != nil && rt != nil {
		r.CreateVsRoundTrip = div(create.PerSecond, rt.PerSecond)
	}
	if pass != nil && rt != nil {
		r.PassVsRoundTrip = div(pass.PerSecond, rt.PerSecond)
	}
	if create != nil && pass != nil {
		r.CreateVsPass = div(create.PerSecond, pass.PerSecond)
	}
	create, pass, rt = find(rs, "create", lo), find(rs, "passthrough", lo), find(rs, "roundtrip", lo)
	added := func(x *result) *float64 {
		if x == nil || rt == nil || x.Ops == 0 || rt.Ops == 0 {
			return nil
		}
		v := x.P50Ms - rt.P50Ms
		return &v
	}
	r.CreateAddedP50Ms, r.PassAddedP50Ms = added(create), added(pass)
	if det, app := find(rs, "detect", hi), find(rs, "app", hi); det != nil && app != nil && det.CPUPerOpUs[procGrantd] != nil && app.CPUPerOpUs[procGrantd] != nil {
		r.DetectCPUVsApp = div(*det.CPUPerOpUs[procGrantd], *app.CPUPerOpUs[procGrantd])
	}
	return r
}

// describe says what each scenario is, in the table's legend.
var describe = map[string]string{
	"roundtrip":   "token + userinfo straight at the stand-in (bare provider round trip)",
	"passthrough": "BYO create through the pass-through (the same provider calls, nothing else)",
	"create":      "BYO create through grantd, Google refresh token of a new email",
	"reauth":      "BYO create through grantd of an email that has a grant (re-authentication)",
	"read":        "GET /v3/grants/{id}",
	"list":        "GET /v3/grants?limit=10",
	"token":       "GET /grantd/v1/grants/{id}/access-token, credentials:read key",
	"app":         "GET /v3/applications (the cheapest authenticated request)",
	"detect":      "POST /v3/providers/detect?email=… (known domains)",
}

func printTable(w io.Writer, rep report, procs []string) {
	s := rep.Setup
	m := rep.Machine
	fmt.Fprintf(w, "grantd-bench, %s: ", rep.StartedAt.Format(time.RFC3339))
	if s.Mode == modeAttached {
		fmt.Fprintf(w, "attached to the grantd at %s, stand-in at %s\n", s.GrantdURL, s.StandinURL)
	} else {
		refresher := "off"
		if *s.Refresher {
			refresher = "on"
		}
		fmt.Fprintf(w, "self-contained (grantd serve, the stand-in and the pass-through started as processes here), %s, log level %s, refresher %s", s.Store, s.LogLevel, refresher)
		if len(s.GrantdEnv) > 0 {
			fmt.Fprintf(w, ", also %s", strings.Join(s.GrantdEnv, ", "))
		}
		fmt.Fprintln(w)
	}
	if s.Grantd != "" {
		fmt.Fprintf(w, "grantd:   %s\n", s.Grantd)
	}
	fmt.Fprintf(w, "machine:  %s, %d CPUs, %.0f GiB, %s/%s, Linux %s, %s; load average %.2f at the start, %.2f at the end\n",
		m.CPUModel, m.CPUs, m.MemoryGiB, m.OS, m.Arch, m.Kernel, m.Go, m.LoadAverage[0], m.LoadAverage[1])
	if s.Grants > 0 {
		fmt.Fprintf(w, "seeded:   %s grants through the API in %.1f s (%s/s; %.1f s more to mint their tokens at the stand-in)\n",
			thousands(float64(s.Grants)), s.SeedSeconds, thousands(s.SeedPerSec), s.MintSeconds)
	}
	fmt.Fprintf(w, "load:     closed loops; per scenario and concurrency, %v measured after %v of warm-up\n",
		time.Duration(s.DurationS*float64(time.Second)), time.Duration(s.WarmupS*float64(time.Second)))
	fmt.Fprintf(w, "CPU:      %s\n\n", rep.CPUSource)

	head := append([]string{"scenario", "conc", "ops/s", "p50 ms", "p99 ms", "errors", "calls/op"}, procs...)
	rows := [][]string{head}
	for _, r := range rep.Results {
		calls := "n/a"
		if r.ProviderCalls != nil {
			calls = fmt.Sprintf("%.2f+%.2f", r.ProviderCalls.Token, r.ProviderCalls.Identity)
		}
		row := []string{r.Scenario, strconv.Itoa(r.Concurrency), thousands(r.PerSecond), fmt.Sprintf("%.2f", r.P50Ms), fmt.Sprintf("%.2f", r.P99Ms), strconv.Itoa(r.Errors), calls}
		for _, p := range procs {
			if v := r.CPUPerOpUs[p]; v != nil {
				row = append(row, thousands(*v))
			} else {
				row = append(row, "n/a")
			}
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(head))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintf(w, "\nops/s: operations completed per second; p50/p99: latency seen by the load generator; calls/op: token + userinfo calls the stand-in answered per operation;\n")
	fmt.Fprintf(w, "%s: CPU µs per operation of each process.\n", strings.Join(procs, ", "))
	var names []string
	for _, r := range rep.Results {
		if !slices.Contains(names, r.Scenario) {
			names = append(names, r.Scenario)
		}
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, describe[n])
	}

	r := rep.Ratios
	fmt.Fprintf(w, "\nIssue 17 figures, this run                                   measured   target\n")
	ratioLine(w, fmt.Sprintf("grantd CPU per create ÷ pass-through's, c=%d", r.Concurrency), r.CreateCPUVsPass, "%.2f×", "≤ 1.5×", func(v float64) bool { return v <= targetCPU })
	ratioLine(w, fmt.Sprintf("create throughput ÷ bare round trip, c=%d", r.Concurrency), r.CreateVsRoundTrip, "%.2f", "≥ 0.45", func(v float64) bool { return v >= targetShare })
	ratioLine(w, fmt.Sprintf("pass-through throughput ÷ bare round trip, c=%d", r.Concurrency), r.PassVsRoundTrip, "%.2f", "", nil)
	ratioLine(w, fmt.Sprintf("create throughput ÷ pass-through's, c=%d", r.Concurrency), r.CreateVsPass, "%.2f", "", nil)
	ratioLine(w, fmt.Sprintf("added p50 of a create, c=%d (p50 − round trip's)", r.LatencyConcurrency), r.CreateAddedP50Ms, "%.2f ms", "≤ 0.5 ms", func(v float64) bool { return v <= targetAddedP50 })
	ratioLine(w, fmt.Sprintf("added p50 of the pass-through, c=%d", r.LatencyConcurrency), r.PassAddedP50Ms, "%.2f ms", "", nil)
	fmt.Fprintf(w, "\nIssue 18 figure, this run\n")
	ratioLine(w, fmt.Sprintf("grantd CPU per detection ÷ per GET /v3/applications, c=%d", r.Concurrency), r.DetectCPUVsApp, "%.2f×", "≤ 2×", func(v float64) bool { return v <= targetDetect })
}

func ratioLine(w io.Writer, what string, v *float64, format, target string, met func(float64) bool) {
	val := "n/a"
	if v != nil {
		val = fmt.Sprintf(format, *v)
	}
	verdict := ""
	if v != nil && met != nil {
		verdict = "not met"
		if met(*v) {
			verdict = "met"
		}
	}
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-60s %9s   %-9s %s", what, val, target, verdict), " "))
}

// thousands formats a non-negative figure with no decimals below 10, and
// thousands separators.
func thousands(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAverage[0] = loadAverage()
	return m
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
