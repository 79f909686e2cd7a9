package api_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	ewssb "github.com/grantd/grantd/internal/sandbox/ews"
)

// ewsEnv runs grantd with an EWS stand-in it trusts, and one mailbox.
func ewsEnv(t *testing.T, auth ewssb.Auth) (*apitest.Env, *ewssb.Server, string) {
	t.Helper()
	srv, err := ewssb.Start(ewssb.Options{Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddUser("alice@contoso.test", `CONTOSO\alice`, "alice-pw-1", "Alice Liddell")
	srv.AddUser("bob@contoso.test", `CONTOSO\bob`, "bob-pw-1", "Bob Builder")
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = srv.CAFile()
		c.Network.Timeout = 800 * time.Millisecond
	}})
	_, key := e.App("acme")
	return e, srv, key
}

func ewsSettings(srv *ewssb.Server, user, pw string) map[string]any {
	email := user
	if !strings.Contains(user, "@") {
		email = strings.ToLower(strings.TrimPrefix(user, `CONTOSO\`)) + "@contoso.test"
	}
	return map[string]any{
		"email": email, "ews_username": user, "ews_password": pw,
		"ews_host": srv.Host(), "ews_port": fmt.Sprint(srv.Port()), // a numeric string, as the spec's examples send
	}
}

func TestEWSConnectCustom(t *testing.T) {
	for _, auth := range []ewssb.Auth{ewssb.NTLM, ewssb.Basic} {
		t.Run(auth.String(), func(t *testing.T) {
			e, srv, key := ewsEnv(t, auth)
			r := e.Do("POST", "/v3/connect/custom", key, map[string]any{
				"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1"),
				"scope": "ews.messages,ews.calendars", "state": "st",
			})
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			g := r.Data()
			if g["provider"] != "ews" || g["email"] != "alice@contoso.test" || g["name"] != "Alice Liddell" || g["grant_status"] != "valid" ||
				g["state"] != "st" || fmt.Sprint(g["scope"]) != "[ews.messages ews.calendars]" {
				t.Errorf("grant %s", r.Raw)
			}
			s, _ := g["settings"].(map[string]any)
			want := map[string]any{"email": "alice@contoso.test", "ews_username": `CONTOSO\alice`, "ews_host": srv.Host(), "ews_port": float64(srv.Port()), "ews_url": srv.URL()}
			if fmt.Sprint(s) != fmt.Sprint(want) {
				t.Errorf("settings %v, want %v", s, want)
			}
			if strings.Contains(string(r.Raw), "alice-pw-1") {
				t.Errorf("password in the response")
			}
			stored, err := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), g["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if sec, err := e.Server.Grants.Secrets(stored); err != nil || sec["ews_password"] != "alice-pw-1" {
				t.Errorf("stored secrets %v %v", sec, err)
			}
			// No scope: all three EWS scopes.
			r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\bob`, "bob-pw-1")})
			if r.Status != 201 || fmt.Sprint(r.Data()["scope"]) != "[ews.messages ews.calendars ews.contacts]" {
				t.Errorf("default scope: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// An EWS connector's scopes are the default of EWS grants.
func TestEWSConnectorDefaultScope(t *testing.T) {
	e, srv, key := ewsEnv(t, ewssb.NTLM)
	if r := e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "ews", "name": "exchange", "scopes": "ews.calendar"}); r.Status != 201 {
		t.Fatalf("create connector: %d %s", r.Status, r.Raw)
	}
	r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1")})
	if r.Status != 201 || fmt.Sprint(r.Data()["scope"]) != "[ews.calendar]" {
		t.Errorf("connector default: %d %s", r.Status, r.Raw)
	}
	// A requested scope still wins.
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "scope": []string{"ews.contacts"}, "settings": ewsSettings(srv, `CONTOSO\bob`, "bob-pw-1")})
	if r.Status != 201 || fmt.Sprint(r.Data()["scope"]) != "[ews.contacts]" {
		t.Errorf("requested scope: %d %s", r.Status, r.Raw)
	}
}

func TestEWSReauthenticationAndPatch(t *testing.T) {
	e, srv, key := ewsEnv(t, ewssb.Both)
	r1 := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1")})
	if r1.Status != 201 {
		t.Fatalf("%d %s", r1.Status, r1.Raw)
	}
	id := r1.Data()["id"].(string)
	secret := func() string {
		g, err := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.Server.Grants.Secrets(g)
		if err != nil {
			t.Fatal(err)
		}
		return s["ews_password"]
	}

	// The password changes: re-authentication keeps the id, stores the new one.
	srv.SetPassword("alice@contoso.test", "alice-pw-2")
	if r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1")}); r.Status != 400 {
		t.Fatalf("old password: %d %s", r.Status, r.Raw)
	}
	// The UPN logs in too and names the same mailbox.
	r2 := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": ewsSettings(srv, "alice@contoso.test", "alice-pw-2")})
	if r2.Status != 201 || r2.Data()["id"] != id {
		t.Fatalf("re-auth: %d %s", r2.Status, r2.Raw)
	}
	if secret() != "alice-pw-2" {
		t.Errorf("new password not stored")
	}
	if l := e.Do("GET", "/v3/grants", key, nil).List(); len(l) != 1 {
		t.Errorf("%d grants, want 1", len(l))
	}

	// PATCH with new settings is re-validated.
	srv.SetPassword("alice@contoso.test", "alice-pw-3")
	p := e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": ewsSettings(srv, `CONTOSO\alice`, "wrong")})
	if p.Status != 400 || secret() != "alice-pw-2" {
		t.Fatalf("patch wrong password: %d %s", p.Status, p.Raw)
	}
	p = e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": ewsSettings(srv, `CONTOSO\alice`, "alice-pw-3")})
	if p.Status != 200 || p.Data()["settings"].(map[string]any)["ews_username"] != `CONTOSO\alice` || secret() != "alice-pw-3" {
		t.Fatalf("patch: %d %s", p.Status, p.Raw)
	}
	// Another mailbox's credentials cannot be patched into this grant.
	p = e.Do("PATCH", "/v3/grants/"+id, key, map[string]any{"settings": ewsSettings(srv, `CONTOSO\bob`, "bob-pw-1")})
	if p.Status != 400 || !strings.Contains(p.ErrMessage(), "bob@contoso.test") || secret() != "alice-pw-3" {
		t.Fatalf("patch other mailbox: %d %s", p.Status, p.Raw)
	}
}

func TestEWSFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		auth     ewssb.Auth
		setup    func(srv *ewssb.Server, s map[string]any)
		status   int
		errType  string
		message  string
		provider map[string]any
	}{
		{"wrong password (NTLM)", ewssb.NTLM, func(_ *ewssb.Server, s map[string]any) { s["ews_password"] = "nope" },
			400, "api.invalid_request_error", "rejected settings.ews_username and settings.ews_password", map[string]any{"status": 401.0, "auth_method": "ntlm"}},
		{"wrong password (Basic)", ewssb.Basic, func(_ *ewssb.Server, s map[string]any) { s["ews_password"] = "nope" },
			400, "api.invalid_request_error", "Basic authentication", map[string]any{"status": 401.0, "auth_method": "basic"}},
		{"basic auth disabled", ewssb.Both, func(srv *ewssb.Server, _ map[string]any) { srv.Fail(ewssb.FailBasicDisabled) },
			400, "api.invalid_request_error", "only OAuth (Bearer)", map[string]any{"www_authenticate": "Bearer"}},
		{"EWS disabled", ewssb.NTLM, func(srv *ewssb.Server, _ map[string]any) { srv.DisableEWS("alice@contoso.test", true) },
			400, "api.invalid_request_error", "refused EWS access", map[string]any{"status": 403.0}},
		{"access denied", ewssb.NTLM, func(srv *ewssb.Server, _ map[string]any) { srv.Fail(ewssb.FailAccessDenied) },
			400, "api.invalid_request_error", "ErrorAccessDenied", map[string]any{"response_code": "ErrorAccessDenied"}},
		{"server busy", ewssb.NTLM, func(srv *ewssb.Server, _ map[string]any) { srv.Fail(ewssb.FailServerBusy) },
			504, "api.provider_error", "busy", map[string]any{"response_code": "ErrorServerBusy"}},
		{"503", ewssb.Basic, func(srv *ewssb.Server, _ map[string]any) { srv.Fail(ewssb.FailUnavailable) },
			504, "api.provider_error", "unavailable", map[string]any{"status": 503.0}},
		{"slow", ewssb.NTLM, func(srv *ewssb.Server, _ map[string]any) { srv.SetDelay(3 * time.Second) },
			504, "api.provider_error", "did not answer", nil},
		{"not an EWS endpoint", ewssb.NTLM, func(srv *ewssb.Server, s map[string]any) {
			s["ews_host"], s["ews_port"] = fmt.Sprintf("https://%s:%d/owa", srv.Host(), srv.Port()), nil
		}, 400, "api.invalid_request_error", "settings.ews_host", map[string]any{"status": 404.0}},
		{"no ews_host", ewssb.NTLM, func(_ *ewssb.Server, s map[string]any) { delete(s, "ews_host") },
			400, "api.invalid_request_error", "settings.ews_host is required", nil},
		{"missing password", ewssb.NTLM, func(_ *ewssb.Server, s map[string]any) { delete(s, "ews_password") },
			400, "api.invalid_request_error", "settings.ews_password is required", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, srv, key := ewsEnv(t, tc.auth)
			s := ewsSettings(srv, `CONTOSO\alice`, "alice-pw-1")
			tc.setup(srv, s)
			r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "ews", "settings": s})
			if r.Status != tc.status || r.ErrType() != tc.errType || !strings.Contains(r.ErrMessage(), tc.message) {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			pe := r.ProviderError()
			for k, v := range tc.provider {
				if pe[k] != v {
					t.Errorf("provider_error.%s = %v, want %v (%s)", k, pe[k], v, r.Raw)
				}
			}
			if strings.Contains(string(r.Raw), "alice-pw-1") {
				t.Errorf("password in the response")
			}
			if l := e.Do("GET", "/v3/grants", key, nil).List(); len(l) != 0 {
				t.Errorf("a failed check stored a grant")
			}
		})
	}
}

// The EWS password never appears in a response, the log or the database
// files, on success or failure.
func TestEWSPasswordNeverLeaks(t *testing.T) {
	e, srv, key := ewsEnv(t, ewssb.Both)
	const canary = "CANARY-ews-password-5e1d"
	const canary2 = "CANARY-ews-password-new-0b7c"
	srv.SetPassword("alice@contoso.test", canary)
	var raw []string
	do := func(method, path string, body any) map[string]any {
		r := e.Do(method, path, key, body)
		raw = append(raw, string(r.Raw)+fmt.Sprint(r.Header))
		return r.Data()
	}
	g := do("POST", "/v3/connect/custom", map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, canary)})
	id, _ := g["id"].(string)
	if id == "" {
		t.Fatalf("no grant: %v", raw)
	}
	do("GET", "/v3/grants/"+id, nil)
	do("GET", "/v3/grants", nil)
	do("POST", "/v3/connect/custom", map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, canary2)}) // wrong
	srv.SetPassword("alice@contoso.test", canary2)
	do("PATCH", "/v3/grants/"+id, map[string]any{"settings": ewsSettings(srv, `CONTOSO\alice`, canary2)})
	srv.Fail(ewssb.FailServerBusy)
	do("POST", "/v3/connect/custom", map[string]any{"provider": "ews", "settings": ewsSettings(srv, `CONTOSO\alice`, canary2)})
	srv.Fail(ewssb.FailNone)
	stored, _ := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), id)
	if s, _ := e.Server.Grants.Secrets(stored); s["ews_password"] != canary2 {
		t.Fatalf("the PATCHed password was not stored")
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
	for _, c := range []string{canary, canary2} {
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
	if !slices.ContainsFunc(raw, func(r string) bool { return strings.Contains(r, "ErrorServerBusy") }) {
		t.Errorf("the busy failure was not exercised")
	}
}
