package api_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/sandbox"
)

var oauthProviders = []string{"google", "microsoft", "yahoo", "zoom"}

func TestConnectCustomEveryOAuthProvider(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	for _, prov := range oauthProviders {
		t.Run(prov, func(t *testing.T) {
			clientID := e.OAuthConnector(key, prov)
			email := "Person." + prov + "@Example.com"
			rt := e.RefreshToken(prov, clientID, email)
			r := e.Do("POST", "/v3/connect/custom", key, map[string]any{
				"provider": prov, "settings": map[string]any{"refresh_token": rt},
				"state": "st-" + prov, "scope": strings.Join(apitest.DefaultScopes[prov], ","),
			})
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Raw)
			}
			g := r.Data()
			for _, f := range []string{"id", "provider", "grant_status", "email", "name", "scope", "settings", "state", "user_agent", "ip", "created_at", "updated_at", "provider_user_id", "blocked"} {
				if _, ok := g[f]; !ok {
					t.Errorf("grant lacks %s: %s", f, r.Raw)
				}
			}
			if g["provider"] != prov || g["grant_status"] != "valid" || !strings.EqualFold(g["email"].(string), email) || g["state"] != "st-"+prov {
				t.Errorf("grant: %s", r.Raw)
			}
			if strings.Contains(string(r.Raw), rt) {
				t.Errorf("refresh token echoed")
			}
			// The stored refresh token is one the provider accepts now.
			stored, err := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), g["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			secrets, err := e.Server.Grants.Secrets(stored)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Sandbox.IsValidRefreshToken(prov, secrets["refresh_token"]) {
				t.Errorf("stored refresh token is not valid at the provider")
			}
			rotates := prov == "microsoft" || prov == "zoom"
			if rotates == (secrets["refresh_token"] == rt) {
				t.Errorf("rotation: provider rotates=%v but stored token equal to original=%v", rotates, secrets["refresh_token"] == rt)
			}
			if prov == "zoom" && e.Sandbox.IsValidRefreshToken(prov, rt) {
				t.Errorf("zoom rotates strictly; the original token should be dead")
			}
		})
	}
}

func appOf(t *testing.T, e *apitest.Env, key string) string {
	p, err := e.Server.Tenants.Authenticate(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return p.App.ID
}

func TestReauthenticationKeepsID(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "google")
	rt1 := e.RefreshToken("google", clientID, "ada@example.com")
	r1 := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt1}})
	if r1.Status != 201 {
		t.Fatalf("%d %s", r1.Status, r1.Raw)
	}
	id := r1.Data()["id"]
	// Invalidate it, then re-authenticate with a new token: same id, valid again.
	if err := e.Server.Grants.InvalidateProvider(t.Context(), appOf(t, e, key), "google", "test", "test"); err != nil {
		t.Fatal(err)
	}
	if g := e.Do("GET", fmt.Sprintf("/v3/grants/%s", id), key, nil); g.Data()["grant_status"] != "invalid" {
		t.Fatalf("not invalid: %s", g.Raw)
	}
	time.Sleep(1100 * time.Millisecond) // updated_at has second resolution on the wire
	rt2, _ := e.Sandbox.MintRefreshToken("google", clientID, "ada@example.com", apitest.DefaultScopes["google"])
	r2 := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt2}})
	if r2.Status != 201 || r2.Data()["id"] != id || r2.Data()["grant_status"] != "valid" {
		t.Fatalf("re-auth: %d %s", r2.Status, r2.Raw)
	}
	if r2.Data()["updated_at"].(float64) <= r1.Data()["updated_at"].(float64) {
		t.Errorf("updated_at did not move: %v -> %v", r1.Data()["updated_at"], r2.Data()["updated_at"])
	}
	g, _ := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), id.(string))
	s, _ := e.Server.Grants.Secrets(g)
	if s["refresh_token"] != rt2 {
		t.Errorf("new secret not stored")
	}
	if l := e.Do("GET", "/v3/grants", key, nil).List(); len(l) != 1 {
		t.Errorf("%d grants, want 1", len(l))
	}
	// Events: created, expired, updated (re-auth).
	evs, err := e.Server.Store.ListEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if want := []string{"grant.created", "grant.expired", "grant.updated"}; !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}

	// After DELETE the next authentication creates a new id.
	if d := e.Do("DELETE", fmt.Sprintf("/v3/grants/%s", id), key, nil); d.Status != 200 || d.Body["request_id"] == nil {
		t.Fatalf("delete: %d %s", d.Status, d.Raw)
	}
	if g := e.Do("GET", fmt.Sprintf("/v3/grants/%s", id), key, nil); g.Status != 404 || g.ErrType() != "api.not_found_error" {
		t.Fatalf("after delete: %d %s", g.Status, g.Raw)
	}
	r3 := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt2}})
	if r3.Status != 201 || r3.Data()["id"] == id {
		t.Fatalf("after delete: %d %s", r3.Status, r3.Raw)
	}
}

func TestConnectCustomErrors(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")

	r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "hotmail", "settings": map[string]any{}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "google") || !strings.Contains(r.ErrMessage(), "hotmail") {
		t.Errorf("unknown provider: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": "x"}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "no google connector") || !strings.Contains(r.ErrMessage(), "POST /v3/connectors") {
		t.Errorf("missing connector: %d %s", r.Status, r.Raw)
	}
	clientID := e.OAuthConnector(key, "google")
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "refresh_token") {
		t.Errorf("missing refresh_token: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": 42}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "refresh_token") {
		t.Errorf("wrong type: %d %s", r.Status, r.Raw)
	}

	rt := e.RefreshToken("google", clientID, "bob@example.com")
	e.Sandbox.Revoke("google", rt)
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	if r.Status != 400 || r.ProviderError()["error"] != "invalid_grant" || !strings.Contains(strings.ToLower(r.ErrMessage()), "refresh token") {
		t.Errorf("revoked: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(string(r.Raw), rt) {
		t.Errorf("token in error")
	}

	// Yahoo: no rotation and a userinfo call, so both endpoints can fail.
	yahooClient := e.OAuthConnector(key, "yahoo")
	rt = e.RefreshToken("yahoo", yahooClient, "carol@example.com")
	for _, f := range []sandbox.Failure{
		{Endpoint: "token", Status: 503, Count: 1},
		{Endpoint: "identity", Status: 500, Count: 1},
		{Endpoint: "token", Delay: 5 * time.Second, Count: 1},
	} {
		e.Sandbox.InjectFailure("yahoo", f)
		start := time.Now()
		r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "yahoo", "settings": map[string]any{"refresh_token": rt}})
		if r.Status != 504 || r.ErrType() != "api.provider_error" {
			t.Errorf("failure %+v: %d %s", f, r.Status, r.Raw)
		}
		if time.Since(start) > 4500*time.Millisecond {
			t.Errorf("failure %+v: took %v, more than the configured timeout", f, time.Since(start))
		}
		e.Sandbox.ClearFailures()
	}
	// Nothing was stored by any failure.
	if l := e.Do("GET", "/v3/grants", key, nil); len(l.List()) != 0 {
		t.Errorf("grants after failures: %s", l.Raw)
	}
	if evs, _ := e.Server.Store.ListEvents(t.Context(), 0, 10); len(evs) != 0 {
		t.Errorf("events after failures: %d", len(evs))
	}
	// The same token works once the provider is back.
	if r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "yahoo", "settings": map[string]any{"refresh_token": rt}}); r.Status != 201 {
		t.Errorf("after recovery: %d %s", r.Status, r.Raw)
	}
}

func TestCredentialOverride(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "microsoft")
	e.Sandbox.AddClient("microsoft", "other-app", "other-secret")
	c := e.Do("POST", "/v3/connectors/microsoft/creds", key, map[string]any{
		"name": "other", "credential_type": "connector",
		"credential_data": map[string]any{"client_id": "other-app", "client_secret": "other-secret"},
	})
	if c.Status != 201 || c.Data()["id"] == "" || strings.Contains(string(c.Raw), "other-secret") {
		t.Fatalf("create cred: %d %s", c.Status, c.Raw)
	}
	credID := c.Data()["id"].(string)
	rt := e.RefreshToken("microsoft", "other-app", "dan@example.com")
	// With the connector's own client the token is rejected (issued to another client)…
	r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "microsoft", "settings": map[string]any{"refresh_token": rt}})
	if r.Status != 400 {
		t.Fatalf("wrong client accepted: %d %s", r.Status, r.Raw)
	}
	// …and accepted with the credential's.
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "microsoft", "settings": map[string]any{"refresh_token": rt, "credential_id": credID}})
	if r.Status != 201 || r.Data()["credential_id"] != credID {
		t.Fatalf("with credential: %d %s", r.Status, r.Raw)
	}
	grantID := r.Data()["id"].(string)
	r = e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "microsoft", "settings": map[string]any{"refresh_token": rt, "credential_id": "nope"}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "nope") {
		t.Fatalf("unknown credential: %d %s", r.Status, r.Raw)
	}
	// A new token for the grant (PATCH settings with only the token) is
	// redeemed with the grant's credential, which it keeps.
	rt2 := e.RefreshToken("microsoft", "other-app", "dan@example.com")
	r = e.Do("PATCH", "/v3/grants/"+grantID, key, map[string]any{"settings": map[string]any{"refresh_token": rt2}})
	if r.Status != 200 || r.Data()["credential_id"] != credID {
		t.Fatalf("PATCH token of a credential grant: %d %s", r.Status, r.Raw)
	}
	// credential_id null or "" (what serializers send for unset fields)
	// names no credential: the grant keeps its own.
	for _, none := range []any{nil, ""} {
		r = e.Do("PATCH", "/v3/grants/"+grantID, key, map[string]any{"settings": map[string]any{"refresh_token": rt2, "credential_id": none}})
		if r.Status != 200 || r.Data()["credential_id"] != credID {
			t.Fatalf("PATCH with credential_id %#v: %d %s", none, r.Status, r.Raw)
		}
	}
	// Naming a credential in the PATCH still chooses it.
	r = e.Do("PATCH", "/v3/grants/"+grantID, key, map[string]any{"settings": map[string]any{"refresh_token": rt2, "credential_id": "nope"}})
	if r.Status != 400 || !strings.Contains(r.ErrMessage(), "nope") {
		t.Fatalf("PATCH with an unknown credential: %d %s", r.Status, r.Raw)
	}
	// Deleting the credential makes its grants invalid at once, with one
	// grant.expired each; grants of the connector's own client stay valid.
	own := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "microsoft", "settings": map[string]any{
		"refresh_token": e.RefreshToken("microsoft", clientID, "erin@example.com")}})
	if own.Status != 201 {
		t.Fatalf("grant with the connector's client: %d %s", own.Status, own.Raw)
	}
	if d := e.Do("DELETE", "/v3/connectors/microsoft/creds/"+credID, key, nil); d.Status != 200 {
		t.Fatalf("delete credential: %d %s", d.Status, d.Raw)
	}
	if g := e.Do("GET", "/v3/grants/"+grantID, key, nil); g.Data()["grant_status"] != "invalid" || g.Data()["grantd"].(map[string]any)["last_failure_class"] != "credential_deleted" {
		t.Errorf("grant of the deleted credential: %s", g.Raw)
	}
	if g := e.Do("GET", "/v3/grants/"+own.Data()["id"].(string), key, nil); g.Data()["grant_status"] != "valid" {
		t.Errorf("grant of the connector's client: %s", g.Raw)
	}
	evs, _ := e.Server.Store.ListEvents(t.Context(), 0, 0)
	expired := 0
	for _, ev := range evs {
		if ev.Type == "grant.expired" && ev.GrantID == grantID {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("%d grant.expired for the credential's grant, want 1", expired)
	}
}

func TestGrantsListAndPatch(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "yahoo")
	const n = 25
	var ids []string
	for i := range n {
		rt := e.RefreshToken("yahoo", clientID, fmt.Sprintf("user%02d@example.com", i))
		r := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "yahoo", "settings": map[string]any{"refresh_token": rt}})
		if r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		ids = append(ids, r.Data()["id"].(string))
	}
	r := e.Do("GET", "/v3/grants", key, nil)
	if len(r.List()) != 10 || r.Body["limit"] != float64(10) || r.Body["offset"] != float64(0) {
		t.Fatalf("default page: %d items, limit %v", len(r.List()), r.Body["limit"])
	}
	if r.List()[0]["id"] != ids[n-1] {
		t.Errorf("default order is created_at desc")
	}
	seen := map[string]bool{}
	for off := 0; off < n; off += 7 {
		p := e.Do("GET", fmt.Sprintf("/v3/grants?limit=7&offset=%d&order_by=asc", off), key, nil)
		if len(p.List()) > 7 {
			t.Fatalf("page larger than limit: %d", len(p.List()))
		}
		for i, g := range p.List() {
			if g["id"] != ids[off+i] {
				t.Errorf("asc order at %d", off+i)
			}
			seen[g["id"].(string)] = true
		}
	}
	if len(seen) != n {
		t.Errorf("paged through %d grants, want %d", len(seen), n)
	}
	// Keyset paging: next_cursor on every full page, sent back as
	// page_token (with the first request's offset, as the SDK's iterator
	// does: the cursor wins), walks the list in order; a short page ends it.
	for _, order := range []string{"asc", "desc"} {
		var got []string
		q := "/v3/grants?limit=7&offset=3&order_by=" + order
		token := ""
		for pages := 0; ; pages++ {
			u := q
			if token != "" {
				u += "&page_token=" + token
			}
			p := e.Do("GET", u, key, nil)
			if p.Status != 200 || pages > 10 {
				t.Fatalf("%s: %d %s", u, p.Status, p.Raw)
			}
			for _, g := range p.List() {
				got = append(got, g["id"].(string))
			}
			next, _ := p.Body["next_cursor"].(string)
			if (len(p.List()) == 7) != (next != "") {
				t.Fatalf("%s: %d items, next_cursor %q", u, len(p.List()), next)
			}
			if next == "" {
				break
			}
			token = next
		}
		want := slices.Clone(ids[3:])
		if order == "desc" {
			want = slices.Clone(ids[:n-3])
			slices.Reverse(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("cursor pages (%s) = %v, want %v", order, got, want)
		}
	}
	ascCursor, _ := e.Do("GET", "/v3/grants?limit=2&order_by=asc", key, nil).Body["next_cursor"].(string)
	for _, q := range []string{"page_token=nope", "page_token=" + ascCursor, "page_token=" + ascCursor + "&order_by=asc&sort_by=updated_at"} {
		if p := e.Do("GET", "/v3/grants?"+q, key, nil); p.Status != 400 || !strings.Contains(p.ErrMessage(), "page_token") {
			t.Errorf("%s: %d %s", q, p.Status, p.Raw)
		}
	}
	if p := e.Do("GET", "/v3/grants?limit=500", key, nil); len(p.List()) != n || p.Body["limit"] != float64(200) {
		t.Errorf("limit clamp: %d %v", len(p.List()), p.Body["limit"])
	}
	if p := e.Do("GET", "/v3/grants?email=USER03@example.com", key, nil); len(p.List()) != 1 || p.List()[0]["id"] != ids[3] {
		t.Errorf("email filter: %s", p.Raw)
	}
	for q, want := range map[string]int{"provider=yahoo": 10, "provider=google": 0, "grant_status=invalid": 0, "grant_status=valid&limit=200": n, "since=4000000000": 0, "before=1": 0} {
		if p := e.Do("GET", "/v3/grants?"+q, key, nil); len(p.List()) != want {
			t.Errorf("%s: %d items, want %d", q, len(p.List()), want)
		}
	}
	// since and before are inclusive, in the seconds created_at shows.
	first := e.Do("GET", "/v3/grants/"+ids[0], key, nil).Data()["created_at"].(float64)
	for q, in := range map[string]bool{
		fmt.Sprintf("since=%.0f&before=%.0f", first, first): true,
		fmt.Sprintf("before=%.0f", first):                   true,
		fmt.Sprintf("since=%.0f", first):                    true,
		fmt.Sprintf("before=%.0f", first-1):                 false,
		fmt.Sprintf("since=%.0f", first+1):                  false,
	} {
		p := e.Do("GET", "/v3/grants?limit=200&"+q, key, nil)
		found := slices.ContainsFunc(p.List(), func(g map[string]any) bool { return g["id"] == ids[0] })
		if found != in {
			t.Errorf("%s: grant created at %.0f listed = %v, want %v", q, first, found, in)
		}
	}

	// PATCH scope only: a new list, grant.updated, but updated_at (the
	// last authentication) stays.
	app := appOf(t, e, key)
	before, _ := e.Server.Store.GetGrant(t.Context(), app, ids[0])
	evs0, _ := e.Server.Store.ListEvents(t.Context(), 0, 1000)
	p := e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{"scope": []string{"email", "mail-r"}})
	if p.Status != 200 || fmt.Sprint(p.Data()["scope"]) != "[email mail-r]" {
		t.Fatalf("patch scope: %d %s", p.Status, p.Raw)
	}
	after, _ := e.Server.Store.GetGrant(t.Context(), app, ids[0])
	evs1, _ := e.Server.Store.ListEvents(t.Context(), 0, 1000)
	if !after.UpdatedAt.Equal(before.UpdatedAt) || len(evs1) != len(evs0)+1 || evs1[len(evs1)-1].Type != "grant.updated" {
		t.Errorf("scope PATCH: updated_at %v -> %v, %d new events", before.UpdatedAt, after.UpdatedAt, len(evs1)-len(evs0))
	}
	// An empty PATCH changes nothing and emits nothing.
	if p := e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{}); p.Status != 200 || p.Data()["id"] != ids[0] {
		t.Fatalf("empty patch: %d %s", p.Status, p.Raw)
	}
	if evs2, _ := e.Server.Store.ListEvents(t.Context(), 0, 1000); len(evs2) != len(evs1) {
		t.Errorf("empty PATCH emitted %d events", len(evs2)-len(evs1))
	}
	// PATCH settings is validated before it is accepted.
	p = e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{"settings": map[string]any{"refresh_token": "bogus"}})
	if p.Status != 400 {
		t.Fatalf("patch bad token: %d %s", p.Status, p.Raw)
	}
	g := e.Do("GET", "/v3/grants/"+ids[0], key, nil)
	if g.Data()["grant_status"] != "valid" {
		t.Errorf("a rejected PATCH changed the grant: %s", g.Raw)
	}
	rt := e.RefreshToken("yahoo", clientID, "user00@example.com")
	if p = e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{"settings": map[string]any{"refresh_token": rt}}); p.Status != 200 {
		t.Fatalf("patch good token: %d %s", p.Status, p.Raw)
	}
	// Another account's token cannot be patched into this grant.
	other := e.RefreshToken("yahoo", clientID, "user01@example.com")
	if p = e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{"settings": map[string]any{"refresh_token": other}}); p.Status != 400 ||
		!strings.Contains(p.ErrMessage(), "authenticate that account with POST /v3/connect/custom") {
		t.Fatalf("patch other account: %d %s", p.Status, p.Raw)
	}
	// When checking it rotated the other account's token, the caller is
	// not told to reuse it.
	e.Sandbox.SetRotation("yahoo", sandbox.Rotation{Mode: sandbox.RotateStrict})
	other = e.RefreshToken("yahoo", clientID, "user01@example.com")
	if p = e.Do("PATCH", "/v3/grants/"+ids[0], key, map[string]any{"settings": map[string]any{"refresh_token": other}}); p.Status != 400 ||
		!strings.Contains(p.ErrMessage(), "rotate") || strings.Contains(p.ErrMessage(), "authenticate that account with POST") {
		t.Fatalf("patch other account, rotated: %d %s", p.Status, p.Raw)
	}
	if p = e.Do("PATCH", "/v3/grants/nope", key, map[string]any{"scope": []string{"x"}}); p.Status != 404 {
		t.Fatalf("patch missing: %d", p.Status)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := apitest.New(t)
	_, keyA := e.App("a")
	_, keyB := e.App("b")
	clientID := e.OAuthConnector(keyA, "google")
	rt := e.RefreshToken("google", clientID, "shared@example.com")
	g := e.Do("POST", "/v3/connect/custom", keyA, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	if g.Status != 201 {
		t.Fatal(g.Status)
	}
	id := g.Data()["id"].(string)
	cred := e.Do("POST", "/v3/connectors/google/creds", keyA, map[string]any{"name": "c", "credential_type": "connector", "credential_data": map[string]any{"client_id": "x", "client_secret": "y"}})
	credID := cred.Data()["id"].(string)

	for _, c := range []struct{ method, path string }{
		{"GET", "/v3/grants/" + id}, {"PATCH", "/v3/grants/" + id}, {"DELETE", "/v3/grants/" + id},
		{"GET", "/v3/connectors/google"}, {"DELETE", "/v3/connectors/google"},
		{"GET", "/v3/connectors/google/creds"}, {"GET", "/v3/connectors/google/creds/" + credID},
		{"DELETE", "/v3/connectors/google/creds/" + credID},
	} {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"scope": []string{"x"}}
		}
		if r := e.Do(c.method, c.path, keyB, body); r.Status != 404 {
			t.Errorf("B %s %s: %d %s", c.method, c.path, r.Status, r.Raw)
		}
	}
	if r := e.Do("GET", "/v3/grants", keyB, nil); len(r.List()) != 0 {
		t.Errorf("B sees grants: %s", r.Raw)
	}
	if r := e.Do("GET", "/v3/connectors", keyB, nil); len(r.List()) != 0 {
		t.Errorf("B sees connectors: %s", r.Raw)
	}
	// B cannot use A's credential either.
	e.OAuthConnector(keyB, "google")
	if r := e.Do("POST", "/v3/connect/custom", keyB, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt, "credential_id": credID}}); r.Status != 400 {
		t.Errorf("B used A's credential: %d %s", r.Status, r.Raw)
	}
	// The same email in B is a separate grant.
	rtB := e.RefreshToken("google", "client-google", "shared@example.com")
	if r := e.Do("POST", "/v3/connect/custom", keyB, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rtB}}); r.Status != 201 || r.Data()["id"] == id {
		t.Errorf("B's grant: %d %s", r.Status, r.Raw)
	}
	// A still has its grant.
	if r := e.Do("GET", "/v3/grants/"+id, keyA, nil); r.Status != 200 {
		t.Errorf("A lost its grant: %d", r.Status)
	}
}

func TestConnectorsAndCredentials(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	r := e.Do("POST", "/v3/connectors", key, map[string]any{"name": "ms", "provider": "microsoft", "settings": map[string]any{"client_id": "cid", "client_secret": "canary-client-secret", "tenant": "common"}, "scope": []string{"Mail.Read"}})
	if r.Status != 201 || r.Data()["provider"] != "microsoft" || strings.Contains(string(r.Raw), "canary-client-secret") {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if s := r.Data()["settings"].(map[string]any); s["client_id"] != "cid" || s["tenant"] != "common" || s["client_secret"] != nil {
		t.Errorf("settings: %v", s)
	}
	if r = e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "microsoft", "settings": map[string]any{"client_id": "a", "client_secret": "b"}}); r.Status != 409 {
		t.Errorf("duplicate: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "google", "settings": map[string]any{"client_id": "a"}}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "client_secret") {
		t.Errorf("missing secret: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "myspace"}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "google") {
		t.Errorf("unknown provider: %d %s", r.Status, r.Raw)
	}
	// PUT (the SDK's update) merges settings.
	r = e.Do("PUT", "/v3/connectors/microsoft", key, map[string]any{"name": "ms2", "settings": map[string]any{"client_secret": "rotated"}, "scope": []string{"Mail.ReadWrite"}})
	if r.Status != 200 || r.Data()["name"] != "ms2" || r.Data()["settings"].(map[string]any)["client_id"] != "cid" || fmt.Sprint(r.Data()["scope"]) != "[Mail.ReadWrite]" {
		t.Errorf("update: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("GET", "/v3/connectors", key, nil); len(r.List()) != 1 {
		t.Errorf("list: %s", r.Raw)
	}

	// Credentials.
	bad := []map[string]any{
		{"credential_type": "connector", "credential_data": map[string]any{"client_id": "a", "client_secret": "b"}},
		{"name": "x", "credential_data": map[string]any{}},
		{"name": "x", "credential_type": "magic", "credential_data": map[string]any{}},
		{"name": "x", "credential_type": "connector"},
		{"name": "x", "credential_type": "connector", "credential_data": map[string]any{"client_id": "a"}},
		{"name": "x", "credential_type": "serviceaccount", "credential_data": map[string]any{"private_key_id": "a", "private_key": "b", "client_email": "c"}},
		// Fields grantd reads are strings, whatever the type.
		{"name": "x", "credential_type": "adminconsent", "credential_data": map[string]any{"tenant": map[string]any{"id": "t"}}},
		{"name": "x", "credential_type": "adminconsent", "credential_data": map[string]any{"tenant": "t", "client_secret": 5}},
	}
	for _, b := range bad {
		if r = e.Do("POST", "/v3/connectors/microsoft/creds", key, b); r.Status != 400 || r.ErrMessage() == "" {
			t.Errorf("bad credential %v: %d %s", b, r.Status, r.Raw)
		}
	}
	r = e.Do("POST", "/v3/connectors/microsoft/creds", key, map[string]any{"name": "ms", "credential_type": "adminconsent", "credential_data": map[string]any{"client_id": "c", "client_secret": "canary-cred-secret", "tenant": "t"}})
	if r.Status != 201 || r.Data()["credential_type"] != "adminconsent" || strings.Contains(string(r.Raw), "canary-cred-secret") || r.Data()["credential_data"] != nil {
		t.Fatalf("create cred: %d %s", r.Status, r.Raw)
	}
	credID := r.Data()["id"].(string)
	if r = e.Do("POST", "/v3/connectors/microsoft/creds", key, map[string]any{"name": "ms", "credential_type": "adminconsent", "credential_data": map[string]any{"tenant": "t"}}); r.Status != 409 {
		t.Errorf("duplicate name: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("GET", "/v3/connectors/microsoft/creds?sort_by=createdAt&order_by=desc&limit=1&offset=0", key, nil); r.Status != 200 || len(r.List()) != 1 {
		t.Errorf("list creds: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("PATCH", "/v3/connectors/microsoft/creds/"+credID, key, map[string]any{"name": "ms2", "credential_data": map[string]any{"client_secret": "rot"}}); r.Status != 200 || r.Data()["name"] != "ms2" {
		t.Errorf("patch cred: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("GET", "/v3/connectors/google/creds/"+credID, key, nil); r.Status != 404 {
		t.Errorf("cred under the wrong connector: %d", r.Status)
	}
	// Deleting the connector deletes its credentials and invalidates its grants.
	if r = e.Do("DELETE", "/v3/connectors/microsoft", key, nil); r.Status != 200 {
		t.Fatalf("delete connector: %d %s", r.Status, r.Raw)
	}
	if r = e.Do("GET", "/v3/connectors/microsoft", key, nil); r.Status != 404 {
		t.Errorf("connector still there: %d", r.Status)
	}
	if _, err := e.Server.Store.GetCredential(t.Context(), appOf(t, e, key), credID); err == nil {
		t.Errorf("credential survived its connector")
	}
}

func TestConnectorDeleteInvalidatesGrants(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	clientID := e.OAuthConnector(key, "zoom")
	rt := e.RefreshToken("zoom", clientID, "z@example.com")
	g := e.Do("POST", "/v3/connect/custom", key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": rt}})
	if g.Status != 201 {
		t.Fatal(g.Status)
	}
	e.Do("DELETE", "/v3/connectors/zoom", key, nil)
	if r := e.Do("GET", "/v3/grants/"+g.Data()["id"].(string), key, nil); r.Data()["grant_status"] != "invalid" {
		t.Errorf("grant still valid after its connector was deleted: %s", r.Raw)
	}
}

// TestSecretsNeverLeak plants canary secrets, runs requests (successes and
// failures) and looks for them in every response, the log and the
// database files.
func TestSecretsNeverLeak(t *testing.T) {
	e := apitest.New(t)
	_, key := e.App("acme")
	canaryClientSecret := "CANARY-client-secret-7f3a"
	e.Sandbox.AddClient("google", "canary-client", canaryClientSecret)
	var raw []string
	do := func(method, path string, body any) apitest.Response {
		r := e.Do(method, path, key, body)
		raw = append(raw, string(r.Raw)+fmt.Sprint(r.Header))
		return r
	}
	do("POST", "/v3/connectors", map[string]any{"provider": "google", "settings": map[string]any{"client_id": "canary-client", "client_secret": canaryClientSecret}})
	rt := e.RefreshToken("google", "canary-client", "canary@example.com")
	canaryCred := "CANARY-credential-data-91bd"
	do("POST", "/v3/connectors/google/creds", map[string]any{"name": "c", "credential_type": "serviceaccount", "credential_data": map[string]any{"private_key_id": "k", "private_key": canaryCred, "client_email": "sa@example.com"}})
	g := do("POST", "/v3/connect/custom", map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	do("GET", "/v3/grants/"+g.Data()["id"].(string), nil)
	do("GET", "/v3/grants", nil)
	do("GET", "/v3/connectors/google", nil)
	do("GET", "/v3/connectors/google/creds", nil)
	// Failures echo nothing either.
	do("POST", "/v3/connect/custom", map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt + "-wrong"}})
	e.Sandbox.InjectFailure("google", sandbox.Failure{Status: 503, Count: 1})
	do("POST", "/v3/connect/custom", map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": rt}})
	stored, _ := e.Server.Store.GetGrant(t.Context(), appOf(t, e, key), g.Data()["id"].(string))
	secrets, _ := e.Server.Grants.Secrets(stored)
	if secrets["access_token"] == "" {
		t.Fatal("no access token stored")
	}
	canaries := []string{canaryClientSecret, rt, canaryCred, secrets["access_token"], key}
	e.Server.Close() // flush the database files
	var dbBytes []byte
	files, _ := filepath.Glob(filepath.Join(e.Config.DataDir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			dbBytes = append(dbBytes, b...)
		}
	}
	if len(dbBytes) == 0 {
		t.Fatal("no database files found")
	}
	for _, c := range canaries {
		for i, r := range raw {
			if strings.Contains(r, c) {
				t.Errorf("canary %.12s… in response %d", c, i)
			}
		}
		if strings.Contains(e.Logs.String(), c) {
			t.Errorf("canary %.12s… in the log", c)
		}
		if strings.Contains(string(dbBytes), c) {
			t.Errorf("canary %.12s… in the database files", c)
		}
	}
}
