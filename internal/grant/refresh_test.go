package grant_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/vault"
)

// refreshEnv is a grant service on a real SQLite store with one OAuth
// grant holding refresh token rt.
type refreshEnv struct {
	t     *testing.T
	appID string
	st    store.Store
	svc   *grant.Service
	g     store.Grant
}

func newRefreshEnv(t *testing.T, rt string) *refreshEnv {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	svc := &grant.Service{Store: st, Vault: vault.NewFromKeyring(kr), NewID: tenant.NewID, Now: time.Now}
	now := time.Now().UTC().Truncate(time.Second)
	app := store.Application{ID: tenant.NewID(), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	e := &refreshEnv{t: t, appID: app.ID, st: st, svc: svc}
	g := store.Grant{ID: tenant.NewID(), AppID: app.ID, Provider: "zoom", Email: "a@example.com", Status: store.GrantValid,
		CreatedAt: now, UpdatedAt: now, NextRefreshAt: now}
	if err := st.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	e.g = g
	e.setToken(g.ID, rt)
	e.g = e.get()
	return e
}

// setToken stores rt as the grant's refresh token (a refresh of whatever
// it holds).
func (e *refreshEnv) setToken(id, rt string) {
	e.t.Helper()
	g, err := e.st.GetGrant(e.t.Context(), e.appID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.svc.Secrets(g)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CommitRefresh(e.t.Context(), grant.Refreshed{
		AppID: g.AppID, GrantID: g.ID, Version: g.Version, Replaced: grant.CredentialKey(g, s),
		Token: provider.Token{AccessToken: "at-" + rt, RefreshToken: rt, Expiry: time.Now().Add(time.Hour)},
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *refreshEnv) get() store.Grant {
	e.t.Helper()
	g, err := e.st.GetGrant(e.t.Context(), e.appID, e.g.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func (e *refreshEnv) token() string {
	e.t.Helper()
	s, err := e.svc.Secrets(e.get())
	if err != nil {
		e.t.Fatal(err)
	}
	return s["refresh_token"]
}

func (e *refreshEnv) answer(read store.Grant, replaced, rt string) grant.Refreshed {
	return grant.Refreshed{
		AppID: read.AppID, GrantID: read.ID, Version: read.Version, Replaced: grant.Fingerprint(replaced), Owner: "me",
		Started: time.Now().Add(-time.Second), Token: provider.Token{AccessToken: "at-" + rt, RefreshToken: rt, Expiry: time.Now().Add(time.Hour)},
	}
}

// The compare-and-swap rules the refresher and the spool's replay rely
// on: an answer is written when the grant still holds the token it
// replaced (even after other writes); a replay of an answer already stored
// is a success that writes nothing; an answer whose replaced token is no
// longer stored is ErrSuperseded; a deleted grant is ErrNotFound.
func TestCommitRefreshRules(t *testing.T) {
	ctx := context.Background()
	e := newRefreshEnv(t, "T1")
	read := e.get()

	// Another write (not of the token) moves the version: T2 still lands.
	if _, err := e.st.UpdateGrant(ctx, read.AppID, read.ID, func(g store.Grant) (store.Grant, []store.Event, error) {
		g.Name = "renamed"
		return g, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	ans := e.answer(read, "T1", "T2")
	g, err := e.svc.CommitRefresh(ctx, ans)
	if err != nil || e.token() != "T2" || g.Name != "renamed" {
		t.Fatalf("commit after another write: %v, token %q, name %q", err, e.token(), g.Name)
	}
	v := e.get().Version

	// The same answer again (a spool record whose removal was lost):
	// success, nothing written.
	if _, err := e.svc.CommitRefresh(ctx, ans); err != nil {
		t.Fatalf("replay of a stored answer: %v", err)
	}
	if got := e.get().Version; got != v {
		t.Errorf("a replay of a stored answer wrote (version %d → %d)", v, got)
	}

	// An answer that replaced T1, after T2 is stored (a sibling at a
	// grace-rotation provider): superseded, T2 stays.
	if _, err := e.svc.CommitRefresh(ctx, e.answer(read, "T1", "T2b")); !errors.Is(err, grant.ErrSuperseded) || e.token() != "T2" {
		t.Errorf("stale answer: %v, token %q; want ErrSuperseded and T2", err, e.token())
	}

	// Invalidated meanwhile by a refusal of T2 after our refresh of T2
	// started: our T3 is the live token, the grant is valid again with
	// one grant.updated.
	read = e.get()
	if _, err := e.svc.Invalidate(ctx, grant.Failure{AppID: read.AppID, GrantID: read.ID, Version: read.Version,
		Credential: grant.Fingerprint("T2"), Owner: "other", Class: provider.ClassInvalidCredentials, Message: "invalid_grant"}); err != nil {
		t.Fatal(err)
	}
	ans = e.answer(read, "T2", "T3")
	if g, err := e.svc.CommitRefresh(ctx, ans); err != nil || g.Status != store.GrantValid || e.token() != "T3" {
		t.Errorf("revive: %v, status %s, token %q", err, g.Status, e.token())
	}

	// Deleted: ErrNotFound.
	if err := e.st.DeleteGrant(ctx, read.AppID, read.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CommitRefresh(ctx, e.answer(read, "T3", "T4")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted grant: %v, want ErrNotFound", err)
	}
}

// Invalidate refuses while another owner's lease runs (it may be rotating
// the refused token) and when the refused token is no longer stored.
func TestInvalidateChecks(t *testing.T) {
	ctx := context.Background()
	e := newRefreshEnv(t, "T1")
	read := e.get()
	if _, ok, err := e.st.ClaimGrant(ctx, read.AppID, read.ID, "other", time.Minute, time.Now()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	f := grant.Failure{AppID: read.AppID, GrantID: read.ID, Version: read.Version, Credential: grant.Fingerprint("T1"), Owner: "me",
		Class: provider.ClassInvalidCredentials, Message: "invalid_grant"}
	if _, err := e.svc.Invalidate(ctx, f); !errors.Is(err, grant.ErrLeased) {
		t.Errorf("another owner's lease runs: %v, want ErrLeased", err)
	}
	if err := e.st.ReleaseGrant(ctx, read.AppID, read.ID, "other"); err != nil {
		t.Fatal(err)
	}
	e.setToken(read.ID, "T2")
	if _, err := e.svc.Invalidate(ctx, f); !errors.Is(err, grant.ErrSuperseded) {
		t.Errorf("refused token no longer stored: %v, want ErrSuperseded", err)
	}
	if g := e.get(); g.Status != store.GrantValid {
		t.Errorf("status %s", g.Status)
	}
}

// TestScheduleModes: keep_fresh plans the next refresh a margin before the
// access token expires; on_demand plans only the keep-alive, whatever the
// token's expiry; both stay within the keep-alive and its jitter.
func TestScheduleModes(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	expiry := now.Add(time.Hour)
	for range 100 {
		fresh := grant.Schedule{Margin: 5 * time.Minute, KeepAlive: 7 * 24 * time.Hour}.Next(now, expiry)
		if d := expiry.Sub(fresh); d < 5*time.Minute || d > 7*time.Minute+30*time.Second {
			t.Fatalf("keep_fresh: next refresh %v before expiry, want 5–7.5 min", d)
		}
		lazy := grant.Schedule{Mode: grant.ModeOnDemand, Margin: 5 * time.Minute, KeepAlive: 7 * 24 * time.Hour}.Next(now, expiry)
		if d := lazy.Sub(now); d <= 6*24*time.Hour || d > 7*24*time.Hour {
			t.Fatalf("on_demand: next refresh %v after now, want the keep-alive (7 days minus up to a tenth)", d)
		}
	}
}
