package refresh_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestSchedulerRotationModes: with one-second access tokens the scheduler
// refreshes every grant several times, under no rotation (Google), grace
// rotation (Microsoft) and strict rotation (Zoom); every stored refresh
// token stays valid and no grant is invalidated.
func TestSchedulerRotationModes(t *testing.T) {
	for _, tc := range []struct {
		prov string
		rot  sandbox.Rotation
	}{
		{"google", sandbox.Rotation{Mode: sandbox.RotateNone}},
		{"microsoft", sandbox.Rotation{Mode: sandbox.RotateGrace, Grace: 500 * time.Millisecond}},
		{"zoom", sandbox.Rotation{Mode: sandbox.RotateStrict}},
	} {
		t.Run(tc.prov, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 1, "", nil)
			c.sb.SetRotation(tc.prov, tc.rot)
			c.sb.SetAccessTokenTTL(tc.prov, time.Second)
			ids, emails := c.grants(tc.prov, c.connector(tc.prov), 3)
			before := c.sb.Ledger(tc.prov).Redemptions
			first := map[string]string{}
			for _, id := range ids {
				first[id] = c.secrets(c.grant(id))["access_token"]
			}
			c.run()
			// Each grant refreshes at 80% of a one-second life: ≥3 times in 3 s.
			waitFor(t, 10*time.Second, "three refreshes per grant", func() bool {
				return c.sb.Ledger(tc.prov).Redemptions-before >= 3*len(ids)
			})
			c.stop()
			l := c.sb.Ledger(tc.prov)
			for i, id := range ids {
				g := c.grant(id)
				s := c.secrets(g)
				if g.Status != store.GrantValid || g.RefreshFailures != 0 || g.LeaseOwner != "" {
					t.Errorf("%s: status %s, failures %d, lease %q", id, g.Status, g.RefreshFailures, g.LeaseOwner)
				}
				if s["access_token"] == first[id] || g.LastRefreshAt.IsZero() || !g.AccessTokenExpiresAt.After(g.LastRefreshAt) {
					t.Errorf("%s: not refreshed: last %v expires %v", id, g.LastRefreshAt, g.AccessTokenExpiresAt)
				}
				if !c.sb.IsValidRefreshToken(tc.prov, s["refresh_token"]) {
					t.Errorf("%s: stored refresh token is not valid at the provider", id)
				}
				if tc.rot.Mode == sandbox.RotateStrict {
					// The ledger agrees with the database: one valid token, the stored one.
					if v := l.ValidTokens[emails[i]]; len(v) != 1 || v[0] != s["refresh_token"] {
						t.Errorf("%s: provider has %d valid tokens (stored one among them: %v)", id, len(v), len(v) == 1 && v[0] == s["refresh_token"])
					}
				}
				if n := len(c.events("grant.expired", id)); n != 0 {
					t.Errorf("%s: %d grant.expired events", id, n)
				}
			}
			// The grant JSON shows the refresh state.
			r := c.do(0, "GET", "/v3/grants/"+ids[0], c.key, nil)
			ext, _ := r.data()["grantd"].(map[string]any)
			if ext == nil || ext["last_refresh_at"].(float64) == 0 || ext["next_refresh_at"].(float64) == 0 || ext["token_expires_at"].(float64) == 0 {
				t.Errorf("grantd extension: %s", r.Raw)
			}
		})
	}
}

// TestAccessTokenOnDemand: concurrent requests for a grant whose token is
// about to expire cause exactly one provider redemption (strict rotation,
// so a second one would also kill the first's token); a fresh token is
// served without any; only credentials:read keys may call.
func TestAccessTokenOnDemand(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) { cfg.Refresh.AccessTokenMargin = 5 * time.Minute })
	c.sb.SetAccessTokenTTL("zoom", 2*time.Minute) // within the margin: the first request refreshes
	ids, _ := c.grants("zoom", c.connector("zoom"), 1)
	id := ids[0]
	c.sb.SetAccessTokenTTL("zoom", time.Hour)
	path := "/grantd/v1/grants/" + id + "/access-token"

	if r := c.do(0, "GET", path, c.key, nil); r.Status != http.StatusForbidden || r.errType() != "api.insufficient_scopes" {
		t.Fatalf("without credentials:read: %d %s", r.Status, r.Raw)
	}
	if r := c.do(0, "GET", "/grantd/v1/grants/nope/access-token", c.readKey, nil); r.Status != http.StatusNotFound {
		t.Fatalf("missing grant: %d %s", r.Status, r.Raw)
	}

	before := c.sb.Ledger("zoom").Redemptions
	const clients = 16
	tokens := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := c.do(0, "GET", path, c.readKey, nil)
			if r.Status != http.StatusOK {
				t.Errorf("access-token: %d %s", r.Status, r.Raw)
				return
			}
			d := r.data()
			tokens[i], _ = d["access_token"].(string)
			if d["provider"] != "zoom" || d["expires_at"].(float64) < float64(time.Now().Add(50*time.Minute).Unix()) {
				t.Errorf("access-token data: %s", r.Raw)
			}
		})
	}
	wg.Wait()
	if n := c.sb.Ledger("zoom").Redemptions - before; n != 1 {
		t.Fatalf("%d provider redemptions for %d concurrent requests, want 1", n, clients)
	}
	g := c.grant(id)
	s := c.secrets(g)
	for i, tok := range tokens {
		if tok != s["access_token"] {
			t.Fatalf("client %d got a different access token than the stored one", i)
		}
	}
	if !c.sb.IsValidRefreshToken("zoom", s["refresh_token"]) || g.LeaseOwner != "" {
		t.Fatalf("after on-demand refresh: stored refresh token valid=%v, lease %q", c.sb.IsValidRefreshToken("zoom", s["refresh_token"]), g.LeaseOwner)
	}
	// Fresh now: served from the store.
	if r := c.do(0, "GET", path, c.readKey, nil); r.Status != 200 || r.data()["access_token"] != s["access_token"] {
		t.Fatalf("second call: %d %s", r.Status, r.Raw)
	}
	if n := c.sb.Ledger("zoom").Redemptions - before; n != 1 {
		t.Fatalf("%d redemptions after a call with a fresh token, want 1", n)
	}
	// The token is never logged.
	c.failIfLogged(s["access_token"])
}

// TestRevocation: a revoked grant becomes invalid within one attempt, with
// exactly one grant.expired in the outbox, and stays so.
func TestRevocation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", nil)
	c.sb.SetAccessTokenTTL("google", time.Second)
	ids, emails := c.grants("google", c.connector("google"), 2)
	c.sb.RevokeUser("google", emails[0])
	before := c.sb.Ledger("google").Rejections
	c.run()
	waitFor(t, 5*time.Second, "the revoked grant to be invalid", func() bool { return c.grant(ids[0]).Status == store.GrantInvalid })
	// Keep running: the invalid grant is never retried, the other refreshes.
	otherBefore := c.sb.Ledger("google").Redemptions
	waitFor(t, 5*time.Second, "the other grant to refresh", func() bool { return c.sb.Ledger("google").Redemptions-otherBefore >= 2 })
	c.stop()
	if n := c.sb.Ledger("google").Rejections - before; n != 1 {
		t.Errorf("%d rejected refreshes, want exactly 1 attempt", n)
	}
	g := c.grant(ids[0])
	if g.LastFailureClass != "invalid_credentials" || g.LastFailureMessage == "" || !g.NextRefreshAt.IsZero() {
		t.Errorf("invalid grant: class %q message %q next %v", g.LastFailureClass, g.LastFailureMessage, g.NextRefreshAt)
	}
	evs := c.events("grant.expired", ids[0])
	if len(evs) != 1 {
		t.Fatalf("%d grant.expired events, want 1", len(evs))
	}
	if p := string(evs[0].Payload); !contains(p, `"grant_updated_at"`, `"grant_id":"`+ids[0]+`"`, `"provider":"google"`) {
		t.Errorf("grant.expired payload: %s", p)
	}
	if g := c.grant(ids[1]); g.Status != store.GrantValid {
		t.Errorf("the other grant is %s", g.Status)
	}
	r := c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil)
	if r.Status != http.StatusBadRequest {
		t.Errorf("access token of an invalid grant: %d %s", r.Status, r.Raw)
	}
	r = c.do(0, "GET", "/v3/grants/"+ids[0], c.key, nil)
	if ext, _ := r.data()["grantd"].(map[string]any); r.data()["grant_status"] != "invalid" || ext["last_failure_class"] != "invalid_credentials" {
		t.Errorf("grant JSON: %s", r.Raw)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestOutage: 503s and timeouts for a compressed outage invalidate
// nothing; retries back off; the grants recover when the provider does.
func TestOutage(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Refresh.Lease = time.Second
		cfg.Webhooks.RecoveredAfter = time.Second // the outage lasts longer
		fixedConcurrency(cfg)
	})
	c.sb.SetRotation("microsoft", sandbox.Rotation{Mode: sandbox.RotateStrict})
	c.sb.SetAccessTokenTTL("microsoft", time.Second)
	ids, _ := c.grants("microsoft", c.connector("microsoft"), 3)
	time.Sleep(time.Second) // every grant due
	// Two requests time out (held past the provider call's deadline of
	// lease/2), then the token endpoint answers 503 until cleared.
	c.sb.InjectFailure("microsoft", sandbox.Failure{Endpoint: "token", Delay: 2 * time.Second, Count: 2})
	c.sb.InjectFailure("microsoft", sandbox.Failure{Endpoint: "token", Status: 503, Count: -1})
	c.run()
	time.Sleep(2500 * time.Millisecond)
	injected := c.sb.Ledger("microsoft").InjectedFailures
	for _, id := range ids {
		g := c.grant(id)
		if g.Status != store.GrantValid {
			t.Fatalf("%s invalidated during an outage: %s %s", id, g.LastFailureClass, g.LastFailureMessage)
		}
		if g.RefreshFailures < 3 || g.LastFailureClass != "provider_unavailable" {
			t.Errorf("%s: %d consecutive failures (class %q), want ≥3 provider_unavailable", id, g.RefreshFailures, g.LastFailureClass)
		}
		if g.FailingSince.IsZero() {
			t.Errorf("%s: failing_since not set during the outage", id)
		}
	}
	// Backoff: 50ms doubling to 400ms gives at most ~8 attempts per grant
	// in 2.5 s; without it the 50ms poll would make ~50.
	if injected > 10*len(ids) || injected < 3*len(ids) {
		t.Errorf("%d failed attempts for %d grants in 2.5 s: backoff not observed", injected, len(ids))
	}
	c.sb.ClearFailures()
	c.waitHealthy("recovery", ids)
	c.stop()
	for _, id := range ids {
		if !c.sb.IsValidRefreshToken("microsoft", c.secrets(c.grant(id))["refresh_token"]) {
			t.Errorf("%s: stored refresh token not valid after the outage", id)
		}
		if n := len(c.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired", id, n)
		}
		// The outage outlasted webhooks.recovered_after: one
		// grant.recovered, with the cause of the failures.
		rec := c.events("grant.recovered", id)
		if len(rec) != 1 || !strings.Contains(string(rec[0].Payload), `"last_failure_class":"provider_unavailable"`) ||
			!strings.Contains(string(rec[0].Payload), `"failing_since":`) {
			t.Errorf("%s: grant.recovered events %d: %v", id, len(rec), rec)
		}
		if g := c.grant(id); !g.FailingSince.IsZero() {
			t.Errorf("%s: failing_since still set after recovery", id)
		}
	}
}

// TestMultiNode: two and three nodes on one PostgreSQL refresh the same
// grants under strict rotation while clients hammer the access-token
// endpoint on every node: no grant is wrongly invalidated, no refresh
// token is lost, and the provider's ledger agrees with the database.
func TestMultiNode(t *testing.T) {
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			dsn := pgSchema(t)
			// On-demand refreshes start 400 ms into a token's one-second
			// life, before the scheduler's (~750 ms): clients on every
			// node compete for the same grants, and so do the schedulers.
			c := newCluster(t, nodes, dsn, func(cfg *config.Config) { cfg.Refresh.AccessTokenMargin = 600 * time.Millisecond })
			c.sb.SetAccessTokenTTL("zoom", time.Second)
			ids, emails := c.grants("zoom", c.connector("zoom"), 6)
			c.run()
			var (
				wg       sync.WaitGroup
				served   atomic.Int64
				failures atomic.Int64
				stop     = make(chan struct{})
			)
			for w := range 2 * nodes {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						// Client w talks to node w%nodes and cycles through every grant.
						r := c.do(w, "GET", "/grantd/v1/grants/"+ids[i%len(ids)]+"/access-token", c.readKey, nil)
						if r.Status == http.StatusOK {
							served.Add(1)
						} else {
							failures.Add(1)
							t.Errorf("node %d: access-token: %d %s", w%nodes, r.Status, r.Raw)
						}
					}
				})
			}
			time.Sleep(4 * time.Second)
			close(stop)
			wg.Wait()
			c.stop()

			l := c.sb.Ledger("zoom")
			for i, id := range ids {
				g := c.grant(id)
				s := c.secrets(g)
				if g.Status != store.GrantValid {
					t.Errorf("%s wrongly invalidated: %s %s", id, g.LastFailureClass, g.LastFailureMessage)
				}
				if !c.sb.IsValidRefreshToken("zoom", s["refresh_token"]) {
					t.Errorf("%s: stored refresh token lost (not valid at the provider)", id)
				}
				if v := l.ValidTokens[emails[i]]; len(v) != 1 || v[0] != s["refresh_token"] {
					t.Errorf("%s: ledger has %d valid tokens; stored one valid: %v", id, len(v), c.sb.IsValidRefreshToken("zoom", s["refresh_token"]))
				}
				if n := len(c.events("grant.expired", id)); n != 0 {
					t.Errorf("%s: %d grant.expired events", id, n)
				}
			}
			if l.Rejections != 0 {
				t.Errorf("the provider refused %d refreshes: two nodes redeemed the same token", l.Rejections)
			}
			for i, n := range c.nodes {
				resp, err := n.http.Client().Get(n.http.URL + "/metrics")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					for _, line := range strings.Split(string(b), "\n") {
						if strings.HasPrefix(line, "grantd_refresh_total") {
							t.Logf("node %d: %s", i, line)
						}
					}
				}
			}
			t.Logf("%d nodes: %d access tokens served, %d failures, %d provider redemptions", nodes, served.Load(), failures.Load(), l.Redemptions)
			if l.Redemptions < 3*len(ids) {
				t.Errorf("only %d redemptions: the grants were not refreshed during the test", l.Redemptions)
			}
		})
	}
}

// TestActiveCredentialSetLater: a grant made with the connector's own
// client keeps refreshing with it after the connector gets an active
// credential (another OAuth client, for new grants): its refresh token
// was issued to the connector's client.
func TestActiveCredentialSetLater(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) { cfg.Refresh.AccessTokenMargin = 5 * time.Minute })
	c.sb.SetAccessTokenTTL("microsoft", 2*time.Minute) // within the margin: access-token refreshes
	ids, _ := c.grants("microsoft", c.connector("microsoft"), 1)
	c.sb.AddClient("microsoft", "other-app", "other-secret")
	r := c.do(0, "POST", "/v3/connectors/microsoft/creds", c.key, map[string]any{"name": "other", "credential_type": "connector",
		"credential_data": map[string]any{"client_id": "other-app", "client_secret": "other-secret"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create credential: %d %s", r.Status, r.Raw)
	}
	if r := c.do(0, "PATCH", "/v3/connectors/microsoft", c.key, map[string]any{"active_credential_id": r.data()["id"]}); r.Status != http.StatusOK {
		t.Fatalf("set active credential: %d %s", r.Status, r.Raw)
	}
	before := c.sb.Ledger("microsoft").Redemptions
	if r := c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil); r.Status != http.StatusOK {
		t.Fatalf("access-token: %d %s", r.Status, r.Raw)
	}
	if g := c.grant(ids[0]); g.Status != store.GrantValid || c.sb.Ledger("microsoft").Redemptions != before+1 {
		t.Fatalf("grant %s after the refresh (%s)", g.Status, g.LastFailureMessage)
	}
	// A new token for it (PATCH settings) is redeemed with the same client.
	rt, err := c.sb.MintRefreshToken("microsoft", "client-microsoft", "user0.microsoft@example.com", apitest.DefaultScopes["microsoft"])
	if err != nil {
		t.Fatal(err)
	}
	r = c.do(0, "PATCH", "/v3/grants/"+ids[0], c.key, map[string]any{"settings": map[string]any{"refresh_token": rt}})
	if cred, _ := r.data()["credential_id"].(string); r.Status != http.StatusOK || cred != "" {
		t.Fatalf("PATCH settings: %d %s", r.Status, r.Raw)
	}
}

// TestTransientFailureOfInvalidatedGrant: a refresh that fails
// transiently after its grant was invalidated (here: its connector was
// deleted while the provider was slow to answer 503) leaves the recorded
// cause alone.
func TestTransientFailureOfInvalidatedGrant(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) { cfg.Refresh.Lease = 4 * time.Second })
	c.sb.SetAccessTokenTTL("google", time.Second)
	ids, _ := c.grants("google", c.connector("google"), 1)
	c.sb.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503, Delay: time.Second, Count: -1})
	c.run()
	waitFor(t, 5*time.Second, "a refresh in flight", func() bool { return c.grant(ids[0]).LeaseOwner != "" })
	if r := c.do(0, "DELETE", "/v3/connectors/google", c.key, nil); r.Status != http.StatusOK {
		t.Fatalf("delete connector: %d %s", r.Status, r.Raw)
	}
	time.Sleep(1500 * time.Millisecond) // the 503 arrives
	c.stop()
	if g := c.grant(ids[0]); g.Status != store.GrantInvalid || g.LastFailureClass != "connector_deleted" || g.RefreshFailures != 0 {
		t.Fatalf("after the late 503: %s %q (%d failures)", g.Status, g.LastFailureClass, g.RefreshFailures)
	}
	if n := len(c.events("grant.expired", ids[0])); n != 1 {
		t.Errorf("%d grant.expired, want 1", n)
	}
}

// TestClientRefusedKeepsGrants: a wrong client secret on the connector
// (a typo, a rotation half done) makes refreshes fail but invalidates no
// grant; once the secret is right again they refresh.
func TestClientRefusedKeepsGrants(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", nil)
	c.sb.SetAccessTokenTTL("google", time.Second)
	ids, _ := c.grants("google", c.connector("google"), 2)
	if r := c.do(0, "PATCH", "/v3/connectors/google", c.key, map[string]any{"settings": map[string]any{"client_secret": "typo"}}); r.Status != http.StatusOK {
		t.Fatalf("PATCH connector: %d %s", r.Status, r.Raw)
	}
	c.run()
	waitFailures(t, 5*time.Second, "refusals of the client", c.grant, ids, 2)
	for _, id := range ids {
		if g := c.grant(id); g.Status != store.GrantValid || g.LastFailureClass != "invalid_client" {
			t.Fatalf("with a wrong client secret: %s %q %s", g.Status, g.LastFailureClass, g.LastFailureMessage)
		}
	}
	// Operators see it: the failures are counted by class.
	resp, err := c.nodes[0].http.Client().Get(c.nodes[0].http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `grantd_refresh_failures_total{class="invalid_client",provider="google"}`) {
		t.Errorf("no invalid_client failures in /metrics")
	}
	if r := c.do(0, "PATCH", "/v3/connectors/google", c.key, map[string]any{"settings": map[string]any{"client_secret": "secret-google"}}); r.Status != http.StatusOK {
		t.Fatalf("PATCH connector back: %d %s", r.Status, r.Raw)
	}
	c.waitHealthy("refreshes with the fixed client", ids)
	c.stop()
	for _, id := range ids {
		if n := len(c.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired", id, n)
		}
	}
}

// TestScopePatchDoesNotBreakRefresh: PATCH scope changes the grant's
// stored list only; refreshes keep asking for the scope the token was
// granted (Microsoft refuses a scope the user never consented to).
func TestScopePatchDoesNotBreakRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) { cfg.Refresh.AccessTokenMargin = 5 * time.Minute })
	c.sb.SetAccessTokenTTL("microsoft", 2*time.Minute) // within the margin: access-token refreshes
	ids, _ := c.grants("microsoft", c.connector("microsoft"), 2)
	// The second grant is as stored before token sets kept their scope.
	_, err := c.st().UpdateGrant(context.Background(), c.appID, ids[1], func(g store.Grant) (store.Grant, []store.Event, error) {
		s := c.secrets(g)
		delete(s, grant.SecretScope)
		blob, err := sealSecrets(c.nodes[0].srv, g, s)
		g.Secrets = blob
		return g, nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	scope := append(slices.Clone(apitest.DefaultScopes["microsoft"]), "Calendars.ReadWrite")
	for _, id := range ids {
		if r := c.do(0, "PATCH", "/v3/grants/"+id, c.key, map[string]any{"scope": scope}); r.Status != http.StatusOK {
			t.Fatalf("PATCH scope: %d %s", r.Status, r.Raw)
		}
		for range 2 {
			if r := c.do(0, "GET", "/grantd/v1/grants/"+id+"/access-token", c.readKey, nil); r.Status != http.StatusOK {
				t.Fatalf("access-token after the scope PATCH: %d %s", r.Status, r.Raw)
			}
		}
		if g := c.grant(id); g.Status != store.GrantValid || !slices.Equal(g.Scope, scope) {
			t.Fatalf("grant %s, scope %v", g.Status, g.Scope)
		}
	}
}

// A grant deleted while an access-token request waits for another node's
// refresh is a 404, not a 500 (found by a review).
func TestAccessTokenOfGrantDeletedWhileWaiting(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) { cfg.Refresh.AccessTokenMargin = 5 * time.Minute })
	c.sb.SetAccessTokenTTL("google", time.Minute) // within the margin: a refresh is needed
	ids, _ := c.grants("google", c.connector("google"), 1)
	// Another node holds the lease: the request polls.
	if _, ok, err := c.st().ClaimGrant(context.Background(), c.appID, ids[0], "other-node", 10*time.Second, time.Now()); err != nil || !ok {
		t.Fatalf("ClaimGrant: %v %v", ok, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = c.st().DeleteGrant(context.Background(), c.appID, ids[0])
	}()
	r := c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil)
	if r.Status != 404 {
		t.Errorf("access token of a grant deleted meanwhile: %d %s", r.Status, r.Raw)
	}
}
