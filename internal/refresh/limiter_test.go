package refresh

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

// TestLimiterAIMD: the limit grows by one per round trip while every slot
// is used and answers come back in good time, up to the maximum; an
// overload halves it once per round trip (answers to calls made before the
// cut do not cut again), down to the minimum; a slow answer cuts a tenth;
// a Retry-After pauses acquisitions.
func TestLimiterAIMD(t *testing.T) {
	var changes []int
	l := newLimiter(2, 1, 8, time.Second, func(n int) { changes = append(changes, n) })
	ctx := context.Background()
	// One round: take every slot, answer them all after 1 ms.
	round := func(sig signal) {
		n := l.Limit()
		starts := make([]time.Time, n)
		for i := range n {
			s, ok := l.acquire(ctx, 10*time.Millisecond)
			if !ok {
				t.Fatalf("slot %d of %d not acquired", i, n)
			}
			starts[i] = s
		}
		if _, ok := l.acquire(ctx, time.Millisecond); ok {
			t.Fatalf("acquired slot %d of a limit of %d", n+1, n)
		}
		time.Sleep(time.Millisecond)
		for _, s := range starts {
			l.release(s, sig, 0)
		}
	}
	for range 20 {
		round(sigAnswered)
	}
	if got := l.Limit(); got != 8 {
		t.Fatalf("after 20 full rounds of good answers the limit is %d, want the maximum 8 (changes %v)", got, changes)
	}
	round(sigOverload)
	if got := l.Limit(); got != 4 {
		t.Fatalf("after a round of overloaded answers the limit is %d, want 4 (one halving per round trip)", got)
	}
	for range 5 {
		round(sigOverload)
	}
	if got := l.Limit(); got != 1 {
		t.Fatalf("after repeated overloads the limit is %d, want the minimum 1", got)
	}

	// A slow answer (far above the usual latency) cuts a tenth.
	l = newLimiter(10, 1, 10, time.Second, nil)
	s, _ := l.acquire(ctx, time.Millisecond)
	l.release(s.Add(-time.Millisecond), sigAnswered, 0) // baseline ~1 ms
	s, _ = l.acquire(ctx, time.Millisecond)
	l.release(s.Add(-200*time.Millisecond), sigAnswered, 0)
	if got := l.Limit(); got != 9 {
		t.Fatalf("after an answer 200 times slower than usual the limit is %d, want 9", got)
	}

	// Retry-After: nothing is acquired during the pause.
	l = newLimiter(4, 1, 8, 300*time.Millisecond, nil)
	s, _ = l.acquire(ctx, time.Millisecond)
	l.release(s, sigOverload, time.Hour) // capped at maxPause
	t0 := time.Now()
	if _, ok := l.acquire(ctx, 100*time.Millisecond); ok {
		t.Fatal("acquired during a Retry-After pause")
	}
	if _, ok := l.acquire(ctx, time.Second); !ok {
		t.Fatal("not acquired after the pause (capped at 300 ms)")
	}
	if d := time.Since(t0); d < 250*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("the pause lasted %v, want about 300 ms", d)
	}
	// A waiter is woken as soon as a slot frees.
	l = newLimiter(1, 1, 1, time.Second, nil)
	s, _ = l.acquire(ctx, time.Millisecond)
	go func() { time.Sleep(20 * time.Millisecond); l.release(s, sigAnswered, 0) }()
	t0 = time.Now()
	if _, ok := l.acquire(ctx, time.Second); !ok || time.Since(t0) > 500*time.Millisecond {
		t.Fatalf("waiter not woken by the release (ok=%v after %v)", ok, time.Since(t0))
	}
}

// TestLimiterBaselineFromAnswersOnly: errors decided without a provider
// round trip (a request refused before it was sent, a certificate that
// does not verify, an address refused) take microseconds; they must not
// become the provider's usual latency, after which every real answer
// would look slow and cut the limit by a tenth each time. Errors the
// provider answered (provider.Error.Answered) do count.
func TestLimiterBaselineFromAnswersOnly(t *testing.T) {
	ctx := context.Background()
	local := []error{
		provider.Errorf(provider.ClassBadRequest, "settings.imap_host must be a host name"),
		&provider.Error{Class: provider.ClassTLS, Message: "the TLS certificate could not be verified"},
		&provider.Error{Class: provider.ClassAddressRefused, Message: "address refused"},
		fmt.Errorf("refresh: %w", &provider.Error{Class: provider.ClassInvalidClient, Message: "the credential's key does not parse"}),
	}
	for _, err := range local {
		if sig, _ := signalOf(err); sig != sigNone {
			t.Errorf("signalOf(%v) = %v, want sigNone (no answer)", err, sig)
		}
	}
	answered := &provider.Error{Class: provider.ClassInvalidCredentials, Message: "invalid_grant", Answered: true}
	if sig, _ := signalOf(answered); sig != sigAnswered {
		t.Errorf("signalOf(an answered invalid_grant) = %v, want sigAnswered", sig)
	}
	if sig, _ := signalOf(nil); sig != sigAnswered {
		t.Errorf("signalOf(nil) = %v, want sigAnswered", sig)
	}
	if sig, _ := signalOf(errors.New("unclassified")); sig != sigOverload {
		t.Errorf("signalOf(unclassified) = %v, want sigOverload", sig)
	}

	// One call at a time (the limit is never reached: no growth): answers
	// in 50 ms, a burst of local failures, answers in 50 ms again.
	l := newLimiter(4, 1, 8, time.Second, nil)
	call := func(took time.Duration, err error) {
		s, ok := l.acquire(ctx, time.Second)
		if !ok {
			t.Fatal("no slot")
		}
		sig, pause := signalOf(err)
		l.release(s.Add(-took), sig, pause)
	}
	for range 5 {
		call(50*time.Millisecond, nil)
	}
	for i := range 40 {
		call(0, local[i%len(local)])
	}
	for range 10 {
		call(55*time.Millisecond, nil)
		call(55*time.Millisecond, answered)
	}
	if got := l.Limit(); got != 4 {
		t.Fatalf("after fast local failures, answers at the usual latency left the limit at %d, want 4", got)
	}
}
