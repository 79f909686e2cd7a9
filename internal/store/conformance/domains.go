package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Domains of agent accounts.

func testDomains(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, other := newApp(t, s), newApp(t, s)
	a := store.Domain{ID: "dom-a", AppID: app, Name: "Agents", Address: "agents.example.com", Token: "tok-a", MXHost: "mx.example.net",
		CreatedAt: t0.Add(123 * time.Nanosecond), UpdatedAt: t0}
	b := store.Domain{ID: "dom-b", AppID: app, Name: "Other", Address: "b.example.com", Token: "tok-b",
		OwnershipVerifiedAt: t0.Add(time.Second), OwnershipCheckedAt: t0.Add(time.Second), CreatedAt: t0.Add(time.Second)}
	must(t, "CreateDomain a", s.CreateDomain(ctx, a))
	must(t, "CreateDomain b", s.CreateDomain(ctx, b))
	mustIs(t, "CreateDomain same id", s.CreateDomain(ctx, a), store.ErrAlreadyExists)
	dup := a
	dup.ID = "dom-dup"
	mustIs(t, "CreateDomain same address", s.CreateDomain(ctx, dup), store.ErrAlreadyExists)
	// Another application may register the same address.
	dup.AppID = other
	must(t, "CreateDomain same address, other app", s.CreateDomain(ctx, dup))
	mustIs(t, "CreateDomain missing app", s.CreateDomain(ctx, store.Domain{ID: "dom-x", AppID: "no-such-app", Address: "x.example"}), store.ErrNotFound)

	wantA := a
	wantA.CreatedAt, wantA.UpdatedAt = us(a.CreatedAt), us(a.UpdatedAt)
	got, err := s.GetDomain(ctx, app, a.ID)
	must(t, "GetDomain", err)
	mustEqual(t, "GetDomain", got, wantA)
	if got.Verified() {
		t.Fatal("a domain never checked is verified")
	}
	got, err = s.GetDomainByAddress(ctx, app, "agents.example.com")
	must(t, "GetDomainByAddress", err)
	mustEqual(t, "GetDomainByAddress", got, wantA)
	_, err = s.GetDomain(ctx, other, a.ID)
	mustIs(t, "GetDomain of another app", err, store.ErrNotFound)
	_, err = s.GetDomainByAddress(ctx, app, "nowhere.example.com")
	mustIs(t, "GetDomainByAddress unknown", err, store.ErrNotFound)
	got, err = s.GetDomainByAddress(ctx, other, "agents.example.com")
	must(t, "GetDomainByAddress other app", err)
	if got.ID != "dom-dup" {
		t.Fatalf("GetDomainByAddress of the other application: %+v", got)
	}

	// Keyset pages in id order.
	list, err := s.ListDomains(ctx, app, "", 10)
	must(t, "ListDomains", err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListDomains: %+v, want a then b", list)
	}
	mustEqual(t, "listed b's ownership time", list[1].OwnershipVerifiedAt, us(b.OwnershipVerifiedAt))
	list, err = s.ListDomains(ctx, app, "", 1)
	must(t, "ListDomains limit 1", err)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("ListDomains limit 1: %+v", list)
	}
	list, err = s.ListDomains(ctx, app, a.ID, 10)
	must(t, "ListDomains after a", err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("ListDomains after a: %+v", list)
	}

	// Update: the address, token, id and creation time stay.
	up, err := s.UpdateDomain(ctx, app, a.ID, func(old store.Domain) (store.Domain, error) {
		mustEqual(t, "closure input", old, wantA)
		old.Address, old.Token, old.AppID, old.CreatedAt = "changed.example", "changed", other, t0.Add(time.Hour)
		old.Name, old.MXHost = "Renamed", ""
		old.OwnershipVerifiedAt, old.OwnershipCheckedAt = t0.Add(time.Minute), t0.Add(time.Minute)
		old.MXVerifiedAt, old.MXCheckedAt = t0.Add(2*time.Minute), t0.Add(2*time.Minute)
		old.UpdatedAt = t0.Add(2 * time.Minute)
		return old, nil
	})
	must(t, "UpdateDomain", err)
	want := wantA
	want.Name, want.MXHost = "Renamed", ""
	want.OwnershipVerifiedAt, want.OwnershipCheckedAt = us(t0.Add(time.Minute)), us(t0.Add(time.Minute))
	want.MXVerifiedAt, want.MXCheckedAt, want.UpdatedAt = us(t0.Add(2*time.Minute)), us(t0.Add(2*time.Minute)), us(t0.Add(2*time.Minute))
	mustEqual(t, "UpdateDomain result", up, want)
	got, err = s.GetDomain(ctx, app, a.ID)
	must(t, "GetDomain after update", err)
	mustEqual(t, "GetDomain after update", got, want)
	if !got.Verified() {
		t.Fatal("a domain with both records found is not verified")
	}
	// Clearing a verification time stores NULL again.
	_, err = s.UpdateDomain(ctx, app, a.ID, func(old store.Domain) (store.Domain, error) {
		old.MXVerifiedAt = time.Time{}
		return old, nil
	})
	must(t, "UpdateDomain clear", err)
	got, err = s.GetDomain(ctx, app, a.ID)
	must(t, "GetDomain after clear", err)
	if !got.MXVerifiedAt.IsZero() || got.Verified() {
		t.Fatalf("cleared MX verification came back: %+v", got)
	}
	boom := errors.New("boom")
	_, err = s.UpdateDomain(ctx, app, a.ID, func(old store.Domain) (store.Domain, error) {
		old.Name = "not stored"
		return old, boom
	})
	mustIs(t, "UpdateDomain closure error", err, boom)
	got, _ = s.GetDomain(ctx, app, a.ID)
	if got.Name != "Renamed" {
		t.Fatalf("a failed update was stored: %+v", got)
	}
	_, err = s.UpdateDomain(ctx, other, a.ID, func(old store.Domain) (store.Domain, error) { return old, nil })
	mustIs(t, "UpdateDomain of another app", err, store.ErrNotFound)

	mustIs(t, "DeleteDomain of another app", s.DeleteDomain(ctx, other, a.ID), store.ErrNotFound)
	must(t, "DeleteDomain", s.DeleteDomain(ctx, app, a.ID))
	mustIs(t, "DeleteDomain again", s.DeleteDomain(ctx, app, a.ID), store.ErrNotFound)
	_, err = s.GetDomain(ctx, app, a.ID)
	mustIs(t, "GetDomain after delete", err, store.ErrNotFound)
	// The address may be registered again.
	must(t, "CreateDomain after delete", s.CreateDomain(ctx, store.Domain{ID: "dom-c", AppID: app, Address: a.Address, Token: "tok-c"}))
}
