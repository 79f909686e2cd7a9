package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/store"
)

// beforeWrite is the real store, with a hook run just before a grant or
// connector is written: a deletion committing there, after the deleting
// request has already looked for what to invalidate or clear, is the
// interleaving two concurrent requests (or nodes) can produce.
type beforeWrite struct {
	store.Store
	beforeGrant     func()
	beforeConnector func()
}

func (b *beforeWrite) CreateGrant(ctx context.Context, g store.Grant, evs ...store.Event) error {
	if b.beforeGrant != nil {
		b.beforeGrant()
		b.beforeGrant = nil
	}
	return b.Store.CreateGrant(ctx, g, evs...)
}

func (b *beforeWrite) UpsertGrant(ctx context.Context, g store.Grant, evs []store.Event, reauth func(store.Grant) (store.Grant, []store.Event, error)) (store.Grant, bool, error) {
	if b.beforeGrant != nil {
		b.beforeGrant()
		b.beforeGrant = nil
	}
	return b.Store.UpsertGrant(ctx, g, evs, reauth)
}

func (b *beforeWrite) UpdateConnector(ctx context.Context, appID, prov string, f func(store.Connector) (store.Connector, error)) (store.Connector, error) {
	if b.beforeConnector != nil {
		b.beforeConnector()
		b.beforeConnector = nil
	}
	return b.Store.UpdateConnector(ctx, appID, prov, f)
}

// A grant authenticated while its connector or credential is deleted is
// not written (the write checks its client in its own transaction), and
// the caller is told; it is never left valid with no client to refresh it.
func TestGrantWrittenDuringClientDeletion(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		credential bool
	}{
		{"connector deleted", false},
		{"credential deleted", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			clientID := e.OAuthConnector(key, "microsoft")
			email := "dana-" + strings.ReplaceAll(c.name, " ", "-") + "@example.com"
			settings := map[string]any{"refresh_token": e.RefreshToken("microsoft", clientID, email)}
			var credID string
			if c.credential {
				r := e.Do("POST", "/v3/connectors/microsoft/creds", key, map[string]any{"name": "same client", "credential_type": "connector",
					"credential_data": map[string]any{"client_id": clientID, "client_secret": "secret-microsoft-canary"}})
				if r.Status != 201 {
					t.Fatalf("create credential: %d %s", r.Status, r.Raw)
				}
				credID = r.Data()["id"].(string)
				settings["credential_id"] = credID
			}
			st := &beforeWrite{Store: e.Server.Store}
			st.beforeGrant = func() {
				var err error
				if c.credential {
					err = e.Server.Store.DeleteCredential(ctx, appID, credID)
				} else {
					err = e.Server.Store.DeleteConnector(ctx, appID, "microsoft")
				}
				if err != nil {
					t.Error(err)
				}
			}
			svc := *e.Server.Grants
			svc.Store = st
			_, _, err := svc.Authenticate(ctx, grant.AuthRequest{AppID: appID, Provider: "microsoft", Settings: settings})
			if err == nil || !strings.Contains(err.Error(), "was deleted while the grant was being authenticated; nothing was stored") {
				t.Fatalf("Authenticate: %v", err)
			}
			if g, err := e.Server.Store.GetGrantByEmail(ctx, appID, email); err == nil {
				t.Errorf("a grant was written: %s %s", g.ID, g.Status)
			}
			_ = e.Do("DELETE", "/v3/connectors/microsoft", key, nil)
		})
	}
}

// A connector's active_credential_id set while that credential is deleted
// does not keep naming it (every new authentication would fail).
func TestActiveCredentialDeletedDuringUpdate(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")
	ctx := context.Background()
	e.OAuthConnector(key, "google")
	r := e.Do("POST", "/v3/connectors/google/creds", key, map[string]any{"name": "other", "credential_type": "connector",
		"credential_data": map[string]any{"client_id": "other", "client_secret": "other-secret"}})
	if r.Status != 201 {
		t.Fatalf("create credential: %d %s", r.Status, r.Raw)
	}
	credID := r.Data()["id"].(string)
	st := &beforeWrite{Store: e.Server.Store}
	st.beforeConnector = func() {
		if err := e.Server.Store.DeleteCredential(ctx, appID, credID); err != nil {
			t.Error(err)
		}
	}
	c0 := e.Server.Connectors
	svc := &connector.Service{Store: st, Vault: c0.Vault, Providers: c0.Providers, Now: c0.Now, NewID: c0.NewID}
	_, err := svc.Update(ctx, appID, "google", connector.Input{Provider: "google", ActiveCredentialID: &credID})
	if err == nil || !strings.Contains(err.Error(), "was deleted while the connector was being updated") {
		t.Fatalf("Update: %v", err)
	}
	c, err := e.Server.Store.GetConnector(ctx, appID, "google")
	if err != nil || c.ActiveCredentialID != "" {
		t.Errorf("connector after the race: active_credential_id %q (%v); want none", c.ActiveCredentialID, err)
	}
}
