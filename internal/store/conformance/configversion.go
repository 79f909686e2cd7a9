package conformance

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// An application's configuration version grows with every change to its
// API keys, connectors, credentials and settings, in the change's own
// transaction: a change that fails leaves it; other applications' changes
// and grant writes do not move it. GetAPIKeyAuth reads a key with its
// application and version.
func testConfigVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	appID, other := newApp(t, s), newApp(t, s)
	_, err := s.GetConfigVersion(ctx, "no-such-app")
	mustIs(t, "GetConfigVersion of no application", err, store.ErrNotFound)

	last, err := s.GetConfigVersion(ctx, appID)
	must(t, "GetConfigVersion", err)
	step := func(what string, grows bool, change func() error) {
		t.Helper()
		must(t, what, change())
		v, err := s.GetConfigVersion(ctx, appID)
		must(t, "GetConfigVersion after "+what, err)
		if grows && v <= last || !grows && v != last {
			t.Fatalf("%s: configuration version %d → %d (should it grow: %v)", what, last, v, grows)
		}
		last = v
	}
	failing := func(what string, change func() error) {
		t.Helper()
		step(what, false, func() error {
			if change() == nil {
				t.Fatalf("%s succeeded", what)
			}
			return nil
		})
	}

	key := store.APIKey{ID: newID("key"), AppID: appID, Name: "k", Hash: []byte(newID("hash")), Prefix: "grantd_x", Scopes: []string{"credentials:read"}, CreatedAt: t0}
	step("CreateAPIKey", true, func() error { return s.CreateAPIKey(ctx, key) })
	k, a, v, err := s.GetAPIKeyAuth(ctx, key.Hash)
	must(t, "GetAPIKeyAuth", err)
	if k.ID != key.ID || k.AppID != appID || !k.RevokedAt.IsZero() || len(k.Scopes) != 1 || a.ID != appID || a.Name != "app "+appID || v != last {
		t.Fatalf("GetAPIKeyAuth: %+v, %+v, version %d (want %d)", k, a, v, last)
	}
	_, _, _, err = s.GetAPIKeyAuth(ctx, []byte("no such hash"))
	mustIs(t, "GetAPIKeyAuth of an unknown hash", err, store.ErrNotFound)

	step("RevokeAPIKey", true, func() error { return s.RevokeAPIKey(ctx, key.ID, t0.Add(time.Hour)) })
	k, _, v, err = s.GetAPIKeyAuth(ctx, key.Hash)
	must(t, "GetAPIKeyAuth of a revoked key", err)
	if k.RevokedAt.IsZero() || v != last {
		t.Fatalf("GetAPIKeyAuth of a revoked key: %+v, version %d (want %d)", k, v, last)
	}
	failing("RevokeAPIKey of an unknown key", func() error { return s.RevokeAPIKey(ctx, "no-such-key", t0) })

	step("CreateConnector", true, func() error {
		return s.CreateConnector(ctx, store.Connector{AppID: appID, Provider: "google", Name: "g", CreatedAt: t0, UpdatedAt: t0})
	})
	failing("CreateConnector again", func() error {
		return s.CreateConnector(ctx, store.Connector{AppID: appID, Provider: "google", Name: "g", CreatedAt: t0, UpdatedAt: t0})
	})
	step("UpdateConnector", true, func() error {
		_, err := s.UpdateConnector(ctx, appID, "google", func(c store.Connector) (store.Connector, error) {
			c.Name = "renamed"
			return c, nil
		})
		return err
	})
	failing("UpdateConnector of a missing connector", func() error {
		_, err := s.UpdateConnector(ctx, appID, "zoom", func(c store.Connector) (store.Connector, error) { return c, nil })
		return err
	})
	cred := store.Credential{ID: newID("cred"), AppID: appID, Provider: "google", Name: "c", Type: "connector", CreatedAt: t0, UpdatedAt: t0}
	step("CreateCredential", true, func() error { return s.CreateCredential(ctx, cred) })
	step("UpdateCredential", true, func() error {
		_, err := s.UpdateCredential(ctx, appID, cred.ID, func(c store.Credential) (store.Credential, error) {
			c.Data = []byte("sealed")
			return c, nil
		})
		return err
	})
	step("CreateGrant (not configuration)", false, func() error { return s.CreateGrant(ctx, grant(appID, "a@example.com")) })
	step("a change of another application", false, func() error {
		return s.CreateConnector(ctx, store.Connector{AppID: other, Provider: "google", Name: "g", CreatedAt: t0, UpdatedAt: t0})
	})
	step("DeleteCredential", true, func() error { return s.DeleteCredential(ctx, appID, cred.ID) })
	failing("DeleteCredential again", func() error { return s.DeleteCredential(ctx, appID, cred.ID) })
	step("DeleteConnector", true, func() error { return s.DeleteConnector(ctx, appID, "google") })
	step("UpdateApplication", true, func() error {
		_, err := s.UpdateApplication(ctx, appID, func(a store.Application) (store.Application, error) {
			a.Name = "renamed"
			return a, nil
		})
		return err
	})
}
