package conformance

import (
	"testing"

	"github.com/grantd/grantd/internal/store"
)

// Tenant isolation across every kind of record.

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	appA, appB := newApp(t, s), newApp(t, s)
	newConnector(t, s, appA, "google")
	g := newGrant(t, s, appA, "owner@example.com")
	cred := store.Credential{ID: newID("cred"), AppID: appA, Provider: "google", Name: "c", Data: []byte("d"), CreatedAt: t0}
	must(t, "CreateCredential", s.CreateCredential(ctx, cred))
	wh := store.Webhook{ID: newID("wh"), AppID: appA, URL: "https://hooks.example/a", CreatedAt: t0}
	must(t, "CreateWebhook", s.CreateWebhook(ctx, wh))

	// Reads from B.
	_, err := s.GetGrant(ctx, appB, g.ID)
	mustIs(t, "GetGrant from B", err, store.ErrNotFound)
	_, err = s.GetGrantByEmail(ctx, appB, "owner@example.com")
	mustIs(t, "GetGrantByEmail from B", err, store.ErrNotFound)
	_, err = s.GetConnector(ctx, appB, "google")
	mustIs(t, "GetConnector from B", err, store.ErrNotFound)
	_, err = s.GetCredential(ctx, appB, cred.ID)
	mustIs(t, "GetCredential from B", err, store.ErrNotFound)
	_, err = s.GetWebhook(ctx, appB, wh.ID)
	mustIs(t, "GetWebhook from B", err, store.ErrNotFound)

	// Lists from B.
	if l, _ := s.ListGrants(ctx, appB, store.GrantFilter{}); len(l) != 0 {
		t.Fatalf("ListGrants(B) = %+v", l)
	}
	if l, _ := s.ListGrants(ctx, appB, store.GrantFilter{Email: "owner@example.com"}); len(l) != 0 {
		t.Fatalf("ListGrants(B, email) = %+v", l)
	}
	if l, _ := s.ListConnectors(ctx, appB, store.ListOptions{}); len(l) != 0 {
		t.Fatalf("ListConnectors(B) = %+v", l)
	}
	if l, _ := s.ListCredentials(ctx, appB, "google", store.ListOptions{}); len(l) != 0 {
		t.Fatalf("ListCredentials(B) = %+v", l)
	}
	if l, _ := s.ListWebhooks(ctx, appB); len(l) != 0 {
		t.Fatalf("ListWebhooks(B) = %+v", l)
	}

	// Writes from B.
	_, err = s.UpdateGrant(ctx, appB, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		t.Error("closure called with another app's grant")
		return old, nil, nil
	})
	mustIs(t, "UpdateGrant from B", err, store.ErrNotFound)
	_, err = s.UpdateConnector(ctx, appB, "google", func(old store.Connector) (store.Connector, error) {
		t.Error("closure called with another app's connector")
		return old, nil
	})
	mustIs(t, "UpdateConnector from B", err, store.ErrNotFound)
	_, err = s.UpdateCredential(ctx, appB, cred.ID, func(old store.Credential) (store.Credential, error) {
		t.Error("closure called with another app's credential")
		return old, nil
	})
	mustIs(t, "UpdateCredential from B", err, store.ErrNotFound)
	_, err = s.UpdateWebhook(ctx, appB, wh.ID, func(old store.Webhook) (store.Webhook, error) {
		t.Error("closure called with another app's webhook")
		return old, nil
	})
	mustIs(t, "UpdateWebhook from B", err, store.ErrNotFound)
	mustIs(t, "DeleteGrant from B", s.DeleteGrant(ctx, appB, g.ID, store.Event{ID: newID("evt"), Type: "grant.deleted"}), store.ErrNotFound)
	mustIs(t, "DeleteConnector from B", s.DeleteConnector(ctx, appB, "google"), store.ErrNotFound)
	mustIs(t, "DeleteCredential from B", s.DeleteCredential(ctx, appB, cred.ID), store.ErrNotFound)
	mustIs(t, "DeleteWebhook from B", s.DeleteWebhook(ctx, appB, wh.ID), store.ErrNotFound)

	// A's records are intact.
	if got, err := s.GetGrant(ctx, appA, g.ID); err != nil || got.Version != 1 {
		t.Fatalf("A's grant: %+v, %v", got, err)
	}
	if _, err := s.GetConnector(ctx, appA, "google"); err != nil {
		t.Fatalf("A's connector: %v", err)
	}
	if _, err := s.GetCredential(ctx, appA, cred.ID); err != nil {
		t.Fatalf("A's credential: %v", err)
	}
	if _, err := s.GetWebhook(ctx, appA, wh.ID); err != nil {
		t.Fatalf("A's webhook: %v", err)
	}
	if evs, _ := s.ListEvents(ctx, 0, 0); len(evs) != 0 {
		t.Fatalf("failed DeleteGrant from B wrote events: %+v", evs)
	}
}
