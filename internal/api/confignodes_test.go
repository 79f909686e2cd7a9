package api_test

import (
	"context"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/testenv"
)

// Two grantd nodes on one database (PostgreSQL; SQLite shared by grantd
// serve and the grantd commands): each caches API keys, connectors and
// credentials, and a change made through either node, or the store
// directly (grantd apikey revoke), shows on the other from its next
// request on.
func TestConfigChangesReachEveryNode(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		a := apitest.New(t)
		b := apitest.New(t, apitest.Options{Sandbox: a.Sandbox, Configure: func(c *config.Config) {
			c.DataDir, c.Vault.Keyring = a.Config.DataDir, a.Config.Vault.Keyring
		}})
		testConfigChanges(t, a, b)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := testenv.PostgresSchema(t, "two nodes on PostgreSQL")
		a := apitest.New(t, apitest.Options{Configure: func(c *config.Config) { c.DatabaseURL = dsn }})
		b := apitest.New(t, apitest.Options{Sandbox: a.Sandbox, Configure: func(c *config.Config) {
			c.DatabaseURL, c.Vault.Keyring = dsn, a.Config.Vault.Keyring
		}})
		testConfigChanges(t, a, b)
	})
}

func testConfigChanges(t *testing.T, a, b *apitest.Env) {
	ctx := context.Background()
	appID, key := a.App("acme")
	_, spare, err := a.Server.Tenants.CreateAPIKey(ctx, appID, "spare", nil)
	if err != nil {
		t.Fatal(err)
	}
	detected := func(e *apitest.Env) bool {
		t.Helper()
		r := e.Do("POST", "/v3/providers/detect?email=someone@gmail.com", key, nil)
		if r.Status != 200 {
			t.Fatalf("detect: %d %s", r.Status, r.Raw)
		}
		return r.Data()["detected"] == true && r.Data()["provider"] == "google"
	}
	// Detection answers Google only when the application has a Google
	// connector: a, which found none, learns at once that b created one.
	if detected(a) {
		t.Fatal("google detected without a connector")
	}
	clientID := b.OAuthConnector(key, "google")
	if !detected(a) {
		t.Error("a does not detect google after b created the connector")
	}
	create := func(e *apitest.Env, k, client, email string) apitest.Response {
		t.Helper()
		return e.Do("POST", "/v3/connect/custom", k, map[string]any{"provider": "google",
			"settings": map[string]any{"refresh_token": e.RefreshToken("google", client, email)}})
	}
	// Both nodes have the key and the connector cached.
	for i, e := range []*apitest.Env{a, b, a, b} {
		if r := e.Do("GET", "/v3/applications", key, nil); r.Status != 200 {
			t.Fatalf("node %d: GET /v3/applications: %d %s", i, r.Status, r.Raw)
		}
		if r := create(e, key, clientID, "one@example.com"); r.Status != 201 {
			t.Fatalf("node %d: create: %d %s", i, r.Status, r.Raw)
		}
	}

	// The connector's client changes on b: a uses the new one at once
	// (the sandbox refuses a token of the old client with the new one).
	a.Sandbox.AddClient("google", "client-new", "secret-new")
	if r := b.Do("PATCH", "/v3/connectors/google", key, map[string]any{"settings": map[string]any{"client_id": "client-new", "client_secret": "secret-new"}}); r.Status != 200 {
		t.Fatalf("PATCH connector on b: %d %s", r.Status, r.Raw)
	}
	if r := create(a, key, "client-new", "two@example.com"); r.Status != 201 {
		t.Errorf("a, a token of the connector's new client: %d %s", r.Status, r.Raw)
	}
	if r := create(a, key, clientID, "three@example.com"); r.Status != 400 {
		t.Errorf("a, a token of the connector's old client: %d %s; want 400", r.Status, r.Raw)
	}

	// The connector is deleted on b: a has none at once.
	if r := b.Do("DELETE", "/v3/connectors/google", key, nil); r.Status != 200 {
		t.Fatalf("DELETE connector on b: %d %s", r.Status, r.Raw)
	}
	if r := create(a, key, "client-new", "four@example.com"); r.Status != 400 || r.ErrType() != "api.invalid_request_error" {
		t.Errorf("a, after the connector was deleted on b: %d %s; want 400 (no connector)", r.Status, r.Raw)
	}
	if detected(a) {
		t.Error("a detects google after b deleted the connector")
	}

	// The key is revoked on b: a refuses it at once, and its other key
	// still works.
	keys, err := b.Server.Tenants.ListAPIKeys(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Server.Tenants.RevokeAPIKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if r := a.Do("GET", "/v3/applications", key, nil); r.Status != 401 {
		t.Errorf("a, GET /v3/applications with the key revoked on b: %d %s; want 401", r.Status, r.Raw)
	}
	if r := a.Do("GET", "/v3/grants", key, nil); r.Status != 401 {
		t.Errorf("a, GET /v3/grants with the key revoked on b: %d %s; want 401", r.Status, r.Raw)
	}
	if r := a.Do("GET", "/v3/applications", spare, nil); r.Status != 200 {
		t.Errorf("a, GET /v3/applications with the other key: %d %s", r.Status, r.Raw)
	}
	// Revoked on a, through the store (as grantd apikey revoke does in
	// another process): b refuses it.
	if r := b.Do("GET", "/v3/applications", spare, nil); r.Status != 200 {
		t.Fatalf("b, GET /v3/applications with the other key: %d %s", r.Status, r.Raw)
	}
	if err := a.Server.Store.RevokeAPIKey(ctx, keys[1].ID, keys[1].CreatedAt); err != nil {
		t.Fatal(err)
	}
	if r := b.Do("GET", "/v3/applications", spare, nil); r.Status != 401 {
		t.Errorf("b, GET /v3/applications with the key revoked on a: %d %s; want 401", r.Status, r.Raw)
	}
}
