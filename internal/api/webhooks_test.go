package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
)

// challengeReceiver answers the webhook challenge like a correct receiver.
func challengeReceiver(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.URL.Query().Get("challenge"); r.Method == http.MethodGet && c != "" {
			_, _ = io.WriteString(w, c)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func privateURLs(c *config.Config) {
	c.Webhooks.AllowPrivateURLs = true
	c.Webhooks.MaxPerApplication = 3
}

func TestWebhookDestinations(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: privateURLs})
	_, key := e.App("hooks")
	_, otherKey := e.App("other")
	rcv := challengeReceiver(t)

	r := e.Do("POST", "/v3/webhooks", key, map[string]any{
		"webhook_url": rcv.URL + "/hook", "trigger_types": []string{"grant.created", "grant.expired", "grant.created"},
		"description": "grants", "notification_email_addresses": []string{"ops@example.com"},
	})
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	d := r.Data()
	id, secret := d["id"].(string), d["webhook_secret"].(string)
	if id == "" || len(secret) != 64 || d["status"] != "active" || d["webhook_url"] != rcv.URL+"/hook" ||
		len(d["trigger_types"].([]any)) != 2 || d["compressed_delivery"] != false {
		t.Fatalf("create answer: %s", r.Raw)
	}
	for _, k := range []string{"created_at", "updated_at", "status_updated_at"} {
		if d[k].(float64) <= 0 {
			t.Errorf("%s = %v", k, d[k])
		}
	}

	list := e.Do("GET", "/v3/webhooks", key, nil)
	if list.Status != 200 || len(list.List()) != 1 || strings.Contains(string(list.Raw), secret) || strings.Contains(string(list.Raw), "webhook_secret") {
		t.Fatalf("list: %s", list.Raw)
	}
	got := e.Do("GET", "/v3/webhooks/"+id, key, nil)
	if got.Status != 200 || got.Data()["id"] != id || strings.Contains(string(got.Raw), secret) {
		t.Fatalf("find: %s", got.Raw)
	}
	if g, ok := got.Data()["grantd"].(map[string]any); !ok || g["consecutive_failures"] != float64(0) {
		t.Fatalf("grantd extension: %s", got.Raw)
	}
	// Another application's destination is a 404, everywhere.
	for _, m := range []struct{ method, path string }{{"GET", "/v3/webhooks/" + id}, {"PUT", "/v3/webhooks/" + id}, {"DELETE", "/v3/webhooks/" + id}, {"POST", "/v3/webhooks/rotate-secret/" + id}} {
		o := e.Do(m.method, m.path, otherKey, map[string]any{"description": "x"})
		if o.Status != 404 || o.ErrType() != "api.not_found_error" {
			t.Errorf("%s %s by another app: %d %s", m.method, m.path, o.Status, o.Raw)
		}
	}
	if l := e.Do("GET", "/v3/webhooks", otherKey, nil); len(l.List()) != 0 {
		t.Errorf("another app lists %s", l.Raw)
	}

	up := e.Do("PUT", "/v3/webhooks/"+id, key, map[string]any{"description": "new", "compressed_delivery": true})
	if up.Status != 200 || up.Data()["description"] != "new" || up.Data()["compressed_delivery"] != true || up.Data()["webhook_url"] != rcv.URL+"/hook" {
		t.Fatalf("update: %s", up.Raw)
	}

	rot := e.Do("POST", "/v3/webhooks/rotate-secret/"+id, key, map[string]any{})
	if s2, _ := rot.Data()["webhook_secret"].(string); rot.Status != 200 || len(s2) != 64 || s2 == secret {
		t.Fatalf("rotate: %s", rot.Raw)
	}

	ips := e.Do("GET", "/v3/webhooks/ip-addresses", key, nil)
	if ips.Status != 200 || ips.Data()["ip_addresses"] == nil || ips.Data()["updated_at"].(float64) <= 0 {
		t.Fatalf("ip-addresses: %s", ips.Raw)
	}

	del := e.Do("DELETE", "/v3/webhooks/"+id, key, nil)
	if del.Status != 200 || del.Data()["status"] != "success" {
		t.Fatalf("delete: %s", del.Raw)
	}
	if g := e.Do("GET", "/v3/webhooks/"+id, key, nil); g.Status != 404 {
		t.Fatalf("after delete: %d", g.Status)
	}
	if strings.Contains(e.Logs.String(), secret) {
		t.Fatal("a webhook secret is in the log")
	}
}

func TestWebhookChallengeOnURLChange(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: privateURLs})
	_, key := e.App("hooks")
	rcv := challengeReceiver(t)
	r := e.Do("POST", "/v3/webhooks", key, map[string]any{"webhook_url": rcv.URL, "trigger_types": []string{"grant.created"}})
	id := r.Data()["id"].(string)
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "who are you")
	}))
	defer wrong.Close()
	up := e.Do("PUT", "/v3/webhooks/"+id, key, map[string]any{"webhook_url": wrong.URL + "/x"})
	if up.Status != 400 || !strings.Contains(up.ErrMessage(), "status 401") || !strings.Contains(up.ErrMessage(), "who are you") {
		t.Fatalf("URL change to a receiver that fails the challenge: %d %s", up.Status, up.Raw)
	}
	if g := e.Do("GET", "/v3/webhooks/"+id, key, nil); g.Data()["webhook_url"] != rcv.URL {
		t.Fatalf("the URL changed anyway: %s", g.Raw)
	}
	rcv2 := challengeReceiver(t)
	if up := e.Do("PUT", "/v3/webhooks/"+id, key, map[string]any{"webhook_url": rcv2.URL + "/y"}); up.Status != 200 || up.Data()["webhook_url"] != rcv2.URL+"/y" {
		t.Fatalf("URL change to a good receiver: %d %s", up.Status, up.Raw)
	}
	// Create against a receiver that fails the challenge.
	c := e.Do("POST", "/v3/webhooks", key, map[string]any{"webhook_url": wrong.URL, "trigger_types": []string{"grant.created"}})
	if c.Status != 400 || !strings.Contains(c.ErrMessage(), "challenge") {
		t.Fatalf("create with a failing challenge: %d %s", c.Status, c.Raw)
	}
}

func TestWebhookBadInput(t *testing.T) {
	e := apitest.New(t, apitest.Options{Configure: privateURLs})
	_, key := e.App("hooks")
	rcv := challengeReceiver(t)
	ok := func(extra map[string]any) map[string]any {
		b := map[string]any{"webhook_url": rcv.URL, "trigger_types": []string{"grant.created"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"unknown trigger", ok(map[string]any{"trigger_types": []string{"message.created"}}), "not a trigger type"},
		{"no trigger", ok(map[string]any{"trigger_types": []string{}}), "trigger_types is required"},
		{"missing url", map[string]any{"trigger_types": []string{"grant.created"}}, "webhook_url is required"},
		{"not a url", ok(map[string]any{"webhook_url": "hooks please"}), "not an absolute URL"},
		{"ftp", ok(map[string]any{"webhook_url": "ftp://example.com/x"}), "http:// or https://"},
		{"long description", ok(map[string]any{"description": strings.Repeat("d", 257)}), "257 bytes"},
		{"bad email", ok(map[string]any{"notification_email_addresses": []string{"not-an-email"}}), "not an email address"},
		{"status on create", ok(map[string]any{"status": "active"}), "status cannot be set"},
		{"wrong type", ok(map[string]any{"trigger_types": "grant.created"}), "trigger_types"},
		{"not json", "{", "truncated JSON"},
	} {
		r := e.Do("POST", "/v3/webhooks", key, tc.body)
		if r.Status != 400 || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tc.name, r.Status, r.Raw, tc.want)
		}
	}
	for i := range 3 {
		if r := e.Do("POST", "/v3/webhooks", key, ok(nil)); r.Status != 200 {
			t.Fatalf("create %d: %s", i, r.Raw)
		}
	}
	if r := e.Do("POST", "/v3/webhooks", key, ok(nil)); r.Status != 400 || !strings.Contains(r.ErrMessage(), "the most allowed") {
		t.Fatalf("beyond the bound: %d %s", r.Status, r.Raw)
	}
	id := e.Do("GET", "/v3/webhooks", key, nil).List()[0]["id"].(string)
	if r := e.Do("PUT", "/v3/webhooks/"+id, key, map[string]any{"status": "deleted"}); r.Status != 400 {
		t.Fatalf("bad status: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("PUT", "/v3/webhooks/"+id, key, map[string]any{"status": "pause"}); r.Status != 200 || r.Data()["status"] != "pause" {
		t.Fatalf("pause: %d %s", r.Status, r.Raw)
	}
}

func TestWebhookSSRFRefusedAtCreate(t *testing.T) {
	e := apitest.New(t) // webhooks.allow_private_urls off
	_, key := e.App("hooks")
	rcv := challengeReceiver(t)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":")+1:]
	for _, u := range []string{rcv.URL, "http://localhost:" + port + "/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:" + port + "/", "http://[fd00::1]/"} {
		r := e.Do("POST", "/v3/webhooks", key, map[string]any{"webhook_url": u, "trigger_types": []string{"grant.created"}})
		if r.Status != 400 || !strings.Contains(r.ErrMessage(), "allow_private_urls") {
			t.Errorf("%s: %d %s", u, r.Status, r.Raw)
		}
	}
}
