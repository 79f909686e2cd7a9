package refresh_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestAppPermissionGrantsKeptAlive: Microsoft app permissions grants have
// no refresh token; the refresher keeps them alive across several token
// lifetimes with the tenant's app token, minted per credential and not
// per grant; an outage is transient; a deleted user expires that grant,
// a revoked consent every grant of the tenant, one grant.expired each.
func TestAppPermissionGrantsKeptAlive(t *testing.T) {
	t.Parallel()
	const tenant = "0c0f7a3e-0000-4000-8000-c0c0c0c0c0c0"
	c := newCluster(t, 1, "", fixedConcurrency)
	c.connector("microsoft")
	c.sb.AddClient("microsoft", "app-client", "app-secret")
	c.sb.GrantAdminConsent(tenant, "app-client")
	r := c.do(0, "POST", "/v3/connectors/microsoft/creds", c.key, map[string]any{"name": "contoso", "credential_type": "adminconsent",
		"credential_data": map[string]any{"client_id": "app-client", "client_secret": "app-secret", "tenant": tenant}})
	if r.Status != http.StatusCreated {
		t.Fatalf("credential: %d %s", r.Status, r.Raw)
	}
	credID := r.data()["id"].(string)
	c.sb.SetAccessTokenTTL("microsoft", time.Second)
	var ids, emails []string
	for i := range 4 {
		email := fmt.Sprintf("user%d@contoso.test", i)
		c.sb.AddUser("microsoft", sandbox.User{Email: email, Tenant: tenant})
		r := c.do(0, "POST", "/v3/connect/custom", c.key, map[string]any{"provider": "microsoft", "settings": map[string]any{"email_address": email, "credential_id": credID}})
		if r.Status != http.StatusCreated {
			t.Fatalf("bulk grant: %d %s", r.Status, r.Raw)
		}
		ids, emails = append(ids, r.data()["id"].(string)), append(emails, email)
	}
	before := c.sb.Ledger("microsoft")
	c.run()
	time.Sleep(3 * time.Second) // three token lifetimes
	after := c.sb.Ledger("microsoft")
	checks, mints := after.IdentityCalls-before.IdentityCalls, after.Redemptions-before.Redemptions
	if checks < 3*len(ids) {
		t.Fatalf("%d user checks in three lifetimes of %d grants: not kept alive", checks, len(ids))
	}
	// One app token serves every grant of the tenant.
	if mints*2 > checks {
		t.Errorf("%d app tokens minted for %d grant refreshes: minted per grant, not per credential", mints, checks)
	}
	for _, id := range ids {
		if g := c.grant(id); g.Status != store.GrantValid || !g.AccessTokenExpiresAt.After(time.Now()) {
			t.Fatalf("%s: %s, expires %v (%s)", id, g.Status, g.AccessTokenExpiresAt, g.LastFailureMessage)
		}
	}
	c.sb.InjectFailure("microsoft", sandbox.Failure{Endpoint: "", Status: 503, Count: -1})
	waitFailures(t, 15*time.Second, "failures during the outage", c.grant, ids, 2)
	c.sb.ClearFailures()
	c.waitHealthy("recovery after the outage", ids)

	c.sb.RemoveUser("microsoft", emails[0])
	waitFor(t, 15*time.Second, "the deleted user's grant to expire", func() bool { return c.grant(ids[0]).Status == store.GrantInvalid })
	c.sb.RevokeAdminConsent(tenant, "app-client")
	waitFor(t, 15*time.Second, "the tenant's grants to expire", func() bool {
		for _, id := range ids[1:] {
			if c.grant(id).Status != store.GrantInvalid {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	c.stop()
	for i, id := range ids {
		g := c.grant(id)
		want := "has not consented"
		if i == 0 {
			want = "no user"
		}
		if g.LastFailureClass != "invalid_credentials" || !strings.Contains(g.LastFailureMessage, want) {
			t.Errorf("%s: %q %q (want %q)", id, g.LastFailureClass, g.LastFailureMessage, want)
		}
		if n := len(c.events("grant.expired", id)); n != 1 {
			t.Errorf("%s: %d grant.expired, want 1", id, n)
		}
	}
	c.failIfLogged("app-secret")
}
