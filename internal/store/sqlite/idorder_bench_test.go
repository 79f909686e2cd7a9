package sqlite_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/tenant"
)

// BenchmarkCreateGrantIDOrder creates grants (each with its grant.created
// event, as the grant service does) in a store that already holds 50,000,
// with random (version 4) and time-ordered (version 7, tenant.NewID) UUIDs
// as grant and event IDs. Emails are random in both, as in real life. Run:
//
//	go test -run '^$' -bench CreateGrantIDOrder -benchtime 20000x ./internal/store/sqlite/
func BenchmarkCreateGrantIDOrder(b *testing.B) {
	for _, c := range []struct {
		name  string
		newID func() string
	}{{"random-v4", randomUUID}, {"time-ordered-v7", tenant.NewID}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "grantd.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			now := time.Now()
			if err := s.CreateApplication(ctx, store.Application{ID: "app", Name: "app", CreatedAt: now, UpdatedAt: now}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			create := func() error {
				n := seq.Add(1)
				g := store.Grant{
					ID: c.newID(), AppID: "app", Provider: "yahoo", Status: store.GrantValid,
					Email:    fmt.Sprintf("%s.%d@example.com", randomUUID()[:8], n),
					Scope:    []string{"openid", "email", "mail-r"},
					Settings: map[string]any{}, Secrets: make([]byte, 600),
					CreatedAt: now, UpdatedAt: now, NextRefreshAt: now.Add(time.Duration(n%3000) * time.Second),
				}
				ev := store.Event{ID: c.newID(), AppID: "app", Type: "grant.created", GrantID: g.ID, Payload: make([]byte, 700), CreatedAt: now}
				return s.CreateGrant(ctx, g, ev)
			}
			for range 50_000 {
				if err := create(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := create(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
