package redirecturi

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		url, platform string
		ok            bool
	}{
		{"https://app.example/cb", "web", true},
		{"https://app.example:8443/cb?x=1", "web", true},
		{"http://localhost/cb", "web", true},
		{"http://LOCALHOST:5173/cb", "web", true},
		{"http://127.0.0.1:9000/cb", "web", true},
		{"http://127.8.9.1/cb", "web", true},
		{"http://[::1]:9000/cb", "web", true},
		{"com.example.app:/oauth", "ios", true},
		{"com.example.app:/oauth", "web", false},
		{"http://app.example/cb", "web", false},
		{"http://localhost.evil.example/cb", "web", false},
		{"http://127.0.0.1.nip.io/cb", "web", false},
		{"http://10.0.0.1/cb", "web", false},
		{"https://app.example/cb#x", "web", false},
		{"https://user:pw@app.example/cb", "web", false},
		{"https:///cb", "web", false},
		{"//app.example/cb", "web", false},
		{"/cb", "web", false},
		{"javascript:alert(1)", "ios", false},
		{"data:text/html,x", "android", false},
		{"https://app.example/c b", "web", false},
		{"", "web", false},
	} {
		err := Check(c.url, c.platform)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q, %q) = %v, want ok=%v", c.url, c.platform, err, c.ok)
		}
	}
}

// FuzzCheck: whatever Check accepts for the web is an absolute https URL,
// or http on a loopback host, without a fragment or user info.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"https://app.example/cb", "http://localhost:1/x", "http://[::1]/", "http://127.0.0.1/", "javascript:x",
		"http://evil/", "https://a#b", "http://localhost@evil.example/", "http://evil.example\\@localhost/", "HTTP://LOCALHOST/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if Check(raw, "web") != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
		case "http":
			if !Loopback(u.Hostname()) {
				t.Fatalf("accepted http off loopback: %q", raw)
			}
		default:
			t.Fatalf("accepted scheme %q for the web: %q", u.Scheme, raw)
		}
		if u.Host == "" || u.User != nil || strings.Contains(raw, "#") {
			t.Fatalf("accepted %q", raw)
		}
	})
}
