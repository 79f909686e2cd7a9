package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Grants.

// fullGrant sets every field of a grant.
func fullGrant(appID string) store.Grant {
	return store.Grant{
		ID: newID("grant"), AppID: appID, Provider: "microsoft", Email: "Jane.Doe@Example.COM", Name: "Jane Doe",
		Status:         store.GrantInvalid,
		Scope:          []string{"Mail.Read", "Calendars.ReadWrite"},
		Settings:       map[string]any{"tenant": "t-1", "n": 42.0, "flag": false, "nested": map[string]any{"a": []any{"b", nil, 1.5}}},
		Secrets:        []byte{0x00, 0x10, 0xff, 'x'},
		State:          "opaque-state",
		UserAgent:      "Mozilla/5.0",
		IP:             "2001:db8::1",
		ProviderUserID: "puid-1",
		CredentialID:   "cred-1",
		AccountID:      "acct-1",
		WorkspaceID:    "ws-1",
		Blocked:        true,
		Version:        99, // ignored: a new grant is version 1
		CreatedAt:      t0,
		UpdatedAt:      t0.Add(1500 * time.Nanosecond),

		AccessTokenExpiresAt: t0.Add(time.Hour + 999*time.Nanosecond),
		NextRefreshAt:        t0.Add(50 * time.Minute),
		LastRefreshAt:        t0.Add(-time.Minute),
		LastFailureAt:        t0.Add(-2 * time.Minute),
		LastFailureClass:     "transient",
		LastFailureMessage:   "HTTP 503 from token endpoint",
		LeaseOwner:           "node-1",
		LeaseUntil:           t0.Add(time.Minute + 7*time.Nanosecond),
		RefreshFailures:      3,
	}
}

func normGrant(g store.Grant) store.Grant {
	g.CreatedAt, g.UpdatedAt = us(g.CreatedAt), us(g.UpdatedAt)
	g.AccessTokenExpiresAt, g.NextRefreshAt = us(g.AccessTokenExpiresAt), us(g.NextRefreshAt)
	g.LastRefreshAt, g.LastFailureAt = us(g.LastRefreshAt), us(g.LastFailureAt)
	g.LeaseUntil = us(g.LeaseUntil)
	return g
}

func testGrantRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := fullGrant(app)
	must(t, "CreateGrant", s.CreateGrant(ctx, g))
	want := normGrant(g)
	want.Version = 1
	if want.UpdatedAt.Equal(g.UpdatedAt) || want.UpdatedAt.Location() != time.UTC {
		t.Fatal("test bug: UpdatedAt should need normalising")
	}
	got, err := s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant", err)
	mustEqual(t, "GetGrant", got, want)
	got, err = s.GetGrantByEmail(ctx, app, "jane.doe@example.com")
	must(t, "GetGrantByEmail", err)
	mustEqual(t, "GetGrantByEmail", got, want)
	if got.Email != "Jane.Doe@Example.COM" {
		t.Fatalf("Email case not preserved: %q", got.Email)
	}

	// Zero times, nil maps and slices, and false stay so.
	z := store.Grant{ID: newID("grant"), AppID: app, Email: "z@example.com", CreatedAt: t0, UpdatedAt: t0}
	must(t, "CreateGrant zero", s.CreateGrant(ctx, z))
	wantZ := normGrant(z)
	wantZ.Version = 1
	got, err = s.GetGrant(ctx, app, z.ID)
	must(t, "GetGrant zero", err)
	mustEqual(t, "GetGrant zero", got, wantZ)

	// Empty (non-nil) map and slice stay empty.
	e := grant(app, "e@example.com")
	e.Scope, e.Settings = []string{}, map[string]any{}
	must(t, "CreateGrant empty", s.CreateGrant(ctx, e))
	got, _ = s.GetGrant(ctx, app, e.ID)
	if got.Scope == nil || len(got.Scope) != 0 || got.Settings == nil || len(got.Settings) != 0 {
		t.Fatalf("empty Scope/Settings came back as %#v / %#v", got.Scope, got.Settings)
	}

	// A time far from 1970 and with sub-µs noise round-trips at µs.
	far := grant(app, "far@example.com")
	far.NextRefreshAt = time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	far.LastRefreshAt = time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC)
	must(t, "CreateGrant far", s.CreateGrant(ctx, far))
	got, _ = s.GetGrant(ctx, app, far.ID)
	mustEqual(t, "far NextRefreshAt", got.NextRefreshAt, us(far.NextRefreshAt))
	mustEqual(t, "far LastRefreshAt", got.LastRefreshAt, us(far.LastRefreshAt))

	dupID := grant(app, "dup-id@example.com")
	dupID.ID = g.ID
	mustIs(t, "CreateGrant duplicate id", s.CreateGrant(ctx, dupID), store.ErrAlreadyExists)
	mustIs(t, "CreateGrant for missing app", s.CreateGrant(ctx, grant("no-such-app", "x@example.com")), store.ErrNotFound)
	_, err = s.GetGrant(ctx, app, "missing")
	mustIs(t, "GetGrant missing", err, store.ErrNotFound)
	_, err = s.GetGrantByEmail(ctx, app, "missing@example.com")
	mustIs(t, "GetGrantByEmail missing", err, store.ErrNotFound)
	_, err = s.GetGrantByEmail(ctx, app, "")
	mustIs(t, "GetGrantByEmail empty", err, store.ErrNotFound)
}

func testGrantEmailUniqueness(t *testing.T, s store.Store) {
	ctx := t.Context()
	appA, appB := newApp(t, s), newApp(t, s)
	g := newGrant(t, s, appA, "Bob@Example.com")
	mustIs(t, "same email", s.CreateGrant(ctx, grant(appA, "Bob@Example.com")), store.ErrAlreadyExists)
	mustIs(t, "same email, other case", s.CreateGrant(ctx, grant(appA, "bob@EXAMPLE.COM")), store.ErrAlreadyExists)
	inB := newGrant(t, s, appB, "bob@example.com")

	got, err := s.GetGrantByEmail(ctx, appB, "BOB@example.com")
	must(t, "GetGrantByEmail in B", err)
	if got.ID != inB.ID {
		t.Fatalf("GetGrantByEmail(B) = %s, want %s", got.ID, inB.ID)
	}
	got, _ = s.GetGrantByEmail(ctx, appA, "bob@example.COM")
	if got.ID != g.ID {
		t.Fatalf("GetGrantByEmail(A) = %s, want %s", got.ID, g.ID)
	}

	// Changing another grant's email to a taken one fails.
	other := newGrant(t, s, appA, "alice@example.com")
	_, err = s.UpdateGrant(ctx, appA, other.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Email = "BOB@example.com"
		return old, nil, nil
	})
	mustIs(t, "UpdateGrant onto a taken email", err, store.ErrAlreadyExists)
	got, _ = s.GetGrant(ctx, appA, other.ID)
	if got.Email != "alice@example.com" || got.Version != 1 {
		t.Fatalf("failed update was written: %+v", got)
	}

	// After a delete, the email is free again.
	must(t, "DeleteGrant", s.DeleteGrant(ctx, appA, g.ID))
	again := newGrant(t, s, appA, "BOB@example.com")
	got, err = s.GetGrantByEmail(ctx, appA, "bob@example.com")
	must(t, "GetGrantByEmail after re-create", err)
	if got.ID != again.ID {
		t.Fatalf("GetGrantByEmail = %s, want the new grant %s", got.ID, again.ID)
	}

	// Grants without an email do not collide with each other.
	newGrant(t, s, appA, "")
	newGrant(t, s, appA, "")
}

func testGrantUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := fullGrant(app)
	must(t, "CreateGrant", s.CreateGrant(ctx, g))
	want := normGrant(g)
	want.Version = 1

	for i := range 3 {
		updated, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
			mustEqual(t, "closure input", old, want)
			// Attempts to change the fixed fields are ignored.
			old.ID, old.AppID, old.Version, old.CreatedAt = "hijack", "other-app", 1000, t0.Add(time.Hour)
			old.Name = fmt.Sprint("name ", i)
			old.Status = store.GrantValid
			old.Blocked = false
			old.Scope = append(old.Scope, fmt.Sprint("s", i))
			old.Settings = map[string]any{"i": float64(i)}
			old.Secrets = []byte(fmt.Sprint("secret ", i))
			old.UpdatedAt = t0.Add(time.Duration(i+1) * time.Hour)
			old.NextRefreshAt = time.Time{}
			old.LastFailureClass, old.LastFailureMessage, old.LastFailureAt = "", "", time.Time{}
			return old, nil, nil
		})
		must(t, "UpdateGrant", err)
		want.Version++
		want.Name, want.Status, want.Blocked = fmt.Sprint("name ", i), store.GrantValid, false
		want.Scope = append(append([]string(nil), want.Scope...), fmt.Sprint("s", i))
		want.Settings = map[string]any{"i": float64(i)}
		want.Secrets = []byte(fmt.Sprint("secret ", i))
		want.UpdatedAt = us(t0.Add(time.Duration(i+1) * time.Hour))
		want.NextRefreshAt, want.LastFailureAt = time.Time{}, time.Time{}
		want.LastFailureClass, want.LastFailureMessage = "", ""
		mustEqual(t, "UpdateGrant result", updated, want)
		got, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		mustEqual(t, "GetGrant after update", got, want)
	}
	if want.Version != 4 {
		t.Fatalf("test bug: version %d", want.Version)
	}
	_, err := s.GetGrant(ctx, "other-app", g.ID)
	mustIs(t, "grant moved apps", err, store.ErrNotFound)
	_, err = s.GetGrant(ctx, app, "hijack")
	mustIs(t, "grant changed id", err, store.ErrNotFound)

	// The new email is the lookup key after an update.
	_, err = s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Email = "New@Example.com"
		return old, nil, nil
	})
	must(t, "UpdateGrant email", err)
	if _, err := s.GetGrantByEmail(ctx, app, "new@example.com"); err != nil {
		t.Fatalf("GetGrantByEmail(new email): %v", err)
	}
	_, err = s.GetGrantByEmail(ctx, app, g.Email)
	mustIs(t, "GetGrantByEmail(old email)", err, store.ErrNotFound)

	called := false
	_, err = s.UpdateGrant(ctx, app, "missing", func(old store.Grant) (store.Grant, []store.Event, error) {
		called = true
		return old, nil, nil
	})
	mustIs(t, "UpdateGrant missing", err, store.ErrNotFound)
	if called {
		t.Fatal("closure called for a missing grant")
	}
}

func testGrantUpdateClosureError(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "c@example.com")
	before, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	for _, closureErr := range []error{store.ErrConflict, fmt.Errorf("precondition: %w", store.ErrConflict), errors.New("boom")} {
		_, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
			old.Name, old.Status = "not written", store.GrantInvalid
			return old, []store.Event{{ID: newID("evt"), Type: "grant.updated"}}, closureErr
		})
		if err != closureErr {
			t.Fatalf("UpdateGrant returned %v, want the closure's error %v unchanged", err, closureErr)
		}
		got, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		if got.Version != 1 || got.Name != "" || got.Status != store.GrantValid {
			t.Fatalf("aborted update was written: %+v", got)
		}
	}
	after, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	if len(after) != len(before) {
		t.Fatalf("aborted updates wrote events: %+v", after[len(before):])
	}
}

func testGrantConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "busy@example.com")
	const workers, each = 20, 10
	errs := make(chan error, workers*each)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				_, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
					n, _ := old.Settings["counter"].(float64)
					old.Settings = map[string]any{"counter": n + 1}
					old.Scope = append(old.Scope, fmt.Sprintf("w%d-%d", w, i))
					return old, nil, nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateGrant: %v", err)
	}
	got, err := s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant", err)
	if got.Version != 1+workers*each {
		t.Errorf("Version = %d, want %d", got.Version, 1+workers*each)
	}
	if got.Settings["counter"] != float64(workers*each) {
		t.Errorf("counter = %v, want %d (lost updates)", got.Settings["counter"], workers*each)
	}
	seen := map[string]bool{}
	for _, s := range got.Scope {
		seen[s] = true
	}
	if len(got.Scope) != workers*each || len(seen) != workers*each {
		t.Errorf("Scope has %d entries (%d distinct), want %d", len(got.Scope), len(seen), workers*each)
	}
}

func testGrantDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "d@example.com")
	keep := newGrant(t, s, app, "keep@example.com")
	must(t, "DeleteGrant", s.DeleteGrant(ctx, app, g.ID))
	_, err := s.GetGrant(ctx, app, g.ID)
	mustIs(t, "GetGrant after delete", err, store.ErrNotFound)
	_, err = s.GetGrantByEmail(ctx, app, "d@example.com")
	mustIs(t, "GetGrantByEmail after delete", err, store.ErrNotFound)
	mustIs(t, "DeleteGrant again", s.DeleteGrant(ctx, app, g.ID), store.ErrNotFound)
	if _, err := s.GetGrant(ctx, app, keep.ID); err != nil {
		t.Fatalf("other grant deleted: %v", err)
	}
	list, err := s.ListGrants(ctx, app, store.GrantFilter{})
	must(t, "ListGrants", err)
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Fatalf("ListGrants after delete = %+v", list)
	}
}

func testListGrantsFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, other := newApp(t, s), newApp(t, s)
	type spec struct {
		email, status, ip, provider, account, workspace string
	}
	specs := []spec{
		{"a@x.com", store.GrantValid, "10.0.0.1", "google", "acct-1", "ws-1"},
		{"B@x.com", store.GrantInvalid, "10.0.0.2", "microsoft", "acct-2", "ws-1"},
		{"c@x.com", store.GrantValid, "10.0.0.1", "microsoft", "acct-3", "ws-2"},
		{"d@x.com", store.GrantValid, "10.0.0.3", "imap", "acct-1", ""},
	}
	ids := make([]string, len(specs))
	for i, sp := range specs {
		g := grant(app, sp.email)
		g.ID = fmt.Sprintf("g%d-%s", i, app)
		g.Status, g.IP, g.Provider, g.AccountID, g.WorkspaceID = sp.status, sp.ip, sp.provider, sp.account, sp.workspace
		if sp.provider == "microsoft" {
			g.CredentialID = fmt.Sprintf("cred-%d", i%2)
		}
		g.CreatedAt = t0.Add(time.Duration(i) * time.Hour)
		g.UpdatedAt = g.CreatedAt
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		ids[i] = g.ID
	}
	// A matching grant in another app never shows up.
	og := grant(other, "a@x.com")
	og.IP, og.AccountID, og.WorkspaceID = "10.0.0.1", "acct-1", "ws-1"
	must(t, "CreateGrant other app", s.CreateGrant(ctx, og))

	asc := store.ListOptions{Asc: true}
	for _, tc := range []struct {
		name string
		f    store.GrantFilter
		want []int
	}{
		{"all", store.GrantFilter{ListOptions: asc}, []int{0, 1, 2, 3}},
		{"Since", store.GrantFilter{ListOptions: asc, Since: t0.Add(time.Hour)}, []int{1, 2, 3}},
		{"Before", store.GrantFilter{ListOptions: asc, Before: t0.Add(2 * time.Hour)}, []int{0, 1, 2}},
		{"Since and Before", store.GrantFilter{ListOptions: asc, Since: t0.Add(time.Hour), Before: t0.Add(time.Hour)}, []int{1}},
		{"Email", store.GrantFilter{ListOptions: asc, Email: "b@X.COM"}, []int{1}},
		{"Email none", store.GrantFilter{ListOptions: asc, Email: "zz@x.com"}, nil},
		{"Status", store.GrantFilter{ListOptions: asc, Status: store.GrantValid}, []int{0, 2, 3}},
		{"IP", store.GrantFilter{ListOptions: asc, IP: "10.0.0.1"}, []int{0, 2}},
		{"Provider", store.GrantFilter{ListOptions: asc, Provider: "microsoft"}, []int{1, 2}},
		{"AccountIDs one", store.GrantFilter{ListOptions: asc, AccountIDs: []string{"acct-1"}}, []int{0, 3}},
		{"AccountIDs two", store.GrantFilter{ListOptions: asc, AccountIDs: []string{"acct-2", "acct-3", "nope"}}, []int{1, 2}},
		{"AccountIDs empty", store.GrantFilter{ListOptions: asc, AccountIDs: []string{}}, []int{0, 1, 2, 3}},
		{"WorkspaceID", store.GrantFilter{ListOptions: asc, WorkspaceID: "ws-1"}, []int{0, 1}},
		{"CredentialID", store.GrantFilter{ListOptions: asc, CredentialID: "cred-1"}, []int{1}},
		{"CredentialID none", store.GrantFilter{ListOptions: asc, CredentialID: "cred-9"}, nil},
		{"combined", store.GrantFilter{ListOptions: asc, Status: store.GrantValid, Provider: "microsoft", IP: "10.0.0.1", WorkspaceID: "ws-2", AccountIDs: []string{"acct-3"}, Since: t0}, []int{2}},
		{"combined none", store.GrantFilter{ListOptions: asc, Status: store.GrantInvalid, Provider: "google"}, nil},
		{"filter with paging", store.GrantFilter{ListOptions: store.ListOptions{Limit: 1, Offset: 1}, Status: store.GrantValid}, []int{2}},
	} {
		got, err := s.ListGrants(ctx, app, tc.f)
		must(t, tc.name, err)
		var want []string
		for _, i := range tc.want {
			want = append(want, ids[i])
		}
		mustEqual(t, "ListGrants "+tc.name, grantIDs(got), want)
	}
	_, err := s.ListGrants(ctx, app, store.GrantFilter{ListOptions: store.ListOptions{SortBy: "email"}})
	if err == nil {
		t.Fatal("ListGrants sorted by an unsupported column succeeded")
	}
	got, err := s.ListGrants(ctx, "no-such-app", store.GrantFilter{})
	must(t, "ListGrants for unknown app", err)
	if len(got) != 0 {
		t.Fatalf("ListGrants for unknown app = %+v", got)
	}
}

func testListGrantsOrderAndPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	// Grants g0..g5. created_at: g0,g1 tie at t0; g2,g3 tie at t0+1h; g4, g5
	// later. updated_at runs the other way.
	created := []time.Duration{0, 0, time.Hour, time.Hour, 2 * time.Hour, 3 * time.Hour}
	updated := []time.Duration{9, 8, 7, 7, 5, 4}
	ids := make([]string, len(created))
	for i := range created {
		g := grant(app, fmt.Sprintf("g%d@x.com", i))
		g.ID = fmt.Sprintf("g%d-%s", i, app) // id order == index order
		g.CreatedAt, g.UpdatedAt = t0.Add(created[i]), t0.Add(updated[i]*time.Hour)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		ids[i] = g.ID
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	for _, tc := range []struct {
		opts store.ListOptions
		want []string
	}{
		{store.ListOptions{}, pick(5, 4, 3, 2, 1, 0)},
		{store.ListOptions{SortBy: "created_at", Asc: true}, pick(0, 1, 2, 3, 4, 5)},
		{store.ListOptions{SortBy: "updated_at", Asc: true}, pick(5, 4, 2, 3, 1, 0)},
		{store.ListOptions{SortBy: "updated_at"}, pick(0, 1, 3, 2, 4, 5)},
	} {
		got, err := s.ListGrants(ctx, app, store.GrantFilter{ListOptions: tc.opts})
		must(t, "ListGrants", err)
		mustEqual(t, fmt.Sprintf("ListGrants(%+v)", tc.opts), grantIDs(got), tc.want)

		// Paging through with every limit yields the same order, never
		// more than Limit per page.
		for limit := 1; limit <= len(ids)+1; limit++ {
			var all []string
			for off := 0; off < len(ids)+limit; off += limit {
				opts := tc.opts
				opts.Limit, opts.Offset = limit, off
				page, err := s.ListGrants(ctx, app, store.GrantFilter{ListOptions: opts})
				must(t, "ListGrants page", err)
				if len(page) > limit {
					t.Fatalf("ListGrants(%+v) returned %d > Limit grants", opts, len(page))
				}
				all = append(all, grantIDs(page)...)
			}
			mustEqual(t, fmt.Sprintf("paged ListGrants(%+v, limit %d)", tc.opts, limit), all, tc.want)
		}
	}
}

// testGrantRequireClient: a write with RequireClient checks the connector
// and the credential in its own transaction, writes nothing when either is
// gone, and the flag is never returned.
func testGrantRequireClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	newConnector(t, s, app, "google")
	must(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{ID: "cred-rc-" + app, AppID: app, Provider: "google", Name: "rc", CreatedAt: t0}))

	g := grant(app, "rc@example.com")
	g.RequireClient, g.CredentialID = true, "cred-rc-"+app
	must(t, "CreateGrant with its client", s.CreateGrant(ctx, g))
	got, err := s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant", err)
	if got.RequireClient {
		t.Error("RequireClient was returned")
	}

	// The credential is deleted: an update naming it fails, unchanged.
	must(t, "DeleteCredential", s.DeleteCredential(ctx, app, "cred-rc-"+app))
	_, err = s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Name, old.RequireClient = "changed", true
		return old, nil, nil
	})
	mustIs(t, "UpdateGrant with a deleted credential", err, store.ErrClientGone)
	if after, _ := s.GetGrant(ctx, app, g.ID); after.Name == "changed" || after.Version != got.Version {
		t.Errorf("a refused update was written: %+v", after)
	}
	// Without RequireClient the same update is written.
	upd, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Name = "changed"
		return old, nil, nil
	})
	must(t, "UpdateGrant without RequireClient", err)
	if upd.RequireClient || upd.Name != "changed" {
		t.Errorf("UpdateGrant returned %+v", upd)
	}

	// The connector is deleted: a create fails and writes nothing.
	must(t, "DeleteConnector", s.DeleteConnector(ctx, app, "google"))
	g2 := grant(app, "rc2@example.com")
	g2.RequireClient = true
	mustIs(t, "CreateGrant without its connector", s.CreateGrant(ctx, g2), store.ErrClientGone)
	_, err = s.GetGrant(ctx, app, g2.ID)
	mustIs(t, "GetGrant of the refused grant", err, store.ErrNotFound)
}

// UpsertGrant creates a grant with its events, or, for an email the
// application has a grant for (in any case), re-authenticates that grant
// in the same transaction: the closure sees it under its lock, its result
// is stored with the next version and its events, and nothing of the
// create is kept. A closure's error leaves everything as it was; a client
// that is gone is ErrClientGone either way.
func testGrantUpsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := grant(app, "Up@Example.com")
	created := store.Event{ID: newID("evt"), Type: "grant.created", Payload: []byte(`{}`), CreatedAt: t0}
	out, isNew, err := s.UpsertGrant(ctx, g, []store.Event{created}, func(old store.Grant) (store.Grant, []store.Event, error) {
		t.Fatal("reauth called for a new email")
		return old, nil, nil
	})
	must(t, "UpsertGrant of a new email", err)
	if !isNew || out.ID != g.ID || out.Version != 1 {
		t.Fatalf("UpsertGrant of a new email: new %v, %+v", isNew, out)
	}
	got, err := s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant", err)
	mustEqual(t, "created grant", got, out)

	again := grant(app, "up@example.COM")
	again.Name = "from the create"
	updated := store.Event{ID: newID("evt"), Type: "grant.updated", Payload: []byte(`{}`), CreatedAt: t0}
	out, isNew, err = s.UpsertGrant(ctx, again, []store.Event{{ID: newID("evt"), Type: "grant.created", CreatedAt: t0}},
		func(old store.Grant) (store.Grant, []store.Event, error) {
			if old.ID != g.ID || old.Version != 1 {
				t.Errorf("reauth got %+v, want the existing grant", old)
			}
			old.Name, old.ID, old.Version = "re-authenticated", "other", 9 // ID and Version are ignored
			return old, []store.Event{updated}, nil
		})
	must(t, "UpsertGrant of an existing email", err)
	if isNew || out.ID != g.ID || out.Version != 2 || out.Name != "re-authenticated" {
		t.Fatalf("UpsertGrant of an existing email: new %v, %+v", isNew, out)
	}
	got, err = s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant after the re-authentication", err)
	mustEqual(t, "re-authenticated grant", got, out)
	if _, err := s.GetGrant(ctx, app, again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the create of a taken email was kept: %v", err)
	}

	boom := errors.New("boom")
	_, _, err = s.UpsertGrant(ctx, grant(app, "up@example.com"), nil, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Name = "never stored"
		return old, []store.Event{{ID: newID("evt"), Type: "grant.updated", CreatedAt: t0}}, boom
	})
	mustIs(t, "UpsertGrant whose reauth fails", err, boom)
	got, err = s.GetGrant(ctx, app, g.ID)
	must(t, "GetGrant after a failed re-authentication", err)
	mustEqual(t, "grant after a failed re-authentication", got, out)

	evs, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	var types []string
	for _, e := range evs {
		if e.AppID == app {
			types = append(types, e.Type+" "+e.GrantID)
		}
	}
	mustEqual(t, "events", types, []string{"grant.created " + g.ID, "grant.updated " + g.ID})

	// A client that is gone: no create, no re-authentication.
	gone := grant(app, "gone@example.com")
	gone.RequireClient = true
	_, _, err = s.UpsertGrant(ctx, gone, nil, nil)
	mustIs(t, "UpsertGrant of a new email without its connector", err, store.ErrClientGone)
	_, _, err = s.UpsertGrant(ctx, grant(app, "up@example.com"), nil, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.RequireClient, old.CredentialID = true, "no-such-credential"
		return old, nil, nil
	})
	mustIs(t, "UpsertGrant re-authenticating with a credential that is gone", err, store.ErrClientGone)

	// Concurrent upserts of one new email: one creates, the others
	// re-authenticate the grant it made, one after the other.
	const n = 8
	news := make(chan bool, n)
	ids := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			out, isNew, err := s.UpsertGrant(ctx, grant(app, "race@example.com"), nil, func(old store.Grant) (store.Grant, []store.Event, error) {
				return old, nil, nil
			})
			news <- isNew
			ids <- out.ID
			errs <- err
		}()
	}
	made, first := 0, ""
	for range n {
		must(t, "concurrent UpsertGrant", <-errs)
		if <-news {
			made++
		}
		if id := <-ids; first == "" {
			first = id
		} else if id != first {
			t.Fatalf("concurrent upserts of one email answered grants %s and %s", first, id)
		}
	}
	got, err = s.GetGrantByEmail(ctx, app, "race@example.com")
	must(t, "GetGrantByEmail after the race", err)
	if made != 1 || got.Version != n {
		t.Fatalf("concurrent upserts: %d created, version %d; want 1 and %d", made, got.Version, n)
	}
}
