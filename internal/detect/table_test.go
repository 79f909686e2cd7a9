package detect

import (
	"context"
	"fmt"
	"github.com/grantd/grantd/internal/emailaddr"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
)

func TestEmbeddedTableIsValid(t *testing.T) {
	tb, err := ParseTable(providersJSON)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range tb.Entries {
		ids[e.ID] = true
		if len(e.Domains) == 0 && len(e.MX) == 0 {
			t.Errorf("%s: neither domains nor MX patterns", e.ID)
		}
	}
	// The minimum coverage.
	for _, id := range []string{"google", "microsoft", "yahoo", "aol", "icloud", "zoho", "fastmail", "gmx", "yandex", "mailru", "protonmail"} {
		if !ids[id] {
			t.Errorf("the table lacks %s", id)
		}
	}
	for domain, want := range map[string]string{
		"gmail.com": "google", "googlemail.com": "google", "outlook.com": "microsoft", "hotmail.com": "microsoft",
		"hotmail.co.uk": "microsoft", "hotmail.fr": "microsoft", "live.com": "microsoft", "msn.com": "microsoft",
		"yahoo.com": "yahoo", "aol.com": "aol", "icloud.com": "icloud", "me.com": "icloud", "mac.com": "icloud",
		"zoho.com": "zoho", "fastmail.com": "fastmail", "fastmail.fm": "fastmail", "gmx.com": "gmx", "gmx.net": "gmx_de",
		"yandex.ru": "yandex", "mail.ru": "mailru", "inbox.ru": "mailru", "list.ru": "mailru", "bk.ru": "mailru",
		"proton.me": "protonmail", "protonmail.com": "protonmail",
	} {
		if e := tb.ByDomain(domain); e == nil || e.ID != want {
			t.Errorf("ByDomain(%s) = %v, want %s", domain, e, want)
		}
	}
}

func TestParseTableRejects(t *testing.T) {
	base := `{"id":"a","provider":"imap","type":"a","imap":{"host":"imap.a.test","port":993},"smtp":{"host":"smtp.a.test","port":465}`
	for name, doc := range map[string]string{
		"duplicate domain":    `{"providers":[` + base + `,"domains":["a.test"]},{"id":"b","provider":"google","domains":["a.test"]}]}`,
		"duplicate id":        `{"providers":[` + base + `,"domains":["a.test"]},{"id":"a","provider":"google","domains":["b.test"]}]}`,
		"wildcard":            `{"providers":[` + base + `,"domains":["hotmail.*"]}]}`,
		"bare tld":            `{"providers":[` + base + `,"domains":["com"]}]}`,
		"merged domains":      `{"providers":[` + base + `,"domains":["live.com.arlive.com.au "]}]}`,
		"unknown provider":    `{"providers":[{"id":"x","provider":"eas","domains":["x.test"]}]}`,
		"unknown field":       `{"providers":[` + base + `,"domain":["a.test"]}]}`,
		"imap without server": `{"providers":[{"id":"x","provider":"imap","domains":["x.test"]}]}`,
		"bad port":            `{"providers":[{"id":"x","provider":"imap","domains":["x.test"],"imap":{"host":"i.x.test","port":0},"smtp":{"host":"s.x.test","port":1}}]}`,
		"no provider":         `{"providers":[{"id":"x","provider":"","domains":["x.test"]}]}`,
		"duplicate mx":        `{"providers":[` + base + `,"mx":["m.test"]},{"id":"b","provider":"google","mx":["M.test"]}]}`,
		"empty":               `{"providers":[]}`,
	} {
		if _, err := ParseTable([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEveryTableEntry checks detection for every domain and every MX
// pattern of every entry of the embedded table, and the servers found.
func TestEveryTableEntry(t *testing.T) {
	srv := newTestDNS(t)
	d := newTestDetector(t, srv, Options{})
	ctx := context.Background()
	tb := d.Table()
	n := 0
	for _, ent := range tb.Entries {
		check := func(t *testing.T, email, by string) {
			t.Helper()
			r, err := d.Detect(ctx, email, nil, true)
			if err != nil {
				t.Fatalf("%s: %v", email, err)
			}
			if r.Match != ent.ID || r.DetectedBy != by {
				t.Fatalf("%s: match %q by %q, want %s by %s (%s)", email, r.Match, r.DetectedBy, ent.ID, by, r.Reason)
			}
			if ent.Provider == "" {
				if r.Detected || r.Provider != "" || r.Type != "" {
					t.Errorf("%s: %s must not be detected as a provider: %+v", email, ent.ID, r)
				}
				if _, err := d.FindMailServers(ctx, email); provider.ClassOf(err) != provider.ClassBadRequest {
					t.Errorf("%s: FindMailServers: %v, want a bad request", email, err)
				}
				return
			}
			if !r.Detected || r.Provider != ent.Provider {
				t.Errorf("%s: detected=%v provider %q, want %s", email, r.Detected, r.Provider, ent.Provider)
			}
			wantType := ""
			if ent.Provider == "imap" { // (only when the answer is imap: the reference)
				wantType = ent.Type
			}
			if r.Type != wantType {
				t.Errorf("%s: type %q, want %q", email, r.Type, wantType)
			}
			if r.AppPasswordRequired != ent.AppPasswordRequired || r.Settings != ent.settings() {
				t.Errorf("%s: %+v", email, r)
			}
			if ent.IMAP != nil {
				ms, err := d.FindMailServers(ctx, email)
				if err != nil || ms.IMAPHost != ent.IMAP.Host || ms.IMAPPort != ent.IMAP.Port || ms.SMTPHost != ent.SMTP.Host || ms.SMTPPort != ent.SMTP.Port || ms.Source != by {
					t.Errorf("%s: FindMailServers = %+v, %v", email, ms, err)
				}
			}
			ews, err := d.FindEWS(ctx, email)
			if ent.EWS != "" && (err != nil || ews != ent.EWS) {
				t.Errorf("%s: FindEWS = %q, %v", email, ews, err)
			}
			if ent.EWS == "" && provider.ClassOf(err) != provider.ClassBadRequest {
				t.Errorf("%s: FindEWS = %q, %v; want a bad request", email, ews, err)
			}
		}
		t.Run(ent.ID, func(t *testing.T) {
			for _, dom := range ent.Domains {
				check(t, "someone@"+dom, ByKnownDomain)
				check(t, "Some.One+tag@"+strings.ToUpper(dom), ByKnownDomain)
				check(t, "someone@eu.mail."+dom, ByKnownDomain) // a subdomain, on a dot boundary
				n += 3
			}
			for i, pat := range ent.MX {
				custom := fmt.Sprintf("custom-%s-%d.test", strings.ReplaceAll(ent.ID, "_", "-"), i)
				srv.Add(t, custom+". 300 IN MX 10 unrelated.example.net.", custom+". 300 IN MX 20 mx1."+pat+".")
				check(t, "someone@"+custom, ByMX)
				// The pattern itself is a valid MX host too.
				exact := fmt.Sprintf("exact-%s-%d.test", strings.ReplaceAll(ent.ID, "_", "-"), i)
				srv.Add(t, exact+". 300 IN MX 10 "+pat+".")
				check(t, "someone@"+exact, ByMX)
				n += 2
			}
		})
	}
	t.Logf("%d detections over %d entries", n, len(tb.Entries))
}

func TestDotBoundary(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "mx-evil.test. 300 IN MX 10 aspmx.l.google.com.evil.test.", "mx-evil2.test. 300 IN MX 10 evilgoogle.com.")
	d := newTestDetector(t, srv, Options{})
	for _, email := range []string{
		"a@notgmail.com", "a@gmail.com.evil.test", "a@xgmail.com", "a@mx-evil.test", "a@mx-evil2.test", "a@live.com.arlive.com.au",
	} {
		r, err := d.Detect(context.Background(), email, nil, true)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if r.Detected || r.Match != "" {
			t.Errorf("%s: detected as %s by %s (%s)", email, r.Match, r.DetectedBy, r.Reason)
		}
	}
	// The most specific MX pattern wins whatever the table order: AOL is
	// hosted on yahoodns.net.
	srv.Add(t, "aolhosted.test. 300 IN MX 10 mx-aol.mail.gm0.yahoodns.net.", "yahoohosted.test. 300 IN MX 10 mta5.am0.yahoodns.net.")
	for email, want := range map[string]string{"a@aolhosted.test": "aol", "a@yahoohosted.test": "yahoo"} {
		r, err := d.Detect(context.Background(), email, nil, true)
		if err != nil || r.Match != want {
			t.Errorf("%s: %+v, %v; want %s", email, r, err, want)
		}
	}
}

func TestIDNDomains(t *testing.T) {
	tb, err := ParseTable([]byte(`{"providers":[{"id":"buecher","provider":"imap","type":"buecher","domains":["Bücher.example"],
		"imap":{"host":"imap.xn--bcher-kva.example","port":993},"smtp":{"host":"smtp.xn--bcher-kva.example","port":465}},
		{"id":"puny","provider":"imap","type":"puny","domains":["xn--mnchen-3ya.example"],"mx":["mx.bücher-mail.example"],
		"imap":{"host":"imap.puny.example","port":993},"smtp":{"host":"smtp.puny.example","port":465}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestDNS(t)
	mxHost, err := emailaddr.DomainToASCII("in.mx.bücher-mail.example")
	if err != nil || !strings.HasPrefix(mxHost, "in.mx.xn--") {
		t.Fatal(mxHost, err)
	}
	srv.Add(t, "xn--caf-dma.test. 300 IN MX 10 "+mxHost+".")
	d := newTestDetector(t, srv, Options{Table: tb})
	for email, want := range map[string]string{
		"a@bücher.example": "buecher", "a@BÜCHER.example": "buecher", "a@xn--bcher-kva.example": "buecher", "a@XN--BCHER-KVA.EXAMPLE": "buecher",
		"a@münchen.example": "puny", "a@xn--mnchen-3ya.example": "puny",
		"ü@café.test": "puny", "a@xn--caf-dma.test": "puny",
	} {
		r, err := d.Detect(context.Background(), email, nil, true)
		if err != nil || r.Match != want {
			t.Errorf("%s: %+v, %v; want %s", email, r, err, want)
		}
	}
	if got := srv.Queries("xn--caf-dma.test", "MX"); got != 1 {
		t.Errorf("the IDN was asked %d times in punycode, want 1 (both forms share one cache entry)", got)
	}
}

// TestWithServers: the copy has the given servers wherever the table has
// servers, finds entries by id, domain and MX as the table does, and the
// table itself (provider detection's) keeps its real servers.
func TestWithServers(t *testing.T) {
	tb := DefaultTable()
	imap, smtp := Server{Host: "127.0.0.1", Port: 40143}, Server{Host: "127.0.0.1", Port: 40587}
	c := tb.WithServers(imap, smtp)
	for _, id := range []string{"yahoo", "aol", "microsoft"} {
		e, orig := c.ByID(id), tb.ByID(id)
		if e == nil || *e.IMAP != imap || *e.SMTP != smtp {
			t.Errorf("%s in the copy: %+v", id, e)
		}
		if orig.IMAP.Host == imap.Host || orig.SMTP.Host == smtp.Host || orig == e {
			t.Errorf("%s: the table itself changed: %+v %+v", id, orig.IMAP, orig.SMTP)
		}
	}
	if e := c.ByDomain("yahoo.com"); e == nil || e.ID != "yahoo" || *e.IMAP != imap {
		t.Errorf("ByDomain(yahoo.com) in the copy: %+v", e)
	}
	if e, _ := c.ByMX("mx-aol.mail.gm0.yahoodns.net"); e == nil || e.ID != "aol" || *e.IMAP != imap {
		t.Errorf("ByMX in the copy: %+v", e)
	}
	if e := c.ByID("protonmail"); e == nil || e.IMAP != nil || e.SMTP != nil {
		t.Errorf("an entry without servers got some: %+v", e)
	}
	if e := tb.ByDomain("yahoo.com"); e.IMAP.Host != "imap.mail.yahoo.com" {
		t.Errorf("the table's yahoo.com: %+v", e.IMAP)
	}
}
