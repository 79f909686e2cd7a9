package refresh_test

import (
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
)

// A token endpoint whose certificate does not verify (a CA bundle mistake,
// an intercepting proxy) says nothing about the grants' tokens: they stay
// valid, with last_failure_class tls_error, and refresh again once the
// certificate is trusted (found by a review: every OAuth grant used to be
// invalidated).
func TestUntrustedTokenEndpointKeepsGrants(t *testing.T) {
	t.Parallel()
	var tlsURL, caFile string
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		// Google's token endpoint behind TLS, trusted by the first node.
		target, err := url.Parse(cfg.Providers.Google.TokenURL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host}))
		t.Cleanup(proxy.Close)
		tlsURL = proxy.URL + target.Path
		caFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Providers.Google.TokenURL = tlsURL
		cfg.Network.CAFile = caFile
	})
	c.sb.SetAccessTokenTTL("google", time.Second)
	ids, _ := c.grants("google", c.connector("google"), 2)

	// A second node without the CA refreshes them.
	c.cfg.Network.CAFile = ""
	untrusting := c.addNode()
	untrusting.start()
	waitFailures(t, 10*time.Second, "refreshes refused by TLS", c.grant, ids, 2)
	untrusting.stop()
	for _, id := range ids {
		if g := c.grant(id); g.Status != store.GrantValid || g.LastFailureClass != "tls_error" {
			t.Fatalf("%s with an untrusted token endpoint: %s %q %s", id, g.Status, g.LastFailureClass, g.LastFailureMessage)
		}
		if n := len(c.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired", id, n)
		}
	}
	// The node that trusts it refreshes them again.
	c.nodes[0].start()
	c.waitHealthy("refreshes through the trusted endpoint", ids)
	c.stop()
}
