package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Credentials.

func testCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	appA, appB := newApp(t, s), newApp(t, s)
	newConnector(t, s, appA, "microsoft")
	newConnector(t, s, appA, "google")
	newConnector(t, s, appB, "microsoft")

	c := store.Credential{ID: newID("cred"), AppID: appA, Provider: "microsoft", Name: "admin consent",
		Type: "adminconsent", Data: []byte{0, 1, 2, 255}, CreatedAt: t0, UpdatedAt: t0.Add(time.Microsecond)}
	must(t, "CreateCredential", s.CreateCredential(ctx, c))
	mustIs(t, "CreateCredential same id", s.CreateCredential(ctx, c), store.ErrAlreadyExists)

	sameName := c
	sameName.ID = newID("cred")
	mustIs(t, "CreateCredential same name and provider", s.CreateCredential(ctx, sameName), store.ErrAlreadyExists)
	sameName.Provider = "google"
	must(t, "CreateCredential same name, other provider", s.CreateCredential(ctx, sameName))
	sameName.ID, sameName.AppID, sameName.Provider = newID("cred"), appB, "microsoft"
	must(t, "CreateCredential same name, other app", s.CreateCredential(ctx, sameName))

	noConnector := store.Credential{ID: newID("cred"), AppID: appA, Provider: "imap", Name: "x", CreatedAt: t0}
	mustIs(t, "CreateCredential without connector", s.CreateCredential(ctx, noConnector), store.ErrNotFound)
	noConnector.AppID, noConnector.Provider = appB, "google" // google exists in A only
	mustIs(t, "CreateCredential for another app's connector", s.CreateCredential(ctx, noConnector), store.ErrNotFound)

	want := c
	want.CreatedAt, want.UpdatedAt = us(c.CreatedAt), us(c.UpdatedAt)
	got, err := s.GetCredential(ctx, appA, c.ID)
	must(t, "GetCredential", err)
	mustEqual(t, "GetCredential", got, want)

	updated, err := s.UpdateCredential(ctx, appA, c.ID, func(old store.Credential) (store.Credential, error) {
		mustEqual(t, "closure input", old, want)
		old.ID, old.AppID, old.Provider, old.CreatedAt = "x", appB, "google", t0.Add(time.Hour) // ignored
		old.Name, old.Type, old.Data, old.UpdatedAt = "renamed", "connector", []byte("new"), t0.Add(time.Hour)
		return old, nil
	})
	must(t, "UpdateCredential", err)
	want.Name, want.Type, want.Data, want.UpdatedAt = "renamed", "connector", []byte("new"), us(t0.Add(time.Hour))
	mustEqual(t, "UpdateCredential result", updated, want)
	got, _ = s.GetCredential(ctx, appA, c.ID)
	mustEqual(t, "GetCredential after update", got, want)

	// Renaming onto an existing name fails and writes nothing.
	_, err = s.UpdateCredential(ctx, appA, c.ID, func(old store.Credential) (store.Credential, error) {
		old.Name = "admin consent" // sameName under google: fine
		return old, nil
	})
	must(t, "UpdateCredential rename", err)
	third := store.Credential{ID: newID("cred"), AppID: appA, Provider: "microsoft", Name: "third", CreatedAt: t0}
	must(t, "CreateCredential third", s.CreateCredential(ctx, third))
	_, err = s.UpdateCredential(ctx, appA, third.ID, func(old store.Credential) (store.Credential, error) {
		old.Name = "admin consent"
		return old, nil
	})
	mustIs(t, "UpdateCredential onto a taken name", err, store.ErrAlreadyExists)

	_, err = s.UpdateCredential(ctx, appA, "missing", func(old store.Credential) (store.Credential, error) { return old, nil })
	mustIs(t, "UpdateCredential missing", err, store.ErrNotFound)
	must(t, "DeleteCredential", s.DeleteCredential(ctx, appA, c.ID))
	_, err = s.GetCredential(ctx, appA, c.ID)
	mustIs(t, "GetCredential after delete", err, store.ErrNotFound)
	mustIs(t, "DeleteCredential again", s.DeleteCredential(ctx, appA, c.ID), store.ErrNotFound)
}

func testCredentialPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	newConnector(t, s, app, "microsoft")
	newConnector(t, s, app, "google")
	var ids []string
	for i := range 5 {
		c := store.Credential{ID: fmt.Sprintf("c%d-%s", i, app), AppID: app, Provider: "microsoft", Name: fmt.Sprint("n", i),
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0.Add(time.Duration(-i) * time.Minute)}
		must(t, "CreateCredential", s.CreateCredential(ctx, c))
		ids = append(ids, c.ID)
	}
	must(t, "CreateCredential google", s.CreateCredential(ctx, store.Credential{ID: newID("cred"), AppID: app, Provider: "google", Name: "g", CreatedAt: t0}))
	idsOf := func(cs []store.Credential) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tc := range []struct {
		opts store.ListOptions
		want []string
	}{
		{store.ListOptions{Asc: true}, ids},
		{store.ListOptions{}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{store.ListOptions{Limit: 2, Offset: 1, Asc: true}, []string{ids[1], ids[2]}},
		{store.ListOptions{Limit: 10, Offset: 3, Asc: true}, []string{ids[3], ids[4]}},
		{store.ListOptions{SortBy: "updated_at", Asc: true, Limit: 2}, []string{ids[4], ids[3]}},
	} {
		got, err := s.ListCredentials(ctx, app, "microsoft", tc.opts)
		must(t, "ListCredentials", err)
		mustEqual(t, fmt.Sprintf("ListCredentials(%+v)", tc.opts), idsOf(got), tc.want)
	}
}
