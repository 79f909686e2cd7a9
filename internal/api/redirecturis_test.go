package api_test

import (
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
)

func TestRedirectURIs(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("redirects")
	_, otherKey := e.App("other")

	c := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "https://app.example/cb"})
	if c.Status != 200 || c.Data()["url"] != "https://app.example/cb" || c.Data()["platform"] != "web" || c.Data()["id"] == "" {
		t.Fatalf("create: %d %s", c.Status, c.Raw)
	}
	id := c.Data()["id"].(string)
	// The SDK's snake-cased android settings come back as sent.
	a := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "http://localhost:5173/cb", "platform": "android",
		"settings": map[string]any{"package_name": "p", "sha_1_certificate_fingerprint": "ff"}})
	if a.Status != 200 || a.Data()["settings"].(map[string]any)["sha_1_certificate_fingerprint"] != "ff" {
		t.Fatalf("create android: %d %s", a.Status, a.Raw)
	}
	for _, bad := range []map[string]any{
		{"url": "http://app.example/cb"},                                     // http off loopback
		{"url": "/cb"},                                                       // relative
		{"url": "https://app.example/cb#frag"},                               // fragment
		{"url": "javascript:alert(1)"},                                       // script
		{"url": "com.example.app:/cb"},                                       // private scheme on web
		{"url": "https://app.example/x", "platform": "tv"},                   // platform
		{"url": "https://app.example/y", "settings": map[string]any{"n": 1}}, // non-string setting
		{},
	} {
		r := e.Do("POST", "/v3/applications/redirect-uris", key, bad)
		if r.Status != 400 || r.ErrType() != "api.invalid_request_error" || r.ErrMessage() == "" {
			t.Errorf("create %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	if r := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "com.example.app:/cb", "platform": "ios"}); r.Status != 200 {
		t.Errorf("private scheme on ios: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "https://app.example/cb"}); r.Status != 409 {
		t.Errorf("same URL twice: %d %s", r.Status, r.Raw)
	}

	list := e.Do("GET", "/v3/applications/redirect-uris", key, nil)
	if list.Status != 200 || len(list.List()) != 3 || list.List()[0]["id"] != id {
		t.Fatalf("list: %s", list.Raw)
	}
	// GET /v3/applications keeps its shape: callback_uris are the redirect URIs.
	app := e.Do("GET", "/v3/applications", key, nil)
	cbs, _ := app.Data()["callback_uris"].([]any)
	if app.Status != 200 || len(cbs) != 3 || cbs[0].(map[string]any)["url"] != "https://app.example/cb" || cbs[0].(map[string]any)["id"] != id {
		t.Fatalf("application: %s", app.Raw)
	}
	if _, has := cbs[0].(map[string]any)["settings"]; has {
		t.Errorf("a web URI without settings shows settings: %s", app.Raw)
	}

	up := e.Do("PATCH", "/v3/applications/redirect-uris/"+id, key, map[string]any{"url": "https://app.example/cb2"})
	if up.Status != 200 || up.Data()["url"] != "https://app.example/cb2" || up.Data()["platform"] != "web" {
		t.Fatalf("update: %d %s", up.Status, up.Raw)
	}
	if r := e.Do("PATCH", "/v3/applications/redirect-uris/"+id, key, map[string]any{"url": "http://evil.example/cb"}); r.Status != 400 {
		t.Errorf("update to http: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("GET", "/v3/applications/redirect-uris/"+id, key, nil); r.Status != 200 || r.Data()["url"] != "https://app.example/cb2" {
		t.Errorf("find: %d %s", r.Status, r.Raw)
	}
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		if r := e.Do(m, "/v3/applications/redirect-uris/"+id, otherKey, map[string]any{"url": "https://x.example/"}); r.Status != 404 {
			t.Errorf("%s by another application: %d %s", m, r.Status, r.Raw)
		}
	}
	if r := e.Do("DELETE", "/v3/applications/redirect-uris/"+id, key, nil); r.Status != 200 || r.Body["request_id"] == "" {
		t.Errorf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("DELETE", "/v3/applications/redirect-uris/"+id, key, nil); r.Status != 404 {
		t.Errorf("delete twice: %d %s", r.Status, r.Raw)
	}

	// PATCH /v3/applications replaces the list; a kept URL keeps its id.
	keep := a.Data()["id"].(string)
	p := e.Do("PATCH", "/v3/applications", key, map[string]any{"callback_uris": []map[string]any{
		{"url": "http://localhost:5173/cb", "platform": "android", "settings": map[string]any{"package_name": "q"}},
		{"url": "https://new.example/cb"},
	}})
	cbs, _ = p.Data()["callback_uris"].([]any)
	if p.Status != 200 || len(cbs) != 2 || cbs[0].(map[string]any)["id"] != keep || cbs[1].(map[string]any)["url"] != "https://new.example/cb" {
		t.Fatalf("patch application: %d %s", p.Status, p.Raw)
	}
	for _, bad := range []map[string]any{
		{"callback_uris": []map[string]any{{"url": "http://evil.example/"}}},
		{"callback_uris": []map[string]any{{"url": "https://a.example/"}, {"url": "https://a.example/"}}},
		{"branding": map[string]any{"name": "x"}},
	} {
		r := e.Do("PATCH", "/v3/applications", key, bad)
		if r.Status != 400 || r.ErrMessage() == "" {
			t.Errorf("patch %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	if l := e.Do("GET", "/v3/applications/redirect-uris", key, nil); len(l.List()) != 2 || strings.Contains(string(l.Raw), "evil") {
		t.Errorf("a refused PATCH changed the list: %s", l.Raw)
	}
}
