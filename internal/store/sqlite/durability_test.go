package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

// synchronous reads the connection's synchronous level (1 NORMAL, 2 FULL).
func synchronous(t *testing.T, q interface {
	QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row
}) int {
	t.Helper()
	var level int
	if err := q.QueryRow(context.Background(), `PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	return level
}

// Every transaction of the group writer, alone or batched, and every
// single durable statement commits at synchronous=FULL; the lease
// statements run at NORMAL before and after.
func TestWriterCommitsAtFull(t *testing.T) {
	s := openInternal(t)
	b := (*backend)(s)
	ctx := context.Background()
	const normal, full = 1, 2

	if got := synchronous(t, b.Lease()); got != normal {
		t.Fatalf("lease statements run at synchronous=%d, want NORMAL", got)
	}
	level := func(ctx context.Context, q sqlstore.Querier) (int, error) {
		var l int
		err := q.QueryRow(ctx, `PRAGMA synchronous`).Scan(&l)
		return l, err
	}
	var alone int
	if err := b.Tx(ctx, func(ctx context.Context, q sqlstore.Querier) (err error) {
		alone, err = level(ctx, q)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if alone != full {
		t.Fatalf("a transaction alone commits at synchronous=%d, want FULL", alone)
	}
	if got := synchronous(t, b.Write()); got != full {
		t.Fatalf("a durable statement runs at synchronous=%d, want FULL", got)
	}

	// A batch.
	const n = 8
	var levels [n]int
	errs, batched := batch(t, s, n, func(i int) error {
		return b.Tx(ctx, func(ctx context.Context, q sqlstore.Querier) (err error) {
			levels[i], err = level(ctx, q)
			return err
		})
	})
	if batched < 2 {
		t.Fatalf("%d operations were batched, want the concurrent ones committed together", batched)
	}
	for i := range n {
		if errs[i] != nil || levels[i] != full {
			t.Errorf("batched transaction %d: synchronous=%d, %v; want FULL", i, levels[i], errs[i])
		}
	}
	if got := synchronous(t, b.Lease()); got != normal {
		t.Fatalf("after the batches, lease statements run at synchronous=%d, want NORMAL", got)
	}
}

// Every write of the store goes through the group writer (so commits at
// FULL), except the refresh leases.
func TestStoreWritesGoThroughTheWriter(t *testing.T) {
	s := openInternal(t)
	ctx := context.Background()
	now := time.Now()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	durable := func(what string, write func() error) {
		t.Helper()
		before := s.gw.commits.Load()
		must(what, write())
		if s.gw.commits.Load() == before {
			t.Errorf("%s was not committed by the group writer", what)
		}
	}
	durable("CreateApplication", func() error { return s.CreateApplication(ctx, store.Application{ID: "app"}) })
	durable("UpdateApplication", func() error {
		_, err := s.UpdateApplication(ctx, "app", func(a store.Application) (store.Application, error) { return a, nil })
		return err
	})
	durable("CreateAPIKey", func() error { return s.CreateAPIKey(ctx, store.APIKey{ID: "k", AppID: "app", Hash: []byte("h")}) })
	durable("RevokeAPIKey", func() error { return s.RevokeAPIKey(ctx, "k", now) })
	durable("CreateConnector", func() error { return s.CreateConnector(ctx, store.Connector{AppID: "app", Provider: "google"}) })
	durable("UpdateConnector", func() error {
		_, err := s.UpdateConnector(ctx, "app", "google", func(c store.Connector) (store.Connector, error) { return c, nil })
		return err
	})
	durable("CreateCredential", func() error {
		return s.CreateCredential(ctx, store.Credential{ID: "c", AppID: "app", Provider: "google", Name: "c"})
	})
	durable("UpdateCredential", func() error {
		_, err := s.UpdateCredential(ctx, "app", "c", func(c store.Credential) (store.Credential, error) { return c, nil })
		return err
	})
	durable("CreateGrant", func() error {
		return s.CreateGrant(ctx, store.Grant{ID: "g", AppID: "app", Provider: "google", Status: store.GrantValid, Secrets: []byte("s")})
	})
	durable("UpdateGrant", func() error {
		_, err := s.UpdateGrant(ctx, "app", "g", func(g store.Grant) (store.Grant, []store.Event, error) {
			g.Secrets = []byte("rotated")
			return g, []store.Event{{ID: "e", Type: "grant.updated"}}, nil
		})
		return err
	})
	durable("CreateCode", func() error {
		return s.CreateCode(ctx, store.Code{Hash: "h", AppID: "app", ExpiresAt: now.Add(time.Hour)})
	})
	durable("ConsumeCode", func() error { _, err := s.ConsumeCode(ctx, "h", now); return err })
	durable("CreateWebhook", func() error { return s.CreateWebhook(ctx, store.Webhook{ID: "w", AppID: "app"}) })
	durable("UpdateWebhook", func() error {
		_, err := s.UpdateWebhook(ctx, "app", "w", func(w store.Webhook) (store.Webhook, error) { return w, nil })
		return err
	})
	durable("DeleteWebhook", func() error { return s.DeleteWebhook(ctx, "app", "w") })
	durable("KeyringCheck", func() error { _, err := s.KeyringCheck(ctx, []byte("check")); return err })
	durable("RewrapSecrets", func() error {
		_, err := s.RewrapSecrets(ctx, 10, func(b []byte) ([]byte, bool, error) { return append([]byte("x"), b...), true, nil })
		return err
	})
	durable("DeleteCredential", func() error { return s.DeleteCredential(ctx, "app", "c") })
	durable("DeleteGrant", func() error { return s.DeleteGrant(ctx, "app", "g") })
	durable("DeleteConnector", func() error { return s.DeleteConnector(ctx, "app", "google") })

	// The leases are not.
	must("CreateGrant", s.CreateGrant(ctx, store.Grant{ID: "g2", AppID: "app", Status: store.GrantValid, NextRefreshAt: now.Add(-time.Minute)}))
	before := s.gw.commits.Load()
	claimed, err := s.ClaimDueGrants(ctx, now, "me", time.Minute, 10)
	must("ClaimDueGrants", err)
	_, ok, err := s.ClaimGrant(ctx, "app", "g2", "me", time.Minute, now)
	must("ClaimGrant", err)
	must("ReleaseGrant", s.ReleaseGrant(ctx, "app", "g2", "me"))
	if len(claimed) != 1 || !ok {
		t.Fatalf("claims: %d due, %v", len(claimed), ok)
	}
	if got := s.gw.commits.Load() - before; got != 0 {
		t.Errorf("the lease statements went through the group writer (%d commits)", got)
	}
}
