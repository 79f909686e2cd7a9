package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP: the right-most untrusted address of X-Forwarded-For, only
// from a trusted peer.
func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:5000", []string{"198.51.100.1"}, nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.1"}, trusted, "192.0.2.1"},
		{"10.1.1.1:5000", nil, trusted, "10.1.1.1"},
		{"10.1.1.1:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"10.1.1.1:5000", []string{" 203.0.113.9 ,198.51.100.1 , 10.2.2.2"}, trusted, "198.51.100.1"},
		{"10.1.1.1:5000", []string{"203.0.113.9", "198.51.100.1, 10.2.2.2"}, trusted, "198.51.100.1"},
		{"10.1.1.1:5000", []string{"10.3.3.3, 10.2.2.2"}, trusted, "10.3.3.3"},
		{"10.1.1.1:5000", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"10.1.1.1:5000", []string{"[2001:db8::1]:4711"}, trusted, "2001:db8::1"},
		{"10.1.1.1:5000", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"10.1.1.1:5000", []string{"unknown"}, trusted, "10.1.1.1"},
		{"10.1.1.1:5000", []string{"198.51.100.1, garbage, 10.2.2.2"}, trusted, "10.2.2.2"},
		{"10.1.1.1:5000", []string{""}, trusted, "10.1.1.1"},
		{"[fd00::5]:5000", []string{"2001:db8::7"}, trusted, "2001:db8::7"},
		{"[::ffff:10.1.1.1]:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
	} {
		s := &Server{cfg: Config{TrustedProxies: c.trusted}}
		r := httptest.NewRequest("GET", "/v3/connect/auth", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientIP(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q, trusted %v: %s, want %s", c.peer, c.xff, c.trusted, got, c.want)
		}
	}
}
