package api_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// mailEnv is grantd configured against in-process IMAP and SMTP servers
// (STARTTLS, with their CA in network.ca_file), which also serve as iCloud.
func mailEnv(t *testing.T, timeout time.Duration) (*apitest.Env, *mail.Server, string) {
	t.Helper()
	srv, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca, err := srv.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = ca
		c.Network.Timeout = timeout
		c.Providers.ICloud = srv.MailHosts()
	}})
	_, key := e.App("acme")
	return e, srv, key
}

func imapBody(srv *mail.Server, user, pass string) map[string]any {
	return map[string]any{"provider": "imap", "settings": map[string]any{
		"imap_username": user, "imap_password": pass,
		"imap_host": srv.Host(), "imap_port": fmt.Sprint(srv.IMAPPort()),
		"smtp_host": srv.Host(), "smtp_port": fmt.Sprint(srv.SMTPPort()),
	}}
}

func TestIMAPAndICloudGrants(t *testing.T) {
	e, srv, key := mailEnv(t, 3*time.Second)
	srv.AddUser("ada@example.com", "first-imap-pw")
	r := e.Do("POST", "/v3/connect/custom", key, imapBody(srv, "Ada@Example.com", "first-imap-pw"))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	g := r.Data()
	id := g["id"].(string)
	s, _ := g["settings"].(map[string]any)
	if g["provider"] != "imap" || g["email"] != "ada@example.com" || g["grant_status"] != "valid" ||
		s["imap_host"] != srv.Host() || s["imap_port"] != float64(srv.IMAPPort()) || s["smtp_username"] != "Ada@Example.com" || s["imap_password"] != nil {
		t.Errorf("grant: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), "first-imap-pw") {
		t.Error("password in the response")
	}

	// Re-authentication: same email, new password, same grant.
	srv.AddUser("ada@example.com", "second-imap-pw")
	r = e.Do("POST", "/v3/connect/custom", key, imapBody(srv, "ada@example.com", "second-imap-pw"))
	if r.Status != http.StatusCreated || r.Data()["id"] != id {
		t.Fatalf("re-auth: %d %s", r.Status, r.Raw)
	}
	if sec := secretsOf(t, e, key, id); sec["imap_password"] != "second-imap-pw" {
		t.Errorf("stored secrets after re-auth: %d keys", len(sec))
	}

	// PATCH with new settings is validated first.
	srv.AddUser("ada@example.com", "third-imap-pw")
	p := e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": imapBody(srv, "ada@example.com", "not-the-password")["settings"]})
	if p.Status != 400 || !strings.Contains(p.ErrMessage(), "rejected the username or password") {
		t.Fatalf("patch with a wrong password: %d %s", p.Status, p.Raw)
	}
	if sec := secretsOf(t, e, key, id); sec["imap_password"] != "second-imap-pw" {
		t.Error("a refused PATCH changed the stored password")
	}
	p = e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": imapBody(srv, "ada@example.com", "third-imap-pw")["settings"]})
	if p.Status != 200 || p.Data()["id"] != id {
		t.Fatalf("patch: %d %s", p.Status, p.Raw)
	}
	if sec := secretsOf(t, e, key, id); sec["imap_password"] != "third-imap-pw" {
		t.Error("PATCH did not store the new password")
	}
	// Another account's credentials cannot be patched into this grant.
	srv.AddUser("eve@example.com", "eve-pw-123")
	if p = e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": imapBody(srv, "eve@example.com", "eve-pw-123")["settings"]}); p.Status != 400 {
		t.Fatalf("patch other account: %d %s", p.Status, p.Raw)
	}

	// iCloud.
	srv.AddAccount(mail.User{Email: "bob@icloud.com", Password: "apple-pw", AppPassword: "wxyz-wxyz-wxyz-wxyz", Behavior: mail.AppPasswordOnly})
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "icloud", "settings": map[string]any{"username": "bob@icloud.com", "password": "wxyz-wxyz-wxyz-wxyz"}})
	if r.Status != http.StatusCreated || r.Data()["provider"] != "icloud" || r.Data()["email"] != "bob@icloud.com" || r.Data()["settings"].(map[string]any)["username"] != "bob@icloud.com" {
		t.Fatalf("icloud: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "icloud", "settings": map[string]any{"username": "bob@icloud.com", "password": "apple-pw"}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "app-specific password") || !strings.Contains(r.ErrMessage(), "appleid.apple.com") || r.ProviderError()["response"] == nil {
		t.Fatalf("icloud account password: %d %s", r.Status, r.Raw)
	}
}

func secretsOf(t *testing.T, e *apitest.Env, key, id string) map[string]string {
	t.Helper()
	g, err := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Server.Grants.Secrets(g)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIMAPFailuresMapToStatuses(t *testing.T) {
	e, srv, key := mailEnv(t, 700*time.Millisecond)
	cases := []struct {
		behavior mail.Behavior
		status   int
		typ      string
		msg      string
	}{
		{mail.Normal, 400, "api.invalid_request_error", "rejected the username or password"},
		{mail.AppPasswordRequired, 400, "api.invalid_request_error", "app-specific password"},
		{mail.IMAPDisabled, 400, "api.invalid_request_error", "IMAP access is not enabled"},
		{mail.ListFails, 400, "api.invalid_request_error", "IMAP access"},
		{mail.BasicAuthDisabled, 400, "api.invalid_request_error", "basic authentication"},
		{mail.Unavailable, 504, "api.provider_error", "temporarily unavailable"},
	}
	for i, c := range cases {
		email := fmt.Sprintf("user%d@example.com", i)
		srv.AddAccount(mail.User{Email: email, Password: "right-pw-" + email, Behavior: c.behavior})
		pw := "right-pw-" + email
		if c.behavior == mail.Normal {
			pw = "wrong-pw-" + email
		}
		r := e.Do("POST", "/v3/connect/custom", key, imapBody(srv, email, pw))
		if r.Status != c.status || r.ErrType() != c.typ || !strings.Contains(r.ErrMessage(), c.msg) || r.ProviderError()["protocol"] == nil {
			t.Errorf("behavior %d: %d %s", c.behavior, r.Status, r.Raw)
		}
		if strings.Contains(string(r.Raw), pw) {
			t.Errorf("behavior %d: password in the response", c.behavior)
		}
	}
	// Missing and malformed settings.
	for _, c := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"imap_password": "x"}, "imap_username"},
		{map[string]any{"imap_username": "a@example.com", "imap_password": "x", "imap_port": "993"}, "imap_host"},
		{map[string]any{"imap_username": "a@example.com", "imap_password": "x", "imap_host": "h", "smtp_host": "h", "imap_port": "port"}, "imap_port"},
	} {
		r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "imap", "settings": c.settings})
		if r.Status != 400 || !strings.Contains(r.ErrMessage(), c.want) {
			t.Errorf("%v: %d %s", c.settings, r.Status, r.Raw)
		}
	}
	// TLS: a plaintext-only server is refused (allow_insecure is off).
	plain, err := mail.Start(mail.Options{TLS: mail.Plain, Users: []mail.User{{Email: "p@example.com", Password: "plain-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if r := e.Do("POST", "/v3/connect/custom", key, imapBody(plain, "p@example.com", "plain-pw")); r.Status != 400 || !strings.Contains(r.ErrMessage(), "TLS") {
		t.Errorf("plaintext server: %d %s", r.Status, r.Raw)
	}
	// Slow and dropping servers: 504 within the timeout.
	srv.AddUser("slow@example.com", "slow-pw")
	for _, f := range []func(){
		func() { srv.SetGreetingDelay(5 * time.Second) },
		func() { srv.SetGreetingDelay(0); srv.SetDrop(true) },
	} {
		f()
		start := time.Now()
		r := e.Do("POST", "/v3/connect/custom", key, imapBody(srv, "slow@example.com", "slow-pw"))
		if r.Status != 504 || r.ErrType() != "api.provider_error" {
			t.Errorf("%d %s", r.Status, r.Raw)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v with a 700ms timeout", d)
		}
	}
	srv.SetDrop(false)
	if l := e.Do("GET", "/v3/grants", key, nil); len(l.List()) != 0 {
		t.Errorf("failures stored grants: %s", l.Raw)
	}
	if evs, _ := e.Server.Store.ListEvents(t.Context(), 0, 10); len(evs) != 0 {
		t.Errorf("failures emitted %d events", len(evs))
	}
}

// TestMailPasswordsNeverLeak looks for canary passwords in every response,
// the log and the database files.
func TestMailPasswordsNeverLeak(t *testing.T) {
	e, srv, key := mailEnv(t, 3*time.Second)
	imapPW, smtpPW, appPW, wrongPW := "CANARY-imap-pw-4c1e", "CANARY-smtp-pw-93aa", "CANARY-app-pw-77d0", "CANARY-wrong-pw-5b2f"
	srv.AddAccount(mail.User{Email: "leak@example.com", Password: imapPW, SMTPPassword: smtpPW})
	srv.AddAccount(mail.User{Email: "leak@icloud.com", Password: "apple-pw-x", AppPassword: appPW, Behavior: mail.AppPasswordOnly})
	var raw []string
	do := func(method, path string, body any) {
		r := e.Do(method, path, key, body)
		raw = append(raw, string(r.Raw)+fmt.Sprint(r.Header))
	}
	b := imapBody(srv, "leak@example.com", imapPW)
	b["settings"].(map[string]any)["smtp_password"] = smtpPW
	do("POST", "/v3/connect/custom", b)
	do("POST", "/v3/connect/custom", map[string]any{"provider": "icloud", "settings": map[string]any{"username": "leak@icloud.com", "password": appPW}})
	do("POST", "/v3/connect/custom", imapBody(srv, "leak@example.com", wrongPW))
	do("POST", "/v3/connect/custom", map[string]any{"provider": "icloud", "settings": map[string]any{"username": "leak@icloud.com", "password": wrongPW}})
	do("GET", "/v3/grants", nil)
	if len(e.Do("GET", "/v3/grants", key, nil).List()) != 2 {
		t.Fatalf("want 2 grants: %s", raw)
	}
	e.Server.Close()
	var db []byte
	files, _ := filepath.Glob(filepath.Join(e.Config.DataDir, "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			db = append(db, b...)
		}
	}
	if len(db) == 0 {
		t.Fatal("no database files")
	}
	for _, c := range []string{imapPW, smtpPW, appPW, wrongPW} {
		for i, r := range raw {
			if strings.Contains(r, c) {
				t.Errorf("%s in response %d", c, i)
			}
		}
		if strings.Contains(e.Logs.String(), c) {
			t.Errorf("%s in the log", c)
		}
		if strings.Contains(string(db), c) {
			t.Errorf("%s in the database files", c)
		}
	}
}

// IMAP grants need no connector: deleting an optional imap connector
// leaves them valid.
func TestDeletingIMAPConnectorKeepsGrants(t *testing.T) {
	e, srv, key := mailEnv(t, 3*time.Second)
	if r := e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "imap"}); r.Status != http.StatusCreated {
		t.Fatalf("create connector: %d %s", r.Status, r.Raw)
	}
	srv.AddUser("ada@example.com", "pw-1")
	r := e.Do("POST", "/v3/connect/custom", key, imapBody(srv, "ada@example.com", "pw-1"))
	if r.Status != http.StatusCreated {
		t.Fatalf("create grant: %d %s", r.Status, r.Raw)
	}
	if d := e.Do("DELETE", "/v3/connectors/imap", key, nil); d.Status != http.StatusOK {
		t.Fatalf("delete connector: %d %s", d.Status, d.Raw)
	}
	if g := e.Do("GET", "/v3/grants/"+r.Data()["id"].(string), key, nil); g.Data()["grant_status"] != "valid" {
		t.Errorf("after deleting the imap connector: %s", g.Raw)
	}
}
