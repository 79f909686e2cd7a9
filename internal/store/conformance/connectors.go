package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Connectors.

func testConnectors(t *testing.T, s store.Store) {
	ctx := t.Context()
	appA, appB := newApp(t, s), newApp(t, s)
	c := store.Connector{
		AppID: appA, Provider: "microsoft", Name: "Microsoft",
		Settings:           map[string]any{"client_id": "cid", "tenant": "common", "n": 3.5, "nested": map[string]any{"on": true, "l": []any{"x", 1.0}}},
		Secret:             []byte("ciphertext"),
		Scope:              []string{"Mail.Read", "offline_access"},
		ActiveCredentialID: "cred-1",
		CreatedAt:          t0, UpdatedAt: t0.Add(time.Millisecond),
	}
	must(t, "CreateConnector", s.CreateConnector(ctx, c))
	mustIs(t, "CreateConnector duplicate", s.CreateConnector(ctx, c), store.ErrAlreadyExists)
	other := c
	other.AppID = appB
	must(t, "CreateConnector same provider in another app", s.CreateConnector(ctx, other))
	orphan := c
	orphan.AppID = "no-such-app"
	mustIs(t, "CreateConnector for missing app", s.CreateConnector(ctx, orphan), store.ErrNotFound)

	want := c
	want.CreatedAt, want.UpdatedAt = us(c.CreatedAt), us(c.UpdatedAt)
	got, err := s.GetConnector(ctx, appA, "microsoft")
	must(t, "GetConnector", err)
	mustEqual(t, "GetConnector", got, want)
	_, err = s.GetConnector(ctx, appA, "google")
	mustIs(t, "GetConnector missing", err, store.ErrNotFound)

	updated, err := s.UpdateConnector(ctx, appA, "microsoft", func(old store.Connector) (store.Connector, error) {
		mustEqual(t, "closure input", old, want)
		old.AppID, old.Provider, old.CreatedAt = appB, "google", time.Time{} // ignored
		old.Settings = map[string]any{"client_id": "cid2"}
		old.Secret, old.Scope, old.UpdatedAt = nil, []string{}, t0.Add(time.Hour)
		return old, nil
	})
	must(t, "UpdateConnector", err)
	want.Settings, want.Secret, want.Scope, want.UpdatedAt = map[string]any{"client_id": "cid2"}, nil, []string{}, us(t0.Add(time.Hour))
	mustEqual(t, "UpdateConnector result", updated, want)
	got, _ = s.GetConnector(ctx, appA, "microsoft")
	mustEqual(t, "GetConnector after update", got, want)
	gotB, _ := s.GetConnector(ctx, appB, "microsoft")
	if gotB.Settings["client_id"] != "cid" {
		t.Fatalf("app B's connector changed: %+v", gotB)
	}

	// DeleteConnector takes the connector's credentials along, and only those.
	for i, p := range []string{"microsoft", "microsoft"} {
		must(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{ID: fmt.Sprintf("cred-a-%d-%s", i, appA), AppID: appA, Provider: p, Name: fmt.Sprint("n", i), CreatedAt: t0}))
	}
	newConnector(t, s, appA, "google")
	must(t, "CreateCredential google", s.CreateCredential(ctx, store.Credential{ID: "cred-g-" + appA, AppID: appA, Provider: "google", Name: "g", CreatedAt: t0}))
	must(t, "CreateCredential app B", s.CreateCredential(ctx, store.Credential{ID: "cred-b-" + appB, AppID: appB, Provider: "microsoft", Name: "b", CreatedAt: t0}))

	must(t, "DeleteConnector", s.DeleteConnector(ctx, appA, "microsoft"))
	_, err = s.GetConnector(ctx, appA, "microsoft")
	mustIs(t, "GetConnector after delete", err, store.ErrNotFound)
	_, err = s.GetCredential(ctx, appA, "cred-a-0-"+appA)
	mustIs(t, "credential of deleted connector", err, store.ErrNotFound)
	creds, err := s.ListCredentials(ctx, appA, "microsoft", store.ListOptions{})
	must(t, "ListCredentials", err)
	if len(creds) != 0 {
		t.Fatalf("credentials of deleted connector still listed: %+v", creds)
	}
	if _, err := s.GetCredential(ctx, appA, "cred-g-"+appA); err != nil {
		t.Fatalf("credential of another connector deleted: %v", err)
	}
	if _, err := s.GetCredential(ctx, appB, "cred-b-"+appB); err != nil {
		t.Fatalf("credential of another app deleted: %v", err)
	}
	mustIs(t, "DeleteConnector again", s.DeleteConnector(ctx, appA, "microsoft"), store.ErrNotFound)
	// The provider can be set up again from scratch.
	newConnector(t, s, appA, "microsoft")

	boom := fmt.Errorf("wrapped: %w", store.ErrConflict)
	_, err = s.UpdateConnector(ctx, appA, "google", func(old store.Connector) (store.Connector, error) {
		old.Name = "not written"
		return old, boom
	})
	if err != boom {
		t.Fatalf("UpdateConnector closure error: got %v, want it unchanged", err)
	}
	got, _ = s.GetConnector(ctx, appA, "google")
	if got.Name != "google" {
		t.Fatalf("failed update was written: %+v", got)
	}
	_, err = s.UpdateConnector(ctx, appA, "imap", func(old store.Connector) (store.Connector, error) { return old, nil })
	mustIs(t, "UpdateConnector missing", err, store.ErrNotFound)
}

func testConnectorPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	providers := []string{"p0", "p1", "p2", "p3", "p4"}
	for i, p := range providers {
		must(t, "CreateConnector", s.CreateConnector(ctx, store.Connector{
			AppID: app, Provider: p, CreatedAt: t0.Add(time.Duration(i) * time.Second),
			UpdatedAt: t0.Add(time.Duration(10-i) * time.Second),
		}))
	}
	newConnector(t, s, newApp(t, s), "p9") // another app's
	names := func(cs []store.Connector) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Provider)
		}
		return out
	}
	for _, tc := range []struct {
		opts store.ListOptions
		want []string
	}{
		{store.ListOptions{}, []string{"p4", "p3", "p2", "p1", "p0"}},
		{store.ListOptions{Asc: true}, []string{"p0", "p1", "p2", "p3", "p4"}},
		{store.ListOptions{Limit: 2}, []string{"p4", "p3"}},
		{store.ListOptions{Limit: 2, Offset: 2}, []string{"p2", "p1"}},
		{store.ListOptions{Limit: 2, Offset: 4}, []string{"p0"}},
		{store.ListOptions{Limit: 2, Offset: 5}, nil},
		{store.ListOptions{Offset: 3, Asc: true}, []string{"p3", "p4"}},
		{store.ListOptions{SortBy: "updated_at", Asc: true, Limit: 3}, []string{"p4", "p3", "p2"}},
		{store.ListOptions{SortBy: "updated_at"}, []string{"p0", "p1", "p2", "p3", "p4"}},
	} {
		got, err := s.ListConnectors(ctx, app, tc.opts)
		must(t, "ListConnectors", err)
		mustEqual(t, fmt.Sprintf("ListConnectors(%+v)", tc.opts), names(got), tc.want)
	}
	if _, err := s.ListConnectors(ctx, app, store.ListOptions{SortBy: "name; DROP TABLE grants"}); err == nil {
		t.Fatal("ListConnectors with an unknown SortBy succeeded")
	}
	if _, err := s.ListConnectors(ctx, app, store.ListOptions{Limit: -1}); err == nil {
		t.Fatal("ListConnectors with a negative Limit succeeded")
	}
}
