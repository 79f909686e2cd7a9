package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBucketPerKey(t *testing.T) {
	l := New(2, 3)
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth request: %v, retry after %v; want a refusal for 500ms", ok, wait)
	}
	// A refusal takes no token: the next one is there after 500 ms.
	if ok, _ := l.Allow("a", now.Add(499*time.Millisecond)); ok {
		t.Fatal("allowed before a token came back")
	}
	if ok, _ := l.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused once a token came back")
	}
	// Another key has its own bucket.
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("key b refused because of key a")
	}
	if p, b := l.Rate(); p != 2 || b != 3 {
		t.Errorf("Rate() = %v, %v", p, b)
	}
}

func TestDisabled(t *testing.T) {
	l := New(0, 10)
	if l != nil {
		t.Fatal("a rate of 0 should disable the limiter")
	}
	for range 1000 {
		if ok, _ := l.Allow("a", time.Now()); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
	if l.Len() != 0 {
		t.Fatal("Len of nil")
	}
}

// Buckets that filled up again are dropped once the map is large, so
// keys seen once do not stay for good; busy buckets are kept.
func TestIdleBucketsAreDropped(t *testing.T) {
	l := New(10, 5)
	now := time.Unix(1_800_000_000, 0)
	for range 5 {
		l.Allow("busy", now)
	}
	for i := range 3 * minSweep {
		l.Allow(fmt.Sprint("once-", i), now.Add(time.Duration(i)*time.Second))
	}
	if n := l.Len(); n > minSweep+1 {
		t.Errorf("%d buckets kept after %d keys seen once each a second apart", n, 3*minSweep)
	}
	// "busy" was swept only if it had filled up, i.e. it behaves as new.
	if ok, _ := l.Allow("busy", now.Add(time.Hour)); !ok {
		t.Error("busy refused after an hour")
	}
	// Keys all active at once are all kept (none would answer the same
	// if forgotten).
	m := New(1, 1)
	for i := range 2 * minSweep {
		m.Allow(fmt.Sprint(i), now)
	}
	if n := m.Len(); n != 2*minSweep {
		t.Errorf("%d buckets for %d active keys", n, 2*minSweep)
	}
	for i := range 2 * minSweep {
		if ok, _ := m.Allow(fmt.Sprint(i), now); ok {
			t.Fatalf("key %d got a second token at once: its bucket was forgotten", i)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(1e9, 1000)
	now := time.Now()
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprint("app-", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], now)
			i++
		}
	})
}
