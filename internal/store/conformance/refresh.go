package conformance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// dueGrant creates a valid grant due at next (zero: never due).
func dueGrant(t testing.TB, s store.Store, appID string, next time.Time, mod func(*store.Grant)) store.Grant {
	t.Helper()
	g := grant(appID, newID("u")+"@example.com")
	g.NextRefreshAt = next
	if mod != nil {
		mod(&g)
	}
	must(t, "CreateGrant", s.CreateGrant(context.Background(), g))
	got, err := s.GetGrant(context.Background(), appID, g.ID)
	must(t, "GetGrant", err)
	return got
}

func testClaimDueGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	early := dueGrant(t, s, app, now.Add(-30*time.Minute), nil)
	late := dueGrant(t, s, app, now.Add(-time.Minute), nil)
	exact := dueGrant(t, s, app, now, nil)
	dueGrant(t, s, app, now.Add(time.Second), nil)                                                   // not yet due
	dueGrant(t, s, app, time.Time{}, nil)                                                            // never due
	dueGrant(t, s, app, now.Add(-time.Hour), func(g *store.Grant) { g.Status = store.GrantInvalid }) // invalid: never claimed
	leased := dueGrant(t, s, app, now.Add(-time.Hour), func(g *store.Grant) {
		g.LeaseOwner, g.LeaseUntil = "other", now.Add(time.Second)
	})
	expired := dueGrant(t, s, app, now.Add(-2*time.Hour), func(g *store.Grant) {
		g.LeaseOwner, g.LeaseUntil = "crashed", now.Add(-time.Second)
	})

	n, err := s.CountDueGrants(ctx, now)
	must(t, "CountDueGrants", err)
	mustEqual(t, "CountDueGrants", n, 5) // early, late, exact, leased, expired

	got, err := s.ClaimDueGrants(ctx, now, "me", time.Minute, 2)
	must(t, "ClaimDueGrants", err)
	ids := grantIDs(got)
	sort.Strings(ids)
	want := []string{expired.ID, early.ID}
	sort.Strings(want)
	mustEqual(t, "first claim (earliest due first, expired lease reclaimed)", ids, want)
	for _, g := range got {
		mustEqual(t, "claimed owner", g.LeaseOwner, "me")
		mustEqual(t, "claimed until", g.LeaseUntil, us(now.Add(time.Minute)))
		stored, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		mustEqual(t, "stored lease owner", stored.LeaseOwner, "me")
		mustEqual(t, "a claim keeps the version", stored.Version, int64(1))
	}

	got, err = s.ClaimDueGrants(ctx, now, "me2", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	ids = grantIDs(got)
	sort.Strings(ids)
	want = []string{late.ID, exact.ID}
	sort.Strings(want)
	mustEqual(t, "second claim (leases respected)", ids, want)

	got, err = s.ClaimDueGrants(ctx, now, "me3", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	mustEqual(t, "third claim", len(got), 0)

	// Leases expire: a minute and a bit later everything due is claimable
	// again, including the grant "other" held.
	got, err = s.ClaimDueGrants(ctx, now.Add(time.Minute+time.Microsecond), "me4", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	mustEqual(t, "claim after the leases expired", len(got), 6) // and the one due at now+1s
	_ = leased

	// An update keeps the lease unless the closure clears it.
	g, err := s.UpdateGrant(ctx, app, early.ID, func(g store.Grant) (store.Grant, []store.Event, error) {
		g.Name = "renamed"
		return g, nil, nil
	})
	must(t, "UpdateGrant", err)
	mustEqual(t, "lease kept by update", g.LeaseOwner, "me4")
	must(t, "ReleaseGrant by another owner", s.ReleaseGrant(ctx, app, early.ID, "not-me"))
	g, _ = s.GetGrant(ctx, app, early.ID)
	mustEqual(t, "lease kept after a stranger's release", g.LeaseOwner, "me4")
	must(t, "ReleaseGrant", s.ReleaseGrant(ctx, app, early.ID, "me4"))
	g, _ = s.GetGrant(ctx, app, early.ID)
	mustEqual(t, "released owner", g.LeaseOwner, "")
	mustEqual(t, "released until", g.LeaseUntil, time.Time{})
	mustEqual(t, "release keeps the version", g.Version, int64(2))
}

// testClaimDueGrantsConcurrent: claimers racing on the same due grants
// never receive the same grant.
func testClaimDueGrantsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	const grants, claimers = 60, 6
	for i := range grants {
		dueGrant(t, s, app, now.Add(-time.Duration(i)*time.Second), nil)
	}
	var (
		mu    sync.Mutex
		owner = map[string]string{}
		dup   []string
		wg    sync.WaitGroup
		errs  = make(chan error, claimers)
	)
	for c := range claimers {
		name := fmt.Sprintf("node-%d", c)
		wg.Go(func() {
			for {
				got, err := s.ClaimDueGrants(ctx, now, name, time.Minute, 3)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					if prev, ok := owner[g.ID]; ok {
						dup = append(dup, g.ID+" by "+prev+" and "+name)
					}
					owner[g.ID] = name
					if g.LeaseOwner != name {
						dup = append(dup, g.ID+" returned with owner "+g.LeaseOwner+" to "+name)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimDueGrants: %v", err)
	}
	if len(dup) > 0 {
		t.Fatalf("grants claimed twice: %v", dup)
	}
	mustEqual(t, "grants claimed", len(owner), grants)
}

func testClaimGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	g := dueGrant(t, s, app, time.Time{}, nil) // not due: on-demand claims ignore due times

	got, ok, err := s.ClaimGrant(ctx, app, g.ID, "a", time.Minute, now)
	must(t, "ClaimGrant", err)
	mustEqual(t, "a claims", ok, true)
	mustEqual(t, "owner", got.LeaseOwner, "a")

	got, ok, err = s.ClaimGrant(ctx, app, g.ID, "b", time.Minute, now.Add(time.Second))
	must(t, "ClaimGrant", err)
	mustEqual(t, "b cannot claim a running lease", ok, false)
	mustEqual(t, "b sees the owner", got.LeaseOwner, "a")

	_, ok, err = s.ClaimGrant(ctx, app, g.ID, "a", time.Minute, now.Add(2*time.Second))
	must(t, "ClaimGrant", err)
	mustEqual(t, "a renews its own lease", ok, true)

	// Due-grant claims skip a grant leased on demand.
	must(t, "UpdateGrant", func() error {
		_, err := s.UpdateGrant(ctx, app, g.ID, func(g store.Grant) (store.Grant, []store.Event, error) {
			g.NextRefreshAt = now.Add(-time.Minute)
			return g, nil, nil
		})
		return err
	}())
	due, err := s.ClaimDueGrants(ctx, now.Add(3*time.Second), "c", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	mustEqual(t, "leased grant not claimed", len(due), 0)

	got, ok, err = s.ClaimGrant(ctx, app, g.ID, "b", time.Minute, now.Add(2*time.Minute+time.Microsecond))
	must(t, "ClaimGrant", err)
	mustEqual(t, "b claims after expiry", ok, true)
	mustEqual(t, "new owner", got.LeaseOwner, "b")

	// Tenancy and missing grants.
	_, _, err = s.ClaimGrant(ctx, "other-app", g.ID, "b", time.Minute, now)
	mustIs(t, "ClaimGrant of another app", err, store.ErrNotFound)
	_, _, err = s.ClaimGrant(ctx, app, "missing", "b", time.Minute, now)
	mustIs(t, "ClaimGrant missing", err, store.ErrNotFound)
}

// testExtendLapsedLeases: only leases that ran out unreleased are
// extended, with their owner kept; the grants are then not claimable until
// the new LeaseUntil.
func testExtendLapsedLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	lapsed := dueGrant(t, s, app, now.Add(-time.Hour), func(g *store.Grant) {
		g.LeaseOwner, g.LeaseUntil = "crashed", now.Add(-time.Second)
	})
	running := dueGrant(t, s, app, now.Add(-time.Hour), func(g *store.Grant) {
		g.LeaseOwner, g.LeaseUntil = "other", now.Add(time.Second)
	})
	free := dueGrant(t, s, app, now.Add(-time.Hour), nil)

	n, err := s.ExtendLapsedLeases(ctx, now, time.Minute)
	must(t, "ExtendLapsedLeases", err)
	mustEqual(t, "extended", n, 1)
	g, err := s.GetGrant(ctx, app, lapsed.ID)
	must(t, "GetGrant", err)
	mustEqual(t, "owner kept", g.LeaseOwner, "crashed")
	mustEqual(t, "lease extended", g.LeaseUntil, us(now.Add(time.Minute)))
	mustEqual(t, "version kept", g.Version, lapsed.Version)
	g, err = s.GetGrant(ctx, app, running.ID)
	must(t, "GetGrant", err)
	mustEqual(t, "running lease untouched", g.LeaseUntil, us(now.Add(time.Second)))
	g, err = s.GetGrant(ctx, app, free.ID)
	must(t, "GetGrant", err)
	mustEqual(t, "free grant stays free", g.LeaseOwner, "")

	got, err := s.ClaimDueGrants(ctx, now.Add(2*time.Second), "me", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	ids := grantIDs(got)
	sort.Strings(ids)
	want := []string{free.ID, running.ID}
	sort.Strings(want)
	mustEqual(t, "claimable two seconds later (not the extended one)", ids, want)
	got, err = s.ClaimDueGrants(ctx, now.Add(time.Minute+time.Microsecond), "me", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	mustEqual(t, "claimable once the extension ran out", grantIDs(got), []string{lapsed.ID})
}

// testClaimDueGrantsOf: a claim of one provider's due grants takes only
// theirs, earliest first, leaves the others due and unleased, and
// respects leases like ClaimDueGrants.
func testClaimDueGrantsOf(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	prov := func(p string) func(*store.Grant) { return func(g *store.Grant) { g.Provider = p } }
	g1 := dueGrant(t, s, app, now.Add(-5*time.Minute), prov("google"))
	g2 := dueGrant(t, s, app, now.Add(-4*time.Minute), prov("google"))
	m1 := dueGrant(t, s, app, now.Add(-3*time.Minute), prov("microsoft"))
	z1 := dueGrant(t, s, app, now.Add(-2*time.Minute), prov("zoom"))
	m2 := dueGrant(t, s, app, now.Add(-time.Minute), prov("microsoft"))
	m3 := dueGrant(t, s, app, now.Add(time.Minute), prov("microsoft")) // not due yet

	got, err := s.ClaimDueGrantsOf(ctx, now, "me", time.Minute, "microsoft", 1)
	must(t, "ClaimDueGrantsOf", err)
	mustEqual(t, "claim of microsoft's, limit 1 (the earliest)", grantIDs(got), []string{m1.ID})
	mustEqual(t, "claimed grant's lease owner", got[0].LeaseOwner, "me")

	got, err = s.ClaimDueGrantsOf(ctx, now, "other", time.Minute, "microsoft", 10)
	must(t, "ClaimDueGrantsOf", err)
	mustEqual(t, "claim of microsoft's (the leased one and the one not due left)", grantIDs(got), []string{m2.ID})

	got, err = s.ClaimDueGrantsOf(ctx, now, "me", time.Minute, "imap", 10)
	must(t, "ClaimDueGrantsOf", err)
	mustEqual(t, "claim of a provider with no due grant", len(got), 0)

	for _, g := range []store.Grant{g1, g2, z1, m3} {
		stored, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		mustEqual(t, "another provider's (or a not yet due) grant is not leased", stored.LeaseOwner, "")
	}

	got, err = s.ClaimDueGrants(ctx, now, "me", time.Minute, 10)
	must(t, "ClaimDueGrants", err)
	ids := grantIDs(got)
	sort.Strings(ids)
	want := []string{g1.ID, g2.ID, z1.ID}
	sort.Strings(want)
	mustEqual(t, "claim of every provider's after", ids, want)
}

// claimExplainer is implemented by both backends (sqlstore.Store).
type claimExplainer interface {
	ExplainClaimDueGrants(ctx context.Context, now time.Time, provider string, limit int) ([]string, error)
}

// testClaimDueGrantsPlan: the claims read the due grants in
// next_refresh_at order from an index (no sort of every due grant, no
// scan of the table).
func testClaimDueGrantsPlan(t *testing.T, s store.Store) {
	ex, ok := unwrap(s).(claimExplainer)
	if !ok {
		t.Fatalf("%T has no ExplainClaimDueGrants", s)
	}
	seeder, ok := unwrap(s).(grantSeeder)
	if !ok {
		t.Fatalf("%T has no SeedGrants", s)
	}
	ctx := t.Context()
	app := newApp(t, s)
	now := t0.Add(time.Hour)
	// A table of some size, for PostgreSQL's statistics, with the backlog
	// of a provider that has been failing (two thirds of the grants due,
	// nine in ten of those Google's): the case where a claim of another
	// provider's grants must not read past Google's.
	providers := []string{"google", "microsoft", "zoom", "imap"}
	gs := make([]store.Grant, 3000)
	for i := range gs {
		g := grant(app, fmt.Sprintf("due%d@example.com", i))
		g.Provider = providers[i%4]
		if i < 2000 && i%10 != 0 {
			g.Provider = "google"
		}
		g.NextRefreshAt = now.Add(time.Duration(i-2000) * time.Second)
		gs[i] = g
	}
	must(t, "SeedGrants", seeder.SeedGrants(ctx, gs))
	for _, prov := range []string{"", "google", "zoom"} {
		plan, err := ex.ExplainClaimDueGrants(ctx, now, prov, 64)
		must(t, "ExplainClaimDueGrants", err)
		text := strings.Join(plan, "\n")
		// Every provider's from grants_due. One provider's from
		// grants_due_provider, or, where the planner judges it as cheap
		// (PostgreSQL on a small table), from grants_due filtered; the
		// SQLite backend's own test requires grants_due_provider.
		if !strings.Contains(text, "grants_due") || prov == "" && strings.Contains(text, "grants_due_provider") {
			t.Errorf("claim of %q: the claim does not read its due index; plan:\n%s", prov, text)
		}
		for _, line := range plan {
			l := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "-> "))
			if strings.Contains(l, "TEMP B-TREE FOR ORDER BY") || strings.HasPrefix(l, "Sort") || strings.HasPrefix(l, "Incremental Sort") ||
				strings.HasPrefix(l, "SCAN grants") && !strings.Contains(l, "INDEX") || strings.Contains(l, "Seq Scan on grants") {
				t.Errorf("claim of %q: the claim sorts or scans the table; plan:\n%s", prov, text)
			}
		}
		if testing.Verbose() {
			t.Logf("claim of %q:\n%s", prov, text)
		}
	}
}
