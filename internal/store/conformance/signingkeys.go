package conformance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Signing keys (id_tokens) and the stale-token purge's plan.

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys empty", err)
	if len(keys) != 0 {
		t.Fatalf("ListSigningKeys on a new store: %+v", keys)
	}
	k1 := store.SigningKey{ID: "k1", Seq: 1, Alg: "ES256", PrivateKey: []byte("sealed1"), PublicKey: []byte("pub1"), CreatedAt: t0}
	k2 := store.SigningKey{ID: "k2", Seq: 2, Alg: "ES256", PrivateKey: []byte("sealed2"), PublicKey: []byte("pub2"), CreatedAt: t0.Add(time.Hour)}
	must(t, "CreateSigningKey 1", s.CreateSigningKey(ctx, k1))
	must(t, "CreateSigningKey 2", s.CreateSigningKey(ctx, k2))
	sameSeq := k2
	sameSeq.ID = "k2b"
	mustIs(t, "CreateSigningKey with a taken seq", s.CreateSigningKey(ctx, sameSeq), store.ErrAlreadyExists)
	sameID := k2
	sameID.Seq = 3
	mustIs(t, "CreateSigningKey with a taken id", s.CreateSigningKey(ctx, sameID), store.ErrAlreadyExists)
	keys, err = s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	k1.CreatedAt, k2.CreatedAt = us(k1.CreatedAt), us(k2.CreatedAt)
	mustEqual(t, "ListSigningKeys (highest seq first)", keys, []store.SigningKey{k2, k1})
	must(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, "k1"))
	mustIs(t, "DeleteSigningKey again", s.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
	keys, err = s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys after delete", err)
	mustEqual(t, "ListSigningKeys after delete", keys, []store.SigningKey{k2})
}

// testSigningKeysConcurrentCreate: nodes creating the same key number at
// once: exactly one succeeds, the others are ErrAlreadyExists.
func testSigningKeysConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateSigningKey(ctx, store.SigningKey{ID: fmt.Sprint("race", i), Seq: 1, Alg: "ES256",
				PrivateKey: []byte("p"), PublicKey: []byte("q"), CreatedAt: t0})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		default:
			mustIs(t, fmt.Sprint("CreateSigningKey ", i), err, store.ErrAlreadyExists)
		}
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	if won != 1 || len(keys) != 1 {
		t.Fatalf("%d creates succeeded, %d keys stored; want 1 and 1", won, len(keys))
	}
}

// staleExplainer is implemented by both backends (sqlstore.Store).
type staleExplainer interface {
	ExplainDeleteStaleTokens(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// testIssuedTokensDeleteStalePlan: the stale-token purge reads its
// indexes (one per condition), never the whole table.
func testIssuedTokensDeleteStalePlan(t *testing.T, s store.Store) {
	ex, ok := unwrap(s).(staleExplainer)
	if !ok {
		t.Fatalf("%T has no ExplainDeleteStaleTokens", s)
	}
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "plan@example.com")
	// Some rows, mostly live, for PostgreSQL's statistics.
	var ts []store.IssuedToken
	for i := range 500 {
		tok := token(g, store.TokenAccess, newID("fam"), i, t0)
		switch i % 10 {
		case 0:
			tok.UsedAt = t0
		case 1:
			tok.RevokedAt = t0
		}
		ts = append(ts, tok)
	}
	must(t, "CreateTokens", s.CreateTokens(ctx, ts...))
	plan, err := ex.ExplainDeleteStaleTokens(ctx, t0, 1000)
	must(t, "ExplainDeleteStaleTokens", err)
	text := strings.Join(plan, "\n")
	for _, ix := range []string{"oauth_tokens_expires", "oauth_tokens_used", "oauth_tokens_revoked"} {
		if !strings.Contains(text, ix) {
			t.Errorf("the purge does not use %s; plan:\n%s", ix, text)
		}
	}
	for _, line := range plan {
		l := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "-> "))
		if strings.HasPrefix(l, "SCAN oauth_tokens") || strings.Contains(l, "Seq Scan on oauth_tokens") {
			t.Errorf("the purge scans oauth_tokens; plan:\n%s", text)
		}
	}
}
