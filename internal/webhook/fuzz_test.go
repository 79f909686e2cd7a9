package webhook

import (
	"net/url"
	"testing"

	"github.com/grantd/grantd/internal/netx"
)

// FuzzCheckURL: no input panics, and every accepted URL is an absolute
// http(s) URL with a host and no credentials that parses back the same.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/h?x=1", "http://[::1]:80/", "http://127.0.0.1/", "ftp://x", "https://u:p@h/",
		"http://%zz/", "https://example.com/#f", "http://0x7f.1/", "HTTPS://EXAMPLE.COM", "http://[fe80::1%25eth0]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := CheckURL(raw, netx.Guard{})
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("accepted %q: %+v", raw, u)
		}
		if _, err := url.Parse(u.String()); err != nil {
			t.Fatalf("accepted %q, which does not parse back: %v", raw, err)
		}
	})
}
