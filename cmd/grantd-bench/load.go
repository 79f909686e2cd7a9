package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one scenario at one concurrency (a public contract: the
// --json output, docs/benchmarks.md).
type result struct {
	Scenario     string   `json:"scenario"`
	Via          string   `json:"via"` // the process the requests go to
	Concurrency  int      `json:"concurrency"`
	Seconds      float64  `json:"seconds"`
	Ops          int      `json:"ops"`
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	PerSecond    float64  `json:"ops_per_second"`
	P50Ms        float64  `json:"p50_ms"`
	P99Ms        float64  `json:"p99_ms"`
	// CPUPerOpUs is each process's CPU (user + system) during the
	// measurement divided by the operations: µs per operation, null when
	// the process's counters cannot be read (not on this machine).
	CPUPerOpUs map[string]*float64 `json:"cpu_us_per_op"`
	// CPUCores is each process's CPU during the measurement divided by its
	// duration.
	CPUCores map[string]*float64 `json:"cpu_cores"`
	// ProviderCalls is the stand-in's token redemptions and identity
	// (userinfo) answers per operation; null when it cannot be read.
	ProviderCalls *providerCalls `json:"provider_calls_per_op"`
}

type providerCalls struct {
	Token    float64 `json:"token"`
	Identity float64 `json:"identity"`
}

// counters are the stand-in's Google counters (GET /admin/counters).
type counters struct {
	Redemptions   int `json:"redemptions"`
	IdentityCalls int `json:"identity_calls"`
}

// snapshot is every counter at one instant.
type snapshot struct {
	at time.Time
	// cpu is the CPU time of each process by name, of each of its pids
	// (the database's backends are several); absent: unreadable.
	cpu   map[string]map[int]time.Duration
	calls *counters
}

func (l *load) snapshot(ctx context.Context) snapshot {
	s := snapshot{at: time.Now(), cpu: map[string]map[int]time.Duration{}}
	var c counters
	if err := l.e.standinAdmin(ctx, "/admin/counters?provider=google", nil, &c); err == nil {
		s.calls = &c
	}
	for _, p := range l.e.procs {
		pids := []int{p.pid}
		if p.pids != nil {
			var err error
			if pids, err = p.pids(ctx); err != nil {
				continue
			}
		} else if p.pid == 0 {
			continue
		}
		m := map[int]time.Duration{}
		for _, pid := range pids {
			if d, err := procCPU(pid); err == nil {
				m[pid] = d
			} // else gone meanwhile (a backend), or not on this machine
		}
		if len(m) > 0 || len(pids) == 0 {
			s.cpu[p.name] = m
		}
	}
	if d, err := selfCPU(); err == nil {
		s.cpu[procLoad] = map[int]time.Duration{0: d}
	}
	return s
}

// cpuBetween is a process's CPU time from s0 to s1: over its pids at s1,
// what each used since s0 (all of it for a pid that was not there yet).
func cpuBetween(s0, s1 snapshot, name string) (time.Duration, bool) {
	a, ok0 := s0.cpu[name]
	b, ok1 := s1.cpu[name]
	if !ok0 || !ok1 {
		return 0, false
	}
	var d time.Duration
	for pid, t := range b {
		d += t - a[pid]
	}
	return d, true
}

// drive runs sc's operation in conc closed loops for the warm-up and the
// measured duration, and measures the operations that complete within
// the measured window.
func (l *load) drive(ctx context.Context, sc *scenario, conc int) (result, error) {
	if err := sc.op(ctx, true); err != nil {
		return result{}, fmt.Errorf("%s: the first request went wrong, so the figures would mean nothing: %w", sc.name, err)
	}
	start := time.Now()
	t0 := start.Add(l.o.warmup)
	t1 := t0.Add(l.o.duration)
	// Each worker keeps the operations that completed after t0: when, how
	// long, and whether they failed. The window is cut afterwards at the
	// instants the counters were read.
	type done struct {
		at  time.Time
		lat time.Duration
		err bool
	}
	dones := make([][]done, conc)
	var completed, failed, lastOK atomic.Int64
	var stop atomic.Bool
	var mu sync.Mutex
	var samples []string
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				s := time.Now()
				err := sc.op(ctx, false)
				f := time.Now()
				completed.Add(1)
				if err != nil {
					failed.Add(1)
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					if len(samples) < 3 && !slices.Contains(samples, err.Error()) {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
				} else {
					lastOK.Store(f.UnixNano())
				}
				if !f.Before(t0) {
					dones[w] = append(dones[w], done{f, f.Sub(s), err != nil})
				}
			}
		})
	}
	label := fmt.Sprintf("%-11s c=%-3d", sc.name, conc)
	var s0, s1 snapshot
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	for phase := 0; phase < 2; {
		next := t0
		if phase == 1 {
			next = t1
		}
		select {
		case <-time.After(time.Until(next)):
			if phase == 0 {
				s0 = l.snapshot(ctx)
				t1 = s0.at.Add(l.o.duration)
				phase++
				break
			}
			// The window lasts the duration, and until one operation
			// succeeded in it: every figure has a value, however
			// loaded the machine.
			if lastOK.Load() <= s0.at.UnixNano() {
				t1 = time.Now().Add(time.Millisecond)
				break
			}
			s1 = l.snapshot(ctx)
			stop.Store(true)
			phase++
		case <-tick.C:
			n := completed.Load()
			what := "measuring"
			if time.Now().Before(t0) {
				what = "warming up"
			}
			l.p.update("%s %-10s %5.1f/%.1f s  %8d ops  %8.0f/s  %d errors", label, what,
				time.Since(start).Seconds(), (l.o.warmup + l.o.duration).Seconds(), n, float64(n-last), failed.Load())
			last = n
		case <-ctx.Done():
			stop.Store(true)
			wg.Wait()
			return result{}, ctx.Err()
		}
	}
	wg.Wait()

	var all []time.Duration
	r := result{Scenario: sc.name, Via: sc.via, Concurrency: conc, Seconds: s1.at.Sub(s0.at).Seconds(), ErrorSamples: samples}
	for _, ds := range dones {
		for _, d := range ds {
			switch {
			case d.at.Before(s0.at) || d.at.After(s1.at):
			case d.err:
				r.Errors++
			default:
				all = append(all, d.lat)
			}
		}
	}
	slices.Sort(all)
	r.Ops = len(all)
	r.PerSecond = float64(r.Ops) / r.Seconds
	r.P50Ms, r.P99Ms = ms(percentile(all, 0.50)), ms(percentile(all, 0.99))
	r.CPUPerOpUs, r.CPUCores = map[string]*float64{}, map[string]*float64{}
	for _, name := range l.procNames() {
		d, ok := cpuBetween(s0, s1, name)
		if !ok {
			r.CPUPerOpUs[name], r.CPUCores[name] = nil, nil
			continue
		}
		cores := d.Seconds() / r.Seconds
		r.CPUCores[name] = &cores
		if r.Ops > 0 {
			us := float64(d.Microseconds()) / float64(r.Ops)
			r.CPUPerOpUs[name] = &us
		}
	}
	if s0.calls != nil && s1.calls != nil && r.Ops > 0 {
		// Calls of failed operations count too: they are few, and an
		// operation that failed at the provider made its calls.
		n := float64(r.Ops + r.Errors)
		r.ProviderCalls = &providerCalls{
			Token:    float64(s1.calls.Redemptions-s0.calls.Redemptions) / n,
			Identity: float64(s1.calls.IdentityCalls-s0.calls.IdentityCalls) / n,
		}
	}
	l.p.done("%s %8.0f/s  p50 %7.2f ms  p99 %7.2f ms  %d errors", label, r.PerSecond, r.P50Ms, r.P99Ms, r.Errors)
	return r, nil
}

// procNames are the processes whose CPU is shown, in order.
func (l *load) procNames() []string {
	names := make([]string, 0, len(l.e.procs)+1)
	for _, p := range l.e.procs {
		names = append(names, p.name)
	}
	return append(names, procLoad)
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// progress writes what is going on to stderr: on a terminal one line
// rewritten in place, otherwise a line per update.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	open  bool // a line is being rewritten
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update reports a state that the next update replaces.
func (p *progress) update(format string, args ...any) {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.open = true
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// done reports a state that stays.
func (p *progress) done(format string, args ...any) {
	if p.quiet {
		return
	}
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
