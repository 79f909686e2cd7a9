package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/server"
)

// Environment variables of the commands that talk to a running grantd
// over HTTP (documented in docs/cli.md; not configuration keys).
const (
	envURL    = config.EnvURL
	envAPIKey = config.EnvAPIKey
)

const importUsage = `usage: grantd import [flags] FILE|-

Imports users from an NDJSON file (- for standard input): each line is the
body of POST /v3/connect/custom plus an optional "external_id". Every line
gets one outcome in the --report file; rerunning with the same report
resumes. See docs/cli.md.

Flags:`

// stdin is the import's standard input (tests replace it).
var stdin io.Reader = os.Stdin

// exitError ends the process with code, after what was printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, importUsage)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "grantd's base URL (default $"+envURL+", else http://127.0.0.1:8080)")
	apiKey := fs.String("api-key", "", "API key of the application to import into (default $"+envAPIKey+"; prefer the variable: a flag shows in the process list)")
	reportPath := fs.String("report", "", "report file: one NDJSON outcome per line; rerunning with it resumes (required, except with --dry-run)")
	dryRun := fs.Bool("dry-run", false, "check every line and print what would happen; send nothing")
	concurrency := fs.Int("concurrency", 8, "lines in flight at most")
	rates := fs.String("rate", "", "lines per second per provider, over the defaults "+importer.DefaultRates().String()+" (e.g. google=50/s,imap=off)")
	retries := fs.Int("retries", 5, "retries of a line after a transient failure (504, 5xx, no answer)")
	progress := fs.String("progress", "auto", "progress display: auto (a bar on a terminal, else plain lines), bar, plain or off")
	interval := fs.Duration("progress-interval", 10*time.Second, "time between plain progress lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("import: give one input file, or - for standard input")
	}
	if *concurrency < 1 || *retries < 0 || *interval <= 0 {
		return errors.New("import: --concurrency must be at least 1, --retries at least 0, --progress-interval positive")
	}
	if !slices.Contains([]string{"auto", "bar", "plain", "off"}, *progress) {
		return fmt.Errorf("import: --progress must be auto, bar, plain or off, not %q", *progress)
	}
	rateLimits, err := importer.ParseRates(*rates)
	if err != nil {
		return err
	}
	if *url == "" {
		if *url = os.Getenv(envURL); *url == "" {
			*url = "http://127.0.0.1:8080"
		}
	}
	if *apiKey == "" {
		*apiKey = os.Getenv(envAPIKey)
	}
	if !*dryRun && *reportPath == "" {
		return errors.New("import: --report FILE is required: it records every line's outcome and lets a rerun resume where this run stopped")
	}
	if !*dryRun && *apiKey == "" {
		return fmt.Errorf("import: no API key: set %s (or --api-key) to a key of the application to import into", envAPIKey)
	}

	if os.Getenv("GOGC") == "" {
		// What the import keeps is the duplicate check's table (about
		// 18 bytes a line); the rest is per-line garbage. Collecting when
		// the heap has grown by a quarter, not by all of it, keeps a
		// million lines under 50 MiB (docs/benchmarks.md) for a little
		// more CPU.
		debug.SetGCPercent(25)
	}
	in, err := importer.OpenInput(pos[0], stdin)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer in.Close()
	var report *importer.Report
	if *reportPath != "" {
		if report, err = importer.OpenReport(*reportPath, in.Info, *dryRun); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	var sender *importer.HTTPSender
	if !*dryRun {
		sender = &importer.HTTPSender{URL: *url, APIKey: *apiKey, Client: importer.NewHTTPClient(*concurrency, 2*time.Minute), UserAgent: "grantd-import/" + server.Version}
		if err := sender.Check(ctx); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}

	var onOutcome func(importer.Record)
	if *dryRun {
		onOutcome = func(rec importer.Record) {
			if rec.Error != nil {
				fmt.Fprintf(stdout, "line %d: %s: %s\n", rec.Line, rec.Error.Type, rec.Error.Message)
			}
		}
	}
	opts := importer.Options{
		Report: report, DryRun: *dryRun, Concurrency: *concurrency, Rates: rateLimits,
		Retries: *retries, Total: in.Info.Lines, OnOutcome: onOutcome,
	}
	if *retries == 0 {
		opts.Retries = -1
	}
	if sender != nil {
		opts.Sender = sender
	}
	runner := importer.New(opts)
	if report != nil && report.Prior.Summary.Lines() > 0 {
		fmt.Fprintf(stderr, "resuming from %s: %d lines done by earlier runs (%s)\n", report.Path(), report.Prior.Summary.Lines(), report.Prior.Summary)
	}
	if !*dryRun {
		fmt.Fprintf(stderr, "importing %s into %s: concurrency %d, rates %s\n", describeInput(in.Info), *url, *concurrency, rateLimits)
	}

	show := newProgressView(*progress, *interval, stderr, *dryRun)
	stopView := show.start(runner)
	runErr := runner.Run(ctx, in.Reader())
	stopView()
	finishErr := report.Finish()

	this, checked := runner.Summary()
	if *dryRun {
		return dryRunSummary(stdout, runner, this, checked, report)
	}
	total := this
	if report != nil {
		total = report.Prior.Summary
	}
	fmt.Fprintf(stdout, "this run: %s in %s\n", this, runner.Progress().Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "report %s: %d lines: %s\n", report.Path(), total.Lines(), total)
	switch {
	case runErr != nil:
		left := ""
		if in.Info.Lines > 0 {
			left = fmt.Sprintf(" (%d of %d lines have no outcome yet)", in.Info.Lines-total.Lines(), in.Info.Lines)
		}
		return fmt.Errorf("import stopped before the end: %v%s; run the same command again to finish", runErr, left)
	case finishErr != nil:
		return fmt.Errorf("import: %w", finishErr)
	case total.Failed > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("import: failed lines: %d; their reasons are in %s (a rerun retries the transient ones)", total.Failed, report.Path())}
	}
	return nil
}

func describeInput(in importer.InputInfo) string {
	if in.Lines > 0 {
		return fmt.Sprintf("%s (%d lines)", in.Name, in.Lines)
	}
	if in.Name == "-" {
		return "standard input"
	}
	return in.Name
}

// dryRunSummary prints what a real run would do.
func dryRunSummary(w io.Writer, r *importer.Runner, s importer.Summary, checked map[string]int, report *importer.Report) error {
	n := 0
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(checked)) {
		n += checked[p]
		parts = append(parts, fmt.Sprintf("%s %d", p, checked[p]))
	}
	fmt.Fprintf(w, "dry run: %d lines would be sent to grantd", n)
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "; %d lines have problems", s.Failed)
	if s.Failed > 0 {
		fmt.Fprintf(w, " (%s)", s.FailureDetail())
	}
	if p := r.Progress(); p.Skipped > 0 {
		fmt.Fprintf(w, "; %d lines are already done in %s and would be skipped", p.Skipped, report.Path())
	}
	fmt.Fprintln(w, "; nothing was sent")
	if s.Failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("import --dry-run: %d lines have problems", s.Failed)}
	}
	return nil
}

// progressView shows a run's progress on stderr: a bar on a terminal,
// else a plain line every interval.
type progressView struct {
	mode     string
	interval time.Duration
	w        io.Writer
}

func newProgressView(mode string, interval time.Duration, w io.Writer, dryRun bool) *progressView {
	if mode == "auto" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
		if dryRun {
			mode = "off" // a dry run prints its findings on stdout, quickly
		}
	}
	return &progressView{mode: mode, interval: interval, w: w}
}

// start shows r's progress until the returned function is called.
func (v *progressView) start(r *importer.Runner) (stop func()) {
	if v.mode == "off" {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	tick := v.interval
	var bar *progressbar.ProgressBar
	if v.mode == "bar" {
		tick = 200 * time.Millisecond
		max := int64(r.Progress().Total)
		if max == 0 {
			max = -1 // unknown: a spinner
		}
		bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(v.w), progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("lines"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true))
	}
	update := func() {
		p := r.Progress()
		if bar != nil {
			bar.Describe(fmt.Sprintf("importing (%d failed)", p.Failed))
			_ = bar.Set64(int64(p.Done))
			return
		}
		fmt.Fprintln(v.w, plainProgress(p))
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				update()
			case <-done:
				if bar != nil {
					update()
					_ = bar.Exit()
					fmt.Fprintln(v.w)
				}
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// plainProgress is one progress line: done/total, rate, failures, ETA.
func plainProgress(p importer.Progress) string {
	sent := p.Done - p.Skipped
	perSec := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		perSec = float64(sent) / s
	}
	total, eta := "?", ""
	if p.Total > 0 {
		total = fmt.Sprint(p.Total)
		if perSec > 0 && p.Total > p.Done {
			eta = ", ETA " + (time.Duration(float64(p.Total-p.Done)/perSec) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("import: %d/%s lines done (%d skipped), %.1f lines/s, %d failed, %d in flight%s", p.Done, total, p.Skipped, perSec, p.Failed, p.InFlight, eta)
}

// parseInterspersed parses flags anywhere among args.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
