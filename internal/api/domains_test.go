package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/testenv/dnstest"
)

// newDomainEnv is grantd asking a DNS server on loopback that the test
// fills in.
func newDomainEnv(t *testing.T) (*apitest.Env, *dnstest.Server) {
	t.Helper()
	d := dnstest.New(t)
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) { c.Network.DNSServer = d.Addr }})
	return e, d
}

// TestDomains: /v3/admin/domains: create, list (paged), get, update, the
// records to publish, verification through DNS (found, not found, another
// token, another MX host, a null MX, an outage that changes nothing,
// a record removed later), delete; another application sees none of it;
// bad input is a 400 naming the problem.
func TestDomains(t *testing.T) {
	e, d := newDomainEnv(t)
	_, key := e.App("acme")
	_, key2 := e.App("other")

	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"name": "x"}, "domain_address is required"},
		{map[string]any{"domain_address": "ada@agents.example.com"}, "not a domain name"},
		{map[string]any{"domain_address": "localhost"}, "has no dot"},
		{map[string]any{"domain_address": "10.0.0.1"}, "IP address"},
		{map[string]any{"domain_address": "-bad-.example.com"}, "not a valid domain name"},
		{map[string]any{"domain_address": "agents.example.com", "mx_host": "mx host"}, "mx_host"},
		{map[string]any{"domain_address": 7}, "domain_address"},
	} {
		r := e.Do("POST", "/v3/admin/domains", key, tc.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
			t.Errorf("create %v: %d %s, want 400 with %q", tc.body, r.Status, r.Raw, tc.want)
		}
	}
	if l := e.Do("GET", "/v3/admin/domains", key, nil).List(); len(l) != 0 {
		t.Fatalf("bad input stored domains: %v", l)
	}

	r := e.Do("POST", "/v3/admin/domains", key, map[string]any{"name": "Agents", "domain_address": "Agents.Example.COM.", "mx_host": "MX.Mail.Example.NET"})
	if r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	dom := r.Data()
	id, _ := dom["id"].(string)
	if dom["domain_address"] != "agents.example.com" || dom["name"] != "Agents" || dom["mx_host"] != "mx.mail.example.net" ||
		dom["verified_ownership"] != false || dom["verified_mx"] != false || dom["branded"] != false || id == "" {
		t.Errorf("created: %s", r.Raw)
	}
	if r := e.Do("POST", "/v3/admin/domains", key, map[string]any{"domain_address": "agents.example.com"}); r.Status != http.StatusConflict {
		t.Errorf("same address again: %d %s", r.Status, r.Raw)
	}
	// Another application may register it too (it needs its own token
	// in DNS), and sees nothing of acme's.
	r2 := e.Do("POST", "/v3/admin/domains", key2, map[string]any{"domain_address": "agents.example.com"})
	if r2.Status != http.StatusOK || r2.Data()["name"] != "agents.example.com" {
		t.Fatalf("other application: %d %s", r2.Status, r2.Raw)
	}
	if r := e.Do("GET", "/v3/admin/domains/"+id, key2, nil); r.Status != http.StatusNotFound {
		t.Errorf("other application's get: %d %s", r.Status, r.Raw)
	}
	for _, p := range []string{"/info", "/verify"} {
		if r := e.Do("POST", "/v3/admin/domains/"+id+p, key2, map[string]any{"type": "ownership"}); r.Status != http.StatusNotFound {
			t.Errorf("other application's %s: %d %s", p, r.Status, r.Raw)
		}
	}

	// The records to publish.
	info := e.Do("POST", "/v3/admin/domains/"+id+"/info", key, map[string]any{"type": "ownership"})
	opts, _ := info.Data()["attempt"].(map[string]any)["options"].(map[string]any)
	value, _ := opts["value"].(string)
	if info.Status != http.StatusOK || info.Data()["status"] != "pending" || opts["type"] != "TXT" || opts["host"] != "@" || !strings.HasPrefix(value, "grantd-domain-verification=") || len(value) < 40 {
		t.Fatalf("ownership info: %d %s", info.Status, info.Raw)
	}
	other := e.Do("POST", "/v3/admin/domains/"+r2.Data()["id"].(string)+"/info", key2, map[string]any{"type": "ownership"})
	if ov := other.Data()["attempt"].(map[string]any)["options"].(map[string]any)["value"]; ov == value {
		t.Fatal("two registrations of a domain share a token")
	}
	mxInfo := e.Do("POST", "/v3/admin/domains/"+id+"/info", key, map[string]any{"type": "mx"})
	mxOpts, _ := mxInfo.Data()["attempt"].(map[string]any)["options"].(map[string]any)
	if mxInfo.Status != http.StatusOK || mxOpts["type"] != "MX" || mxOpts["value"] != "mx.mail.example.net" || !strings.Contains(mxInfo.Data()["message"].(string), "does not host mail") {
		t.Errorf("mx info: %d %s", mxInfo.Status, mxInfo.Raw)
	}
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{}, "type is required"},
		{map[string]any{"type": "dkim"}, "does not send or receive mail"},
		{map[string]any{"type": "caa"}, "not one of ownership, mx"},
	} {
		for _, p := range []string{"/info", "/verify"} {
			if r := e.Do("POST", "/v3/admin/domains/"+id+p, key, tc.body); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), tc.want) {
				t.Errorf("%s %v: %d %s", p, tc.body, r.Status, r.Raw)
			}
		}
	}

	verify := func(typ string) apitest.Response {
		t.Helper()
		return e.Do("POST", "/v3/admin/domains/"+id+"/verify", key, map[string]any{"type": typ})
	}
	get := func() map[string]any {
		t.Helper()
		return e.Do("GET", "/v3/admin/domains/"+id, key, nil).Data()
	}
	// Nothing published yet.
	if r := verify("ownership"); r.Status != http.StatusOK || r.Data()["status"] != "failed" || !strings.Contains(r.Data()["message"].(string), "has no TXT record") {
		t.Errorf("verify, no record: %d %s", r.Status, r.Raw)
	}
	// Another registration's token only.
	otherValue := other.Data()["attempt"].(map[string]any)["options"].(map[string]any)["value"].(string)
	d.Add(t, `agents.example.com. 300 IN TXT "v=spf1 -all"`, `agents.example.com. 300 IN TXT "`+otherValue+`"`)
	if r := verify("ownership"); r.Data()["status"] != "failed" || !strings.Contains(r.Data()["message"].(string), "another token") {
		t.Errorf("verify, another token: %d %s", r.Status, r.Raw)
	}
	// An outage changes nothing.
	d.Fail("agents.example.com", dns.RcodeServerFailure)
	if r := verify("ownership"); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("verify, SERVFAIL: %d %s", r.Status, r.Raw)
	}
	d.Clear("agents.example.com")
	d.Add(t, `agents.example.com. 300 IN TXT "`+value+`"`)
	if r := verify("ownership"); r.Status != http.StatusOK || r.Data()["status"] != "done" {
		t.Fatalf("verify ownership: %d %s", r.Status, r.Raw)
	}
	if g := get(); g["verified_ownership"] != true || g["verified_mx"] != false || g["grantd"].(map[string]any)["verified"] != false {
		t.Errorf("after ownership: %v", g)
	}
	// MX: another host, a null MX, then the right one.
	d.Add(t, `agents.example.com. 300 IN MX 10 mx.elsewhere.example.org.`)
	if r := verify("mx"); r.Data()["status"] != "failed" || !strings.Contains(r.Data()["message"].(string), "mx.elsewhere.example.org, not mx.mail.example.net") {
		t.Errorf("verify mx, another host: %d %s", r.Status, r.Raw)
	}
	d.Remove("agents.example.com", "MX")
	d.Add(t, `agents.example.com. 300 IN MX 0 .`)
	if r := verify("mx"); r.Data()["status"] != "failed" || !strings.Contains(r.Data()["message"].(string), "null MX") {
		t.Errorf("verify mx, null MX: %d %s", r.Status, r.Raw)
	}
	d.Remove("agents.example.com", "MX")
	d.Add(t, `agents.example.com. 300 IN MX 20 MX.mail.example.net.`)
	if r := verify("mx"); r.Data()["status"] != "done" {
		t.Fatalf("verify mx: %d %s", r.Status, r.Raw)
	}
	if g := get(); g["verified_ownership"] != true || g["verified_mx"] != true || g["grantd"].(map[string]any)["verified"] != true {
		t.Errorf("verified: %v", g)
	}
	if r := e.Do("POST", "/v3/admin/domains/"+id+"/info", key, map[string]any{"type": "mx"}); r.Data()["status"] != "done" {
		t.Errorf("mx info after verification: %s", r.Raw)
	}
	// A new MX host needs a new check; the name can change, the address
	// cannot.
	if r := e.Do("PUT", "/v3/admin/domains/"+id, key, map[string]any{"domain_address": "other.example.com"}); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "cannot be changed") {
		t.Errorf("change address: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("PUT", "/v3/admin/domains/"+id, key, map[string]any{"name": "Renamed", "domain_address": "agents.example.com"}); r.Status != http.StatusOK || r.Data()["name"] != "Renamed" || r.Data()["verified_mx"] != true {
		t.Errorf("rename: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("PUT", "/v3/admin/domains/"+id, key, map[string]any{"mx_host": "mx2.mail.example.net"}); r.Status != http.StatusOK || r.Data()["verified_mx"] != false || r.Data()["verified_ownership"] != true {
		t.Errorf("new mx host: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("PUT", "/v3/admin/domains/"+id, key, map[string]any{"mx_host": ""}); r.Status != http.StatusOK || r.Data()["mx_host"] != "" {
		t.Errorf("any mx host: %d %s", r.Status, r.Raw)
	}
	if r := verify("mx"); r.Data()["status"] != "done" {
		t.Errorf("verify mx, any host: %d %s", r.Status, r.Raw)
	}
	// The TXT record removed: the next check takes the verification back.
	d.Remove("agents.example.com", "TXT")
	if r := verify("ownership"); r.Data()["status"] != "failed" {
		t.Errorf("verify after removal: %d %s", r.Status, r.Raw)
	}
	if g := get(); g["verified_ownership"] != false || g["grantd"].(map[string]any)["verified"] != false {
		t.Errorf("after removal: %v", g)
	}

	// Paging.
	for _, a := range []string{"b.example.com", "c.example.com"} {
		if r := e.Do("POST", "/v3/admin/domains", key, map[string]any{"domain_address": a}); r.Status != http.StatusOK {
			t.Fatalf("create %s: %d %s", a, r.Status, r.Raw)
		}
	}
	var seen []string
	path := "/v3/admin/domains?limit=2"
	for range 5 {
		r := e.Do("GET", path, key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Raw)
		}
		for _, x := range r.List() {
			seen = append(seen, x["domain_address"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/v3/admin/domains?limit=2&page_token=" + next
	}
	slices.Sort(seen) // id order: ids made in one millisecond may sort either way
	if strings.Join(seen, ",") != "agents.example.com,b.example.com,c.example.com" {
		t.Errorf("pages: %v", seen)
	}
	if r := e.Do("GET", "/v3/admin/domains?limit=x", key, nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad limit: %d", r.Status)
	}

	if r := e.Do("DELETE", "/v3/admin/domains/"+id, key2, nil); r.Status != http.StatusNotFound {
		t.Errorf("other application's delete: %d", r.Status)
	}
	if r := e.Do("DELETE", "/v3/admin/domains/"+id, key, nil); r.Status != http.StatusOK {
		t.Errorf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Do("GET", "/v3/admin/domains/"+id, key, nil); r.Status != http.StatusNotFound {
		t.Errorf("get after delete: %d", r.Status)
	}
}
