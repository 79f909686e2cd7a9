package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// planExplainer is implemented by both backends (sqlstore.Store).
type planExplainer interface {
	ExplainListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]string, error)
}

// unwrap returns the backend under decorators (store.WithTimeout).
func unwrap(s store.Store) store.Store {
	for {
		u, ok := s.(interface{ Unwrap() store.Store })
		if !ok {
			return s
		}
		s = u.Unwrap()
	}
}

// grantSeeder is implemented by both backends (sqlstore.Store).
type grantSeeder interface {
	SeedGrants(ctx context.Context, gs []store.Grant) error
}

// testListGrantsNoSecrets: lists never read the secrets column (no list
// shows it); WithSecrets (the export) does.
func testListGrantsNoSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := grant(app, "secret@example.com")
	g.Secrets = []byte("vault ciphertext")
	g.IP, g.WorkspaceID, g.CredentialID, g.AccountID = "10.0.0.1", "ws", "cred", "acct"
	must(t, "CreateGrant", s.CreateGrant(ctx, g))
	for _, f := range []store.GrantFilter{
		{},
		{ListOptions: store.ListOptions{Limit: 1, Offset: 0}},
		{ListOptions: store.ListOptions{Limit: 5, Offset: 0, SortBy: "updated_at", Asc: true}},
		{Email: g.Email}, {Status: store.GrantValid}, {Provider: "google"}, {IP: g.IP},
		{WorkspaceID: "ws"}, {CredentialID: "cred"}, {AccountIDs: []string{"acct"}},
		{ListOptions: store.ListOptions{Limit: 1, Offset: 0}, After: store.GrantKey{At: t0.Add(time.Hour), ID: "zzz"}},
	} {
		gs, err := s.ListGrants(ctx, app, f)
		must(t, "ListGrants", err)
		if len(gs) != 1 || gs[0].ID != g.ID {
			t.Fatalf("ListGrants(%+v) = %d grants, want the one", f, len(gs))
		}
		if gs[0].Secrets != nil {
			t.Fatalf("ListGrants(%+v) read the secrets column", f)
		}
		// Everything else is there.
		want := g
		want.Secrets, want.Version, want.CreatedAt, want.UpdatedAt = nil, 1, us(g.CreatedAt), us(g.UpdatedAt)
		mustEqual(t, "listed grant", gs[0], want)
	}
	gs, err := s.ListGrants(ctx, app, store.GrantFilter{WithSecrets: true})
	must(t, "ListGrants WithSecrets", err)
	if len(gs) != 1 || string(gs[0].Secrets) != "vault ciphertext" {
		t.Fatalf("ListGrants WithSecrets = %+v", gs)
	}
}

// testListGrantsKeyset: paging with After walks the same order as the
// offsets, for every order and page size, with and without a filter,
// and a page may combine After and Offset.
func testListGrantsKeyset(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	// Ties on both sort columns, so the ID tiebreak matters.
	created := []time.Duration{0, 0, time.Hour, time.Hour, time.Hour, 2 * time.Hour, 3 * time.Hour}
	updated := []time.Duration{9, 8, 7, 7, 7, 5, 5}
	for i := range created {
		g := grant(app, fmt.Sprintf("k%d@x.com", i))
		g.ID = fmt.Sprintf("k%d-%s", i, app)
		g.CreatedAt, g.UpdatedAt = t0.Add(created[i]), t0.Add(updated[i]*time.Hour)
		if i%2 == 0 {
			g.Status = store.GrantInvalid
		}
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
	}
	key := func(g store.Grant, sortBy string) store.GrantKey {
		if sortBy == "updated_at" {
			return store.GrantKey{At: g.UpdatedAt, ID: g.ID}
		}
		return store.GrantKey{At: g.CreatedAt, ID: g.ID}
	}
	for _, sortBy := range []string{"created_at", "updated_at"} {
		for _, asc := range []bool{false, true} {
			for _, status := range []string{"", store.GrantInvalid} {
				base := store.GrantFilter{ListOptions: store.ListOptions{SortBy: sortBy, Asc: asc}, Status: status}
				all, err := s.ListGrants(ctx, app, base)
				must(t, "ListGrants", err)
				for limit := 1; limit <= len(created); limit++ {
					var got []string
					f := base
					f.Limit = limit
					for range 20 {
						page, err := s.ListGrants(ctx, app, f)
						must(t, "ListGrants page", err)
						if len(page) > limit {
							t.Fatalf("page of %d > limit %d", len(page), limit)
						}
						got = append(got, grantIDs(page)...)
						if len(page) < limit {
							break
						}
						f.After = key(page[len(page)-1], sortBy)
					}
					mustEqual(t, fmt.Sprintf("keyset pages (%s asc=%v status=%q limit %d)", sortBy, asc, status, limit), got, grantIDs(all))
				}
				if len(all) >= 4 {
					// After the first grant, skipping one more.
					f := base
					f.After, f.Offset, f.Limit = key(all[0], sortBy), 1, 2
					page, err := s.ListGrants(ctx, app, f)
					must(t, "ListGrants After+Offset", err)
					mustEqual(t, "After+Offset", grantIDs(page), grantIDs(all[2:4]))
				}
			}
		}
	}
}

// testListGrantsPlans: every filter of GET /v3/grants, alone and in the
// common combinations, with either sort column, answers from an index
// that gives the order (no full scan, no sort of the matches); offsets
// skip inside an index without reading rows.
func testListGrantsPlans(t *testing.T, s store.Store) {
	ex, ok := unwrap(s).(planExplainer)
	if !ok {
		t.Fatalf("%T has no ExplainListGrants", s)
	}
	ctx := t.Context()
	app := newApp(t, s)
	must(t, "CreateGrant", s.CreateGrant(ctx, grant(app, "plan@example.com")))
	// A table of some size, for PostgreSQL's statistics (SQLite has none:
	// its plans are those it makes without them).
	seeder, ok := unwrap(s).(grantSeeder)
	if !ok {
		t.Fatalf("%T has no SeedGrants", s)
	}
	gs := make([]store.Grant, 3000)
	for i := range gs {
		g := grant(app, fmt.Sprintf("seed%d@example.com", i))
		g.Provider = []string{"google", "microsoft", "imap", "yahoo", "icloud"}[i%5]
		g.IP = fmt.Sprintf("10.0.%d.%d", i/250, i%250)
		if i%3 == 0 {
			g.WorkspaceID = fmt.Sprintf("ws-%d", i%50)
		}
		if i%2 == 0 {
			g.CredentialID = fmt.Sprintf("cred-%d", i%20)
		}
		if i%100 == 0 {
			g.AccountID = fmt.Sprintf("acct-%d", i)
		}
		if i%10 == 0 {
			g.Status = store.GrantInvalid
		}
		g.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		g.UpdatedAt = g.CreatedAt.Add(time.Duration(i%7) * time.Hour)
		gs[i] = g
	}
	must(t, "SeedGrants", seeder.SeedGrants(ctx, gs))
	type tc struct {
		name string
		f    store.GrantFilter
		// index: the plan uses one of these (the suffix _created or
		// _updated is added for the sort column).
		index []string
		// sorted: the matches may be sorted after the lookup (they are
		// few by construction: one email, a few account ids).
		sorted bool
	}
	cases := []tc{
		{"none", store.GrantFilter{}, []string{"grants_app"}, false},
		{"status", store.GrantFilter{Status: store.GrantInvalid}, []string{"grants_app_status"}, false},
		// Most grants are valid: the unfiltered order, skipping the others.
		{"status=valid", store.GrantFilter{Status: store.GrantValid}, []string{"grants_app"}, false},
		{"provider", store.GrantFilter{Provider: "imap"}, []string{"grants_app_provider"}, false},
		{"ip", store.GrantFilter{IP: "10.1.2.3"}, []string{"grants_app_ip"}, false},
		{"workspace_id", store.GrantFilter{WorkspaceID: "ws"}, []string{"grants_app_workspace"}, false},
		{"credential_id", store.GrantFilter{CredentialID: "cred"}, []string{"grants_app_credential"}, false},
		{"status+provider", store.GrantFilter{Status: store.GrantInvalid, Provider: "imap"}, []string{"grants_app_status", "grants_app_provider"}, false},
		{"status+credential_id", store.GrantFilter{Status: store.GrantValid, CredentialID: "cred"}, []string{"grants_app_status", "grants_app_credential"}, false},
		{"provider+ip", store.GrantFilter{Provider: "imap", IP: "10.1.2.3"}, []string{"grants_app_provider", "grants_app_ip"}, false},
		{"email", store.GrantFilter{Email: "plan@example.com"}, []string{"grants_app_email"}, true},
		{"account_ids", store.GrantFilter{AccountIDs: []string{"a1", "a2"}}, []string{"grants_app_account"}, true},
	}
	createdOnly := []tc{
		{"since", store.GrantFilter{Since: t0}, []string{"grants_app_created"}, false},
		{"since+before", store.GrantFilter{Since: t0, Before: t0.Add(time.Hour)}, []string{"grants_app_created"}, false},
		{"status+since", store.GrantFilter{Status: store.GrantInvalid, Since: t0}, []string{"grants_app_status_created"}, false},
	}
	check := func(name string, f store.GrantFilter, index []string, sorted, covering bool) {
		t.Helper()
		plan, err := ex.ExplainListGrants(ctx, app, f)
		must(t, "ExplainListGrants "+name, err)
		text := strings.Join(plan, "\n")
		bad := func(why string) {
			t.Helper()
			t.Errorf("ListGrants %s (%+v): %s; plan:\n%s", name, f, why, text)
		}
		if !slices.ContainsFunc(index, func(ix string) bool { return strings.Contains(text, ix) }) {
			bad(fmt.Sprintf("uses none of the indexes %v", index))
		}
		// PostgreSQL picks the ids of a page with an offset or two
		// filters first, then its rows by primary key, and sorts those
		// (no more than the limit).
		idsFirst := strings.Contains(text, "grants_pkey")
		for i, line := range plan {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "SCAN grants") || strings.Contains(l, "Seq Scan") {
				bad("scans the table")
			}
			if idsFirst && (i == 0 || strings.HasPrefix(l, "Sort Key")) {
				continue
			}
			if !sorted && !covering && (strings.Contains(l, "TEMP B-TREE") || strings.HasPrefix(strings.TrimLeft(l, "-> "), "Sort")) {
				bad("sorts the matches")
			}
		}
		if idsFirst && (f.Offset > 0 || f.Status == store.GrantInvalid && f.Provider != "") && !strings.Contains(text, "Index Only Scan") {
			bad("picks the page's ids outside an index-only scan")
		}
		if covering && !strings.Contains(text, "COVERING INDEX") && !strings.Contains(text, "Index Only Scan") {
			bad("skips the offset's rows outside an index (no covering index / index-only scan)")
		}
	}
	for _, sortBy := range []string{"created_at", "updated_at"} {
		suffix := strings.TrimSuffix(sortBy, "_at")
		all := cases
		if sortBy == "created_at" {
			all = append(slices.Clone(cases), createdOnly...)
		}
		for _, c := range all {
			index := c.index
			if !c.sorted {
				index = nil
				for _, ix := range c.index {
					if !strings.HasSuffix(ix, "_created") {
						ix += "_" + suffix
					}
					index = append(index, ix)
				}
			}
			for _, asc := range []bool{false, true} {
				f := c.f
				f.Limit, f.SortBy, f.Asc = 10, sortBy, asc
				check(c.name, f, index, c.sorted, false)
				if !c.sorted {
					f.After = store.GrantKey{At: t0, ID: "g"}
					check(c.name+" after a cursor", f, index, false, false)
				}
			}
		}
		// Deep pages by offset: the same index, walked over the offset.
		for _, c := range cases[:2] {
			f := c.f
			f.Limit, f.Offset, f.SortBy = 10, 100000, sortBy
			check(c.name+" with an offset", f, []string{"grants_app"}, false, false)
		}
	}
}
