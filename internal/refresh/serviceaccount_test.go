package refresh_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestServiceAccountGrantsKeptAlive: grants made with a Google service
// account have no refresh token; the refresher mints a new access token
// for each with the key before the old one expires, across several
// token lifetimes; an outage is transient (no grant.expired, recovery
// after it); withdrawn delegation and a deleted user are permanent: the
// grant becomes invalid with exactly one grant.expired.
func TestServiceAccountGrantsKeptAlive(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", fixedConcurrency)
	c.connector("google")
	saEmail, key := apitest.ServiceAccountKey(t, c.sb, "acme.test", apitest.GmailReadonly)
	r := c.do(0, "POST", "/v3/connectors/google/creds", c.key, map[string]any{"name": "sa", "credential_type": "serviceaccount", "credential_data": key})
	if r.Status != http.StatusCreated {
		t.Fatalf("credential: %d %s", r.Status, r.Raw)
	}
	credID := r.data()["id"].(string)
	c.sb.SetAccessTokenTTL("google", time.Second)
	var ids []string
	emails := []string{"ada@acme.test", "bob@acme.test", "cy@acme.test"}
	for _, email := range emails {
		c.sb.AddUser("google", sandbox.User{Email: email})
		r := c.do(0, "POST", "/v3/connect/custom", c.key, map[string]any{"provider": "google",
			"settings": map[string]any{"email_address": email, "credential_id": credID, "scopes": []string{apitest.GmailReadonly}}})
		if r.Status != http.StatusCreated {
			t.Fatalf("bulk grant: %d %s", r.Status, r.Raw)
		}
		ids = append(ids, r.data()["id"].(string))
	}
	first := map[string]string{}
	for _, id := range ids {
		first[id] = c.secrets(c.grant(id))["access_token"]
	}
	before := c.sb.Ledger("google").Redemptions
	c.run()
	// One-second tokens: three lifetimes are at least three mints each.
	waitFor(t, 10*time.Second, "three mints per grant", func() bool {
		return c.sb.Ledger("google").Redemptions-before >= 3*len(ids)
	})
	for _, id := range ids {
		g := c.grant(id)
		if g.Status != store.GrantValid || g.RefreshFailures != 0 {
			t.Fatalf("%s: %s, %d failures (%s)", id, g.Status, g.RefreshFailures, g.LastFailureMessage)
		}
		if c.secrets(g)["access_token"] == first[id] {
			t.Errorf("%s: access token never replaced", id)
		}
	}

	// An outage: transient, never invalid.
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503, Count: -1})
	waitFailures(t, 5*time.Second, "failures during the outage", c.grant, ids, 2)
	c.sb.ClearFailures()
	c.waitHealthy("recovery after the outage", ids)

	// The user is deleted: that grant expires, the others live on.
	c.sb.RemoveUser("google", emails[0])
	waitFor(t, 5*time.Second, "the deleted user's grant to expire", func() bool { return c.grant(ids[0]).Status == store.GrantInvalid })
	// Delegation withdrawn: every grant of the service account expires.
	if err := c.sb.SetDelegation(saEmail, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the grants to expire", func() bool {
		return c.grant(ids[1]).Status == store.GrantInvalid && c.grant(ids[2]).Status == store.GrantInvalid
	})
	time.Sleep(300 * time.Millisecond) // more scheduler rounds: no second event
	c.stop()
	for i, id := range ids {
		g := c.grant(id)
		want := "does not exist"
		if i > 0 {
			want = "domain-wide delegation"
		}
		if g.LastFailureClass != "invalid_credentials" || !strings.Contains(g.LastFailureMessage, want) {
			t.Errorf("%s: class %q message %q (want %q)", id, g.LastFailureClass, g.LastFailureMessage, want)
		}
		if n := len(c.events("grant.expired", id)); n != 1 {
			t.Errorf("%s: %d grant.expired, want 1", id, n)
		}
	}
	c.failIfLogged("PRIVATE KEY")
}
