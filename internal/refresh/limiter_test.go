package refresh

import (
	"context"
	"testing"
	"time"
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
