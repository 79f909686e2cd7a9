package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/testenv/dnstest"
)

const agentPassword = "Correct-Horse-42-Battery"

// verifiedDomain registers address for key's application, publishes its
// records in d and verifies them through the API; mx=false leaves the MX
// record unpublished. It returns the domain's id.
func verifiedDomain(t *testing.T, e *apitest.Env, d *dnstest.Server, key, address string, mx bool) string {
	t.Helper()
	r := e.Do("POST", "/v3/admin/domains", key, map[string]any{"domain_address": address})
	if r.Status != http.StatusOK {
		t.Fatalf("register %s: %d %s", address, r.Status, r.Raw)
	}
	id := r.Data()["id"].(string)
	info := e.Do("POST", "/v3/admin/domains/"+id+"/info", key, map[string]any{"type": "ownership"})
	value := info.Data()["attempt"].(map[string]any)["options"].(map[string]any)["value"].(string)
	d.Add(t, address+`. 300 IN TXT "`+value+`"`)
	if r := e.Do("POST", "/v3/admin/domains/"+id+"/verify", key, map[string]any{"type": "ownership"}); r.Data()["status"] != "done" {
		t.Fatalf("verify ownership of %s: %s", address, r.Raw)
	}
	if mx {
		d.Add(t, address+`. 300 IN MX 10 mx.mail.example.net.`)
		if r := e.Do("POST", "/v3/admin/domains/"+id+"/verify", key, map[string]any{"type": "mx"}); r.Data()["status"] != "done" {
			t.Fatalf("verify mx of %s: %s", address, r.Raw)
		}
	}
	return id
}

// TestAgentAccounts: {provider:"nylas"} creates a grant only for an address
// on a verified domain of the same application; the app password is
// stored as a hash, never returned, reset by PATCH, and checked by the
// verify-password extension; re-authentication keeps the grant id; the
// refresher never claims these grants; bad input is a 400 naming the
// problem that stores nothing and repeats no password.
func TestAgentAccounts(t *testing.T) {
	e, d := newDomainEnv(t)
	appID, key := e.App("acme")
	_, key2 := e.App("other")
	domID := verifiedDomain(t, e, d, key, "agents.example.com", true)
	verifiedDomain(t, e, d, key2, "theirs.example.com", true)
	verifiedDomain(t, e, d, key, "half.example.com", false)
	if r := e.Do("POST", "/v3/admin/domains", key, map[string]any{"domain_address": "new.example.com"}); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}

	create := func(key string, body map[string]any) apitest.Response {
		t.Helper()
		return e.Do("POST", "/v3/connect/custom", key, body)
	}
	r := create(key, map[string]any{"provider": "nylas", "name": "Support Bot", "workspace_id": "ws-1", "state": "s1",
		"settings": map[string]any{"email": "Bot@agents.example.com", "app_password": agentPassword, "policy_id": "pol-1"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	g := r.Data()
	gid := g["id"].(string)
	settings, _ := g["settings"].(map[string]any)
	if g["provider"] != "nylas" || g["email"] != "Bot@agents.example.com" || g["grant_status"] != "valid" || g["name"] != "Support Bot" ||
		g["workspace_id"] != "ws-1" || g["state"] != "s1" || settings["policy_id"] != "pol-1" || len(settings) != 2 {
		t.Errorf("grant: %s", r.Raw)
	}
	if ext, _ := g["grantd"].(map[string]any); ext == nil || ext["next_refresh_at"].(float64) != 0 {
		t.Errorf("an agent grant is never refreshed: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), agentPassword) || strings.Contains(string(r.Raw), "$2a$") || strings.Contains(string(r.Raw), "app_password") {
		t.Errorf("the password or its hash is in the answer: %s", r.Raw)
	}
	if got := e.Do("GET", "/v3/grants/"+gid, key, nil); strings.Contains(string(got.Raw), agentPassword) || strings.Contains(string(got.Raw), "$2a$") {
		t.Errorf("the password or its hash is in GET: %s", got.Raw)
	}
	// The refresher claims nothing of it, however far ahead it looks.
	claimed, err := e.Server.Store.ClaimDueGrants(t.Context(), time.Now().AddDate(10, 0, 0), "test", time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claimed {
		if c.ID == gid {
			t.Error("the refresher claimed an agent grant")
		}
	}

	verify := func(key, email, pw string) apitest.Response {
		t.Helper()
		return e.Do("POST", "/grantd/v1/agent-accounts/verify-password", key, map[string]any{"email": email, "password": pw})
	}
	if r := verify(key, "bot@AGENTS.example.com", agentPassword); r.Status != http.StatusOK || r.Data()["valid"] != true || r.Data()["grant_id"] != gid {
		t.Errorf("the right password: %d %s", r.Status, r.Raw)
	}
	for name, c := range map[string]struct{ key, email, pw string }{
		"wrong password":      {key, "bot@agents.example.com", agentPassword + "!"},
		"unknown mailbox":     {key, "nobody@agents.example.com", agentPassword},
		"another application": {key2, "bot@agents.example.com", agentPassword},
		"too long":            {key, "bot@agents.example.com", strings.Repeat("A1a", 30)},
	} {
		r := verify(c.key, c.email, c.pw)
		if r.Status != http.StatusOK || r.Data()["valid"] != false || r.Data()["grant_id"] != nil || len(r.Data()) != 1 {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	for _, body := range []map[string]any{{"password": agentPassword}, {"email": "bot@agents.example.com"}, {"email": 5, "password": "x"}} {
		if r := e.Do("POST", "/grantd/v1/agent-accounts/verify-password", key, body); r.Status != http.StatusBadRequest || strings.Contains(string(r.Raw), agentPassword) {
			t.Errorf("verify %v: %d %s", body, r.Status, r.Raw)
		}
	}

	// Re-authentication: the same grant (address compared without case).
	r = create(key, map[string]any{"provider": "nylas", "settings": map[string]any{"email": "bot@agents.example.com", "app_password": agentPassword}})
	if r.Status != http.StatusCreated || r.Data()["id"] != gid || r.Header.Get("Grantd-Reauthenticated") != "true" || r.Data()["workspace_id"] != "ws-1" {
		t.Errorf("again: %d %s", r.Status, r.Raw)
	}

	// PATCH resets the password; a weak one changes nothing.
	const newPassword = "Another-Secret-Pass-77"
	if r := e.Do("PATCH", "/v3/grants/"+gid, key, map[string]any{"settings": map[string]any{"email": "bot@agents.example.com", "app_password": "tooweak"}}); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "18 to 40") || strings.Contains(string(r.Raw), "tooweak") {
		t.Errorf("patch, weak: %d %s", r.Status, r.Raw)
	}
	if r := verify(key, "bot@agents.example.com", agentPassword); r.Data()["valid"] != true {
		t.Errorf("a refused PATCH changed the password: %s", r.Raw)
	}
	if r := e.Do("PATCH", "/v3/grants/"+gid, key, map[string]any{"settings": map[string]any{"email": "bot@agents.example.com", "app_password": newPassword}}); r.Status != http.StatusOK || strings.Contains(string(r.Raw), newPassword) {
		t.Errorf("patch: %d %s", r.Status, r.Raw)
	}
	if r := verify(key, "bot@agents.example.com", agentPassword); r.Data()["valid"] != false {
		t.Errorf("the old password still works: %s", r.Raw)
	}
	if r := verify(key, "bot@agents.example.com", newPassword); r.Data()["valid"] != true {
		t.Errorf("the new password does not work: %s", r.Raw)
	}
	if r := e.Do("PATCH", "/v3/grants/"+gid, key, map[string]any{"settings": map[string]any{"email": "other@agents.example.com"}}); r.Status != http.StatusBadRequest {
		t.Errorf("patch to another address: %d %s", r.Status, r.Raw)
	}

	// Bad input: a 400 naming the problem, nothing stored, no password
	// repeated.
	before := len(e.Do("GET", "/v3/grants?limit=50", key, nil).List())
	for _, tc := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"app_password": agentPassword}, "settings.email is required"},
		{map[string]any{"email": "bot@agents.example.com", "app_password": "Short1a"}, "is 7 characters long; an app password has 18 to 40"},
		{map[string]any{"email": "bot2@agents.example.com", "app_password": "all-lower-case-pass-1"}, "it lacks an upper-case letter"},
		{map[string]any{"email": "bot2@agents.example.com", "app_password": "No-Digits-In-This-One"}, "it lacks a digit"},
		{map[string]any{"email": "bot2@agents.example.com", "app_password": "Has Space In It 123"}, "not printable ASCII or is a space"},
		{map[string]any{"email": "bot@new.example.com", "app_password": agentPassword}, "the domain new.example.com of settings.email is not verified"},
		{map[string]any{"email": "bot@half.example.com", "app_password": agentPassword}, "the MX record of the domain half.example.com"},
		{map[string]any{"email": "bot@theirs.example.com", "app_password": agentPassword}, "is not on a domain of this application"},
		{map[string]any{"email": "bot@nowhere.example.com", "app_password": agentPassword}, "is not on a domain of this application"},
		{map[string]any{"email": "bot@eu.agents.example.com", "app_password": agentPassword}, "but on its subdomain eu.agents.example.com"},
		{map[string]any{"email": "not-an-address", "app_password": agentPassword}, "settings.email"},
	} {
		r := create(key, map[string]any{"provider": "nylas", "settings": tc.settings})
		if r.Status != http.StatusBadRequest || r.ErrType() != "api.invalid_request_error" || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%v: %d %s, want 400 with %q", tc.settings, r.Status, r.Raw, tc.want)
		}
		if pw, _ := tc.settings["app_password"].(string); pw != "" && strings.Contains(string(r.Raw), pw) {
			t.Errorf("%v: the password is in the answer: %s", tc.settings, r.Raw)
		}
	}
	if after := len(e.Do("GET", "/v3/grants?limit=50", key, nil).List()); after != before {
		t.Errorf("bad input stored grants: %d, then %d", before, after)
	}
	if l := e.Do("GET", "/v3/grants?limit=50", key2, nil).List(); len(l) != 0 {
		t.Errorf("the other application has grants: %v", l)
	}

	// Without a password: a grant whose password never verifies.
	r = create(key, map[string]any{"provider": "nylas", "settings": map[string]any{"email": "quiet@agents.example.com"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("no password: %d %s", r.Status, r.Raw)
	}
	if r := verify(key, "quiet@agents.example.com", agentPassword); r.Data()["valid"] != false {
		t.Errorf("a grant without a password verified: %s", r.Raw)
	}

	// grant.created once for the bot.
	evs, err := e.Server.Store.ListEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, ev := range evs {
		if ev.AppID == appID && ev.GrantID == gid && ev.Type == "grant.created" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d grant.created events", created)
	}

	// A deleted domain: the grant stays, its password no longer verifies,
	// and no new agent grant can be made on it.
	if r := e.Do("DELETE", "/v3/admin/domains/"+domID, key, nil); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	if r := verify(key, "bot@agents.example.com", newPassword); r.Data()["valid"] != false {
		t.Errorf("verified on a deleted domain: %s", r.Raw)
	}
	if r := create(key, map[string]any{"provider": "nylas", "settings": map[string]any{"email": "bot3@agents.example.com"}}); r.Status != http.StatusBadRequest {
		t.Errorf("create on a deleted domain: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("GET", "/v3/grants/"+gid, key, nil); r.Status != http.StatusOK || r.Data()["grant_status"] != "valid" {
		t.Errorf("the grant after its domain's deletion: %d %s", r.Status, r.Raw)
	}
}

// TestAgentPasswordRateLimit: every check of one mailbox's password draws
// on its bucket (ratelimit.password_checks_per_minute, _burst); another
// mailbox has its own.
func TestAgentPasswordRateLimit(t *testing.T) {
	d := dnstest.New(t)
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.DNSServer = d.Addr
		c.RateLimit.PasswordChecksPerMinute, c.RateLimit.PasswordCheckBurst = 1, 3
	}})
	_, key := e.App("acme")
	verifiedDomain(t, e, d, key, "agents.example.com", true)
	for _, email := range []string{"a@agents.example.com", "b@agents.example.com"} {
		if r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "nylas", "settings": map[string]any{"email": email, "app_password": agentPassword}}); r.Status != http.StatusCreated {
			t.Fatal(r.Status, string(r.Raw))
		}
	}
	check := func(email, pw string) apitest.Response {
		return e.Do("POST", "/grantd/v1/agent-accounts/verify-password", key, map[string]any{"email": email, "password": pw})
	}
	for i := range 3 {
		if r := check("a@agents.example.com", "Wrong-Guess-Number-"+string(rune('0'+i))); r.Status != http.StatusOK {
			t.Fatalf("check %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r := check("A@agents.example.com", agentPassword)
	if r.Status != http.StatusTooManyRequests || r.ErrType() != "api.rate_limit_error" || r.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %d %s", r.Status, r.Raw)
	}
	if r := check("b@agents.example.com", agentPassword); r.Status != http.StatusOK || r.Data()["valid"] != true {
		t.Errorf("another mailbox: %d %s", r.Status, r.Raw)
	}
}
