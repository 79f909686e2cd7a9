package refresh_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/store"
)

// TestOnDemandMode: with refresh.mode on_demand the scheduler leaves an
// expired access token alone (no provider call), the access-token
// endpoint refreshes it when asked (Zoom: strict rotation, so the stored
// refresh token must be the live one afterwards), and every grant is
// still refreshed once per refresh.keepalive; no grant is invalidated.
func TestOnDemandMode(t *testing.T) {
	t.Parallel()
	const keepalive = 3 * time.Second
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Refresh.Mode = config.RefreshOnDemand
		cfg.Refresh.KeepAlive = keepalive
	})
	c.sb.SetAccessTokenTTL("zoom", time.Second)
	created := time.Now()
	ids, emails := c.grants("zoom", c.connector("zoom"), 3)
	for _, id := range ids {
		g := c.grant(id)
		if d := g.NextRefreshAt.Sub(created); d < keepalive*9/10-time.Second || d > keepalive+time.Second {
			t.Fatalf("%s: next refresh %v after creation, want the keep-alive (%v), not the token's expiry (1 s)", id, d, keepalive)
		}
	}
	c.run()
	before := c.sb.Ledger("zoom").Redemptions
	time.Sleep(1500 * time.Millisecond) // every access token has expired
	if n := c.sb.Ledger("zoom").Redemptions - before; n != 0 {
		t.Fatalf("%d refreshes of expired tokens nobody asked for", n)
	}
	g := c.grant(ids[0])
	if g.AccessTokenExpiresAt.After(time.Now()) {
		t.Fatalf("access token not expired yet: %v", g.AccessTokenExpiresAt)
	}

	// On demand.
	r := c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("access-token: %d %s", r.Status, r.Raw)
	}
	if n := c.sb.Ledger("zoom").Redemptions - before; n != 1 {
		t.Fatalf("%d provider redemptions for one access-token request, want 1", n)
	}
	g = c.grant(ids[0])
	s := c.secrets(g)
	if r.data()["access_token"] != s["access_token"] || !g.AccessTokenExpiresAt.After(time.Now()) {
		t.Fatalf("served token is not the stored fresh one")
	}
	if !c.sb.IsValidRefreshToken("zoom", s["refresh_token"]) || g.LeaseOwner != "" {
		t.Fatalf("after on-demand refresh: stored refresh token valid=%v, lease %q", c.sb.IsValidRefreshToken("zoom", s["refresh_token"]), g.LeaseOwner)
	}
	if d := g.NextRefreshAt.Sub(g.LastRefreshAt); d < keepalive*9/10-10*time.Millisecond || d > keepalive {
		t.Fatalf("after on-demand refresh the next one is %v later, want the keep-alive %v", d, keepalive)
	}

	// Keep-alive: each grant is refreshed by the scheduler within one
	// keep-alive of its last refresh.
	waitFor(t, 2*keepalive+time.Second, "a keep-alive refresh of every grant", func() bool {
		for _, id := range ids {
			if g := c.grant(id); !g.LastRefreshAt.After(created.Add(keepalive / 2)) {
				return false
			}
		}
		return true
	})
	c.stop()
	l := c.sb.Ledger("zoom")
	for i, id := range ids {
		g := c.grant(id)
		s := c.secrets(g)
		if g.Status != store.GrantValid || g.RefreshFailures != 0 {
			t.Errorf("%s: status %s, failures %d", id, g.Status, g.RefreshFailures)
		}
		if v := l.ValidTokens[emails[i]]; len(v) != 1 || v[0] != s["refresh_token"] {
			t.Errorf("%s: the provider has %d valid tokens, the stored one among them: %v", id, len(v), len(v) == 1 && v[0] == s["refresh_token"])
		}
		if n := len(c.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired events", id, n)
		}
	}
	// At most about one keep-alive refresh per grant per keep-alive, plus the
	// one on demand.
	if n := l.Redemptions - before; n > 2*len(ids)+1 {
		t.Errorf("%d redemptions in about %v for %d grants: more than the keep-alive", n, time.Since(created).Round(time.Second), len(ids))
	}
}

// TestOnDemandRetryAfter: a provider that answers the access-token
// endpoint's refresh with 429 and Retry-After has its pause passed on to
// the client (504 api.provider_error with Retry-After); the grant stays
// valid.
func TestOnDemandRetryAfter(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Refresh.Mode = config.RefreshOnDemand
		cfg.Refresh.KeepAlive = time.Hour
		cfg.Refresh.Lease = time.Minute // a pause is at most a quarter of it
	})
	c.sb.SetAccessTokenTTL("zoom", time.Second)
	ids, _ := c.grants("zoom", c.connector("zoom"), 1)
	c.run()
	time.Sleep(1500 * time.Millisecond) // the access token has expired
	c.sb.InjectFailure("zoom", sandbox.Failure{Endpoint: "token", Status: http.StatusTooManyRequests, RetryAfter: "12"})
	r := c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil)
	if r.Status != http.StatusGatewayTimeout || r.errType() != "api.provider_error" || r.Header.Get("Retry-After") != "12" {
		t.Fatalf("access-token during the provider's 429: %d Retry-After=%q %s; want 504 api.provider_error with Retry-After 12", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	// The node now holds back its calls to Zoom for the 12 s: the next
	// request is answered at once, with what is left of the pause.
	start := time.Now()
	r = c.do(0, "GET", "/grantd/v1/grants/"+ids[0]+"/access-token", c.readKey, nil)
	if took := time.Since(start); r.Status != http.StatusGatewayTimeout || took > 3*time.Second {
		t.Fatalf("access-token during grantd's pause: %d after %v %s; want 504 at once", r.Status, took, r.Raw)
	}
	if secs, _ := strconv.Atoi(r.Header.Get("Retry-After")); secs < 8 || secs > 12 {
		t.Errorf("access-token during grantd's pause: Retry-After %q, want what is left of the 12 s", r.Header.Get("Retry-After"))
	}
	c.stop()
	if g := c.grant(ids[0]); g.Status != store.GrantValid {
		t.Errorf("grant %s after a 429: %s", ids[0], g.Status)
	}
}
