package native_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/native"
	ewssb "github.com/grantd/grantd/internal/sandbox/ews"
	"github.com/grantd/grantd/internal/sandbox/mail"
	"github.com/grantd/grantd/internal/store"
)

// env is grantd with the OAuth sandbox, the IMAP/SMTP stand-in (which also
// serves iCloud and, through a test copy of detection's table, Yahoo, AOL
// and Outlook.com) and the EWS stand-in.
type env struct {
	*apitest.Env
	mail  *mail.Server
	ews   *ewssb.Server
	appID string
	key   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ms, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	es, err := ewssb.Start(ewssb.Options{Auth: ewssb.Basic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(es.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, append(ms.CAPEM(), es.CAPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = ca
		c.Network.Timeout = 3 * time.Second
		c.Providers.ICloud = ms.MailHosts()
	}})
	e.Server.Native.Servers = testTable(t, ms)
	appID, key := e.App("acme")
	return &env{Env: e, mail: ms, ews: es, appID: appID, key: key}
}

// testTable is detection's table with the entries the v2 mail services
// use pointed at the stand-in: what the native flow takes from it is the
// servers of the entry the mapping names.
func testTable(t *testing.T, ms *mail.Server) *detect.Table {
	t.Helper()
	var entries []string
	for _, id := range []string{"yahoo", "aol", "microsoft"} {
		entries = append(entries, fmt.Sprintf(`{"id":%q,"name":%q,"provider":"imap","domains":["%s.test"],"imap":{"host":%q,"port":%d},"smtp":{"host":%q,"port":%d}}`,
			id, id, id, ms.Host(), ms.IMAPPort(), ms.Host(), ms.SMTPPort()))
	}
	tab, err := detect.ParseTable([]byte(`{"providers":[` + strings.Join(entries, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// authorize posts body to /connect/authorize.
func (e *env) authorize(body any) apitest.Response {
	e.T.Helper()
	return e.Do("POST", "/connect/authorize", "", body)
}

func (e *env) grants() []store.Grant {
	e.T.Helper()
	gs, err := e.Server.Store.ListGrants(e.T.Context(), e.appID, store.GrantFilter{ListOptions: store.ListOptions{Limit: 100}})
	if err != nil {
		e.T.Fatal(err)
	}
	return gs
}

// redeem consumes code with the application's API key.
func (e *env) redeem(code string) (store.Grant, string, error) {
	return e.Server.Native.Redeem(e.T.Context(), native.TokenRequest{ClientID: e.appID, ClientSecret: e.key, Code: code})
}

func codeOf(t *testing.T, r apitest.Response) string {
	t.Helper()
	c, _ := r.Body["code"].(string)
	if r.Status != http.StatusOK || len(c) < 40 || len(r.Body) != 1 {
		t.Fatalf("authorize: %d %s", r.Status, r.Raw)
	}
	return c
}

// TestEveryV2Provider authenticates one account per v2 provider name
// against the sandboxes and redeems its code.
func TestEveryV2Provider(t *testing.T) {
	e := newEnv(t)
	googleClient := e.OAuthConnector(e.key, "google")
	msClient := e.OAuthConnector(e.key, "microsoft")
	e.mail.AddUser("ada@imap.test", "imap-pw-1")
	e.mail.AddUser("yan@yahoo.test", "yahoo-pw-1")
	e.mail.AddUser("al@aol.test", "aol-pw-1")
	e.mail.AddUser("hot@hotmail.test", "hotmail-pw-1")
	e.mail.AddUser("out@outlook.test", "outlook-pw-1")
	e.mail.AddAccount(mail.User{Email: "ic@icloud.test", Password: "apple-pw", AppPassword: "abcd-efgh-ijkl-mnop", Behavior: mail.AppPasswordOnly})
	e.ews.AddUser("ex@contoso.test", "ex@contoso.test", "ews-pw-1", "Ex Change")

	cases := []struct {
		v2, email, v3 string
		settings      map[string]any
		scopes        string
		wantScope     []string
		wantHost      string
		secret        string // a secret that must appear nowhere
	}{
		{v2: "gmail", email: "g@example.com", v3: "google", scopes: "email.read_only,calendar", settings: map[string]any{
			"google_client_id": googleClient, "google_client_secret": "secret-google-canary",
			"google_refresh_token": e.RefreshToken("google", googleClient, "g@example.com")}},
		{v2: "office365", email: "o@example.com", v3: "microsoft", scopes: "email.read_only", settings: map[string]any{
			"microsoft_client_id": msClient, "microsoft_client_secret": "secret-microsoft-canary",
			"microsoft_refresh_token": e.RefreshToken("microsoft", msClient, "o@example.com"), "redirect_uri": "https://app.example/cb"}},
		{v2: "graph", email: "gr@example.com", v3: "microsoft", settings: map[string]any{
			"microsoft_client_id": msClient, "microsoft_client_secret": "secret-microsoft-canary",
			"microsoft_refresh_token": e.RefreshToken("microsoft", msClient, "gr@example.com"), "redirect_uri": "https://app.example/cb"}},
		{v2: "exchange", email: "ex@contoso.test", v3: "ews", scopes: "email,calendar,contacts", wantScope: []string{"ews.messages", "ews.calendars", "ews.contacts"},
			secret: "ews-pw-1", settings: map[string]any{
				"username": "ex@contoso.test", "password": "ews-pw-1", "eas_server_host": fmt.Sprintf("%s:%d", e.ews.Host(), e.ews.Port())}},
		{v2: "imap", email: "ada@imap.test", v3: "imap", scopes: "email", secret: "imap-pw-1", wantHost: e.mail.Host(), settings: map[string]any{
			"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(), "imap_username": "ada@imap.test", "imap_password": "imap-pw-1",
			"smtp_host": e.mail.Host(), "smtp_port": fmt.Sprint(e.mail.SMTPPort()), "ssl_required": true}},
		{v2: "yahoo", email: "yan@yahoo.test", v3: "imap", secret: "yahoo-pw-1", wantHost: e.mail.Host(), settings: map[string]any{"password": "yahoo-pw-1"}},
		{v2: "aol", email: "al@aol.test", v3: "imap", secret: "aol-pw-1", wantHost: e.mail.Host(), settings: map[string]any{"username": "al@aol.test", "password": "aol-pw-1"}},
		{v2: "hotmail", email: "hot@hotmail.test", v3: "imap", secret: "hotmail-pw-1", wantHost: e.mail.Host(), settings: map[string]any{"password": "hotmail-pw-1"}},
		{v2: "outlook", email: "out@outlook.test", v3: "imap", secret: "outlook-pw-1", wantHost: e.mail.Host(), settings: map[string]any{"password": "outlook-pw-1"}},
		{v2: "icloud", email: "ic@icloud.test", v3: "icloud", secret: "abcd-efgh-ijkl-mnop", settings: map[string]any{"username": "ic@icloud.test", "password": "abcd-efgh-ijkl-mnop"}},
	}
	covered := []string{"nylas"} // TestVirtualCalendar
	for _, c := range cases {
		covered = append(covered, c.v2)
		t.Run(c.v2, func(t *testing.T) {
			r := e.authorize(map[string]any{"client_id": e.appID, "name": "User " + c.v2, "email_address": c.email,
				"provider": c.v2, "settings": c.settings, "scopes": c.scopes})
			code := codeOf(t, r)
			if c.secret != "" && strings.Contains(string(r.Raw), c.secret) {
				t.Error("a secret in the answer")
			}
			g, v2name, err := e.redeem(code)
			if err != nil {
				t.Fatalf("redeem: %v", err)
			}
			if g.Provider != c.v3 || !strings.EqualFold(g.Email, c.email) || g.Status != store.GrantValid || v2name != c.v2 {
				t.Errorf("grant %s %s %s, v2 name %s", g.Provider, g.Email, g.Status, v2name)
			}
			if c.wantScope != nil && !slices.Equal(g.Scope, c.wantScope) {
				t.Errorf("scope %v, want %v", g.Scope, c.wantScope)
			}
			if c.wantHost != "" && (g.Settings["imap_host"] != c.wantHost || fmt.Sprint(g.Settings["imap_port"]) != fmt.Sprint(e.mail.IMAPPort())) {
				t.Errorf("settings %v", g.Settings)
			}
			if g.Name == "" {
				t.Error("no name")
			}
			acc := native.AccountOf(g, v2name)
			if acc.ID != g.ID || acc.AccountID != g.ID || acc.Object != "account" || acc.Provider != c.v2 || acc.SyncState != "running" || acc.LinkedAt != g.CreatedAt.Unix() {
				t.Errorf("account %+v", acc)
			}
			if _, _, err := e.redeem(code); err == nil {
				t.Error("a code was redeemed twice")
			}
		})
	}
	if names := native.V2ProviderNames(); !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(covered))) {
		t.Errorf("v2 names %v, tested %v", names, covered)
	}
	for _, l := range []string{"secret-google-canary", "imap-pw-1", "ews-pw-1", "abcd-efgh-ijkl-mnop"} {
		if strings.Contains(e.Logs.String(), l) {
			t.Errorf("%s in the log", l)
		}
	}
}

// TestMailServiceUsername: the username of yahoo, aol, hotmail and outlook
// is the account's address, in any case; one that is no address (a screen
// name) leaves the account to email_address.
func TestMailServiceUsername(t *testing.T) {
	e := newEnv(t)
	e.mail.AddUser("al@aol.test", "aol-pw-1")
	e.mail.AddUser("alscreen", "aol-pw-2")
	for _, c := range []struct{ email, username, password string }{
		{"al@aol.test", "AL@aol.test", "aol-pw-1"},
		{"al.screen@aol.test", "alscreen", "aol-pw-2"},
	} {
		r := e.authorize(map[string]any{"client_id": e.appID, "email_address": c.email, "provider": "aol",
			"settings": map[string]any{"username": c.username, "password": c.password}})
		g, _, err := e.redeem(codeOf(t, r))
		if err != nil || g.Email != c.email || g.Settings["imap_username"] != c.username {
			t.Errorf("username %s for %s: grant %s %v, %v", c.username, c.email, g.Email, g.Settings, err)
		}
	}
}

// TestVirtualCalendar: v2's provider "nylas" makes a virtual-calendar
// grant when this grantd authenticates them, and is refused before
// anything is stored otherwise.
func TestVirtualCalendar(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"client_id": e.appID, "provider": "nylas", "email": "room-7", "name": "Room 7", "scopes": []string{"calendar"}, "settings": map[string]any{}}
	r := e.authorize(body)
	if !slices.Contains(e.Server.Grants.Supported(), "virtual-calendar") {
		if r.Status != 400 || r.Body["type"] != "invalid_request_error" || !strings.Contains(r.Body["message"].(string), "virtual-calendar") || len(e.grants()) != 0 {
			t.Fatalf("unsupported virtual calendar: %d %s", r.Status, r.Raw)
		}
		t.Skip("virtual-calendar grants are not authenticated by this grantd yet (issue 14): checked the refusal only")
	}
	g, v2name, err := e.redeem(codeOf(t, r))
	if err != nil || g.Provider != "virtual-calendar" || v2name != "nylas" || g.Email != "room-7" {
		t.Fatalf("virtual calendar: %+v %s %v", g, v2name, err)
	}
}

// TestBadInput: every refusal is v2-shaped, names what is wrong, issues no
// code and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	googleClient := e.OAuthConnector(e.key, "google")
	e.mail.AddUser("ada@imap.test", "imap-pw-1")
	e.mail.AddAccount(mail.User{Email: "ic@icloud.test", Password: "apple-pw", AppPassword: "abcd-efgh-ijkl-mnop", Behavior: mail.AppPasswordOnly})
	e.mail.AddUser("yan@yahoo.test", "yahoo-pw-1")
	e.mail.AddAccount(mail.User{Email: "ms@outlook.test", Password: "ms-pw-1", Behavior: mail.BasicAuthDisabled})
	rt := e.RefreshToken("google", googleClient, "g@example.com")
	imap := func(pw string) map[string]any {
		return map[string]any{"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(), "imap_username": "ada@imap.test", "imap_password": pw,
			"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort()}
	}
	ok := func(over map[string]any) map[string]any {
		b := map[string]any{"client_id": e.appID, "name": "Ada", "email_address": "ada@imap.test", "provider": "imap", "settings": imap("imap-pw-1")}
		for k, v := range over {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name   string
		body   any
		status int
		typ    string
		want   string
	}{
		{"unknown provider", ok(map[string]any{"provider": "hotmale"}), 400, "invalid_request_error", "gmail, office365, graph, exchange, imap, yahoo, aol, hotmail, outlook, icloud, nylas"},
		{"v3 name", ok(map[string]any{"provider": "google"}), 400, "invalid_request_error", "not a v2 provider"},
		{"no provider", ok(map[string]any{"provider": nil}), 400, "invalid_request_error", "provider is required"},
		{"missing password", ok(map[string]any{"settings": map[string]any{"imap_username": "ada@imap.test"}}), 400, "invalid_request_error", "settings.imap_password is required"},
		{"missing gmail refresh token", ok(map[string]any{"provider": "gmail", "settings": map[string]any{"google_client_id": googleClient, "google_client_secret": "secret-google-canary"}}), 400, "invalid_request_error", "settings.google_refresh_token is required"},
		{"missing redirect_uri", ok(map[string]any{"provider": "office365", "settings": map[string]any{"microsoft_client_id": "c", "microsoft_client_secret": "s", "microsoft_refresh_token": "r"}}), 400, "invalid_request_error", "settings.redirect_uri is required"},
		{"unknown setting", ok(map[string]any{"provider": "yahoo", "settings": map[string]any{"password": "x", "imap_host": "h"}}), 400, "invalid_request_error", "settings.imap_host is not a setting of provider yahoo"},
		{"setting not a string", ok(map[string]any{"provider": "yahoo", "settings": map[string]any{"password": 7}}), 400, "invalid_request_error", "settings.password must be a string"},
		{"bad port", ok(map[string]any{"settings": map[string]any{"imap_username": "a", "imap_password": "b", "imap_port": "99999"}}), 400, "invalid_request_error", "settings.imap_port must be a port"},
		{"ssl_required not a bool", ok(map[string]any{"settings": map[string]any{"imap_username": "a", "imap_password": "b", "ssl_required": "yes"}}), 400, "invalid_request_error", "settings.ssl_required must be true or false"},
		{"settings not an object", ok(map[string]any{"settings": "x"}), 400, "invalid_request_error", "settings must be an object"},
		{"scopes a number", ok(map[string]any{"scopes": 3}), 400, "invalid_request_error", "scopes must be a comma-separated string"},
		{"scopes an array with a number", ok(map[string]any{"scopes": []any{"email", 3}}), 400, "invalid_request_error", "scopes must be a comma-separated string"},
		{"scopes an object", ok(map[string]any{"scopes": map[string]any{"a": 1}}), 400, "invalid_request_error", "scopes must be a comma-separated string"},
		{"unknown scope", ok(map[string]any{"scopes": "email,mail.everything"}), 400, "invalid_request_error", `"mail.everything" is not a v2 scope`},
		{"no email", ok(map[string]any{"email_address": nil}), 400, "invalid_request_error", "email_address is required"},
		{"bad email", ok(map[string]any{"email_address": "<script>@x"}), 400, "invalid_request_error", "email_address"},
		{"unknown field", ok(map[string]any{"password": "x"}), 400, "invalid_request_error", `"password" is not a field`},
		{"no client_id", ok(map[string]any{"client_id": nil}), 400, "invalid_request_error", "client_id is required"},
		{"client_id not an application", ok(map[string]any{"client_id": "0192d2c4-0000-7000-8000-000000000000"}), 401, "auth_error", "not the id of an application"},
		{"client_id not a string", ok(map[string]any{"client_id": 5}), 400, "invalid_request_error", "client_id must be a string"},
		{"not JSON", "{", 400, "invalid_request_error", "not a JSON object"},
		{"JSON array", "[]", 400, "invalid_request_error", "not a JSON object"},
		{"trailing data", `{"provider":"imap"} {}`, 400, "invalid_request_error", "data after"},
		{"empty", "", 400, "invalid_request_error", "empty"},
		{"wrong password", ok(map[string]any{"settings": imap("not-the-pw")}), 403, "auth_error", "rejected the username or password"},
		{"another account's credentials", ok(map[string]any{"provider": "icloud", "email_address": "other@icloud.test", "settings": map[string]any{"username": "ic@icloud.test", "password": "abcd-efgh-ijkl-mnop"}}), 400, "invalid_request_error", "belong to ic@icloud.test, not to other@icloud.test"},
		// A mail service's username is the account's address: another
		// address is another account, refused like iCloud's (before, the
		// grant was made for email_address with yan's mailbox behind it).
		{"yahoo: another account's credentials", ok(map[string]any{"provider": "yahoo", "email_address": "other@yahoo.test", "settings": map[string]any{"username": "yan@yahoo.test", "password": "yahoo-pw-1"}}), 400, "invalid_request_error", "belong to yan@yahoo.test, not to other@yahoo.test"},
		{"outlook: another account's credentials", ok(map[string]any{"provider": "outlook", "email_address": "Other@outlook.test", "settings": map[string]any{"username": "yan@yahoo.test", "password": "yahoo-pw-1"}}), 400, "invalid_request_error", "belong to yan@yahoo.test, not to Other@outlook.test"},
		// Outlook.com refuses password logins: the advice names the v2
		// provider that works, not only v3's "microsoft".
		{"outlook: basic authentication disabled", ok(map[string]any{"provider": "outlook", "email_address": "ms@outlook.test", "settings": map[string]any{"password": "ms-pw-1"}}), 403, "auth_error", `provider "office365" (or "graph")`},
		{"icloud: account password", ok(map[string]any{"provider": "icloud", "email_address": "ic@icloud.test", "settings": map[string]any{"password": "apple-pw"}}), 403, "auth_error", "app-specific password"},
		{"gmail: unknown client", ok(map[string]any{"provider": "gmail", "settings": map[string]any{"google_client_id": "who", "google_client_secret": "s", "google_refresh_token": rt}}), 400, "invalid_request_error", "is not the OAuth client of the application's google connector"},
		{"gmail: wrong client secret", ok(map[string]any{"provider": "gmail", "settings": map[string]any{"google_client_id": googleClient, "google_client_secret": "nope", "google_refresh_token": rt}}), 400, "invalid_request_error", "google_client_secret is not the secret"},
		{"gmail: revoked token", ok(map[string]any{"provider": "gmail", "settings": map[string]any{"google_client_id": googleClient, "google_client_secret": "secret-google-canary", "google_refresh_token": "1//not-a-token"}}), 403, "auth_error", ""},
		{"office365: no connector", ok(map[string]any{"provider": "office365", "settings": map[string]any{"microsoft_client_id": "c", "microsoft_client_secret": "s", "microsoft_refresh_token": "r", "redirect_uri": "https://x"}}), 400, "invalid_request_error", "no microsoft connector"},
		{"reauth of an unknown account", ok(map[string]any{"reauth_account_id": "nope"}), 400, "invalid_request_error", "reauth_account_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.authorize(c.body)
			msg, _ := r.Body["message"].(string)
			if r.Status != c.status || r.Body["type"] != c.typ || !strings.Contains(msg, c.want) || len(r.Body) != 2 {
				t.Errorf("%d %s", r.Status, r.Raw)
			}
			if strings.Contains(string(r.Raw), "secret-google-canary") || strings.Contains(string(r.Raw), "not-the-pw") {
				t.Error("a secret in the answer")
			}
		})
	}
	if gs := e.grants(); len(gs) != 0 {
		t.Errorf("refused requests stored %d grants", len(gs))
	}
	// A wrong method is v2-shaped too.
	if r := e.Do("GET", "/connect/authorize", "", nil); r.Status != 405 || r.Body["type"] != "invalid_request_error" {
		t.Errorf("GET: %d %s", r.Status, r.Raw)
	}
}

// TestCodes: a code is single use, expires after 15 minutes, is stored
// only as its hash, belongs to its application, and needs an API key of
// that application.
func TestCodes(t *testing.T) {
	e := newEnv(t)
	e.mail.AddUser("ada@imap.test", "imap-pw-1")
	body := map[string]any{"client_id": e.appID, "email_address": "ada@imap.test", "provider": "imap", "settings": map[string]any{
		"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(), "imap_username": "ada@imap.test", "imap_password": "imap-pw-1",
		"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort()}}
	ctx := t.Context()
	code := codeOf(t, e.authorize(body))

	// Stored hashed: the plaintext is no key of the store.
	if _, err := e.Server.Store.ConsumeCode(ctx, code, time.Now()); err == nil {
		t.Fatal("the plaintext code is stored")
	}
	// A wrong client_secret is refused and does not spend the code.
	svc := e.Server.Native
	_, _, err := svc.Redeem(ctx, native.TokenRequest{ClientID: e.appID, ClientSecret: "nope", Code: code})
	if ne, _ := err.(*native.Error); ne == nil || ne.Status != 401 {
		t.Fatalf("wrong secret: %v", err)
	}
	otherApp, otherKey := e.App("other")
	_, _, err = svc.Redeem(ctx, native.TokenRequest{ClientID: e.appID, ClientSecret: otherKey, Code: code})
	if ne, _ := err.(*native.Error); ne == nil || ne.Status != 401 {
		t.Fatalf("another application's key: %v", err)
	}
	g, _, err := e.redeem(code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.redeem(code); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reuse: %v", err)
	}

	// Expired after 15 minutes.
	code = codeOf(t, e.authorize(body))
	svc.Now = func() time.Time { return time.Now().Add(native.CodeTTL + time.Second) }
	if _, _, err := e.redeem(code); err == nil {
		t.Fatal("an expired code was redeemed")
	}
	svc.Now = time.Now

	// Another application's code: refused, and burnt.
	code = codeOf(t, e.authorize(body))
	if _, _, err := svc.Redeem(ctx, native.TokenRequest{ClientID: otherApp, ClientSecret: otherKey, Code: code}); err == nil {
		t.Fatal("a foreign code was redeemed")
	}
	if _, _, err := e.redeem(code); err == nil {
		t.Fatal("a code presented by another application still works")
	}

	// One grant per email: authorizing again re-authenticates it.
	code = codeOf(t, e.authorize(body))
	g2, _, err := e.redeem(code)
	if err != nil || g2.ID != g.ID || len(e.grants()) != 1 {
		t.Fatalf("re-authorize: %v, grant %s then %s", err, g.ID, g2.ID)
	}

	// reauth_account_id: the same account with a new password.
	e.mail.AddUser("ada@imap.test", "imap-pw-2")
	body["settings"].(map[string]any)["imap_password"] = "imap-pw-2"
	body["reauth_account_id"] = g.ID
	g3, _, err := e.redeem(codeOf(t, e.authorize(body)))
	if err != nil || g3.ID != g.ID {
		t.Fatalf("reauth: %v", err)
	}
	if sec, err := e.Server.Grants.Secrets(g3); err != nil || sec["imap_password"] != "imap-pw-2" {
		t.Errorf("reauth did not store the new password (%v)", err)
	}
	// … and not another account's.
	e.mail.AddUser("eve@imap.test", "eve-pw-1")
	s := body["settings"].(map[string]any)
	s["imap_username"], s["imap_password"], body["email_address"] = "eve@imap.test", "eve-pw-1", "eve@imap.test"
	if r := e.authorize(body); r.Status != 400 || r.Body["code"] != nil {
		t.Errorf("reauth with another account: %d %s", r.Status, r.Raw)
	}
}

func nativeToken(appID, key, code string) native.TokenRequest {
	return native.TokenRequest{ClientID: appID, ClientSecret: key, Code: code}
}

// TestRateLimit: /connect/authorize takes the application's API bucket
// (it needs no API key and makes grantd log in to providers): past it, a
// v2 429 with Retry-After, and the provider is not asked.
func TestRateLimit(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.RateLimit = config.RateLimit{RequestsPerSecond: 1, Burst: 2}
	}})
	appID, _ := e.App("acme")
	body := map[string]any{"client_id": appID, "email_address": "a@icloud.test", "provider": "icloud", "settings": map[string]any{}}
	for i := range 2 {
		if r := e.Do("POST", "/connect/authorize", "", body); r.Status != 400 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r := e.Do("POST", "/connect/authorize", "", body)
	if r.Status != 429 || r.Body["type"] != "rate_limit_error" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d %v %s", r.Status, r.Header, r.Raw)
	}
	// Another application has its own bucket.
	other, _ := e.App("other")
	body["client_id"] = other
	if r := e.Do("POST", "/connect/authorize", "", body); r.Status != 400 {
		t.Fatalf("another application: %d %s", r.Status, r.Raw)
	}
}

// TestToken: /connect/token answers the v2 account with a grantd access
// token of the hosted-OAuth family (works at /v3/grants/me and tokeninfo,
// revocable), once per code; v2-shaped errors.
func TestToken(t *testing.T) {
	e := newEnv(t)
	e.mail.AddUser("ada@imap.test", "imap-pw-1")
	body := map[string]any{"client_id": e.appID, "name": "Ada", "email_address": "ada@imap.test", "provider": "imap", "settings": map[string]any{
		"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(), "imap_username": "ada@imap.test", "imap_password": "imap-pw-1",
		"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort()}}
	code := codeOf(t, e.authorize(body))
	token := func(req any) apitest.Response { return e.Do("POST", "/connect/token", "", req) }
	for _, c := range []struct {
		name   string
		req    any
		status int
		typ    string
	}{
		{"wrong secret", map[string]any{"client_id": e.appID, "client_secret": "nope", "code": code}, 401, "auth_error"},
		{"no code", map[string]any{"client_id": e.appID, "client_secret": e.key}, 400, "invalid_request_error"},
		{"unknown code", map[string]any{"client_id": e.appID, "client_secret": e.key, "code": "nope"}, 400, "invalid_request_error"},
		{"not JSON", "code=x", 400, "invalid_request_error"},
	} {
		if r := token(c.req); r.Status != c.status || r.Body["type"] != c.typ || r.Body["access_token"] != nil {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Raw)
		}
	}
	r := token(map[string]any{"client_id": e.appID, "client_secret": e.key, "code": code})
	tok, _ := r.Body["access_token"].(string)
	if r.Status != 200 || tok == "" || r.Body["object"] != "account" || r.Body["provider"] != "imap" || r.Body["email_address"] != "ada@imap.test" ||
		r.Body["id"] != r.Body["account_id"] || r.Body["sync_state"] != "running" || r.Body["name"] != "Ada" || strings.Contains(string(r.Raw), "imap-pw-1") {
		t.Fatalf("token: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	if again := token(map[string]any{"client_id": e.appID, "client_secret": e.key, "code": code}); again.Status != 400 || again.Body["access_token"] != nil {
		t.Errorf("a code redeemed twice: %d %s", again.Status, again.Raw)
	}
	if me := e.Do("GET", "/v3/grants/me", tok, nil); me.Status != 200 || me.Data()["id"] != id {
		t.Fatalf("GET /v3/grants/me: %d %s", me.Status, me.Raw)
	}
	if info := e.Do("GET", "/v3/connect/tokeninfo?access_token="+tok, "", nil); info.Status != 200 {
		t.Errorf("tokeninfo: %d %s", info.Status, info.Raw)
	}
	if rv := e.Do("POST", "/v3/connect/revoke?token="+tok, e.key, nil); rv.Status != 200 {
		t.Fatalf("revoke: %d %s", rv.Status, rv.Raw)
	}
	if me := e.Do("GET", "/v3/grants/me", tok, nil); me.Status != 401 {
		t.Errorf("GET /v3/grants/me after revoke: %d %s", me.Status, me.Raw)
	}
	if strings.Contains(e.Logs.String(), tok) || strings.Contains(e.Logs.String(), code) {
		t.Error("a token or code in the log")
	}
}

// versionCounter counts the configuration version reads of a store.
type versionCounter struct {
	store.Store
	reads atomic.Int64
}

func (c *versionCounter) GetConfigVersion(ctx context.Context, appID string) (int64, error) {
	c.reads.Add(1)
	return c.Store.GetConfigVersion(ctx, appID)
}

// TestAuthorizeReadsConfigVersionOnce: /connect/authorize has no API key
// to carry the application's configuration version, so it reads it once
// and pins it for the request: the client match and the grant service's
// connector and credential lookups use the node's cache without reading
// it again each (as /v3/connect/auth does).
func TestAuthorizeReadsConfigVersionOnce(t *testing.T) {
	e := newEnv(t)
	googleClient := e.OAuthConnector(e.key, "google")
	counter := &versionCounter{Store: e.Server.Store}
	// Before any v2 request: the services read these fields per request.
	e.Server.Native.Store = counter
	e.Server.Connectors.Store = counter
	for i, email := range []string{"pin1@example.com", "pin2@example.com"} {
		before := counter.reads.Load()
		codeOf(t, e.authorize(map[string]any{"client_id": e.appID, "email_address": email, "provider": "gmail", "scopes": "email.read_only",
			"settings": map[string]any{"google_client_id": googleClient, "google_client_secret": "secret-google-canary",
				"google_refresh_token": e.RefreshToken("google", googleClient, email)}}))
		if n := counter.reads.Load() - before; n != 1 {
			t.Errorf("authorize %d read the configuration version %d times; want 1", i+1, n)
		}
	}
	// An unknown client_id is still a 401 from that one read.
	if r := e.authorize(map[string]any{"client_id": "no-such-app", "email_address": "x@example.com", "provider": "gmail"}); r.Status != http.StatusUnauthorized {
		t.Errorf("unknown client_id: %d %s", r.Status, r.Raw)
	}
}
