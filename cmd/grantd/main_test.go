package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/native"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, &out, &errb)
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestNewcomerPath follows the README: create an application, serve, get
// a 200 with its key and a 401 with a wrong one; then manage keys.
func TestNewcomerPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GRANTD_LOG_LEVEL", "warn")
	t.Setenv("GRANTD_VAULT_RELOAD_INTERVAL", "100ms")
	out, err := runCmd(t, "app", "create", "--name", "acme", "--json", "--data-dir", dir)
	if err != nil {
		t.Fatal(out, err)
	}
	var created struct {
		ApplicationID string `json:"application_id"`
		APIKey        string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ApplicationID == "" || !strings.HasPrefix(created.APIKey, "grantd_") {
		t.Fatalf("app create --json: %q %v", out, err)
	}
	// The key is stored only as a hash.
	db, _ := os.ReadFile(filepath.Join(dir, "grantd.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "grantd.db-wal"))
	if bytes.Contains(append(db, wal...), []byte(created.APIKey)) {
		t.Fatal("plaintext API key in the database")
	}
	if out, err = runCmd(t, "app", "list", "--data-dir", dir); err != nil || !strings.Contains(out, created.ApplicationID) {
		t.Fatalf("app list: %q %v", out, err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		var sink bytes.Buffer
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--listen", addr}, &sink, &sink)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if os.Getenv("GOGC") == "" {
		// serve collects garbage at GOGC=400 unless told otherwise.
		if prev := debug.SetGCPercent(100); prev != serveGCPercent {
			t.Errorf("serve runs at GOGC=%d, want %d", prev, serveGCPercent)
		}
	}
	if code, body := get(t, base+"/v3/applications", created.APIKey); code != 200 || body["data"].(map[string]any)["application_id"] != created.ApplicationID {
		t.Fatalf("GET /v3/applications: %d %v", code, body)
	}
	if code, body := get(t, base+"/v3/applications", "grantd_nope"); code != 401 || body["error"].(map[string]any)["type"] != "api.authentication_error" {
		t.Fatalf("wrong key: %d %v", code, body)
	}

	// A second key, listed, revoked (while the server runs).
	out, err = runCmd(t, "apikey", "create", "--app", created.ApplicationID, "--scope", "credentials:read", "--json", "--data-dir", dir)
	if err != nil {
		t.Fatal(out, err)
	}
	var k struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	_ = json.Unmarshal([]byte(out), &k)
	if code, _ := get(t, base+"/v3/applications", k.APIKey); code != 200 {
		t.Fatalf("second key: %d", code)
	}
	if out, err = runCmd(t, "apikey", "list", "--app", created.ApplicationID, "--data-dir", dir); err != nil || !strings.Contains(out, k.ID) || !strings.Contains(out, "credentials:read") {
		t.Fatalf("apikey list: %q %v", out, err)
	}
	if out, err = runCmd(t, "apikey", "revoke", k.ID, "--data-dir", dir); err != nil {
		t.Fatal(out, err)
	}
	if code, _ := get(t, base+"/v3/applications", k.APIKey); code != 401 {
		t.Fatalf("revoked key: %d", code)
	}
	// Rotation while serving.
	if out, err = runCmd(t, "keys", "rotate", "--data-dir", dir); err != nil || !strings.Contains(out, "re-encrypted") {
		t.Fatalf("keys rotate: %q %v", out, err)
	}
	if code, _ := get(t, base+"/v3/applications", created.APIKey); code != 200 {
		t.Fatalf("after rotation: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GRANTD_VAULT_RELOAD_INTERVAL", "100ms")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"app", "create", "--data-dir", dir},
		{"apikey", "create", "--data-dir", dir},
		{"apikey", "create", "--app", "nope", "--data-dir", dir},
		{"apikey", "revoke", "nope", "--data-dir", dir},
		{"serve", "--database-url", "mysql://x", "--data-dir", dir},
		{"keys", "rotate", "--data-dir", dir},
		{"app", "list", "extra", "--data-dir", dir},
		{"app", "list", "--data-dir", dir + "/typo"},
		{"dev", "extra", "--data-dir", dir},
	} {
		out, err := runCmd(t, args...)
		if err == nil {
			t.Errorf("%v: no error; output %q", args, out)
		}
	}
	// Commands other than app create do not create a store.
	if _, err := os.Stat(filepath.Join(dir, "typo")); err == nil {
		t.Errorf("app list created the mistyped data directory")
	}
	// dev with an address it cannot listen on leaves nothing behind.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, addr := range []string{"nohost", busy.Addr().String()} {
		devDir := filepath.Join(dir, "dev-"+strings.ReplaceAll(addr, ":", "-"))
		if out, err := runCmd(t, "dev", "--listen", addr, "--data-dir", devDir); err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("dev --listen %s: %v %s", addr, err, out)
		}
		if _, err := os.Stat(devDir); err == nil {
			t.Errorf("dev --listen %s created its data directory", addr)
		}
	}
	if out, err := runCmd(t, "keys", "rotate", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no grantd database") {
		t.Errorf("keys rotate without a store: %v %s", err, out)
	}
	// Once the store exists: an unknown application is an error, a
	// repeated scope is kept once.
	out, err := runCmd(t, "app", "create", "--name", "acme", "--json", "--data-dir", dir)
	var app struct {
		ID string `json:"application_id"`
	}
	if err != nil || json.Unmarshal([]byte(out), &app) != nil {
		t.Fatalf("app create: %v %s", err, out)
	}
	out, err = runCmd(t, "apikey", "create", "--app", app.ID, "--scope", "credentials:read", "--scope", "credentials:read", "--json", "--data-dir", dir)
	var key struct {
		Scopes []string `json:"scopes"`
	}
	if err != nil || json.Unmarshal([]byte(out), &key) != nil || len(key.Scopes) != 1 {
		t.Errorf("apikey create with a repeated scope: %v %s", err, out)
	}
	if out, err := runCmd(t, "apikey", "list", "--app", "nope", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no application") {
		t.Errorf("apikey list --app nope: %v %s", err, out)
	}
	for _, group := range []string{"app", "apikey", "keys"} {
		if out, err := runCmd(t, group, "--help"); err != nil || !strings.Contains(out, "usage: grantd "+group) {
			t.Errorf("%s --help: %v %q", group, err, out)
		}
	}
	if out, err := runCmd(t, "version"); err != nil || !strings.HasPrefix(out, "grantd ") {
		t.Errorf("version: %q %v", out, err)
	}
}

// TestDevPlayground runs `grantd dev` and the README's curl line.
func TestDevPlayground(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GRANTD_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		var sink bytes.Buffer
		done <- run(ctx, []string{"dev", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &out, &sink)
	}()
	path := filepath.Join(dir, DevFile)
	var dev devOutput
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &dev) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dev.json did not appear")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dev.json mode: %v %v", fi.Mode(), err)
	}
	for _, prov := range []string{"google", "microsoft", "yahoo", "zoom"} {
		id := dev.Identities[prov]
		body := `{"provider":"` + prov + `","settings":{"refresh_token":"` + id.RefreshToken + `"}}`
		req, _ := http.NewRequest("POST", dev.APIURL+"/v3/connect/custom", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != 201 || got["data"].(map[string]any)["email"] != id.Email {
			t.Errorf("%s: %d %v", prov, resp.StatusCode, got)
		}
	}
	// The service account acts for its workspace's users.
	if sa := dev.GoogleServiceAccount; sa == nil || len(sa.Users) == 0 {
		t.Errorf("dev.json has no google_service_account")
	} else {
		b, _ := json.Marshal(map[string]any{"provider": "google", "settings": sa.Settings})
		req, _ := http.NewRequest("POST", dev.APIURL+"/v3/connect/custom", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if d, _ := got["data"].(map[string]any); resp.StatusCode != 201 || d["email"] != sa.Users[0] {
			t.Errorf("service account grant: %d %v", resp.StatusCode, got)
		}
	}
	if ac := dev.MicrosoftAdminConsent; ac == nil || len(ac.Users) == 0 {
		t.Errorf("dev.json has no microsoft_admin_consent")
	} else {
		b, _ := json.Marshal(map[string]any{"provider": "microsoft", "settings": ac.Settings})
		req, _ := http.NewRequest("POST", dev.APIURL+"/v3/connect/custom", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if d, _ := got["data"].(map[string]any); resp.StatusCode != 201 || d["email"] != ac.Users[0] {
			t.Errorf("app permissions grant: %d %v", resp.StatusCode, got)
		}
	}
	// The agent domain is verified (and stays so when verified again
	// through the API): an agent account is created on it, its password
	// verifies.
	if ad := dev.AgentDomain; ad == nil || ad.ID == "" {
		t.Errorf("dev.json has no agent_domain")
	} else {
		post := func(path string, body any) (int, map[string]any) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", dev.APIURL+path, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+dev.APIKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			d, _ := got["data"].(map[string]any)
			return resp.StatusCode, d
		}
		for _, typ := range []string{"ownership", "mx"} {
			if code, d := post("/v3/admin/domains/"+ad.ID+"/verify", map[string]any{"type": typ}); code != 200 || d["status"] != "done" {
				t.Errorf("verify %s of the dev domain: %d %v", typ, code, d)
			}
		}
		if code, d := post("/v3/connect/custom", map[string]any{"provider": "nylas", "settings": ad.Settings}); code != 201 || d["email"] != ad.Settings["email"] {
			t.Errorf("agent grant: %d %v", code, d)
		}
		if code, d := post("/grantd/v1/agent-accounts/verify-password", map[string]any{"email": ad.Settings["email"], "password": ad.Settings["app_password"]}); code != 200 || d["valid"] != true {
			t.Errorf("agent password: %d %v", code, d)
		}
	}
	// Hosted OAuth works out of the box: hosted_auth_url leads through
	// the sandbox's consent page back to the receiver with a code, which
	// the token endpoint takes.
	{
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(dev.HostedAuthURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		consent, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || consent == nil || !strings.HasPrefix(consent.String(), dev.SandboxURL) {
			t.Fatalf("hosted_auth_url: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		form := consent.Query()
		form.Set("email", dev.Identities["google"].Email)
		resp, err = noFollow.PostForm(consent.Scheme+"://"+consent.Host+consent.Path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = noFollow.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || back == nil || !strings.HasPrefix(back.String(), dev.RedirectURI+"?") || back.Query().Get("code") == "" {
			t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		b, _ := json.Marshal(map[string]any{"grant_type": "authorization_code", "client_id": dev.ApplicationID, "client_secret": dev.APIKey,
			"code": back.Query().Get("code"), "redirect_uri": dev.RedirectURI})
		resp, err = http.Post(dev.APIURL+"/v3/connect/token", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var tok map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != 200 || tok["email"] != dev.Identities["google"].Email || tok["refresh_token"] == nil {
			t.Errorf("hosted OAuth token: %d %v", resp.StatusCode, tok)
		}
	}
	for _, prov := range []string{"imap", "icloud", "ews"} {
		id, ok := dev.Identities[prov]
		if !ok {
			t.Errorf("dev.json has no %s identity", prov)
			continue
		}
		b, _ := json.Marshal(map[string]any{"provider": prov, "settings": id.Settings})
		req, _ := http.NewRequest("POST", dev.APIURL+"/v3/connect/custom", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Errorf("%s: %d %v", prov, resp.StatusCode, got)
		}
	}
	// The v2 native mail services log in to the mail stand-in, which
	// answers for the servers detection's table names for them; a wrong
	// password is refused by it.
	for _, name := range native.MailServices() {
		id, ok := dev.NativeIdentities[name]
		if !ok || id.Provider != name {
			t.Errorf("dev.json has no native identity %s: %+v", name, id)
			continue
		}
		authorize := func(settings map[string]any) (int, map[string]any) {
			b, _ := json.Marshal(map[string]any{"client_id": dev.ApplicationID, "name": "Dev " + name, "email_address": id.Email,
				"provider": name, "settings": settings})
			resp, err := http.Post(dev.APIURL+"/connect/authorize", "text/plain;charset=UTF-8", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			return resp.StatusCode, got
		}
		if st, got := authorize(id.Settings); st != 200 || got["code"] == nil {
			t.Errorf("native %s: %d %v", name, st, got)
		}
		wrong := map[string]any{"username": id.Settings["username"], "password": "not-the-password"}
		if st, got := authorize(wrong); st != 403 || got["type"] != "auth_error" {
			t.Errorf("native %s with a wrong password: %d %v", name, st, got)
		}
	}
	// … while provider detection keeps the real servers.
	{
		req, _ := http.NewRequest("POST", dev.APIURL+"/v3/providers/detect?email=someone@aol.com", nil)
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Data struct {
				Settings struct {
					IMAPHost string `json:"imap_host"`
				} `json:"settings"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got.Data.Settings.IMAPHost != "imap.aol.com" {
			t.Errorf("detection in dev answers aol.com with IMAP host %q, want imap.aol.com", got.Data.Settings.IMAPHost)
		}
	}
	// The dev receiver got the grant events (its destination says 200).
	deadline = time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", dev.APIURL+"/v3/webhooks/"+dev.WebhookID, nil)
		req.Header.Set("Authorization", "Bearer "+dev.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Data struct {
				URL    string `json:"webhook_url"`
				Grantd struct {
					LastStatus string `json:"last_delivery_status"`
				} `json:"grantd"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got.Data.URL != dev.WebhookReceiverURL {
			t.Fatalf("dev.json webhook_id %s has URL %q, want the receiver %q", dev.WebhookID, got.Data.URL, dev.WebhookReceiverURL)
		}
		if got.Data.Grantd.LastStatus == "200" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev receiver got no delivery (last status %q)", got.Data.Grantd.LastStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the other events
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), dev.APIKey) || !strings.Contains(out.String(), "curl") {
		t.Errorf("dev output lacks the key or the curl line:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "webhook: grant.created grant ") || !strings.Contains(out.String(), "signature ok") ||
		strings.Contains(out.String(), "SIGNATURE MISMATCH") {
		t.Errorf("dev output lacks a verified grant.created from the receiver:\n%s", out.String())
	}

	// A second run reuses the application and key.
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() {
		var sink bytes.Buffer
		done <- run(ctx2, []string{"dev", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &sink, &sink)
	}()
	first := dev
	deadline = time.Now().Add(20 * time.Second)
	for {
		var d devOutput
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &d) == nil && d.APIURL != first.APIURL {
			dev = d
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second dev.json did not appear")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dev.ApplicationID != first.ApplicationID || dev.APIKey != first.APIKey {
		t.Errorf("second run made a new application")
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// dev.json is 0600 even when an earlier run left a world-readable
// temporary file behind.
func TestWriteDevFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), DevFile)
	if err := os.WriteFile(path+".tmp", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeDevFile(path, devOutput{APIKey: "grantd_secret"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev.json mode: %v %v", fi.Mode(), err)
	}
}
