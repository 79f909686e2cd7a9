package detect

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNS is an in-process DNS server on loopback (UDP and TCP on one
// port) answering from a table of records; unknown names are NXDOMAIN,
// known names without the asked type are NODATA.
type testDNS struct {
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR      // "name. TYPE" → records
	names   map[string]bool          // names that exist
	rcode   map[string]int           // name → forced rcode (SERVFAIL…)
	delay   map[string]time.Duration // name → delay before answering
	queries map[string]int           // "name. TYPE" → queries seen
	total   int
}

func newTestDNS(t testing.TB) *testDNS {
	t.Helper()
	s := &testDNS{records: map[string][]dns.RR{}, names: map[string]bool{}, rcode: map[string]int{}, delay: map[string]time.Duration{}, queries: map[string]int{}}
	// UDP and TCP on one port: retry while the TCP side of a free UDP
	// port is taken.
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i == 50 {
			t.Fatal(err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// Add adds records in zone-file syntax, e.g. "example.test. 300 IN MX 10 mx.example.test.".
func (s *testDNS) Add(t testing.TB, rrs ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rrs {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("%q: %v", r, err)
		}
		h := rr.Header()
		k := strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype]
		s.records[k] = append(s.records[k], rr)
		s.names[strings.ToLower(h.Name)] = true
	}
}

// Fail makes every query for name answer rcode.
func (s *testDNS) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[dns.Fqdn(strings.ToLower(name))] = rcode
}

// Slow makes every query for name wait d before answering.
func (s *testDNS) Slow(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[dns.Fqdn(strings.ToLower(name))] = d
}

// Queries returns how many queries of type qtype ("MX") for name were seen.
func (s *testDNS) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dns.Fqdn(strings.ToLower(name))+" "+qtype]
}

// Total returns how many queries were seen.
func (s *testDNS) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	k := name + " " + dns.TypeToString[q.Qtype]
	s.mu.Lock()
	s.queries[k]++
	s.total++
	delay, rcode, forced := s.delay[name], s.rcode[name], false
	if _, ok := s.rcode[name]; ok {
		forced = true
	}
	recs, exists := s.records[k], s.names[name]
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	switch {
	case forced:
		m.Rcode = rcode
	case len(recs) > 0:
		m.Answer = append(m.Answer, recs...)
	case !exists:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// tlsServer is a loopback HTTPS server; its client trusts it.
func tlsServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// newTestDetector returns a detector asking dns, with HTTP discovery sent
// to nowhere unless o says otherwise.
func newTestDetector(t testing.TB, dnsSrv *testDNS, o Options) *Detector {
	t.Helper()
	if o.DNSServer == "" && o.Resolver == nil {
		o.DNSServer = dnsSrv.Addr
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.DNSTimeout == 0 {
		o.DNSTimeout = time.Second
	}
	return New(o)
}

// loopbackURLs sends every autoconfig (or autodiscover) request to ts,
// keeping the path and telling the domain in a query parameter.
func loopbackAutoconfig(ts *httptest.Server) func(domain, email string) []string {
	return func(domain, email string) []string {
		q := "&emailaddress=" + url.QueryEscape(email)
		return []string{
			ts.URL + "/mail/config-v1.1.xml?host=autoconfig." + domain + q,
			ts.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?host=" + domain + q,
		}
	}
}

func loopbackAutodiscover(ts *httptest.Server) func(domain string) []string {
	return func(domain string) []string {
		return []string{
			ts.URL + "/autodiscover/autodiscover.xml?host=autodiscover." + domain,
			ts.URL + "/autodiscover/autodiscover.xml?host=" + domain,
		}
	}
}

func autoconfigXML(imapHost string, imapPort int, smtpHost string, smtpPort int) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example">
    <domain>example</domain>
    <incomingServer type="pop3"><hostname>pop.wrong.test</hostname><port>995</port><socketType>SSL</socketType></incomingServer>
    <incomingServer type="imap"><hostname>plain.wrong.test</hostname><port>143</port><socketType>plain</socketType></incomingServer>
    <incomingServer type="imap"><hostname>%s</hostname><port>%d</port><socketType>SSL</socketType></incomingServer>
    <outgoingServer type="smtp"><hostname>%s</hostname><port>%d</port><socketType>STARTTLS</socketType></outgoingServer>
  </emailProvider>
</clientConfig>`, imapHost, imapPort, smtpHost, smtpPort)
}

const autodiscoverXML = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol><Type>EXPR</Type><EwsUrl>https://outside.%[1]s/EWS/Exchange.asmx</EwsUrl></Protocol>
      <Protocol><Type>EXCH</Type><EwsUrl>https://mail.%[1]s/EWS/Exchange.asmx</EwsUrl></Protocol>
    </Account>
  </Response>
</Autodiscover>`
