package api_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
)

// zoneDNS is a loopback DNS server (UDP) answering from zone-file lines;
// unknown names are NXDOMAIN and names listed in servfail fail.
type zoneDNS struct {
	addr     string
	mu       sync.Mutex
	rrs      map[string][]dns.RR
	names    map[string]bool
	servfail map[string]bool
	queries  int
}

func startZoneDNS(t *testing.T, servfail []string, zone ...string) *zoneDNS {
	t.Helper()
	z := &zoneDNS{rrs: map[string][]dns.RR{}, names: map[string]bool{}, servfail: map[string]bool{}}
	for _, n := range servfail {
		z.servfail[dns.Fqdn(n)] = true
	}
	for _, line := range zone {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatal(err)
		}
		h := rr.Header()
		z.rrs[h.Name+" "+dns.TypeToString[h.Rrtype]] = append(z.rrs[h.Name+" "+dns.TypeToString[h.Rrtype]], rr)
		z.names[h.Name] = true
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

func (z *zoneDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	z.mu.Lock()
	z.queries++
	rrs, exists, fail := z.rrs[name+" "+dns.TypeToString[q.Qtype]], z.names[name], z.servfail[name]
	z.mu.Unlock()
	switch {
	case fail:
		m.Rcode = dns.RcodeServerFailure
	case len(rrs) > 0:
		m.Answer = rrs
	case !exists:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

func (z *zoneDNS) count() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries
}

func detectEnv(t *testing.T) (*apitest.Env, *zoneDNS, string) {
	t.Helper()
	z := startZoneDNS(t, []string{"broken.test"},
		"m365-customer.test. 3600 IN MX 0 m365-customer-test.mail.protection.outlook.com.",
		"workspace.test. 3600 IN MX 1 aspmx.l.google.com.",
		"selfhosted.test. 3600 IN MX 10 mx.selfhosted.test.",
		"_imaps._tcp.selfhosted.test. 3600 IN SRV 0 1 993 imap.selfhosted.test.",
		"_submissions._tcp.selfhosted.test. 3600 IN SRV 0 1 465 smtp.selfhosted.test.",
	)
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) { c.Network.DNSServer = z.addr }})
	_, key := e.App("detect")
	return e, z, key
}

func detectPath(email string, extra ...string) string {
	q := url.Values{}
	q.Set("email", email)
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/v3/providers/detect?" + q.Encode()
}

func TestDetectProviderKnownDomains(t *testing.T) {
	e, z, key := detectEnv(t)
	type want struct {
		detected bool
		provider string
		typ      string
	}
	// The application has no connector yet.
	for email, w := range map[string]want{
		"someone@gmail.com":   {true, "google", ""},
		"someone@hotmail.fr":  {true, "microsoft", ""},
		"someone@icloud.com":  {true, "icloud", ""}, // type only for imap answers
		"someone@me.com":      {true, "icloud", ""},
		"someone@aol.com":     {true, "imap", "aol"},
		"someone@fastmail.fm": {true, "imap", "fastmail"},
		"someone@proton.me":   {false, "", ""},
	} {
		r := e.Do("POST", detectPath(email, "all_provider_types", "true"), key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", email, r.Status, r.Raw)
		}
		d := r.Data()
		if r.Body["request_id"] != r.Header.Get("x-request-id") || d["email_address"] != email || d["detected"] != w.detected {
			t.Errorf("%s: %s", email, r.Raw)
		}
		if p, _ := d["provider"].(string); p != w.provider {
			t.Errorf("%s: provider %q, want %q: %s", email, p, w.provider, r.Raw)
		}
		if ty, _ := d["type"].(string); ty != w.typ {
			t.Errorf("%s: type %q, want %q: %s", email, ty, w.typ, r.Raw)
		}
		if d["detected_by"] != "known_domain" {
			t.Errorf("%s: detected_by: %s", email, r.Raw)
		}
	}
	r := e.Do("POST", detectPath("someone@gmail.com", "all_provider_types", "true"), key, nil)
	if s, _ := r.Data()["settings"].(map[string]any); s["imap_host"] != "imap.gmail.com" || s["imap_port"] != 993.0 || s["smtp_host"] != "smtp.gmail.com" {
		t.Errorf("settings: %s", r.Raw)
	}

	// Without all_provider_types only providers with a connector count.
	r = e.Do("POST", detectPath("someone@gmail.com"), key, nil)
	if d := r.Data(); r.Status != http.StatusOK || d["detected"] != false || d["provider"] != nil || !strings.Contains(d["reason"].(string), "no connector for google") {
		t.Errorf("no connector: %d %s", r.Status, r.Raw)
	}
	e.OAuthConnector(key, "google")
	for _, q := range [][]string{nil, {"all_provider_types", "false"}} {
		r = e.Do("POST", detectPath("someone@gmail.com", q...), key, nil)
		if d := r.Data(); d["detected"] != true || d["provider"] != "google" || d["type"] != nil {
			t.Errorf("with a google connector (%v): %s", q, r.Raw)
		}
	}
	// An IMAP connector serves IMAP families, with their type.
	if r := e.Do("POST", "/v3/connectors", key, map[string]any{"provider": "imap", "name": "IMAP"}); r.Status != http.StatusCreated {
		t.Fatalf("imap connector: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", detectPath("someone@yahoo.com"), key, nil)
	if d := r.Data(); d["detected"] != true || d["provider"] != "imap" || d["type"] != "yahoo" || d["app_password_required"] != true {
		t.Errorf("yahoo over imap: %s", r.Raw)
	}
	if z.count() != 0 {
		t.Errorf("known domains made %d DNS queries", z.count())
	}
}

func TestDetectProviderDiscovery(t *testing.T) {
	e, _, key := detectEnv(t)
	cases := []struct {
		email, provider, by string
	}{
		{"ceo@m365-customer.test", "microsoft", "mx"},
		{"ceo@workspace.test", "google", "mx"},
		{"ceo@selfhosted.test", "imap", "srv"},
	}
	for _, c := range cases {
		r := e.Do("POST", detectPath(c.email, "all_provider_types", "true"), key, nil)
		d := r.Data()
		if r.Status != http.StatusOK || d["detected"] != true || d["provider"] != c.provider || d["detected_by"] != c.by {
			t.Errorf("%s: %d %s", c.email, r.Status, r.Raw)
		}
	}
	r := e.Do("POST", detectPath("ceo@selfhosted.test", "all_provider_types", "true"), key, nil)
	if s, _ := r.Data()["settings"].(map[string]any); s["imap_host"] != "imap.selfhosted.test" || s["smtp_port"] != 465.0 {
		t.Errorf("srv settings: %s", r.Raw)
	}
	r = e.Do("POST", detectPath("ceo@unknown-domain.test", "all_provider_types", "true"), key, nil)
	if d := r.Data(); r.Status != http.StatusOK || d["detected"] != false || d["provider"] != nil || d["reason"] == nil {
		t.Errorf("unknown domain: %d %s", r.Status, r.Raw)
	}
	r = e.Do("POST", detectPath("ceo@broken.test", "all_provider_types", "true"), key, nil)
	if r.Status != http.StatusGatewayTimeout || r.ErrType() != "api.provider_error" || !strings.Contains(r.ErrMessage(), "SERVFAIL") {
		t.Errorf("SERVFAIL: %d %s", r.Status, r.Raw)
	}
}

func TestDetectProviderBadInput(t *testing.T) {
	e, z, key := detectEnv(t)
	for path, want := range map[string]string{
		"/v3/providers/detect":                                      "email is required",
		"/v3/providers/detect?email=":                               "email is required",
		"/v3/providers/detect?all_provider_types=true":              "email is required",
		detectPath("not-an-email"):                                  "not an email address",
		detectPath("user@"):                                         "not an email address",
		detectPath("user@example"):                                  "no dot",
		detectPath("User <user@example.com>"):                       "bare address",
		detectPath("user@example.com\r\nX-Injected: 1"):             "control character",
		detectPath("user\x00@example.com"):                          "NUL byte",
		detectPath(strings.Repeat("a", 10<<10) + "@example.com"):    "10252 bytes long",
		detectPath(strings.Repeat("a", 300) + "@example.com"):       "local part",
		detectPath("user@[192.0.2.1]"):                              "address literal",
		detectPath("user@gmail.com", "all_provider_types", "maybe"): "all_provider_types must be true or false",
		"/v3/providers/detect?email=a@gmail.com&email=b@gmail.com":  "given 2 times",
	} {
		r := e.Do("POST", path, key, nil)
		if r.Status != http.StatusBadRequest || r.ErrType() != "api.invalid_request_error" || !strings.Contains(r.ErrMessage(), want) {
			t.Errorf("%.80s: %d %.300s; want a 400 saying %q", path, r.Status, r.Raw, want)
		}
	}
	if z.count() != 0 {
		t.Errorf("bad input made %d DNS queries", z.count())
	}
	if r := e.Do("POST", detectPath("someone@gmail.com"), "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no key: %d", r.Status)
	}
	if r := e.Do("GET", detectPath("someone@gmail.com"), key, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.Status)
	}
}
