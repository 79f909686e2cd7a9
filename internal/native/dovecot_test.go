package native_test

import (
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// TestDovecotNative runs the v2 flow for an imap account on a real Dovecot
// (implicit TLS for IMAP, STARTTLS for submission): a wrong password is a
// v2 403 with Dovecot's refusal and stores nothing, the right one makes
// the grant and a code that redeems it.
func TestDovecotNative(t *testing.T) {
	dc := testenv.StartDovecot(t, "carol@example.com:carol-dovecot-pw")
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = dc.CertFile
		c.Network.Timeout = 5 * time.Second
	}})
	appID, key := e.App("acme")
	body := func(pw string) map[string]any {
		return map[string]any{"client_id": appID, "name": "Carol", "email_address": "carol@example.com", "provider": "imap", "scopes": "email",
			"settings": map[string]any{
				"imap_host": "localhost", "imap_port": dc.IMAPSPort, "imap_username": "carol@example.com", "imap_password": pw,
				"smtp_host": "localhost", "smtp_port": dc.SubPort, "ssl_required": true}}
	}
	r := e.Do("POST", "/connect/authorize", "", body("not-carol-pw"))
	if r.Status != 403 || r.Body["type"] != "auth_error" || r.Body["code"] != nil || strings.Contains(string(r.Raw), "not-carol-pw") {
		t.Fatalf("wrong password: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", "/connect/authorize", "", body("carol-dovecot-pw"))
	code, _ := r.Body["code"].(string)
	if r.Status != 200 || code == "" {
		t.Fatalf("authorize: %d %s", r.Status, r.Raw)
	}
	g, v2name, err := e.Server.Native.Redeem(t.Context(), nativeToken(appID, key, code))
	if err != nil || g.Provider != "imap" || g.Email != "carol@example.com" || g.Status != store.GrantValid || v2name != "imap" ||
		g.Settings["imap_host"] != "localhost" || g.Name != "Carol" {
		t.Fatalf("redeem: %+v %v", g, err)
	}
}
