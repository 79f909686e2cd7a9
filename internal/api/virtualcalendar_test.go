package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
)

// TestVirtualCalendar: a virtual calendar grant needs no connector and no
// provider: valid at once, scope ["calendar"], the identifier as its
// email (any text); one grant per identifier per application (same id
// when created again, whatever the case), another application gets its
// own; grant.created is written; bad settings are 400s and store nothing.
func TestVirtualCalendar(t *testing.T) {
	e := apitest.New(t)
	appID, key := e.App("acme")
	_, key2 := e.App("other")
	create := func(key string, body map[string]any) apitest.Response {
		t.Helper()
		return e.Do("POST", "/v3/connect/custom", key, body)
	}
	r := create(key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "Board Room 3"}, "state": "s1"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	g := r.Data()
	sc, _ := g["scope"].([]any)
	if g["provider"] != "virtual-calendar" || g["email"] != "Board Room 3" || g["grant_status"] != "valid" || len(sc) != 1 || sc[0] != "calendar" || g["state"] != "s1" {
		t.Errorf("grant: %s", r.Raw)
	}
	if ext, _ := g["grantd"].(map[string]any); ext == nil || ext["next_refresh_at"].(float64) != 0 {
		t.Errorf("a virtual calendar is never refreshed: %s", r.Raw)
	}
	// The same identifier again (another case, a scope that is ignored):
	// the same grant.
	r = create(key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "board room 3"}, "scope": []string{"mail"}})
	if r.Status != http.StatusCreated || r.Data()["id"] != g["id"] || r.Header.Get("Grantd-Reauthenticated") != "true" {
		t.Errorf("again: %d %s", r.Status, r.Raw)
	}
	if sc, _ := r.Data()["scope"].([]any); len(sc) != 1 || sc[0] != "calendar" {
		t.Errorf("scope after re-authentication: %v", r.Data()["scope"])
	}
	if r := create(key2, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "Board Room 3"}}); r.Status != http.StatusCreated || r.Data()["id"] == g["id"] {
		t.Errorf("another application: %d %s", r.Status, r.Raw)
	}
	evs, err := e.Server.Store.ListEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, ev := range evs {
		if ev.AppID == appID && ev.GrantID == g["id"] && ev.Type == "grant.created" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d grant.created events", created)
	}
	for _, tc := range []struct {
		settings any
		want     string
	}{
		{map[string]any{}, "settings.email is required"},
		{map[string]any{"email": ""}, "settings.email"},
		{map[string]any{"email": 7}, "must be a string"},
		{map[string]any{"email": strings.Repeat("r", 300)}, "at most 256"},
		{map[string]any{"email": "a\tb"}, "printable"},
	} {
		r := create(key, map[string]any{"provider": "virtual-calendar", "settings": tc.settings})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%v: %d %s", tc.settings, r.Status, r.Raw)
		}
	}
	if l := e.Do("GET", "/v3/grants?provider=virtual-calendar", key, nil).List(); len(l) != 1 {
		t.Errorf("%d virtual calendar grants, want 1", len(l))
	}
	// PATCH to another identifier is refused (it is another calendar).
	if r := e.Do("PATCH", "/v3/grants/"+g["id"].(string), key, map[string]any{"settings": map[string]any{"email": "Room 4"}}); r.Status != http.StatusBadRequest {
		t.Errorf("patch to another identifier: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("DELETE", "/v3/grants/"+g["id"].(string), key, nil); r.Status != http.StatusOK {
		t.Errorf("delete: %d %s", r.Status, r.Raw)
	}
}
