// Package dnstest is a DNS server on loopback for tests (UDP and TCP on
// one port, github.com/miekg/dns): the tests of provider detection and of
// domain verification ask it instead of the internet. It is imported only
// by tests.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is an in-process DNS server on loopback (UDP and TCP on one
// port) answering from a table of records; unknown names are NXDOMAIN,
// known names without the asked type are NODATA.
type Server struct {
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR      // "name. TYPE" → records
	names   map[string]bool          // names that exist
	rcode   map[string]int           // name → forced rcode (SERVFAIL…)
	delay   map[string]time.Duration // name → delay before answering
	queries map[string]int           // "name. TYPE" → queries seen
	total   int
}

// New starts a server on loopback; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]dns.RR{}, names: map[string]bool{}, rcode: map[string]int{}, delay: map[string]time.Duration{}, queries: map[string]int{}}
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
func (s *Server) Add(t testing.TB, rrs ...string) {
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
func (s *Server) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[dns.Fqdn(strings.ToLower(name))] = rcode
}

// Slow makes every query for name wait d before answering.
func (s *Server) Slow(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[dns.Fqdn(strings.ToLower(name))] = d
}

// Queries returns how many queries of type qtype ("MX") for name were seen.
func (s *Server) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dns.Fqdn(strings.ToLower(name))+" "+qtype]
}

// Total returns how many queries were seen.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
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

// Remove removes every record of type qtype ("TXT") of name; the name
// still exists (NODATA) when it had other records.
func (s *Server) Remove(name, qtype string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, dns.Fqdn(strings.ToLower(name))+" "+qtype)
}

// Clear undoes Fail and Slow for name.
func (s *Server) Clear(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rcode, dns.Fqdn(strings.ToLower(name)))
	delete(s.delay, dns.Fqdn(strings.ToLower(name)))
}
