// Command grantd-bench is grantd's load command: it drives BYO creates,
// re-authentications, grant reads and lists, access-token vending and
// provider detection at grantd over HTTP, next to the same creates made
// through a do-nothing pass-through and the bare provider round trip, and
// prints throughput, p50/p99 latency and the CPU each process spent per
// operation. docs/benchmarks.md describes what it measures and how.
//
// By default it is self-contained: it builds grantd from the repository it
// is run in and starts `grantd serve` (SQLite in a temporary directory, or
// --database-url), the provider stand-in (`grantd-bench standin`) and the
// pass-through (`grantd-bench passthrough`) as separate processes. With
// --url it drives a deployment of the user's instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `grantd-bench: load and cost of grantd against a provider stand-in and a pass-through.

Usage:
  grantd-bench [flags]                      self-contained: starts grantd serve, the stand-in and the pass-through
  grantd-bench --url URL --api-key KEY --standin-url URL [flags]
                                            drives a running grantd configured with the stand-in as its Google
  grantd-bench standin [--listen ADDR]      runs the provider stand-in (grantd's OAuth sandbox) alone
  grantd-bench passthrough --standin URL --client-id ID [--listen ADDR]
                                            runs the pass-through alone (client secret in $GRANTD_BENCH_CLIENT_SECRET)

Scenarios (--scenarios, comma-separated; default all, in this order):
  roundtrip    bare provider round trip: token + userinfo straight at the stand-in
  passthrough  BYO create through the pass-through (the same provider calls and nothing else)
  create       BYO create through grantd (Google refresh token of a new email)
  reauth       BYO create of an email that already has a grant (re-authentication)
  read         GET /v3/grants/{id}
  list         GET /v3/grants?limit=10
  token        GET /grantd/v1/grants/{id}/access-token (credentials:read key)
  app          GET /v3/applications (the cheapest authenticated request)
  detect       POST /v3/providers/detect?email=… (known domains)

Flags:
`

// scenarioOrder is every scenario, in the order they run.
var scenarioOrder = []string{"roundtrip", "passthrough", "create", "reauth", "read", "list", "token", "app", "detect"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "standin":
			return cmdStandin(ctx, args[1:], stdout, stderr)
		case "passthrough":
			return cmdPassthrough(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			newFlags(stdout, &options{}).PrintDefaults()
			return nil
		}
	}
	opts := options{}
	fs := newFlags(stderr, &opts)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see grantd-bench --help)", fs.Arg(0))
	}
	opts.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { opts.set[f.Name] = true })
	if err := opts.check(); err != nil {
		return err
	}
	return bench(ctx, opts, stdout, stderr)
}

// options are the flags of a load run (a public contract: docs/benchmarks.md).
type options struct {
	// Attached mode.
	url, apiKey, readAPIKey        string
	standinURL, passthroughURL     string
	grantdPID, standinPID, passPID int
	// Self-contained mode.
	grantdBin, databaseURL, logLevel string
	refresh                          bool
	grantdEnv                        listFlag
	keep                             bool
	// Load.
	scenarios       listFlag
	concurrency     []int
	duration        time.Duration
	warmup          time.Duration
	grants          int
	seedConcurrency int
	// Output.
	json, quiet bool

	set map[string]bool // flags given on the command line
}

func (o *options) attached() bool { return o.url != "" }

// listFlag is a comma-separated or repeated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// repeatFlag is a repeated flag whose values may contain commas.
type repeatFlag struct{ l *listFlag }

func (r repeatFlag) String() string {
	if r.l == nil {
		return ""
	}
	return r.l.String()
}
func (r repeatFlag) Set(v string) error { *r.l = append(*r.l, v); return nil }

// intsFlag is a comma-separated list of positive integers.
type intsFlag struct{ v *[]int }

func (f intsFlag) String() string {
	if f.v == nil {
		return ""
	}
	s := make([]string, len(*f.v))
	for i, n := range *f.v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
func (f intsFlag) Set(v string) error {
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	*f.v = out
	return nil
}

func newFlags(w io.Writer, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("grantd-bench", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
	o.concurrency = []int{1, 32}
	o.scenarios = nil
	fs.StringVar(&o.url, "url", "", "attach to the grantd at this base URL instead of starting one")
	fs.StringVar(&o.apiKey, "api-key", "", "with --url: an API key of the application to load (its grants are created there)")
	fs.StringVar(&o.readAPIKey, "read-api-key", "", "with --url: a credentials:read API key of the same application, for the token scenario (skipped without it)")
	fs.StringVar(&o.standinURL, "standin-url", "", "with --url: the provider stand-in the grantd is configured with as its Google (grantd-bench standin, or grantd dev's sandbox_url)")
	fs.StringVar(&o.passthroughURL, "passthrough-url", "", "a running pass-through (default: one is started against the stand-in)")
	fs.IntVar(&o.grantdPID, "grantd-pid", 0, "with --url: pid of the grantd process, when on this machine, for its CPU per operation")
	fs.IntVar(&o.standinPID, "standin-pid", 0, "with --standin-url: pid of the stand-in, when on this machine")
	fs.IntVar(&o.passPID, "passthrough-pid", 0, "with --passthrough-url: pid of the pass-through, when on this machine")
	fs.StringVar(&o.grantdBin, "grantd", "", "grantd binary to run (default: built with go build from the repository of the working directory)")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL URL for the grantd it starts (default: SQLite in a temporary directory); use an empty schema or database")
	fs.StringVar(&o.logLevel, "log-level", "info", "log.level of the grantd it starts: info logs every request, as in production")
	fs.BoolVar(&o.refresh, "refresh", true, "refresh.enabled of the grantd it starts (the refresher runs beside the API, as in production)")
	fs.Var(repeatFlag{&o.grantdEnv}, "grantd-env", "extra GRANTD_*=value setting for the grantd it starts (repeatable)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (grantd's database and log) and say where it is")
	fs.Var(&o.scenarios, "scenarios", "scenarios to run, comma-separated (default: all; see above)")
	fs.Var(intsFlag{&o.concurrency}, "concurrency", "concurrent clients, comma-separated; every scenario runs at each")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each scenario at each concurrency")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.grants, "grants", 100000, "grants created through the API before the scenarios (a database that has grown); read, reauth and token use them")
	fs.IntVar(&o.seedConcurrency, "seed-concurrency", 32, "concurrent creates while seeding")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON on stdout instead of the table")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	return fs
}

func (o *options) check() error {
	if len(o.scenarios) == 0 {
		o.scenarios = scenarioOrder
	}
	for _, s := range o.scenarios {
		if !slices.Contains(scenarioOrder, s) {
			return fmt.Errorf("--scenarios: unknown scenario %q (known: %s)", s, strings.Join(scenarioOrder, ", "))
		}
	}
	// Run in the canonical order whatever order was given.
	var ordered listFlag
	for _, s := range scenarioOrder {
		if slices.Contains(o.scenarios, s) {
			ordered = append(ordered, s)
		}
	}
	o.scenarios = ordered
	switch {
	case o.duration <= 0:
		return errors.New("--duration must be positive")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	case o.grants < 0:
		return errors.New("--grants must not be negative")
	case o.seedConcurrency < 1:
		return errors.New("--seed-concurrency must be at least 1")
	}
	for _, s := range []string{"reauth", "read", "token"} {
		if slices.Contains(o.scenarios, s) && o.grants == 0 {
			return fmt.Errorf("scenario %s works on existing grants: give --grants 1 or more", s)
		}
	}
	for _, kv := range o.grantdEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(k, "GRANTD_") {
			return fmt.Errorf("--grantd-env %q: want GRANTD_NAME=value", kv)
		}
	}
	if o.attached() {
		switch {
		case o.apiKey == "":
			return errors.New("--url needs --api-key")
		case o.standinURL == "":
			return errors.New("--url needs --standin-url: the provider stand-in that grantd is configured to use for Google (docs/benchmarks.md)")
		case o.set["grantd"] || o.set["database-url"] || o.set["grantd-env"] || o.set["keep"] || o.set["log-level"] || o.set["refresh"]:
			return errors.New("--grantd, --database-url, --grantd-env, --log-level, --refresh and --keep configure the grantd grantd-bench starts; with --url, configure your deployment instead")
		}
	} else if o.apiKey != "" || o.readAPIKey != "" || o.standinURL != "" || o.grantdPID != 0 || o.standinPID != 0 {
		return errors.New("--api-key, --read-api-key, --standin-url, --grantd-pid and --standin-pid go with --url")
	}
	if o.passPID != 0 && o.passthroughURL == "" {
		return errors.New("--passthrough-pid goes with --passthrough-url")
	}
	return nil
}
