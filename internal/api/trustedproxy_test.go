package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
)

// from is a client whose requests leave from the loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}

// TestConnectTrustedProxies: behind a proxy of http.trusted_proxies the
// per-IP limit of /v3/connect/* counts the right-most address of
// X-Forwarded-For that is not a trusted proxy; from any other peer the
// header is ignored (by default nobody is trusted).
func TestConnectTrustedProxies(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.RateLimit.ConnectRequestsPerSecond, c.RateLimit.ConnectBurst = 1, 3
		c.HTTP.TrustedProxies = []string{"127.0.0.2", "10.9.0.0/16"}
	}})
	hit := func(c *http.Client, xff ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", e.HTTP.URL+"/v3/connect/tokeninfo?access_token=gat_x", nil)
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 429 {
			t.Fatalf("tokeninfo: %d", resp.StatusCode)
		}
		return resp.StatusCode
	}
	drain := func(what string, c *http.Client, xff func(i int) []string) {
		t.Helper()
		n := 0
		for ; n < 20 && hit(c, xff(n)...) == 401; n++ {
		}
		if n < 3 || n > 6 {
			t.Errorf("%s: %d requests before the 429, want the burst of 3 (one bucket)", what, n)
		}
	}
	proxy, direct := from("127.0.0.2"), from("127.0.0.3")

	// Through the trusted proxy: the client 198.51.100.1 empties its
	// bucket; another client behind the same proxy has its own.
	drain("198.51.100.1 through the proxy", proxy, func(int) []string { return []string{"198.51.100.1"} })
	if st := hit(proxy, "198.51.100.2"); st != 401 {
		t.Errorf("another client through the proxy: %d, want its own bucket", st)
	}
	// Addresses left of the client's are the client's words: ignored.
	if st := hit(proxy, "203.0.113.50, 198.51.100.1"); st != 429 {
		t.Errorf("a forged left-most address: %d, want 198.51.100.1's (empty) bucket", st)
	}
	// Trusted hops on the right are walked over; header lines are joined.
	if st := hit(proxy, "198.51.100.1, 10.9.3.4"); st != 429 {
		t.Errorf("client, then a trusted inner proxy: %d, want 198.51.100.1's bucket", st)
	}
	if st := hit(proxy, "203.0.113.51", "198.51.100.1"); st != 429 {
		t.Errorf("two X-Forwarded-For lines: %d, want the last line's client", st)
	}
	// The proxy's own requests (no header): its address.
	if st := hit(proxy); st != 401 {
		t.Errorf("the proxy without X-Forwarded-For: %d", st)
	}

	// A peer that is not a trusted proxy: whatever it claims, one bucket.
	drain("an untrusted peer changing its X-Forwarded-For", direct, func(i int) []string { return []string{fmt.Sprintf("203.0.113.%d", i)} })
}

// TestGrantIPBehindProxy: the grant records the client's address from
// X-Forwarded-For when the callback comes through a trusted proxy, and
// the peer's otherwise.
func TestGrantIPBehindProxy(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"trusted", []string{"127.0.0.1"}, "198.51.100.7"},
		{"default: nobody trusted", nil, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := apitest.New(t, apitest.Options{Configure: func(cfg *config.Config) { cfg.HTTP.TrustedProxies = c.trusted }})
			a := newHostedApp(t, e, "ip")
			a.connector("google")
			e.Sandbox.AddUser("google", sandbox.User{Email: "ip@example.com"})
			a.callbackXFF = "203.0.113.1, 198.51.100.7"
			a.authorize(t, url.Values{"provider": {"google"}}, "ip@example.com")
			gs := e.Do("GET", "/v3/grants", a.key, nil).List()
			if len(gs) != 1 || gs[0]["ip"] != c.want {
				t.Fatalf("grants: %v, want ip %s", gs, c.want)
			}
		})
	}
}
