package api_test

import (
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/apitest"
)

// TestValuesNoStoreCanHold: input that decodes but that a store cannot keep
// faithfully (or PostgreSQL would refuse with an error) gets a 400 that
// says what is wrong, and nothing is written.
func TestValuesNoStoreCanHold(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"n":1e400}}`, "out of range"},
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"n":1` + strings.Repeat("0", 400) + `}}`, "out of range"},
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"n":` + strings.Repeat("9", 250) + `e99}}`, "out of range"},
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"n":[-1E+400]}}`, "out of range"},
		{"POST", "/v3/connectors", `{"provider":"imap","name":"a\u0000b"}`, "NUL character"},
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"k\u0000":"v"}}`, "NUL character"},
		{"POST", "/v3/connectors", `{"provider":"imap","name":"` + strings.Repeat("n", 300) + `"}`, "at most 256"},
		{"POST", "/v3/connectors", `{"provider":"google","settings":{"client_id":5,"client_secret":"s"}}`, "settings.client_id must be a string"},
		{"POST", "/v3/connectors", `{"provider":"google","settings":{"client_id":"  ","client_secret":"s"}}`, "settings.client_id is required"},
		// Settings a connector does not take are refused, not stored and
		// shown (a password put there by mistake would be echoed).
		{"POST", "/v3/connectors", `{"provider":"imap","settings":{"imap_password":"hunter2"}}`, "imap connectors take no settings"},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":{"client_id":"i","client_secret":"s","clientSecret":"s2"}}`, "settings.clientSecret is not a setting of zoom connectors; they take client_id, client_secret"},
		{"POST", "/v3/connectors", `{"provider":"microsoft","settings":{"client_id":"i","client_secret":"s","tenant":{"id":"x"}}}`, "settings.tenant must be a string"},
		{"GET", "/v3/grants?since=9999999999999", "", "0 to 253402300799"},
		{"GET", "/v3/grants?email=a%00b", "", "NUL byte"},
		{"GET", "/v3/grants?provider=%ff", "", "invalid UTF-8"},
		{"GET", "/v3/grants/%00", "", "NUL byte"},
	} {
		r := e.Do(tc.method, tc.path, key, tc.body)
		if r.Status != 400 || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("%s %s %.60s: %d %s; want a 400 saying %q", tc.method, tc.path, tc.body, r.Status, r.Raw, tc.want)
		}
	}
	if r := e.Do("GET", "/v3/connectors", key, nil); r.Status != 200 || len(r.List()) != 0 {
		t.Errorf("something was written: %s", r.Raw)
	}
	// A path segment no id can be is a 404 that does not repeat it.
	long := strings.Repeat("x", 5000)
	if r := e.Do("GET", "/v3/grants/"+long, key, nil); r.Status != 404 || strings.Contains(string(r.Raw), long[:300]) {
		t.Errorf("long id: %d %.200s", r.Status, r.Raw)
	}
	// Credential names are bounded too.
	e.OAuthConnector(key, "google")
	r := e.Do("POST", "/v3/connectors/google/creds", key, map[string]any{"name": strings.Repeat("c", 2700), "credential_type": "connector",
		"credential_data": map[string]any{"client_id": "a", "client_secret": "b"}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "at most 256") {
		t.Errorf("long credential name: %d %s", r.Status, r.Raw)
	}
	// A number where a string belongs is named as a number.
	r = e.Do("POST", "/v3/connect/custom", key, `{"provider":"google","settings":{"refresh_token":5}}`)
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "got a number") {
		t.Errorf("numeric refresh_token: %d %s", r.Status, r.Raw)
	}
}
