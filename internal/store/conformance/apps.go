package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Applications and API keys.

func testApplications(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.Application{
		ID: newID("app"), Name: "Demo", OrganizationID: "org-1", Region: "us", Environment: "production",
		CallbackURIs: []string{"https://a.example/cb", "http://localhost:9000/cb"},
		CreatedAt:    t0, UpdatedAt: t0.Add(time.Second),
	}
	must(t, "CreateApplication", s.CreateApplication(ctx, a))
	mustIs(t, "CreateApplication again", s.CreateApplication(ctx, a), store.ErrAlreadyExists)

	want := a
	want.CreatedAt, want.UpdatedAt = us(a.CreatedAt), us(a.UpdatedAt)
	got, err := s.GetApplication(ctx, a.ID)
	must(t, "GetApplication", err)
	mustEqual(t, "GetApplication", got, want)

	// Nil and empty lists both round-trip.
	b := store.Application{ID: newID("app"), Name: "B", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}
	c := store.Application{ID: newID("app"), Name: "C", CallbackURIs: []string{}, CreatedAt: t0.Add(2 * time.Minute), UpdatedAt: t0}
	must(t, "CreateApplication b", s.CreateApplication(ctx, b))
	must(t, "CreateApplication c", s.CreateApplication(ctx, c))
	gotC, err := s.GetApplication(ctx, c.ID)
	must(t, "GetApplication c", err)
	if gotC.CallbackURIs == nil || len(gotC.CallbackURIs) != 0 {
		t.Fatalf("empty CallbackURIs came back as %#v", gotC.CallbackURIs)
	}
	gotB, err := s.GetApplication(ctx, b.ID)
	must(t, "GetApplication b", err)
	if gotB.CallbackURIs != nil {
		t.Fatalf("nil CallbackURIs came back as %#v", gotB.CallbackURIs)
	}

	list, err := s.ListApplications(ctx)
	must(t, "ListApplications", err)
	if len(list) != 3 || list[0].ID != a.ID || list[1].ID != b.ID || list[2].ID != c.ID {
		t.Fatalf("ListApplications: got %+v, want a, b, c in creation order", list)
	}

	updated, err := s.UpdateApplication(ctx, a.ID, func(old store.Application) (store.Application, error) {
		mustEqual(t, "closure input", old, want)
		old.ID, old.CreatedAt = "other", t0.Add(time.Hour) // ignored
		old.Name, old.CallbackURIs, old.UpdatedAt = "Renamed", nil, t0.Add(time.Hour)
		return old, nil
	})
	must(t, "UpdateApplication", err)
	want.Name, want.CallbackURIs, want.UpdatedAt = "Renamed", nil, us(t0.Add(time.Hour))
	mustEqual(t, "UpdateApplication result", updated, want)
	got, err = s.GetApplication(ctx, a.ID)
	must(t, "GetApplication after update", err)
	mustEqual(t, "GetApplication after update", got, want)

	boom := errors.New("boom")
	_, err = s.UpdateApplication(ctx, a.ID, func(old store.Application) (store.Application, error) {
		old.Name = "not written"
		return old, boom
	})
	if err != boom {
		t.Fatalf("UpdateApplication closure error: got %v, want it unchanged", err)
	}
	got, _ = s.GetApplication(ctx, a.ID)
	mustEqual(t, "after failed update", got, want)

	_, err = s.GetApplication(ctx, "missing")
	mustIs(t, "GetApplication missing", err, store.ErrNotFound)
	_, err = s.UpdateApplication(ctx, "missing", func(old store.Application) (store.Application, error) {
		t.Error("closure called for a missing application")
		return old, nil
	})
	mustIs(t, "UpdateApplication missing", err, store.ErrNotFound)
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	appA, appB := newApp(t, s), newApp(t, s)
	k1 := store.APIKey{ID: newID("key"), AppID: appA, Name: "ci", Hash: []byte("hash-1"), Prefix: "nyk_v0_ab",
		Scopes: []string{"grants.read", "grants.write"}, CreatedAt: t0}
	k2 := store.APIKey{ID: newID("key"), AppID: appA, Name: "ops", Hash: []byte("hash-2"), Prefix: "nyk_v0_cd", CreatedAt: t0.Add(time.Second)}
	k3 := store.APIKey{ID: newID("key"), AppID: appB, Name: "b", Hash: []byte("hash-3"), CreatedAt: t0}
	for _, k := range []store.APIKey{k1, k2, k3} {
		must(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	}
	dup := k1
	dup.ID = newID("key")
	mustIs(t, "CreateAPIKey duplicate hash", s.CreateAPIKey(ctx, dup), store.ErrAlreadyExists)
	orphan := store.APIKey{ID: newID("key"), AppID: "no-such-app", Hash: []byte("hash-4"), CreatedAt: t0}
	mustIs(t, "CreateAPIKey for missing app", s.CreateAPIKey(ctx, orphan), store.ErrNotFound)

	got, err := s.GetAPIKeyByHash(ctx, []byte("hash-1"))
	must(t, "GetAPIKeyByHash", err)
	want := k1
	want.CreatedAt = us(k1.CreatedAt)
	mustEqual(t, "GetAPIKeyByHash", got, want)
	_, err = s.GetAPIKeyByHash(ctx, []byte("nope"))
	mustIs(t, "GetAPIKeyByHash missing", err, store.ErrNotFound)

	list, err := s.ListAPIKeys(ctx, appA)
	must(t, "ListAPIKeys", err)
	if len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID {
		t.Fatalf("ListAPIKeys(A) = %+v, want k1, k2", list)
	}
	list, err = s.ListAPIKeys(ctx, appB)
	must(t, "ListAPIKeys", err)
	if len(list) != 1 || list[0].ID != k3.ID {
		t.Fatalf("ListAPIKeys(B) = %+v, want k3", list)
	}

	must(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, k1.ID, t0.Add(time.Hour)))
	must(t, "RevokeAPIKey again", s.RevokeAPIKey(ctx, k1.ID, t0.Add(2*time.Hour)))
	got, err = s.GetAPIKeyByHash(ctx, []byte("hash-1"))
	must(t, "GetAPIKeyByHash revoked", err)
	mustEqual(t, "RevokedAt (first revocation wins)", got.RevokedAt, us(t0.Add(time.Hour)))
	mustIs(t, "RevokeAPIKey missing", s.RevokeAPIKey(ctx, "missing", t0), store.ErrNotFound)
	got, _ = s.GetAPIKeyByHash(ctx, []byte("hash-2"))
	if !got.RevokedAt.IsZero() {
		t.Fatalf("k2 revoked too: %v", got.RevokedAt)
	}
}
