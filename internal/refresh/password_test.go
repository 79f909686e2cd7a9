package refresh_test

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox/ews"
	"github.com/grantd/grantd/internal/sandbox/mail"
	"github.com/grantd/grantd/internal/store"
)

// passwordEnv is a cluster whose IMAP, iCloud and EWS grants live on the
// in-process mail and EWS stand-ins, re-checked every recheck.
type passwordEnv struct {
	*cluster
	mail  *mail.Server
	mail2 *mail.Server // another IMAP/SMTP server, to move grants to
	ews   *ews.Server
}

func newPasswordEnv(t *testing.T, recheck time.Duration) *passwordEnv {
	t.Helper()
	ms, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	ms2, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms2.Close() })
	es, err := ews.Start(ews.Options{Auth: ews.NTLM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(es.Close)
	// One CA file trusting both stand-ins.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, slices.Concat(ms.CAPEM(), ms2.CAPEM(), es.CAPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 1, "", func(cfg *config.Config) {
		cfg.Network.CAFile = ca
		cfg.Providers.ICloud = ms.MailHosts()
		cfg.Refresh.PasswordRecheck = recheck
	})
	return &passwordEnv{cluster: c, mail: ms, mail2: ms2, ews: es}
}

// body is the POST /v3/connect/custom body for a password grant.
func (e *passwordEnv) body(prov, email, pw string) map[string]any {
	var s map[string]any
	switch prov {
	case "imap":
		s = map[string]any{
			"imap_username": email, "imap_password": pw,
			"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(),
			"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort(),
		}
	case "icloud":
		s = map[string]any{"username": email, "password": pw}
	case "ews":
		s = map[string]any{"email": email, "ews_username": email, "ews_password": pw, "ews_host": e.ews.Host(), "ews_port": fmt.Sprint(e.ews.Port())}
	}
	return map[string]any{"provider": prov, "settings": s}
}

// setPassword changes an account's password at the provider.
func (e *passwordEnv) setPassword(prov, email, pw string) {
	switch prov {
	case "imap":
		e.mail.AddUser(email, pw)
	case "icloud":
		e.mail.AddAccount(mail.User{Email: email, Password: "apple-id-password", AppPassword: pw, Behavior: mail.AppPasswordOnly})
	case "ews":
		if !e.ews.SetPassword(email, pw) {
			e.ews.AddUser(email, email, pw, "")
		}
	}
}

var passwordProviders = []string{"imap", "icloud", "ews"}

// create creates one grant per password provider and returns their ids.
func (e *passwordEnv) create() map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for _, prov := range passwordProviders {
		email := "ada." + prov + "@example.com"
		e.setPassword(prov, email, "first-"+prov+"-pw")
		r := e.do(0, "POST", "/v3/connect/custom", e.key, e.body(prov, email, "first-"+prov+"-pw"))
		if r.Status != http.StatusCreated {
			e.t.Fatalf("create %s grant: %d %s", prov, r.Status, r.Raw)
		}
		ids[prov] = r.data()["id"].(string)
	}
	return ids
}

// rechecked waits until every grant was re-checked successfully after t0.
func (e *passwordEnv) rechecked(ids map[string]string, t0 time.Time) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, "a successful re-check of every password grant", func() bool {
		for _, id := range ids {
			if g := e.grant(id); !g.LastRefreshAt.After(t0) || g.RefreshFailures != 0 {
				return false
			}
		}
		return true
	})
}

// TestPasswordRecheck: password grants are scheduled when created and
// re-checked periodically; a changed password makes each invalid with
// exactly one grant.expired; re-authentication makes it valid again with
// grant.updated, and the re-checks resume.
func TestPasswordRecheck(t *testing.T) {
	t.Parallel()
	const recheck = 150 * time.Millisecond
	e := newPasswordEnv(t, recheck)
	created := time.Now()
	ids := e.create()
	for prov, id := range ids {
		g := e.grant(id)
		if d := g.NextRefreshAt.Sub(g.UpdatedAt); g.NextRefreshAt.IsZero() || d > recheck || d < recheck*9/10-time.Millisecond {
			t.Errorf("%s: next re-check %v after creation, want %v minus jitter", prov, d, recheck)
		}
	}
	e.run()
	e.rechecked(ids, created.Add(recheck/2))

	// Passwords change at the providers.
	for _, prov := range passwordProviders {
		e.setPassword(prov, "ada."+prov+"@example.com", "second-"+prov+"-pw")
	}
	waitFor(t, 10*time.Second, "every password grant to be invalid", func() bool {
		for _, id := range ids {
			if e.grant(id).Status != store.GrantInvalid {
				return false
			}
		}
		return true
	})
	time.Sleep(4 * recheck) // an invalid grant is not checked again, and gets no second event
	for prov, id := range ids {
		g := e.grant(id)
		if g.LastFailureClass != "invalid_credentials" || g.LastFailureMessage == "" || !g.NextRefreshAt.IsZero() {
			t.Errorf("%s: class %q message %q next %v", prov, g.LastFailureClass, g.LastFailureMessage, g.NextRefreshAt)
		}
		if n := len(e.events("grant.expired", id)); n != 1 {
			t.Errorf("%s: %d grant.expired events, want 1", prov, n)
		}
		r := e.do(0, "GET", "/v3/grants/"+id, e.key, nil)
		if r.data()["grant_status"] != "invalid" {
			t.Errorf("%s: grant JSON %s", prov, r.Raw)
		}
	}

	// Re-authentication with the new password: valid again, grant.updated,
	// scheduled again.
	reauth := time.Now()
	for _, prov := range passwordProviders {
		r := e.do(0, "POST", "/v3/connect/custom", e.key, e.body(prov, "ada."+prov+"@example.com", "second-"+prov+"-pw"))
		if r.Status != http.StatusCreated || r.data()["id"] != ids[prov] || r.data()["grant_status"] != "valid" {
			t.Fatalf("re-authenticate %s: %d %s", prov, r.Status, r.Raw)
		}
		evs := e.events("grant.updated", ids[prov])
		if len(evs) != 1 || !contains(string(evs[0].Payload), `"reauthentication_flag":true`) {
			t.Errorf("%s: grant.updated events after re-authentication: %d", prov, len(evs))
		}
	}
	e.rechecked(ids, reauth.Add(recheck/2))
	e.stop()
	for prov, id := range ids {
		g := e.grant(id)
		if g.Status != store.GrantValid || g.LastFailureClass != "" || g.NextRefreshAt.IsZero() || g.LeaseOwner != "" {
			t.Errorf("%s after re-authentication: status %s class %q next %v lease %q", prov, g.Status, g.LastFailureClass, g.NextRefreshAt, g.LeaseOwner)
		}
		if n := len(e.events("grant.expired", id)); n != 1 {
			t.Errorf("%s: %d grant.expired events in all, want 1", prov, n)
		}
	}
	for _, pw := range []string{"first-imap-pw", "second-imap-pw", "second-icloud-pw", "second-ews-pw"} {
		e.failIfLogged(pw)
	}
}

// TestPasswordRecheckOutage: while the mail and EWS servers are down or
// failing, re-checks back off and nothing is invalidated; the grants
// recover when the servers do.
func TestPasswordRecheckOutage(t *testing.T) {
	t.Parallel()
	const recheck = 100 * time.Millisecond
	e := newPasswordEnv(t, recheck)
	ids := e.create()
	// IMAP: connections dropped; iCloud: the server says UNAVAILABLE; EWS: 503.
	e.mail.SetDrop(true)
	e.ews.Fail(ews.FailUnavailable)
	e.run()
	waitFailures(t, 10*time.Second, "three failed re-checks of every grant", e.grant, slices.Collect(maps.Values(ids)), 3)
	e.mail.SetDrop(false)
	e.mail.AddAccount(mail.User{Email: "ada.imap@example.com", Password: "first-imap-pw", Behavior: mail.Unavailable})
	e.mail.AddAccount(mail.User{Email: "ada.icloud@example.com", Password: "apple-id-password", AppPassword: "first-icloud-pw", Behavior: mail.Unavailable})
	e.ews.Fail(ews.FailServerBusy)
	time.Sleep(time.Second)
	for prov, id := range ids {
		g := e.grant(id)
		if g.Status != store.GrantValid || g.LastFailureClass != "provider_unavailable" || g.RefreshFailures < 4 {
			t.Fatalf("%s during the outage: status %s, class %q (%s), %d failures", prov, g.Status, g.LastFailureClass, g.LastFailureMessage, g.RefreshFailures)
		}
	}
	// Recovery.
	for _, prov := range passwordProviders {
		e.setPassword(prov, "ada."+prov+"@example.com", "first-"+prov+"-pw")
	}
	e.ews.Fail(ews.FailNone)
	waitFor(t, 10*time.Second, "recovery", func() bool {
		for _, id := range ids {
			if g := e.grant(id); g.RefreshFailures != 0 || g.Status != store.GrantValid {
				return false
			}
		}
		return true
	})
	e.stop()
	for prov, id := range ids {
		if n := len(e.events("grant.expired", id)); n != 0 {
			t.Errorf("%s: %d grant.expired events", prov, n)
		}
	}
}

// TestRecheckEchoedPasswordsStaySecret: servers that repeat the
// credentials in their refusals during a re-check (the refusal becomes
// last_failure_message, a log line and a database row) do not get a
// password into the grant, the logs or the database files.
func TestRecheckEchoedPasswordsStaySecret(t *testing.T) {
	t.Parallel()
	e := newPasswordEnv(t, 100*time.Millisecond)
	ids := e.create()
	e.mail.AddAccount(mail.User{Email: "ada.imap@example.com", Password: "first-imap-pw", Behavior: mail.EchoesCredentials})
	e.mail.AddAccount(mail.User{Email: "ada.icloud@example.com", AppPassword: "first-icloud-pw", Behavior: mail.EchoesCredentials})
	e.ews.Fail(ews.FailEchoCredentials)
	e.run()
	waitFor(t, 10*time.Second, "a failed re-check of every grant", func() bool {
		for _, id := range ids {
			if e.grant(id).LastFailureMessage == "" {
				return false
			}
		}
		return true
	})
	e.stop()
	var all strings.Builder
	for prov, id := range ids {
		r := e.do(0, "GET", "/v3/grants/"+id, e.key, nil)
		all.Write(r.Raw)
		// EWS keeps the server's words in the message (IMAP ones only
		// in provider_error, which a re-check does not store).
		if g := e.grant(id); prov == "ews" && !strings.Contains(g.LastFailureMessage, "[REDACTED]") {
			t.Errorf("%s: the server's refusal was not kept (redacted): %q", prov, g.LastFailureMessage)
		}
	}
	all.WriteString(e.logs.String())
	for _, n := range e.nodes {
		n.srv.Close()
	}
	files, _ := filepath.Glob(filepath.Join(e.cfg.DataDir, "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			all.Write(b)
		}
	}
	for _, prov := range passwordProviders {
		if pw := "first-" + prov + "-pw"; strings.Contains(all.String(), pw) {
			t.Errorf("the %s password is in a response, the log or the database", prov)
		}
	}
}

// TestRecheckOfOldServerAfterPatch: a re-check in flight against the
// server a grant was on does not invalidate the grant once a PATCH has
// moved it to another server (same password), even when the old server
// refuses.
func TestRecheckOfOldServerAfterPatch(t *testing.T) {
	t.Parallel()
	e := newPasswordEnv(t, 100*time.Millisecond)
	b := e.mail2
	const email, pw = "ada.imap@example.com", "first-imap-pw"
	e.setPassword("imap", email, pw)
	r := e.do(0, "POST", "/v3/connect/custom", e.key, e.body("imap", email, pw))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	id := r.data()["id"].(string)
	e.mail.SetGreetingDelay(300 * time.Millisecond) // the next re-check hangs on server A
	e.run()
	waitFor(t, 5*time.Second, "a re-check in flight", func() bool { return e.grant(id).LeaseOwner != "" })
	e.mail.AddUser(email, "changed-on-A") // A now refuses the grant's password
	b.AddUser(email, pw)
	move := e.body("imap", email, pw)
	s := move["settings"].(map[string]any)
	s["imap_host"], s["imap_port"], s["smtp_host"], s["smtp_port"] = b.Host(), b.IMAPPort(), b.Host(), b.SMTPPort()
	if r := e.do(0, "PATCH", "/v3/grants/"+id, e.key, map[string]any{"settings": s}); r.Status != http.StatusOK {
		t.Fatalf("PATCH to server B: %d %s", r.Status, r.Raw)
	}
	time.Sleep(time.Second) // the old re-check lands
	e.mail.SetGreetingDelay(0)
	e.stop()
	if g := e.grant(id); g.Status != store.GrantValid {
		t.Fatalf("grant %s after the old server's refusal: %s %s", g.Status, g.LastFailureClass, g.LastFailureMessage)
	}
	if n := len(e.events("grant.expired", id)); n != 0 {
		t.Errorf("%d grant.expired", n)
	}
}
