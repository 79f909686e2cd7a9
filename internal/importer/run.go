package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/grantd/grantd/internal/provider"
)

// Result is what grantd answered for a line it accepted.
type Result struct {
	GrantID         string
	Email           string
	Reauthenticated bool
}

// ErrorKind says what the Runner does with a failed send.
type ErrorKind int

const (
	// Permanent: recorded, not retried.
	Permanent ErrorKind = iota
	// Transient: retried after a backoff, a bounded number of times.
	Transient
	// RateLimited: grantd refused the request for its rate limit; every
	// send waits RetryAfter, then the line is sent again.
	RateLimited
	// Fatal: no line can succeed (the API key was refused, the URL is not
	// grantd's): the run stops, the line is left for a rerun.
	Fatal
)

// SendError is a failed send. A Sender's other errors count as transient.
type SendError struct {
	Kind       ErrorKind
	Info       ErrorInfo
	RetryAfter time.Duration
}

func (e *SendError) Error() string { return e.Info.Type + ": " + e.Info.Message }

// Sender sends one line to grantd's create path.
type Sender interface {
	Send(ctx context.Context, it *Item) (Result, error)
}

// Recorder keeps a run's records: each line's outcome, and before a line
// is sent a Sending record, so that a later run knows the line may have
// reached grantd. A *Report (the report file of grantd import) is one; a
// server-side import job records into the database. Write is called
// concurrently; an error stops the run.
type Recorder interface {
	Write(rec Record) error
}

// Source yields the lines of an input, in order.
type Source interface {
	// Next returns the next line that is not blank, or io.EOF.
	Next() (SourceLine, error)
}

// SourceLine is one line of a Source.
type SourceLine struct {
	N int // line number in the input, from 1 (blank lines count)
	// Bytes is the line without its line end, valid until the next call;
	// nil when TooLong (longer than MaxLineBytes).
	Bytes   []byte
	TooLong bool
	// Replayed: an earlier run sent the line and recorded no outcome.
	Replayed bool
}

// Options configure a Runner.
type Options struct {
	Sender Sender // unused with DryRun
	// Report records outcomes; nil records nothing (a dry run).
	Report Recorder
	// Prior is what earlier runs did (their lines are skipped); nil: the
	// Report's own when it is a *Report, else nothing.
	Prior *Prior
	// Accept, in a dry run, is called with each line that would be sent
	// (its Body valid only during the call); an error stops the run.
	Accept func(it *Item) error
	// DryRun checks every line and sends none.
	DryRun bool
	// Concurrency is the most lines in flight (default 8).
	Concurrency int
	// Rates limit the lines sent per provider, retries included.
	Rates Rates
	// Retries is how many times a transient failure is retried (default
	// 5; -1 for none); RateLimitRetries how many 429s a line may get
	// (default 30).
	Retries, RateLimitRetries int
	// Backoff is the wait before retry n (from 1); default: 1 s doubling
	// to 30 s, with jitter.
	Backoff func(n int) time.Duration
	// Total is the number of lines, when known (for progress).
	Total int
	// OnOutcome is called with each outcome of this run, one call at a
	// time (in a dry run, each failure and, with Outcome "checked", each
	// line that would be sent).
	OnOutcome func(Record)
}

// OutcomeChecked is a dry run's outcome of a line that would be sent.
const OutcomeChecked = "checked"

// Runner runs one import.
type Runner struct {
	opts  Options
	prior *Prior

	seen   *lineSet // accounts of the input, by dupKey
	grants *lineSet // grants made, by id: same account given twice

	mu      sync.Mutex // outcomes
	summary Summary
	checked map[string]int // dry run: lines that would be sent, by provider

	done, skipped, failed, inFlight atomic.Int64
	pauseUntil                      atomic.Int64 // unix nanoseconds: grantd said 429

	stop    context.CancelCauseFunc
	started time.Time
}

// New returns a Runner.
func New(opts Options) *Runner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	}
	if opts.RateLimitRetries <= 0 {
		opts.RateLimitRetries = 30
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Rates == nil {
		opts.Rates = DefaultRates()
	}
	r := &Runner{opts: opts, seen: newLineSet(), grants: newLineSet(), summary: newSummary(), checked: map[string]int{}, prior: &Prior{}}
	switch rep, _ := opts.Report.(*Report); {
	case opts.Prior != nil:
		r.prior = opts.Prior
	case rep != nil:
		r.prior = &rep.Prior
	}
	for id, line := range r.prior.grants {
		r.grants.add(id, line)
	}
	return r
}

// DefaultBackoff waits 1 s before the first retry, doubling up to 30 s,
// each wait between 75% and 125% of that (so that lines that failed
// together do not retry together).
func DefaultBackoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	d = min(d, 30*time.Second)
	return d*3/4 + rand.N(d/2+1)
}

// Progress is a snapshot of a run.
type Progress struct {
	Total    int // lines in the input, 0 when unknown
	Done     int // lines with an outcome, this run's and earlier runs' (Skipped)
	Skipped  int // lines earlier runs did
	Failed   int // this run's failed lines
	InFlight int
	Elapsed  time.Duration
}

// Progress returns a snapshot; safe while Run runs.
func (r *Runner) Progress() Progress {
	return Progress{
		Total: r.opts.Total, Done: int(r.done.Load() + r.skipped.Load()), Skipped: int(r.skipped.Load()),
		Failed: int(r.failed.Load()), InFlight: int(r.inFlight.Load()), Elapsed: time.Since(r.started),
	}
}

// Summary is this run's outcomes; Checked the lines a dry run would send,
// by provider.
func (r *Runner) Summary() (Summary, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summary, r.checked
}

// ErrStopped is the cause of a run stopped by its context.
var ErrStopped = errors.New("interrupted")

// Run reads the input and gives every line one outcome. It returns an
// error only when the run stopped early: ctx was cancelled (lines in
// flight still finish and are recorded; the others are left for a rerun),
// a Fatal send error, or a failure to read the input or write the report.
// One bad line never stops it.
func (r *Runner) Run(ctx context.Context, in io.Reader) error {
	return r.RunSource(ctx, readerSource{newLineReader(in)})
}

// readerSource is the Source of an NDJSON stream.
type readerSource struct{ lr *lineReader }

func (s readerSource) Next() (SourceLine, error) {
	n, b, tooLong, err := s.lr.next()
	return SourceLine{N: n, Bytes: b, TooLong: tooLong}, err
}

// RunSource is Run over the lines of src.
func (r *Runner) RunSource(ctx context.Context, src Source) error {
	r.started = time.Now()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r.stop = stop
	// Requests in flight finish when the run stops: their outcome is then
	// known and recorded, and a rerun does not replay them.
	sendCtx := context.WithoutCancel(ctx)

	sem := make(chan struct{}, r.opts.Concurrency)
	queues := map[string]chan *Item{}
	var dispatchers, senders sync.WaitGroup
	queue := func(prov string) chan *Item {
		q, ok := queues[prov]
		if !ok {
			q = make(chan *Item, r.opts.Concurrency)
			queues[prov] = q
			lim := rate.NewLimiter(rate.Inf, 1)
			if l, ok := r.opts.Rates[prov]; ok && l > 0 {
				lim = rate.NewLimiter(l, 1)
			}
			dispatchers.Add(1)
			go func() {
				defer dispatchers.Done()
				r.dispatch(ctx, sendCtx, q, lim, sem, &senders)
			}()
		}
		return q
	}

	err := r.read(ctx, src, queue)
	for _, q := range queues {
		close(q)
	}
	dispatchers.Wait()
	senders.Wait()
	if err != nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, context.Canceled) {
			return ErrStopped
		}
		return cause
	}
	return nil
}

// read parses the input line by line and hands each line to send to its
// provider's queue.
func (r *Runner) read(ctx context.Context, src Source, queue func(string) chan *Item) error {
	for ctx.Err() == nil {
		sl, err := src.Next()
		n, b, tooLong := sl.N, sl.Bytes, sl.TooLong
		if err == io.EOF {
			return nil
		}
		if err != nil {
			err = fmt.Errorf("read the input: %w", err)
			r.stop(err)
			return err
		}
		var it Item
		var bad *ErrorInfo
		if tooLong {
			it, bad = Item{Line: n}, lineTooLong()
		} else {
			it, bad = Parse(n, b)
		}
		// Every line's account counts, also those earlier runs did, so
		// that the same line is the duplicate whatever run sees it.
		if bad == nil && it.dupKey != "" {
			if first, dup := r.seen.add(it.dupKey, n); dup {
				bad = inputError(TypeDuplicate, "the same %s as line %d: grantd keeps one grant per email address in an application, so this line would replace that line's grant; remove one of the two lines", it.dupWhat, first)
			}
		}
		if r.prior.Done(n) {
			r.skipped.Add(1)
			continue
		}
		if bad != nil {
			r.fail(Record{Line: n, ExternalID: it.ExternalID, Provider: it.Provider, Email: it.Email}, bad)
			continue
		}
		if r.opts.DryRun {
			if r.opts.Accept != nil {
				if err := r.opts.Accept(&it); err != nil {
					r.stop(err)
					return err
				}
			}
			r.record(Record{Line: n, ExternalID: it.ExternalID, Provider: it.Provider, Email: it.Email, Outcome: OutcomeChecked})
			continue
		}
		it.Replayed = sl.Replayed || r.prior.sending.has(n)
		it.Body = bytes.Clone(it.Body) // b is the reader's buffer
		select {
		case queue(it.Provider) <- &it:
		case <-ctx.Done():
		}
	}
	return nil
}

// dispatch sends the lines of one provider's queue at its rate, each
// with a place among the Concurrency in flight.
func (r *Runner) dispatch(ctx, sendCtx context.Context, q chan *Item, lim *rate.Limiter, sem chan struct{}, senders *sync.WaitGroup) {
	for it := range q {
		if ctx.Err() != nil {
			continue // drain: the line is left for a rerun
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		if lim.Wait(ctx) != nil {
			<-sem
			continue
		}
		senders.Add(1)
		r.inFlight.Add(1)
		go func() {
			defer func() { <-sem; r.inFlight.Add(-1); senders.Done() }()
			r.send(ctx, sendCtx, it, lim)
		}()
	}
}

// send sends one line until it has an outcome: retrying transient
// failures after a backoff and 429s after their Retry-After, each retry
// waiting for the provider's rate again. It records nothing when the run
// stops while it waits.
func (r *Runner) send(ctx, sendCtx context.Context, it *Item, lim *rate.Limiter) {
	rec := Record{Line: it.Line, ExternalID: it.ExternalID, Provider: it.Provider, Email: it.Email, Replayed: it.Replayed}
	if r.opts.Report != nil {
		if err := r.opts.Report.Write(Record{Line: it.Line, Sending: true}); err != nil {
			r.stop(err)
			return
		}
	}
	retries, limited := 0, 0
	for {
		if !r.waitPause(ctx) {
			return
		}
		rec.Attempts++
		res, err := r.opts.Sender.Send(sendCtx, it)
		if err == nil {
			rec.GrantID, rec.Outcome = res.GrantID, OutcomeCreated
			if res.Email != "" {
				rec.Email = res.Email
			}
			if res.Reauthenticated {
				rec.Outcome = OutcomeReauthenticated
			}
			r.record(rec)
			return
		}
		var se *SendError
		if !errors.As(err, &se) {
			se = &SendError{Kind: Transient, Info: ErrorInfo{Type: TypeUnreachable, Message: err.Error()}}
		}
		wait := time.Duration(0)
		switch se.Kind {
		case Fatal:
			r.stop(fmt.Errorf("line %d: %s (status %d): %s", it.Line, se.Info.Type, se.Info.Status, se.Info.Message))
			return
		case Permanent:
			e := failure(se.Info, ClassPermanent)
			if it.Replayed && rotates(it.Provider) {
				e.Message += fmt.Sprintf("; note: an earlier run sent this line and was stopped before it learned the outcome, and %s replaces a refresh token when it is used, so its grant may have been made then: look for it with GET /v3/grants", it.Provider)
			}
			r.fail(rec, e)
			return
		case RateLimited:
			if limited++; limited > r.opts.RateLimitRetries {
				e := failure(se.Info, ClassTransient)
				e.Message += fmt.Sprintf(" (still after %d requests refused for grantd's rate limit)", limited)
				r.fail(rec, e)
				return
			}
			r.pause(max(se.RetryAfter, time.Second))
		case Transient:
			if retries++; retries > r.opts.Retries {
				r.fail(rec, failure(se.Info, ClassTransient))
				return
			}
			wait = r.opts.Backoff(retries)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		if lim.Wait(ctx) != nil {
			return
		}
	}
}

func failure(info ErrorInfo, class string) *ErrorInfo {
	info.Class = class
	return &info
}

// fail records rec as failed with err.
func (r *Runner) fail(rec Record, err *ErrorInfo) {
	rec.Outcome, rec.Error = OutcomeFailed, err
	r.record(rec)
}

// rotates says whether a provider replaces a refresh token when it is
// redeemed (the sandbox and the real providers: Microsoft after a grace
// period, Zoom at once), so that a replayed line's token may be spent.
func rotates(prov string) bool { return prov == provider.Microsoft || prov == provider.Zoom }

// pause holds every send for d (grantd answered 429 for the
// application).
func (r *Runner) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		old := r.pauseUntil.Load()
		if old >= until || r.pauseUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// waitPause waits out a pause; false when the run stopped meanwhile.
func (r *Runner) waitPause(ctx context.Context) bool {
	for {
		d := time.Until(time.Unix(0, r.pauseUntil.Load()))
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// record writes an outcome to the report and counts it.
func (r *Runner) record(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.GrantID != "" {
		if first, dup := r.grants.add(rec.GrantID, rec.Line); dup {
			rec.DuplicateOf = first
		}
	}
	if rec.Outcome == OutcomeChecked {
		r.checked[rec.Provider]++
	} else {
		if !r.opts.DryRun && r.opts.Report != nil {
			if err := r.opts.Report.Write(rec); err != nil {
				r.stop(err)
				return
			}
		}
		r.summary.add(rec)
		if rec.Outcome == OutcomeFailed {
			r.failed.Add(1)
		}
	}
	r.done.Add(1)
	if r.opts.OnOutcome != nil {
		r.opts.OnOutcome(rec)
	}
}
