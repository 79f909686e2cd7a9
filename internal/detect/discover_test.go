package detect

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/grantd/grantd/internal/provider"
)

func detectAll(t *testing.T, d *Detector, email string) Result {
	t.Helper()
	r, err := d.Detect(context.Background(), email, nil, true)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return r
}

func TestCustomDomainsByMX(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t,
		"workspace.test. 3600 IN MX 1 aspmx.l.google.com.",
		"workspace.test. 3600 IN MX 5 alt1.aspmx.l.google.com.",
		"newworkspace.test. 3600 IN MX 1 smtp.google.com.",
		"m365.test. 3600 IN MX 0 m365-test.mail.protection.outlook.com.",
		"m365new.test. 3600 IN MX 0 m365new-test.r-v1.mx.microsoft.",
		"selfhosted.test. 3600 IN MX 10 mx.selfhosted.test.",
	)
	d := newTestDetector(t, srv, Options{})
	for email, want := range map[string]string{
		"ceo@workspace.test": "google", "ceo@newworkspace.test": "google", "ceo@m365.test": "microsoft", "ceo@m365new.test": "microsoft",
	} {
		r := detectAll(t, d, email)
		if !r.Detected || r.Provider != want || r.DetectedBy != ByMX || !strings.Contains(r.Reason, "MX ") {
			t.Errorf("%s: %+v", email, r)
		}
	}
	ews, err := d.FindEWS(context.Background(), "ceo@m365.test")
	if err != nil || ews != "https://outlook.office365.com/EWS/Exchange.asmx" {
		t.Errorf("FindEWS(m365) = %q, %v", ews, err)
	}
	r := detectAll(t, d, "ceo@selfhosted.test")
	if r.Detected || !strings.Contains(r.Reason, "mx.selfhosted.test matches no known provider") {
		t.Errorf("selfhosted: %+v", r)
	}
}

func TestSRV(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t,
		"srv.test. 300 IN MX 10 mx.srv.test.",
		"_imaps._tcp.srv.test. 600 IN SRV 0 1 993 imap.srv.test.",
		"_imap._tcp.srv.test. 600 IN SRV 0 1 143 plainimap.srv.test.",
		"_submission._tcp.srv.test. 600 IN SRV 0 1 587 smtp.srv.test.",
		// Only STARTTLS IMAP; submissions wins over submission; "." means not offered.
		"srv2.test. 300 IN MX 10 mx.srv2.test.",
		"_imaps._tcp.srv2.test. 600 IN SRV 0 0 0 .",
		"_imap._tcp.srv2.test. 600 IN SRV 10 1 143 imap-b.srv2.test.",
		"_imap._tcp.srv2.test. 600 IN SRV 5 1 143 imap-a.srv2.test.",
		"_submission._tcp.srv2.test. 600 IN SRV 0 1 587 smtp.srv2.test.",
		"_submissions._tcp.srv2.test. 600 IN SRV 0 1 465 smtps.srv2.test.",
	)
	d := newTestDetector(t, srv, Options{})
	r := detectAll(t, d, "a@srv.test")
	want := Settings{IMAPHost: "imap.srv.test", IMAPPort: 993, SMTPHost: "smtp.srv.test", SMTPPort: 587}
	if !r.Detected || r.Provider != "imap" || r.DetectedBy != BySRV || r.Settings != want || r.Type != "" {
		t.Errorf("srv.test: %+v", r)
	}
	ms, err := d.FindMailServers(context.Background(), "b@srv.test")
	if err != nil || ms.IMAPHost != "imap.srv.test" || ms.SMTPPort != 587 || ms.Source != BySRV {
		t.Errorf("FindMailServers: %+v %v", ms, err)
	}
	r = detectAll(t, d, "a@srv2.test")
	want = Settings{IMAPHost: "imap-a.srv2.test", IMAPPort: 143, SMTPHost: "smtps.srv2.test", SMTPPort: 465}
	if r.Settings != want {
		t.Errorf("srv2.test: %+v", r.Settings)
	}
}

func TestNXDOMAINAndNegativeCache(t *testing.T) {
	srv := newTestDNS(t)
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	d := newTestDetector(t, srv, Options{Now: clock, NegativeTTL: time.Minute})
	r := detectAll(t, d, "a@nowhere.test")
	if r.Detected || r.DetectedBy != "" || !strings.Contains(r.Reason, "MX: no such name") {
		t.Fatalf("nowhere: %+v", r)
	}
	if n := srv.Queries("nowhere.test", "MX"); n != 1 {
		t.Fatalf("MX queries %d", n)
	}
	_, err := d.FindMailServers(context.Background(), "a@nowhere.test")
	if provider.ClassOf(err) != provider.ClassBadRequest || !strings.Contains(err.Error(), "imap_host and smtp_host") {
		t.Errorf("FindMailServers: %v", err)
	}
	advance(59 * time.Second)
	detectAll(t, d, "b@nowhere.test")
	if n := srv.Queries("nowhere.test", "MX"); n != 1 {
		t.Errorf("negative answer not cached: %d MX queries", n)
	}
	advance(2 * time.Second)
	detectAll(t, d, "c@nowhere.test")
	if n := srv.Queries("nowhere.test", "MX"); n != 2 {
		t.Errorf("negative answer cached too long: %d MX queries", n)
	}
}

func TestTTLExpiry(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "ttl.test. 120 IN MX 1 aspmx.l.google.com.", "short.test. 1 IN MX 1 aspmx.l.google.com.")
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	d := newTestDetector(t, srv, Options{Now: clock, MinTTL: 30 * time.Second})
	for range 3 {
		detectAll(t, d, "a@ttl.test")
		detectAll(t, d, "a@short.test")
	}
	if srv.Queries("ttl.test", "MX") != 1 || srv.Queries("short.test", "MX") != 1 {
		t.Fatal("not cached")
	}
	advance(29 * time.Second) // short.test's 1s TTL is raised to MinTTL
	detectAll(t, d, "a@short.test")
	if n := srv.Queries("short.test", "MX"); n != 1 {
		t.Errorf("short.test: %d queries before MinTTL", n)
	}
	advance(2 * time.Second)
	detectAll(t, d, "a@short.test")
	if n := srv.Queries("short.test", "MX"); n != 2 {
		t.Errorf("short.test: %d queries after MinTTL", n)
	}
	advance(88 * time.Second) // 119s
	detectAll(t, d, "a@ttl.test")
	if n := srv.Queries("ttl.test", "MX"); n != 1 {
		t.Errorf("ttl.test re-asked within its TTL: %d", n)
	}
	advance(2 * time.Second) // 121s
	detectAll(t, d, "a@ttl.test")
	if n := srv.Queries("ttl.test", "MX"); n != 2 {
		t.Errorf("ttl.test not re-asked after its TTL: %d", n)
	}
}

func TestSERVFAILIsTransientAndNotCached(t *testing.T) {
	srv := newTestDNS(t)
	srv.Fail("broken.test", dns.RcodeServerFailure)
	d := newTestDetector(t, srv, Options{})
	for i := 1; i <= 2; i++ {
		_, err := d.Detect(context.Background(), "a@broken.test", nil, true)
		if provider.ClassOf(err) != provider.ClassUnavailable || !strings.Contains(err.Error(), "SERVFAIL") {
			t.Fatalf("Detect: %v", err)
		}
		if n := srv.Queries("broken.test", "MX"); n != i {
			t.Errorf("try %d: %d MX queries (a failure must not be cached)", i, n)
		}
	}
	_, err := d.FindMailServers(context.Background(), "a@broken.test")
	if provider.ClassOf(err) != provider.ClassUnavailable || !strings.Contains(err.Error(), "imap_host") {
		t.Errorf("FindMailServers: %v", err)
	}
}

func TestSlowDNSTimesOut(t *testing.T) {
	srv := newTestDNS(t)
	srv.Slow("slow.test", 2*time.Second)
	d := newTestDetector(t, srv, Options{DNSTimeout: 150 * time.Millisecond, Timeout: 600 * time.Millisecond})
	start := time.Now()
	_, err := d.Detect(context.Background(), "a@slow.test", nil, true)
	el := time.Since(start)
	if provider.ClassOf(err) != provider.ClassUnavailable || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Detect: %v", err)
	}
	if el > time.Second {
		t.Errorf("took %v; the step timeout is 150ms and the deadline 600ms", el)
	}
	// The caller's own deadline is honoured too.
	d = newTestDetector(t, srv, Options{DNSTimeout: 5 * time.Second, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = d.Detect(ctx, "a@slow.test", nil, true)
	if provider.ClassOf(err) != provider.ClassUnavailable || time.Since(start) > time.Second {
		t.Errorf("caller deadline: %v after %v", err, time.Since(start))
	}
}

func TestNullMXAndReservedNames(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "nomail.test. 300 IN MX 0 .")
	d := newTestDetector(t, srv, Options{})
	r := detectAll(t, d, "a@nomail.test")
	if r.Detected || !strings.Contains(r.Reason, "null MX") {
		t.Errorf("null MX: %+v", r)
	}
	before := srv.Total()
	for _, email := range []string{"a@nowhere.invalid", "a@host.localhost", "a@printer.local", "a@x.onion"} {
		r := detectAll(t, d, email)
		if r.Detected || !strings.Contains(r.Reason, "special-use") {
			t.Errorf("%s: %+v", email, r)
		}
		if _, err := d.FindEWS(context.Background(), email); provider.ClassOf(err) != provider.ClassBadRequest {
			t.Errorf("%s: FindEWS %v", email, err)
		}
	}
	if srv.Total() != before {
		t.Errorf("special-use names were looked up: %d queries", srv.Total()-before)
	}
}

func TestAutoconfig(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "ac.test. 300 IN MX 10 mx.ac.test.", "wk.test. 300 IN MX 10 mx.wk.test.",
		"half.test. 300 IN MX 10 mx.half.test.", "_imaps._tcp.half.test. 300 IN SRV 0 0 993 imap.half.test.")
	var seen sync.Map
	ts := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Query().Get("host")
		seen.Store(r.URL.Path+" "+host, r.URL.Query().Get("emailaddress"))
		switch {
		case r.URL.Path == "/mail/config-v1.1.xml" && host == "autoconfig.ac.test":
			fmt.Fprint(w, autoconfigXML("imap.%EMAILDOMAIN%", 993, "smtp.ac.test", 587))
		case r.URL.Path == "/mail/config-v1.1.xml" && host == "autoconfig.wk.test":
			fmt.Fprint(w, "<html>not xml")
		case r.URL.Path == "/.well-known/autoconfig/mail/config-v1.1.xml" && host == "wk.test":
			fmt.Fprint(w, autoconfigXML("imap.wk.test", 993, "smtp.wk.test", 465))
		case host == "autoconfig.half.test":
			fmt.Fprint(w, autoconfigXML("imap.other.test", 993, "smtp.half.test", 465))
		default:
			http.NotFound(w, r)
		}
	})
	d := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AllowPrivateNetworks: true, AutoconfigURLs: loopbackAutoconfig(ts)})
	r := detectAll(t, d, "Ann@ac.test")
	if want := (Settings{IMAPHost: "imap.ac.test", IMAPPort: 993, SMTPHost: "smtp.ac.test", SMTPPort: 587}); !r.Detected || r.Provider != "imap" || r.DetectedBy != ByAutoconfig || r.Settings != want {
		t.Errorf("ac.test: %+v", r)
	}
	if v, _ := seen.Load("/mail/config-v1.1.xml autoconfig.ac.test"); v != "Ann@ac.test" {
		t.Errorf("emailaddress sent: %v", v)
	}
	if strings.Contains(r.Reason, "Ann@") {
		t.Errorf("the reason leaks the address: %s", r.Reason)
	}
	r = detectAll(t, d, "a@wk.test")
	if !r.Detected || r.DetectedBy != ByAutoconfig || r.Settings.IMAPHost != "imap.wk.test" || !strings.Contains(r.Reason, ".well-known") {
		t.Errorf("wk.test: %+v", r)
	}
	// SRV gave IMAP; autoconfig fills in only the missing SMTP server.
	r = detectAll(t, d, "a@half.test")
	if want := (Settings{IMAPHost: "imap.half.test", IMAPPort: 993, SMTPHost: "smtp.half.test", SMTPPort: 465}); r.DetectedBy != BySRV || r.Settings != want {
		t.Errorf("half.test: %+v", r)
	}
}

func TestAutoconfigRefusesPrivateAddresses(t *testing.T) {
	srv := newTestDNS(t)
	var hits atomic.Int32
	ts := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, autoconfigXML("imap.internal.test", 993, "smtp.internal.test", 465))
	})
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	// A hostile domain points its autoconfig host at loopback.
	srv.Add(t, "evil.test. 300 IN MX 10 mx.evil.test.", "autoconfig.evil.test. 300 IN A 10.1.2.3")
	urls := func(domain, _ string) []string {
		return []string{"https://autoconfig." + domain + ":" + port + "/mail/config-v1.1.xml", ts.URL + "/direct"}
	}
	d := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AutoconfigURLs: urls})
	r := detectAll(t, d, "a@evil.test")
	if r.Detected || hits.Load() != 0 || !strings.Contains(r.Reason, "not a public address") {
		t.Errorf("%+v, %d hits", r, hits.Load())
	}
	// The reason, shown to API callers, does not map internal names to
	// addresses.
	if strings.Contains(r.Reason, "10.1.2.3") {
		t.Errorf("the reason shows an internal address: %s", r.Reason)
	}

	// network.allowed_cidrs (AllowedNetworks): a permitted range is
	// dialled, others still are not.
	lo := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AutoconfigURLs: func(string, string) []string { return []string{ts.URL + "/direct"} },
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if r := detectAll(t, lo, "a@evil.test"); !r.Detected || hits.Load() != 1 {
		t.Errorf("autoconfig on an allowed range: %+v, %d hits", r, hits.Load())
	}
	other := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AutoconfigURLs: func(string, string) []string { return []string{ts.URL + "/direct"} },
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if r := detectAll(t, other, "b@evil.test"); r.Detected || hits.Load() != 1 {
		t.Errorf("autoconfig outside the allowed ranges: %+v, %d hits", r, hits.Load())
	}
}

// Addresses that route to IPv4 through IPv6 translation are not public.
func TestPublicAddrTranslated(t *testing.T) {
	for _, a := range []string{"64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:7f00:1::1", "2001:0:4136:e378::1", "::127.0.0.1", "fec0::1", "100::1", "10.1.2.3", "::ffff:169.254.169.254"} {
		if publicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as public", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"} {
		if !publicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s does not count as public", a)
		}
	}
}

func TestAutodiscover(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "exch.test. 300 IN MX 10 mx.exch.test.", "redir.test. 300 IN MX 10 mx.redir.test.")
	var body atomic.Value
	var tsURL string
	ts := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Query().Get("host")
		if r.Method != http.MethodPost || r.URL.Path != "/autodiscover/autodiscover.xml" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		switch host {
		case "exch.test": // the second URL; the first (autodiscover.exch.test) answers 401
			fmt.Fprintf(w, autodiscoverXML, "exch.test")
		case "autodiscover.redir.test":
			fmt.Fprintf(w, `<Autodiscover><Response><Account><Action>redirectUrl</Action><RedirectUrl>%s/autodiscover/autodiscover.xml?host=final</RedirectUrl></Account></Response></Autodiscover>`, tsURL)
		case "final":
			fmt.Fprintf(w, autodiscoverXML, "redir.test")
		default:
			w.Header().Set("WWW-Authenticate", "NTLM")
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	tsURL = ts.URL
	d := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AllowPrivateNetworks: true, AutodiscoverURLs: loopbackAutodiscover(ts)})
	ews, err := d.FindEWS(context.Background(), "bob@exch.test")
	if err != nil || ews != "https://mail.exch.test/EWS/Exchange.asmx" {
		t.Fatalf("FindEWS = %q, %v", ews, err)
	}
	if b, _ := body.Load().(string); !strings.Contains(b, "<EMailAddress>bob@exch.test</EMailAddress>") {
		t.Errorf("request body: %s", b)
	}
	r := detectAll(t, d, "bob@exch.test")
	if !r.Detected || r.Provider != "ews" || r.DetectedBy != ByAutodiscover || r.Settings.EWSURL != ews || r.Type != "" {
		t.Errorf("Detect: %+v", r)
	}
	ews, err = d.FindEWS(context.Background(), "bob@redir.test")
	if err != nil || ews != "https://mail.redir.test/EWS/Exchange.asmx" {
		t.Errorf("redirect: %q, %v", ews, err)
	}
	_, err = d.FindEWS(context.Background(), "bob@gmail.com")
	if provider.ClassOf(err) != provider.ClassBadRequest {
		t.Errorf("gmail: %v", err)
	}
	// A fixed Autodiscover URL (providers.ews.autodiscover_url) skips MX and SRV.
	fixed := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AllowPrivateNetworks: true, AutodiscoverURL: ts.URL + "/autodiscover/autodiscover.xml?host=final"})
	before := srv.Total()
	ews, err = fixed.FindEWS(context.Background(), "bob@anything.example")
	if err != nil || ews != "https://mail.redir.test/EWS/Exchange.asmx" || srv.Total() != before {
		t.Errorf("fixed URL: %q, %v, %d DNS queries", ews, err, srv.Total()-before)
	}
}

func TestConnectorFilter(t *testing.T) {
	d := New(Options{Resolver: failResolver{}})
	ctx := context.Background()
	has := func(ps ...string) func(string) (bool, error) {
		return func(p string) (bool, error) {
			for _, x := range ps {
				if x == p {
					return true, nil
				}
			}
			return false, nil
		}
	}
	cases := []struct {
		email    string
		conns    []string
		detected bool
		prov     string
		typ      string
	}{
		{"a@gmail.com", []string{"google"}, true, "google", ""},
		{"a@gmail.com", []string{"imap"}, true, "imap", "google"},
		{"a@gmail.com", []string{"google", "imap"}, true, "google", ""},
		{"a@gmail.com", nil, false, "", ""},
		{"a@icloud.com", []string{"icloud"}, true, "icloud", ""}, // type only for imap
		{"a@icloud.com", []string{"imap", "google"}, true, "imap", "icloud"},
		{"a@yahoo.com", []string{"yahoo"}, true, "yahoo", ""},
		{"a@yahoo.com", []string{"imap"}, true, "imap", "yahoo"},
		{"a@aol.com", []string{"imap"}, true, "imap", "aol"},
		{"a@aol.com", []string{"yahoo"}, false, "", ""},
		{"a@outlook.com", []string{"imap", "ews"}, false, "", ""},
		{"a@proton.me", []string{"imap"}, false, "", ""},
	}
	for _, c := range cases {
		r, err := d.Detect(ctx, c.email, has(c.conns...), false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Detected != c.detected || r.Provider != c.prov || r.Type != c.typ || r.DetectedBy != ByKnownDomain {
			t.Errorf("%s with %v: %+v", c.email, c.conns, r)
		}
		if !r.Detected && !strings.Contains(r.Reason, "connector") && c.email != "a@proton.me" {
			t.Errorf("%s: the reason should name the missing connector: %s", c.email, r.Reason)
		}
	}
	if _, err := d.Detect(ctx, "a@gmail.com", func(string) (bool, error) { return false, io.ErrUnexpectedEOF }, false); err != io.ErrUnexpectedEOF {
		t.Errorf("connector error: %v", err)
	}
	if _, err := d.Detect(ctx, "not an email", nil, true); provider.ClassOf(err) != provider.ClassBadRequest {
		t.Errorf("bad email: %v", err)
	}
}

func TestSingleflight(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "flight.test. 300 IN MX 1 aspmx.l.google.com.")
	srv.Slow("flight.test", 200*time.Millisecond)
	// No cache: only the single flight can make the lookups one.
	d := newTestDetector(t, srv, Options{CacheSize: -1})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.Detect(context.Background(), fmt.Sprintf("user%d@flight.test", i), nil, true)
			if err == nil && r.Provider != "google" {
				err = fmt.Errorf("%+v", r)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := srv.Queries("flight.test", "MX"); q != 1 {
		t.Errorf("%d concurrent detections made %d MX queries, want 1", n, q)
	}
	if d.cache.len() != 0 {
		t.Errorf("cache disabled but holds %d", d.cache.len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv := newTestDNS(t)
	d := newTestDetector(t, srv, Options{CacheSize: 3})
	for i := range 10 {
		srv.Add(t, fmt.Sprintf("c%d.test. 300 IN MX 1 aspmx.l.google.com.", i))
		detectAll(t, d, fmt.Sprintf("a@c%d.test", i))
	}
	if d.cache.len() != 3 {
		t.Errorf("cache holds %d, cap 3", d.cache.len())
	}
	// The most recent stay; the oldest were evicted.
	detectAll(t, d, "a@c9.test")
	detectAll(t, d, "a@c0.test")
	if srv.Queries("c9.test", "MX") != 1 || srv.Queries("c0.test", "MX") != 2 {
		t.Errorf("LRU: c9 %d, c0 %d queries", srv.Queries("c9.test", "MX"), srv.Queries("c0.test", "MX"))
	}
}

// failResolver fails every lookup, to prove no lookup happens.
type failResolver struct{}

func (failResolver) LookupMX(_ context.Context, name string) ([]*net.MX, uint32, error) {
	return nil, 0, fmt.Errorf("unexpected MX lookup of %s", name)
}

func (failResolver) LookupSRV(_ context.Context, name string) ([]*net.SRV, uint32, error) {
	return nil, 0, fmt.Errorf("unexpected SRV lookup of %s", name)
}

func (failResolver) LookupIP(_ context.Context, host string) ([]netip.Addr, error) {
	return nil, fmt.Errorf("unexpected lookup of %s", host)
}

// Discovery servers that hang past the whole discovery's deadline give a
// 504 ("retry later"), and a retry is not answered from a cache with a
// definite "not found" for what was only slow.
func TestHangingDiscoveryIsNotCached(t *testing.T) {
	srv := newTestDNS(t)
	srv.Add(t, "slow.test. 300 IN MX 10 mx.slow.test.")
	release := make(chan struct{})
	ts := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	d := newTestDetector(t, srv, Options{HTTPClient: ts.Client(), AllowPrivateNetworks: true,
		Timeout: 400 * time.Millisecond, HTTPTimeout: 300 * time.Millisecond,
		AutoconfigURLs: loopbackAutoconfig(ts), AutodiscoverURLs: loopbackAutodiscover(ts)})
	for i := range 3 { // (the mail flight, then the Autodiscover one, each cut short)
		_, err := d.Detect(context.Background(), "a@slow.test", nil, true)
		if provider.ClassOf(err) != provider.ClassUnavailable {
			t.Fatalf("attempt %d: %v; want provider_unavailable", i+1, err)
		}
		time.Sleep(500 * time.Millisecond) // the background flight ends
	}
}
