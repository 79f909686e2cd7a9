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

func (b *beforeWrite) UpdateConnector(ctx context.Context, appID, prov string, f func(store.Connector) (store.Connector, error)) (store.Connector, error) {
	if b.beforeConnector != nil {
		b.beforeConnector()
		b.beforeConnector = nil
	}
	return b.Store.UpdateConnector(ctx, appID, prov, f)
}

// A grant authenticated while its connector or credential is deleted ends
// invalid with the deletion's cause and one grant.expired, and the caller
// is told; it is never left valid with no client to refresh it.
func TestGrantWrittenDuringClientDeletion(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")
	ctx := context.Background()
	for _, c := range []struct {
		name, cause string
		credential  bool
	}{
		{"connector deleted", grant.CauseConnectorDeleted, false},
		{"credential deleted", grant.CauseCredentialDeleted, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			clientID := e.OAuthConnector(key, "microsoft")
			settings := map[string]any{"refresh_token": e.RefreshToken("microsoft", clientID, "dana-"+c.cause+"@example.com")}
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
			g, _, err := svc.Authenticate(ctx, grant.AuthRequest{AppID: appID, Provider: "microsoft", Settings: settings})
			if err == nil || !strings.Contains(err.Error(), "was deleted while this grant was being authenticated") {
				t.Fatalf("Authenticate: %v", err)
			}
			stored, err := e.Server.Store.GetGrant(ctx, appID, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Status != store.GrantInvalid || stored.LastFailureClass != c.cause {
				t.Errorf("grant after the race: %s %q; want invalid, %s", stored.Status, stored.LastFailureClass, c.cause)
			}
			evs, _ := e.Server.Store.ListEvents(ctx, 0, 1000)
			expired := 0
			for _, ev := range evs {
				if ev.GrantID == g.ID && ev.Type == grant.EventExpired {
					expired++
				}
			}
			if expired != 1 {
				t.Errorf("%d grant.expired for the grant; want 1", expired)
			}
			_ = e.Do("DELETE", "/v3/grants/"+g.ID, key, nil)
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
	svc := *e.Server.Connectors
	svc.Store = st
	_, err := svc.Update(ctx, appID, "google", connector.Input{Provider: "google", ActiveCredentialID: &credID})
	if err == nil || !strings.Contains(err.Error(), "was deleted while the connector was being updated") {
		t.Fatalf("Update: %v", err)
	}
	c, err := e.Server.Store.GetConnector(ctx, appID, "google")
	if err != nil || c.ActiveCredentialID != "" {
		t.Errorf("connector after the race: active_credential_id %q (%v); want none", c.ActiveCredentialID, err)
	}
}
