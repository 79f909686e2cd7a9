package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Redirect URIs and issued tokens (hosted OAuth).

func testRedirectURIs(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, other := newApp(t, s), newApp(t, s)
	a := store.RedirectURI{ID: newID("ru"), AppID: app, URL: "https://app.example/cb", Platform: "web",
		Settings: map[string]any{}, CreatedAt: t0, UpdatedAt: t0}
	b := store.RedirectURI{ID: newID("ru"), AppID: app, URL: "http://127.0.0.1:9000/cb", Platform: "android",
		Settings: map[string]any{"package_name": "p", "sha1_certificate_fingerprint": "ff"}, CreatedAt: t0.Add(time.Second)}
	must(t, "CreateRedirectURI a", s.CreateRedirectURI(ctx, a))
	must(t, "CreateRedirectURI b", s.CreateRedirectURI(ctx, b))
	dup := a
	dup.ID = newID("ru")
	mustIs(t, "CreateRedirectURI same URL", s.CreateRedirectURI(ctx, dup), store.ErrAlreadyExists)
	// Another application may register the same URL.
	dup.AppID = other
	must(t, "CreateRedirectURI same URL, other app", s.CreateRedirectURI(ctx, dup))
	mustIs(t, "CreateRedirectURI missing app", s.CreateRedirectURI(ctx, store.RedirectURI{ID: newID("ru"), AppID: "no-such-app", URL: "x", Settings: map[string]any{}}), store.ErrNotFound)

	wantA := a
	wantA.CreatedAt, wantA.UpdatedAt = us(a.CreatedAt), us(a.UpdatedAt)
	got, err := s.GetRedirectURI(ctx, app, a.ID)
	must(t, "GetRedirectURI", err)
	mustEqual(t, "GetRedirectURI", got, wantA)
	_, err = s.GetRedirectURI(ctx, other, a.ID)
	mustIs(t, "GetRedirectURI of another app", err, store.ErrNotFound)

	list, err := s.ListRedirectURIs(ctx, app)
	must(t, "ListRedirectURIs", err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListRedirectURIs: %+v, want a then b", list)
	}
	mustEqual(t, "listed settings", list[1].Settings, b.Settings)

	up, err := s.UpdateRedirectURI(ctx, app, a.ID, func(old store.RedirectURI) (store.RedirectURI, error) {
		mustEqual(t, "closure input", old, wantA)
		old.ID, old.AppID = "x", other // ignored
		old.URL, old.Platform, old.UpdatedAt = "https://app.example/cb2", "desktop", t0.Add(time.Hour)
		return old, nil
	})
	must(t, "UpdateRedirectURI", err)
	wantA.URL, wantA.Platform, wantA.UpdatedAt = "https://app.example/cb2", "desktop", us(t0.Add(time.Hour))
	mustEqual(t, "UpdateRedirectURI", up, wantA)
	_, err = s.UpdateRedirectURI(ctx, app, a.ID, func(old store.RedirectURI) (store.RedirectURI, error) {
		old.URL = b.URL
		return old, nil
	})
	mustIs(t, "UpdateRedirectURI to another's URL", err, store.ErrAlreadyExists)
	boom := errors.New("boom")
	_, err = s.UpdateRedirectURI(ctx, app, a.ID, func(old store.RedirectURI) (store.RedirectURI, error) { return old, boom })
	mustIs(t, "UpdateRedirectURI closure error", err, boom)
	_, err = s.UpdateRedirectURI(ctx, other, a.ID, func(old store.RedirectURI) (store.RedirectURI, error) { return old, nil })
	mustIs(t, "UpdateRedirectURI of another app", err, store.ErrNotFound)

	mustIs(t, "DeleteRedirectURI of another app", s.DeleteRedirectURI(ctx, other, a.ID), store.ErrNotFound)
	must(t, "DeleteRedirectURI", s.DeleteRedirectURI(ctx, app, a.ID))
	mustIs(t, "DeleteRedirectURI twice", s.DeleteRedirectURI(ctx, app, a.ID), store.ErrNotFound)
	list, err = s.ListRedirectURIs(ctx, app)
	must(t, "ListRedirectURIs after delete", err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("ListRedirectURIs after delete: %+v", list)
	}
}

func token(g store.Grant, kind, family string, n int, now time.Time) store.IssuedToken {
	return store.IssuedToken{Hash: []byte(fmt.Sprintf("%s-%s-%d", family, kind, n)), Kind: kind, AppID: g.AppID, GrantID: g.ID,
		Family: family, Scope: []string{"email", "calendar"}, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
}

func normToken(t store.IssuedToken) store.IssuedToken {
	t.ExpiresAt, t.CreatedAt, t.UsedAt, t.RevokedAt = us(t.ExpiresAt), us(t.CreatedAt), us(t.UsedAt), us(t.RevokedAt)
	return t
}

func testIssuedTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "tok@example.com")
	now := t0
	fam := newID("fam")
	at, rt := token(g, store.TokenAccess, fam, 0, now), token(g, store.TokenRefresh, fam, 0, now)
	rt.ExpiresAt = time.Time{}
	rt.PKCEOnly = true
	must(t, "CreateTokens", s.CreateTokens(ctx, at, rt))
	mustIs(t, "CreateTokens again", s.CreateTokens(ctx, at), store.ErrAlreadyExists)
	missing := token(store.Grant{AppID: app, ID: "no-such-grant"}, store.TokenAccess, fam, 9, now)
	mustIs(t, "CreateTokens for a missing grant", s.CreateTokens(ctx, missing), store.ErrNotFound)
	got, err := s.GetToken(ctx, at.Hash)
	must(t, "GetToken", err)
	mustEqual(t, "GetToken", got, normToken(at))
	_, err = s.GetToken(ctx, []byte("never"))
	mustIs(t, "GetToken unknown", err, store.ErrNotFound)

	// Rotation: the old refresh token is used, the new pair stored.
	at1, rt1 := token(g, store.TokenAccess, fam, 1, now), token(g, store.TokenRefresh, fam, 1, now)
	old, err := s.UseRefreshToken(ctx, rt.Hash, now, func(store.IssuedToken) ([]store.IssuedToken, error) { return []store.IssuedToken{at1, rt1}, nil })
	must(t, "UseRefreshToken", err)
	mustEqual(t, "UseRefreshToken old", old, normToken(rt))
	got, err = s.GetToken(ctx, rt.Hash)
	must(t, "GetToken used", err)
	if !got.UsedAt.Equal(us(now)) {
		t.Fatalf("UsedAt = %v, want %v", got.UsedAt, us(now))
	}
	_, err = s.GetToken(ctx, rt1.Hash)
	must(t, "GetToken rotated", err)

	// A check error writes nothing.
	boom := errors.New("boom")
	at2, rt2 := token(g, store.TokenAccess, fam, 2, now), token(g, store.TokenRefresh, fam, 2, now)
	_, err = s.UseRefreshToken(ctx, rt1.Hash, now, func(store.IssuedToken) ([]store.IssuedToken, error) { return nil, boom })
	mustIs(t, "UseRefreshToken check error", err, boom)
	_, err = s.GetToken(ctx, rt2.Hash)
	mustIs(t, "token of a refused rotation", err, store.ErrNotFound)
	got, _ = s.GetToken(ctx, rt1.Hash)
	if !got.UsedAt.IsZero() {
		t.Fatal("a refused rotation marked the token used")
	}

	// A replay of the used token revokes the whole family.
	_, err = s.UseRefreshToken(ctx, rt.Hash, now.Add(time.Minute), func(store.IssuedToken) ([]store.IssuedToken, error) { return []store.IssuedToken{at2, rt2}, nil })
	mustIs(t, "UseRefreshToken replay", err, store.ErrConflict)
	for _, h := range [][]byte{at.Hash, rt.Hash, at1.Hash, rt1.Hash} {
		got, err := s.GetToken(ctx, h)
		must(t, "GetToken after replay", err)
		if got.RevokedAt.IsZero() {
			t.Fatalf("token %s not revoked after a replay", h)
		}
	}
	_, err = s.GetToken(ctx, rt2.Hash)
	mustIs(t, "token of a replayed rotation", err, store.ErrNotFound)
	_, err = s.UseRefreshToken(ctx, rt1.Hash, now, func(store.IssuedToken) ([]store.IssuedToken, error) { return nil, nil })
	mustIs(t, "UseRefreshToken revoked", err, store.ErrNotFound)
	_, err = s.UseRefreshToken(ctx, at.Hash, now, func(store.IssuedToken) ([]store.IssuedToken, error) { return nil, nil })
	mustIs(t, "UseRefreshToken of an access token", err, store.ErrNotFound)

	// Expiry.
	fam2 := newID("fam")
	exp := token(g, store.TokenRefresh, fam2, 0, now)
	exp.ExpiresAt = now.Add(time.Minute)
	must(t, "CreateTokens expiring", s.CreateTokens(ctx, exp))
	_, err = s.UseRefreshToken(ctx, exp.Hash, now.Add(2*time.Minute), func(store.IssuedToken) ([]store.IssuedToken, error) { return nil, nil })
	mustIs(t, "UseRefreshToken expired", err, store.ErrNotFound)

	// Revocation by family leaves other families alone.
	n, err := s.RevokeTokenFamily(ctx, fam2, now)
	must(t, "RevokeTokenFamily", err)
	if n != 1 {
		t.Fatalf("RevokeTokenFamily revoked %d, want 1", n)
	}
	n, err = s.RevokeTokenFamily(ctx, fam2, now)
	must(t, "RevokeTokenFamily again", err)
	if n != 0 {
		t.Fatalf("RevokeTokenFamily again revoked %d, want 0", n)
	}

	// Deleting the grant deletes its tokens.
	must(t, "DeleteGrant", s.DeleteGrant(ctx, app, g.ID))
	_, err = s.GetToken(ctx, at.Hash)
	mustIs(t, "GetToken after grant deletion", err, store.ErrNotFound)
}

func testIssuedTokensConcurrentRefresh(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "race@example.com")
	now := time.Now()
	fam := newID("fam")
	rt := token(g, store.TokenRefresh, fam, 0, now)
	must(t, "CreateTokens", s.CreateTokens(ctx, rt))
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, err := s.UseRefreshToken(ctx, rt.Hash, now, func(store.IssuedToken) ([]store.IssuedToken, error) {
				return []store.IssuedToken{token(g, store.TokenRefresh, fam, i+1, now)}, nil
			})
			errs <- err
		}()
	}
	close(start)
	wins := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		default:
			t.Fatalf("UseRefreshToken: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent redemptions of one refresh token succeeded, want 1", wins)
	}
}

// testIssuedTokensDeleteStale: tokens expired, used or revoked before the
// cutoff go, in batches of limit; live ones and those that became stale
// after the cutoff stay, and a used refresh token kept is still detected
// as a replay. Its clock is in 2001, before every other test's tokens, so
// that the counts are exact on a shared store.
func testIssuedTokensDeleteStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "stale@example.com")
	base := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	before := base.Add(24 * time.Hour)
	mk := func(kind string, n int, mod func(*store.IssuedToken)) store.IssuedToken {
		tok := token(g, kind, newID("fam"), n, base)
		tok.ExpiresAt = time.Time{}
		mod(&tok)
		must(t, "CreateTokens", s.CreateTokens(ctx, tok))
		return tok
	}
	var stale, kept []store.IssuedToken
	for i := range 3 {
		// Expired, used and revoked before the cutoff.
		stale = append(stale,
			mk(store.TokenAccess, i, func(tok *store.IssuedToken) { tok.ExpiresAt = before.Add(-time.Minute) }),
			mk(store.TokenRefresh, 10+i, func(tok *store.IssuedToken) { tok.UsedAt = before.Add(-time.Second) }),
			mk(store.TokenRefresh, 20+i, func(tok *store.IssuedToken) {
				tok.RevokedAt = before.Add(-time.Hour)
				tok.ExpiresAt = before.Add(time.Hour)
			}))
	}
	kept = append(kept,
		// Live, however old.
		mk(store.TokenRefresh, 30, func(*store.IssuedToken) {}),
		mk(store.TokenAccess, 31, func(tok *store.IssuedToken) { tok.ExpiresAt = before.Add(time.Hour) }),
		// Stale, but since the cutoff (or exactly at it).
		mk(store.TokenAccess, 32, func(tok *store.IssuedToken) { tok.ExpiresAt = before }),
		mk(store.TokenRefresh, 33, func(tok *store.IssuedToken) { tok.RevokedAt = before.Add(time.Second) }))
	usedLate := mk(store.TokenRefresh, 34, func(tok *store.IssuedToken) { tok.UsedAt = before.Add(time.Minute) })
	sibling := mk(store.TokenAccess, 35, func(tok *store.IssuedToken) {
		tok.Family = usedLate.Family
		tok.ExpiresAt = before.Add(48 * time.Hour)
	})
	kept = append(kept, usedLate)

	n, err := s.DeleteStaleTokens(ctx, before, 4)
	must(t, "DeleteStaleTokens", err)
	if n != 4 {
		t.Fatalf("DeleteStaleTokens(limit 4) deleted %d", n)
	}
	n, err = s.DeleteStaleTokens(ctx, before, 100)
	must(t, "DeleteStaleTokens again", err)
	if n != len(stale)-4 {
		t.Fatalf("DeleteStaleTokens deleted %d of the %d left", n, len(stale)-4)
	}
	n, err = s.DeleteStaleTokens(ctx, before, 100)
	must(t, "DeleteStaleTokens a third time", err)
	if n != 0 {
		t.Fatalf("DeleteStaleTokens deleted %d more", n)
	}
	n, err = s.DeleteStaleTokens(ctx, before, 0)
	must(t, "DeleteStaleTokens limit 0", err)
	if n != 0 {
		t.Fatalf("DeleteStaleTokens(limit 0) deleted %d", n)
	}
	for _, tok := range stale {
		_, err := s.GetToken(ctx, tok.Hash)
		mustIs(t, "GetToken of a stale token "+string(tok.Hash), err, store.ErrNotFound)
	}
	for _, tok := range append(kept, sibling) {
		got, err := s.GetToken(ctx, tok.Hash)
		must(t, "GetToken of a kept token "+string(tok.Hash), err)
		mustEqual(t, "kept token", got, normToken(tok))
	}
	// The used refresh token kept still revokes its family when replayed.
	_, err = s.UseRefreshToken(ctx, usedLate.Hash, before.Add(time.Hour), func(store.IssuedToken) ([]store.IssuedToken, error) { return nil, nil })
	mustIs(t, "replay of a kept used refresh token", err, store.ErrConflict)
	got, err := s.GetToken(ctx, sibling.Hash)
	must(t, "GetToken sibling", err)
	if got.RevokedAt.IsZero() {
		t.Fatal("the replay did not revoke the family")
	}
}
