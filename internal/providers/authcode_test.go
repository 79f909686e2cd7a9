package providers_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

// consent walks the sandbox's consent page as a browser would: GET the
// authorization URL, submit the form as email (or deny), and return the
// query of the redirect back.
func consent(t *testing.T, authURL, email string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	if email == "" {
		form.Set("action", "deny")
	} else {
		form.Set("email", email)
	}
	resp, err = hc.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return back.Query()
}

// Every provider with the authorization code grant builds its
// authorization URL and redeems a code with real HTTP against the sandbox:
// PKCE, offline access, single use and the provider's client
// authentication included.
func TestAuthCodeExchange(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	reg := providers.New(sb.Providers(), providers.Env{Network: netx.DefaultConfig()})
	capable := provider.Capable[provider.AuthCodeExchanger](reg)
	if len(capable) != 4 {
		t.Fatalf("AuthCodeExchanger is implemented by %d providers, want google, microsoft, yahoo, zoom", len(capable))
	}
	const redirect = "http://127.0.0.1:1/v3/connect/callback"
	for name, x := range capable {
		t.Run(name, func(t *testing.T) {
			client := provider.Client{ClientID: "client-" + name, ClientSecret: "secret-" + name + "-canary"}
			sb.AddClient(name, client.ClientID, client.ClientSecret)
			u := sb.AddUser(name, sandbox.User{Email: "ada." + name + "@example.com", Name: "Ada Lovelace"})
			verifier := oauth2.GenerateVerifier()
			state := rand.Text()
			scope := []string{"mail.read"}
			au, err := x.AuthorizeURL(provider.Authorization{Client: client, RedirectURI: redirect, Scope: scope, State: state,
				CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), LoginHint: u.Email})
			if err != nil {
				t.Fatal(err)
			}
			q, _ := url.Parse(au)
			if q.Query().Get("client_id") != client.ClientID || q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("login_hint") != u.Email {
				t.Fatalf("authorization URL: %s", au)
			}
			if name == "google" && q.Query().Get("access_type") != "offline" || name == "microsoft" && !strings.Contains(q.Query().Get("scope"), "offline_access") {
				t.Fatalf("no offline access asked: %s", au)
			}
			back := consent(t, au, u.Email)
			if back.Get("state") != state || back.Get("code") == "" {
				t.Fatalf("redirect back: %v", back)
			}
			ex := provider.CodeExchange{Client: client, Code: back.Get("code"), RedirectURI: redirect, CodeVerifier: verifier, Scope: scope}
			// A wrong verifier fails, and uses the code up.
			bad := ex
			bad.CodeVerifier = oauth2.GenerateVerifier()
			if _, err := x.Exchange(t.Context(), bad); provider.ClassOf(err) != provider.ClassInvalidCredentials {
				t.Fatalf("wrong verifier: %v", err)
			}
			back = consent(t, au, u.Email)
			ex.Code = back.Get("code")
			res, err := x.Exchange(t.Context(), ex)
			if err != nil {
				t.Fatal(err)
			}
			if res.Email != u.Email || res.ProviderUserID != u.ID || res.Secrets["refresh_token"] == "" || res.Secrets["access_token"] == "" {
				t.Fatalf("exchange result: %+v", res)
			}
			if !sb.IsValidRefreshToken(name, res.Secrets["refresh_token"]) {
				t.Fatal("the refresh token is not one the sandbox issued")
			}
			// Single use.
			_, err = x.Exchange(t.Context(), ex)
			if provider.ClassOf(err) != provider.ClassInvalidCredentials || strings.Contains(err.Error(), ex.Code) {
				t.Fatalf("replayed code: %v", err)
			}
			// Another redirect URI.
			back = consent(t, au, u.Email)
			other := ex
			other.Code, other.RedirectURI = back.Get("code"), "http://127.0.0.1:2/cb"
			if _, err := x.Exchange(t.Context(), other); provider.ClassOf(err) != provider.ClassInvalidCredentials {
				t.Fatalf("code for another redirect URI: %v", err)
			}
			// A wrong client secret.
			back = consent(t, au, u.Email)
			wrong := ex
			wrong.Code, wrong.Client.ClientSecret = back.Get("code"), "nope"
			if _, err := x.Exchange(t.Context(), wrong); provider.ClassOf(err) != provider.ClassInvalidClient || strings.Contains(err.Error(), "nope") {
				t.Fatalf("wrong secret: %v", err)
			}
			// Deny.
			if back := consent(t, au, ""); back.Get("error") != "access_denied" || back.Get("state") != state {
				t.Fatalf("deny: %v", back)
			}
		})
	}
}
