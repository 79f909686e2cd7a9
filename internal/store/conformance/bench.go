package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Bench runs the store benchmarks as sub-benchmarks of b: CreateGrant,
// CreateGrantParallel, GetGrant, GetGrantParallel, GetGrantByEmail,
// UpdateGrant, and Ping (the store's cheapest statement: the floor of a
// read, one round trip on PostgreSQL). Each gets its own store from
// newStore.
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {
	benchmarks := []struct {
		name string
		fn   func(b *testing.B, s store.Store)
	}{
		{"CreateGrant", benchCreateGrant(false)},
		{"CreateGrantParallel", benchCreateGrant(true)},
		{"GetGrant", benchGetGrant(false)},
		{"GetGrantParallel", benchGetGrant(true)},
		{"GetGrantByEmail", benchGetGrantByEmail},
		{"UpdateGrant", benchUpdateGrant},
		{"Ping", benchPing},
	}
	for _, bm := range benchmarks {
		s := newStore(b)
		b.Run(bm.name, func(b *testing.B) { bm.fn(b, s) })
	}
}

// benchGrant is a realistic grant: a few scopes and settings and a secret
// blob of the size of a vault-wrapped token set.
func benchGrant(appID string, n int64) store.Grant {
	g := grant(appID, fmt.Sprintf("user%d@example.com", n))
	g.ID = fmt.Sprintf("%s-grant-%d", appID, n)
	g.Scope = []string{"openid", "email", "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/calendar"}
	g.Settings = map[string]any{"refresh_token_expires_in": 7776000.0, "hd": "example.com"}
	g.Secrets = make([]byte, 600)
	g.NextRefreshAt = t0.Add(50 * time.Minute)
	return g
}

var benchSeq atomic.Int64

func benchCreateGrant(parallel bool) func(b *testing.B, s store.Store) {
	return func(b *testing.B, s store.Store) {
		ctx := context.Background()
		app := newApp(b, s)
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			for b.Loop() {
				if err := s.CreateGrant(ctx, benchGrant(app, benchSeq.Add(1))); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.CreateGrant(ctx, benchGrant(app, benchSeq.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

// seedGrants creates n grants and returns their IDs.
func seedGrants(b *testing.B, s store.Store, app string, n int) []store.Grant {
	b.Helper()
	gs := make([]store.Grant, n)
	for i := range gs {
		gs[i] = benchGrant(app, benchSeq.Add(1))
		if err := s.CreateGrant(context.Background(), gs[i]); err != nil {
			b.Fatal(err)
		}
	}
	return gs
}

const seeded = 1000

func benchGetGrant(parallel bool) func(b *testing.B, s store.Store) {
	return func(b *testing.B, s store.Store) {
		ctx := context.Background()
		app := newApp(b, s)
		gs := seedGrants(b, s, app, seeded)
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			i := 0
			for b.Loop() {
				if _, err := s.GetGrant(ctx, app, gs[i%seeded].ID); err != nil {
					b.Fatal(err)
				}
				i++
			}
			return
		}
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetGrant(ctx, app, gs[next.Add(1)%seeded].ID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

func benchGetGrantByEmail(b *testing.B, s store.Store) {
	ctx := context.Background()
	app := newApp(b, s)
	gs := seedGrants(b, s, app, seeded)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.GetGrantByEmail(ctx, app, gs[i%seeded].Email); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchUpdateGrant(b *testing.B, s store.Store) {
	ctx := context.Background()
	app := newApp(b, s)
	gs := seedGrants(b, s, app, seeded)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, err := s.UpdateGrant(ctx, app, gs[i%seeded].ID, func(old store.Grant) (store.Grant, []store.Event, error) {
			old.LastRefreshAt = old.NextRefreshAt
			old.NextRefreshAt = old.NextRefreshAt.Add(time.Hour)
			return old, nil, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchPing(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
