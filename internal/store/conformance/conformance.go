// Package conformance is the test suite every store.Store backend passes.
// A backend's tests call Run with a constructor that returns a new, empty
// store (and closes it with t.Cleanup); its benchmarks call Bench.
package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Run runs the conformance suite. newStore must return a new, empty store;
// every subtest gets its own and subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Applications", testApplications},
		{"APIKeys", testAPIKeys},
		{"Connectors", testConnectors},
		{"ConnectorPaging", testConnectorPaging},
		{"Credentials", testCredentials},
		{"CredentialPaging", testCredentialPaging},
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantEmailUniqueness", testGrantEmailUniqueness},
		{"GrantUpdate", testGrantUpdate},
		{"GrantUpdateClosureError", testGrantUpdateClosureError},
		{"GrantConcurrentUpdates", testGrantConcurrentUpdates},
		{"GrantDelete", testGrantDelete},
		{"ListGrantsFilters", testListGrantsFilters},
		{"ListGrantsOrderAndPaging", testListGrantsOrderAndPaging},
		{"TenantIsolation", testTenantIsolation},
		{"Events", testEvents},
		{"EventsNotWrittenOnFailure", testEventsNotWrittenOnFailure},
		{"Codes", testCodes},
		{"CodesConcurrentConsume", testCodesConcurrentConsume},
		{"Webhooks", testWebhooks},
		{"RewrapSecrets", testRewrapSecrets},
		{"RewrapSecretsConcurrentChange", testRewrapSecretsConcurrentChange},
		{"ClaimDueGrants", testClaimDueGrants},
		{"ClaimDueGrantsConcurrent", testClaimDueGrantsConcurrent},
		{"ClaimGrant", testClaimGrant},
		{"KeyringCheck", testKeyringCheck},
		{"GrantRequireClient", testGrantRequireClient},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// t0 has nanoseconds and a non-UTC zone on purpose: stores keep UTC µs.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 2*3600))

// us normalises t as every store does.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// mustEqual fails the test when got and want differ (reflect.DeepEqual).
func mustEqual[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func newApp(t testing.TB, s store.Store) string {
	t.Helper()
	id := newID("app")
	must(t, "CreateApplication", s.CreateApplication(context.Background(), store.Application{
		ID: id, Name: "app " + id, CreatedAt: t0, UpdatedAt: t0,
	}))
	return id
}

func newConnector(t testing.TB, s store.Store, appID, provider string) {
	t.Helper()
	must(t, "CreateConnector", s.CreateConnector(context.Background(), store.Connector{
		AppID: appID, Provider: provider, Name: provider, CreatedAt: t0, UpdatedAt: t0,
	}))
}

func grant(appID, email string) store.Grant {
	return store.Grant{
		ID: newID("grant"), AppID: appID, Provider: "google", Email: email,
		Status: store.GrantValid, CreatedAt: t0, UpdatedAt: t0,
	}
}

func newGrant(t testing.TB, s store.Store, appID, email string) store.Grant {
	t.Helper()
	g := grant(appID, email)
	must(t, "CreateGrant", s.CreateGrant(context.Background(), g))
	return g
}

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

func grantIDs(gs []store.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
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

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := grant(app, "ev@example.com")
	e1 := store.Event{ID: newID("evt"), Type: "grant.created", Payload: []byte(`{"b":1,  "a":[true]}`), CreatedAt: t0}
	must(t, "CreateGrant", s.CreateGrant(ctx, g, e1))
	e2 := store.Event{ID: newID("evt"), Type: "grant.updated", CreatedAt: t0.Add(time.Second)}
	e3 := store.Event{ID: newID("evt"), AppID: app, GrantID: g.ID, Type: "grant.expired", Payload: []byte(`{}`), CreatedAt: t0.Add(time.Second)}
	_, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Status = store.GrantInvalid
		return old, []store.Event{e2, e3}, nil
	})
	must(t, "UpdateGrant", err)
	_, err = s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		return old, nil, nil // no events
	})
	must(t, "UpdateGrant without events", err)
	e4 := store.Event{ID: newID("evt"), Type: "grant.deleted", CreatedAt: t0.Add(2 * time.Second)}
	must(t, "DeleteGrant", s.DeleteGrant(ctx, app, g.ID, e4))

	evs, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	if len(evs) != 4 {
		t.Fatalf("ListEvents = %d events, want 4: %+v", len(evs), evs)
	}
	for i, want := range []store.Event{e1, e2, e3, e4} {
		want.AppID, want.GrantID, want.CreatedAt = app, g.ID, us(want.CreatedAt)
		want.Seq = evs[i].Seq
		if i > 0 && evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("Seq not increasing: %d after %d", evs[i].Seq, evs[i-1].Seq)
		}
		mustEqual(t, fmt.Sprint("event ", i), evs[i], want)
	}
	if string(evs[0].Payload) != `{"b":1,  "a":[true]}` {
		t.Fatalf("payload not kept byte for byte: %s", evs[0].Payload)
	}

	// Paging by afterSeq.
	page, err := s.ListEvents(ctx, evs[0].Seq, 2)
	must(t, "ListEvents page", err)
	mustEqual(t, "ListEvents(after e1, 2)", page, evs[1:3])
	page, err = s.ListEvents(ctx, evs[2].Seq, 2)
	must(t, "ListEvents page 2", err)
	mustEqual(t, "ListEvents(after e3, 2)", page, evs[3:])
	page, err = s.ListEvents(ctx, evs[3].Seq, 2)
	must(t, "ListEvents last page", err)
	if len(page) != 0 {
		t.Fatalf("ListEvents after the last = %+v", page)
	}
	page, _ = s.ListEvents(ctx, 0, 1)
	mustEqual(t, "ListEvents(0, 1)", page, evs[:1])

	// Seq keeps increasing across many writers.
	var last int64 = evs[3].Seq
	done := make(chan error)
	for i := range 8 {
		go func() {
			done <- s.CreateGrant(ctx, grant(app, fmt.Sprintf("p%d@x.com", i)),
				store.Event{ID: newID("evt"), Type: "grant.created"}, store.Event{ID: newID("evt"), Type: "grant.touched"})
		}()
	}
	for range 8 {
		must(t, "concurrent CreateGrant", <-done)
	}
	more, err := s.ListEvents(ctx, last, 0)
	must(t, "ListEvents", err)
	if len(more) != 16 {
		t.Fatalf("got %d events, want 16", len(more))
	}
	for i, e := range more {
		if e.Seq <= last {
			t.Fatalf("event %d: Seq %d not after %d", i, e.Seq, last)
		}
		last = e.Seq
		if e.CreatedAt.IsZero() || e.AppID != app || e.GrantID == "" {
			t.Fatalf("event defaults not filled: %+v", e)
		}
	}
	// The two events of one CreateGrant are adjacent and in order.
	for i := 0; i < len(more); i += 2 {
		if more[i].Type != "grant.created" || more[i+1].Type != "grant.touched" || more[i].GrantID != more[i+1].GrantID {
			t.Fatalf("events of one transaction interleaved: %+v", more)
		}
	}
}

func testEventsNotWrittenOnFailure(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "dup@example.com")
	ev := store.Event{ID: newID("evt"), Type: "grant.created"}
	mustIs(t, "CreateGrant duplicate email", s.CreateGrant(ctx, grant(app, "DUP@example.com"), ev), store.ErrAlreadyExists)
	dupID := grant(app, "x@example.com")
	dupID.ID = g.ID
	mustIs(t, "CreateGrant duplicate id", s.CreateGrant(ctx, dupID, ev), store.ErrAlreadyExists)
	mustIs(t, "DeleteGrant missing", s.DeleteGrant(ctx, app, "missing", ev), store.ErrNotFound)
	_, err := s.UpdateGrant(ctx, app, "missing", func(old store.Grant) (store.Grant, []store.Event, error) {
		return old, []store.Event{ev}, nil
	})
	mustIs(t, "UpdateGrant missing", err, store.ErrNotFound)
	other := newGrant(t, s, app, "other@example.com")
	_, err = s.UpdateGrant(ctx, app, other.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Email = "dup@EXAMPLE.com"
		return old, []store.Event{ev}, nil
	})
	mustIs(t, "UpdateGrant onto a taken email", err, store.ErrAlreadyExists)
	evs, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	if len(evs) != 0 {
		t.Fatalf("failed operations wrote events: %+v", evs)
	}
}

func testCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := time.Now()
	c := store.Code{Hash: "h-" + newID("c"), AppID: app, GrantID: "g1", Data: []byte("payload"), ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	must(t, "CreateCode", s.CreateCode(ctx, c))
	mustIs(t, "CreateCode duplicate", s.CreateCode(ctx, c), store.ErrAlreadyExists)

	got, err := s.ConsumeCode(ctx, c.Hash, now)
	must(t, "ConsumeCode", err)
	want := c
	want.ExpiresAt, want.CreatedAt = us(c.ExpiresAt), us(c.CreatedAt)
	mustEqual(t, "ConsumeCode", got, want)
	_, err = s.ConsumeCode(ctx, c.Hash, now)
	mustIs(t, "ConsumeCode twice", err, store.ErrNotFound)

	expired := store.Code{Hash: "h-" + newID("c"), AppID: app, ExpiresAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Minute)}
	must(t, "CreateCode expired", s.CreateCode(ctx, expired))
	_, err = s.ConsumeCode(ctx, expired.Hash, now)
	mustIs(t, "ConsumeCode expired", err, store.ErrNotFound)
	// The expired code was deleted: it is gone even for an earlier clock.
	_, err = s.ConsumeCode(ctx, expired.Hash, now.Add(-time.Hour))
	mustIs(t, "ConsumeCode expired, again", err, store.ErrNotFound)

	_, err = s.ConsumeCode(ctx, "never-issued", now)
	mustIs(t, "ConsumeCode unknown", err, store.ErrNotFound)
	mustIs(t, "CreateCode for missing app", s.CreateCode(ctx, store.Code{Hash: "h-" + newID("c"), AppID: "no-such-app", ExpiresAt: now.Add(time.Minute)}), store.ErrNotFound)
}

func testCodesConcurrentConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	now := time.Now()
	for round := range 3 {
		c := store.Code{Hash: fmt.Sprintf("h%d-%s", round, app), AppID: app, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		must(t, "CreateCode", s.CreateCode(ctx, c))
		const n = 10
		start := make(chan struct{})
		errs := make(chan error, n)
		for range n {
			go func() {
				<-start
				_, err := s.ConsumeCode(ctx, c.Hash, now)
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
			case errors.Is(err, store.ErrNotFound):
			default:
				t.Fatalf("ConsumeCode: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent ConsumeCode calls succeeded, want exactly 1", wins)
		}
	}
}

func testWebhooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	w := store.Webhook{ID: newID("wh"), AppID: app, URL: "https://hooks.example/x", Description: "prod",
		TriggerTypes: []string{"grant.created", "grant.deleted"}, NotificationEmails: []string{"ops@example.com"},
		Status: "active", Secret: []byte("sig"), CreatedAt: t0, UpdatedAt: t0, StatusUpdatedAt: t0.Add(time.Nanosecond * 1001)}
	must(t, "CreateWebhook", s.CreateWebhook(ctx, w))
	mustIs(t, "CreateWebhook duplicate", s.CreateWebhook(ctx, w), store.ErrAlreadyExists)
	w2 := store.Webhook{ID: newID("wh"), AppID: app, URL: "https://hooks.example/y", CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second)}
	must(t, "CreateWebhook 2", s.CreateWebhook(ctx, w2))
	mustIs(t, "CreateWebhook for missing app", s.CreateWebhook(ctx, store.Webhook{ID: newID("wh"), AppID: "no-such-app"}), store.ErrNotFound)

	want := w
	want.CreatedAt, want.UpdatedAt, want.StatusUpdatedAt = us(w.CreatedAt), us(w.UpdatedAt), us(w.StatusUpdatedAt)
	got, err := s.GetWebhook(ctx, app, w.ID)
	must(t, "GetWebhook", err)
	mustEqual(t, "GetWebhook", got, want)
	want2 := w2
	want2.CreatedAt, want2.UpdatedAt = us(w2.CreatedAt), us(w2.UpdatedAt)
	list, err := s.ListWebhooks(ctx, app)
	must(t, "ListWebhooks", err)
	mustEqual(t, "ListWebhooks", list, []store.Webhook{want, want2})

	updated, err := s.UpdateWebhook(ctx, app, w.ID, func(old store.Webhook) (store.Webhook, error) {
		mustEqual(t, "closure input", old, want)
		old.ID, old.AppID, old.CreatedAt = "x", "y", time.Time{} // ignored
		old.Status, old.StatusUpdatedAt, old.UpdatedAt = "failing", t0.Add(time.Hour), t0.Add(time.Hour)
		old.TriggerTypes, old.NotificationEmails, old.Secret = []string{"grant.expired"}, nil, []byte("sig2")
		return old, nil
	})
	must(t, "UpdateWebhook", err)
	want.Status, want.StatusUpdatedAt, want.UpdatedAt = "failing", us(t0.Add(time.Hour)), us(t0.Add(time.Hour))
	want.TriggerTypes, want.NotificationEmails, want.Secret = []string{"grant.expired"}, nil, []byte("sig2")
	mustEqual(t, "UpdateWebhook result", updated, want)
	got, _ = s.GetWebhook(ctx, app, w.ID)
	mustEqual(t, "GetWebhook after update", got, want)

	_, err = s.UpdateWebhook(ctx, app, w.ID, func(old store.Webhook) (store.Webhook, error) {
		old.URL = "not written"
		return old, store.ErrConflict
	})
	if err != store.ErrConflict {
		t.Fatalf("UpdateWebhook closure error: got %v, want ErrConflict unchanged", err)
	}
	got, _ = s.GetWebhook(ctx, app, w.ID)
	mustEqual(t, "after failed update", got, want)
	_, err = s.UpdateWebhook(ctx, app, "missing", func(old store.Webhook) (store.Webhook, error) { return old, nil })
	mustIs(t, "UpdateWebhook missing", err, store.ErrNotFound)

	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, app, w.ID))
	_, err = s.GetWebhook(ctx, app, w.ID)
	mustIs(t, "GetWebhook after delete", err, store.ErrNotFound)
	mustIs(t, "DeleteWebhook again", s.DeleteWebhook(ctx, app, w.ID), store.ErrNotFound)
	list, _ = s.ListWebhooks(ctx, app)
	if len(list) != 1 || list[0].ID != w2.ID {
		t.Fatalf("ListWebhooks after delete = %+v", list)
	}
}

// rewrapV1 rewrites "v1:" blobs to "v2:" and leaves anything else alone.
func rewrapV1(b []byte) ([]byte, bool, error) {
	if len(b) == 0 {
		return nil, false, errors.New("rewrap called with an empty blob")
	}
	if len(b) > 3 && string(b[:3]) == "v1:" {
		return append([]byte("v2:"), b[3:]...), true, nil
	}
	return b, false, nil
}

func testRewrapSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	v1 := func(s string) []byte { return []byte("v1:" + s) }
	v2 := func(s string) []byte { return []byte("v2:" + s) }
	want := 0 // blobs under v1

	// Connectors: three with v1, one v2, one nil.
	for i, secret := range [][]byte{v1("c0"), v1("c1"), v2("c2"), nil, v1("c4")} {
		must(t, "CreateConnector", s.CreateConnector(ctx, store.Connector{AppID: app, Provider: fmt.Sprint("p", i), Secret: secret, CreatedAt: t0}))
	}
	want += 3
	// Credentials: two v1, one empty.
	for i, data := range [][]byte{v1("k0"), {}, v1("k2")} {
		must(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{ID: fmt.Sprintf("cr%d-%s", i, app), AppID: app, Provider: "p0", Name: fmt.Sprint(i), Data: data, CreatedAt: t0}))
	}
	want += 2
	// Grants: seven v1 (more than a batch), one v2, one nil.
	var grants []store.Grant
	for i := range 9 {
		g := grant(app, fmt.Sprintf("r%d@x.com", i))
		switch {
		case i < 7:
			g.Secrets = v1(fmt.Sprint("g", i))
		case i == 7:
			g.Secrets = v2("g7")
		}
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		grants = append(grants, g)
	}
	want += 7
	// Codes: one v1, one without data.
	now := time.Now()
	must(t, "CreateCode", s.CreateCode(ctx, store.Code{Hash: "c1-" + app, AppID: app, Data: v1("code"), ExpiresAt: now.Add(time.Hour)}))
	must(t, "CreateCode", s.CreateCode(ctx, store.Code{Hash: "c2-" + app, AppID: app, ExpiresAt: now.Add(time.Hour)}))
	want++
	// Webhooks: one v1, one v2.
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w1-" + app, AppID: app, Secret: v1("wh"), CreatedAt: t0}))
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w2-" + app, AppID: app, Secret: v2("wh2"), CreatedAt: t0}))
	want++

	n, err := s.RewrapSecrets(ctx, 2, rewrapV1)
	must(t, "RewrapSecrets", err)
	if n != want {
		t.Fatalf("RewrapSecrets rewrote %d blobs, want %d", n, want)
	}

	for i, secret := range [][]byte{v2("c0"), v2("c1"), v2("c2"), nil, v2("c4")} {
		c, err := s.GetConnector(ctx, app, fmt.Sprint("p", i))
		must(t, "GetConnector", err)
		mustEqual(t, "connector secret", c.Secret, secret)
	}
	for i, data := range [][]byte{v2("k0"), nil, v2("k2")} {
		c, err := s.GetCredential(ctx, app, fmt.Sprintf("cr%d-%s", i, app))
		must(t, "GetCredential", err)
		if string(c.Data) != string(data) {
			t.Fatalf("credential %d data = %q, want %q", i, c.Data, data)
		}
	}
	for i, g := range grants {
		got, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		wantSecrets := []byte(nil)
		if i < 8 {
			wantSecrets = v2(fmt.Sprint("g", i))
		}
		mustEqual(t, fmt.Sprint("grant secrets ", i), got.Secrets, wantSecrets)
		if got.Version != 1 {
			t.Fatalf("rewrap changed the grant's version: %d", got.Version)
		}
	}
	code, err := s.ConsumeCode(ctx, "c1-"+app, now)
	must(t, "ConsumeCode", err)
	mustEqual(t, "code data", code.Data, v2("code"))
	wh, err := s.GetWebhook(ctx, app, "w1-"+app)
	must(t, "GetWebhook", err)
	mustEqual(t, "webhook secret", wh.Secret, v2("wh"))

	// A second pass finds nothing to do.
	n, err = s.RewrapSecrets(ctx, 3, rewrapV1)
	must(t, "RewrapSecrets again", err)
	if n != 0 {
		t.Fatalf("second RewrapSecrets rewrote %d blobs, want 0", n)
	}

	// A rewrap error stops the walk and is reported.
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w3-" + app, AppID: app, Secret: v1("w3"), CreatedAt: t0}))
	boom := errors.New("vault down")
	_, err = s.RewrapSecrets(ctx, 10, func([]byte) ([]byte, bool, error) { return nil, false, boom })
	mustIs(t, "RewrapSecrets with failing rewrapper", err, boom)
	wh, _ = s.GetWebhook(ctx, app, "w3-"+app)
	mustEqual(t, "webhook secret after failed rewrap", wh.Secret, v1("w3"))
}

func testRewrapSecretsConcurrentChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	a := grant(app, "a@x.com")
	a.Secrets = []byte("v1:a")
	b := grant(app, "b@x.com")
	b.Secrets = []byte("v1:b")
	must(t, "CreateGrant", s.CreateGrant(ctx, a))
	must(t, "CreateGrant", s.CreateGrant(ctx, b))

	// While a's blob is being rewrapped, an update stores a new secret for
	// a. The rewrap must not overwrite it.
	n, err := s.RewrapSecrets(ctx, 10, func(blob []byte) ([]byte, bool, error) {
		if string(blob) == "v1:a" {
			_, err := s.UpdateGrant(ctx, app, a.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
				old.Secrets = []byte("v2:fresh")
				return old, nil, nil
			})
			if err != nil {
				return nil, false, err
			}
		}
		return rewrapV1(blob)
	})
	must(t, "RewrapSecrets", err)
	if n != 1 {
		t.Fatalf("RewrapSecrets = %d, want 1 (the concurrently changed blob is skipped)", n)
	}
	got, _ := s.GetGrant(ctx, app, a.ID)
	mustEqual(t, "concurrently changed secret", string(got.Secrets), "v2:fresh")
	got, _ = s.GetGrant(ctx, app, b.ID)
	mustEqual(t, "other secret", string(got.Secrets), "v2:b")
}

// testKeyringCheck: the first value recorded stays, whoever asks later
// (concurrently too), and RewrapSecrets walks it first.
func testKeyringCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			var err error
			got[i], err = s.KeyringCheck(ctx, []byte(fmt.Sprintf("check-%d", i)))
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) || !bytes.HasPrefix(got[0], []byte("check-")) {
			t.Fatalf("concurrent first checks disagree: %q", got)
		}
	}
	again, err := s.KeyringCheck(ctx, []byte("later"))
	must(t, "KeyringCheck later", err)
	if !bytes.Equal(again, got[0]) {
		t.Errorf("a later KeyringCheck returned %q, want the first %q", again, got[0])
	}
	var first []byte
	_, err = s.RewrapSecrets(ctx, 1, func(b []byte) ([]byte, bool, error) {
		if first == nil {
			first = bytes.Clone(b)
		}
		return []byte("rewrapped"), true, nil
	})
	must(t, "RewrapSecrets", err)
	if !bytes.Equal(first, got[0]) {
		t.Errorf("the first blob RewrapSecrets walked is %q, want the keyring check", first)
	}
	after, err := s.KeyringCheck(ctx, []byte("x"))
	must(t, "KeyringCheck after rewrap", err)
	if string(after) != "rewrapped" {
		t.Errorf("the keyring check after RewrapSecrets is %q", after)
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
