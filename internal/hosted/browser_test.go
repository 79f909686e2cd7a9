package hosted_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/testenv"
)

// TestBrowserHostedOAuth drives headless Chromium along the whole hosted
// OAuth path a user takes: the URL urlForOAuth2 builds → grantd's
// /v3/connect/auth → the sandbox's Google consent page (a real page, a
// real click) → grantd's callback → the application's redirect URI with
// a code and its state; the application then exchanges the code and
// finds the grant.
func TestBrowserHostedOAuth(t *testing.T) {
	browser := testenv.Browser(t, "the browser test of hosted OAuth")
	e := apitest.New(t)
	appID, key := e.App("browser")
	e.OAuthConnector(key, "google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "other@example.com", Name: "Someone Else"})
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@example.com", Name: "Ada Lovelace"})

	type arrival struct{ query url.Values }
	got := make(chan arrival, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/callback" {
			select {
			case got <- arrival{r.URL.Query()}:
			default:
			}
			_, _ = w.Write([]byte("<!doctype html><title>signed in</title><p id=done>signed in</p>"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(app.Close)
	redirect := app.URL + "/oauth/callback"
	if r := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": redirect}); r.Status != 200 {
		t.Fatalf("redirect uri: %d %s", r.Status, r.Raw)
	}

	// What the Node SDK's urlForOAuth2 builds.
	q := url.Values{"client_id": {appID}, "redirect_uri": {redirect}, "access_type": {"offline"}, "response_type": {"code"},
		"provider": {"google"}, "login_hint": {"ada@example.com"}, "state": {"browser-state"}}
	start := e.HTTP.URL + "/v3/connect/auth?" + q.Encode()

	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(start), chromedp.WaitVisible(chromedp.CSS("#allow"))); err != nil {
		t.Fatalf("consent page: %v", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	button, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#allow")))
	if err != nil {
		t.Fatal(err)
	}
	// login_hint puts Ada first.
	if !strings.Contains(heading, "google") || !strings.Contains(button, "ada@example.com") {
		t.Fatalf("consent page: heading %q, first button %q", heading, button)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("#done"))); err != nil {
		t.Fatalf("after consent: %v", err)
	}
	var a arrival
	select {
	case a = <-got:
	case <-ctx.Done():
		t.Fatal("the browser never reached the application's redirect URI")
	}
	code := a.query.Get("code")
	if a.query.Get("state") != "browser-state" || !strings.HasPrefix(code, "gac_") || a.query.Get("error") != "" {
		t.Fatalf("the application got %v", a.query)
	}

	tok := e.Do("POST", "/v3/connect/token", "", map[string]any{"client_id": appID, "client_secret": key, "code": code,
		"redirect_uri": redirect, "grant_type": "authorization_code"})
	if tok.Status != 200 || tok.Body["email"] != "ada@example.com" || tok.Body["refresh_token"] == nil {
		t.Fatalf("token: %d %s", tok.Status, tok.Raw)
	}
	g := e.Do("GET", "/v3/grants/"+tok.Body["grant_id"].(string), key, nil)
	if g.Status != 200 || g.Data()["email"] != "ada@example.com" || g.Data()["grant_status"] != "valid" || g.Data()["provider"] != "google" {
		t.Fatalf("grant: %d %s", g.Status, g.Raw)
	}
}

// TestBrowserAdminConsent drives headless Chromium along the admin
// consent path an administrator takes: grantd's /v3/connect/auth with
// response_type=adminconsent → the sandbox's Entra admin consent endpoint
// (its administrator consents at once) → grantd's callback → the
// application's redirect URI with admin_consent=true, the tenant and the
// state; the tenant's users can then be connected without signing in.
func TestBrowserAdminConsent(t *testing.T) {
	browser := testenv.Browser(t, "the browser test of hosted OAuth")
	const tenant = "b10b5e70-0000-4000-8000-b10b5e70b10b"
	e := apitest.New(t)
	appID, key := e.App("browser-consent")
	e.OAuthConnector(key, "microsoft")
	e.Sandbox.AddUser("microsoft", sandbox.User{Email: "ada@tenant.test", Name: "Ada Lovelace", Tenant: tenant})
	cr := e.Do("POST", "/v3/connectors/microsoft/creds", key, map[string]any{"name": "tenant", "credential_type": "adminconsent",
		"credential_data": map[string]any{"tenant": tenant}})
	if cr.Status != http.StatusCreated {
		t.Fatalf("adminconsent credential: %d %s", cr.Status, cr.Raw)
	}
	credID := cr.Data()["id"].(string)
	bulk := func() int {
		return e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "microsoft",
			"settings": map[string]any{"email_address": "ada@tenant.test", "credential_id": credID}}).Status
	}
	if st := bulk(); st != http.StatusBadRequest {
		t.Fatalf("bulk grant before consent: %d", st)
	}

	got := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/consented" {
			select {
			case got <- r.URL.Query():
			default:
			}
			_, _ = w.Write([]byte("<!doctype html><title>consented</title><p id=done>thanks</p>"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(app.Close)
	redirect := app.URL + "/consented"
	if r := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": redirect}); r.Status != 200 {
		t.Fatalf("redirect uri: %d %s", r.Status, r.Raw)
	}
	q := url.Values{"client_id": {appID}, "redirect_uri": {redirect}, "response_type": {"adminconsent"},
		"provider": {"microsoft"}, "credential_id": {credID}, "state": {"consent-state"}}

	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.HTTP.URL+"/v3/connect/auth?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS("#done"))); err != nil {
		t.Fatalf("admin consent walk: %v", err)
	}
	var back url.Values
	select {
	case back = <-got:
	case <-ctx.Done():
		t.Fatal("the browser never reached the application's redirect URI")
	}
	if back.Get("admin_consent") != "true" || back.Get("tenant") != tenant || back.Get("state") != "consent-state" || back.Get("error") != "" {
		t.Fatalf("the application got %v", back)
	}
	if st := bulk(); st != http.StatusCreated {
		t.Fatalf("bulk grant after consent: %d", st)
	}
}
