package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

// TestHostedPrompt: select_provider and detect stay with grantd; login,
// consent, select_account and none go to the provider in its words where
// it has them (Google always with consent, Microsoft one value), and are
// refused with a 400 saying what the provider takes where it has not.
func TestHostedPrompt(t *testing.T) {
	e := apitest.New(t)
	a := newHostedApp(t, e, "prompt")
	for _, p := range []string{"google", "microsoft", "yahoo", "zoom"} {
		a.connector(p)
	}
	auth := func(prov, prompt string) (int, string, []byte) {
		t.Helper()
		q := url.Values{"client_id": {a.appID}, "redirect_uri": {a.redirectURI}, "response_type": {"code"}, "provider": {prov}}
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return get(t, e.HTTP.URL+"/v3/connect/auth?"+q.Encode())
	}
	for _, c := range []struct {
		prov, prompt string
		want         string // the prompt sent to the provider; "-" none
	}{
		{"google", "", "consent"},
		{"google", "select_provider", "consent"},
		{"google", "detect,select_provider", "consent"},
		{"google", "consent", "consent"},
		{"google", "select_account", "select_account consent"},
		{"google", "select_provider,select_account", "select_account consent"},
		{"google", "select_account consent", "select_account consent"},
		{"microsoft", "", "-"},
		{"microsoft", "select_provider", "-"},
		{"microsoft", "login", "login"},
		{"microsoft", "detect,select_account", "select_account"},
		{"microsoft", "consent", "consent"},
		{"microsoft", "none", "none"},
		{"yahoo", "select_provider", "-"},
		{"zoom", "detect", "-"},
	} {
		st, loc, body := auth(c.prov, c.prompt)
		if st != http.StatusFound {
			t.Errorf("%s prompt=%q: %d %s", c.prov, c.prompt, st, body)
			continue
		}
		u, _ := url.Parse(loc)
		got, ok := u.Query()["prompt"]
		switch {
		case c.want == "-" && ok:
			t.Errorf("%s prompt=%q: the provider got prompt=%q, want none", c.prov, c.prompt, got)
		case c.want != "-" && (len(got) != 1 || got[0] != c.want):
			t.Errorf("%s prompt=%q: the provider got prompt=%q, want %q", c.prov, c.prompt, got, c.want)
		}
	}
	for _, c := range []struct{ prov, prompt, says string }{
		{"google", "login", "Google takes prompt consent or select_account"},
		{"google", "none", "Google takes prompt consent or select_account"},
		{"microsoft", "login consent", "Microsoft takes one prompt value"},
		{"microsoft", "login,select_account", "Microsoft takes one prompt value"},
		{"yahoo", "consent", "Yahoo's authorization page takes no prompt"},
		{"zoom", "select_account", "Zoom's authorization page takes no prompt"},
		{"google", "bogus", `prompt \"bogus\" is not known`},
		{"google", "Consent", `prompt \"Consent\" is not known`},
		{"microsoft", strings.Repeat("login,", 50), "prompt is too long"},
	} {
		st, loc, body := auth(c.prov, c.prompt)
		if st != http.StatusBadRequest || loc != "" || !strings.Contains(string(body), `"error":"invalid_request"`) || !strings.Contains(string(body), c.says) {
			t.Errorf("%s prompt=%q: %d %q %s, want a 400 invalid_request saying %q", c.prov, c.prompt, st, loc, body, c.says)
		}
	}
	// The whole flow with a passed-on prompt.
	e.Sandbox.AddUser("google", sandbox.User{Email: "prompt@example.com"})
	back := a.authorize(t, url.Values{"provider": {"google"}, "prompt": {"select_account"}}, "prompt@example.com")
	if back.Get("code") == "" {
		t.Fatalf("back at the application: %v", back)
	}
}
