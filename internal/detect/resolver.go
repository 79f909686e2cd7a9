package detect

import (
	"context"
	"errors"
	"fmt"
	"github.com/grantd/grantd/internal/netx"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound is returned (wrapped) by a Resolver when the name does not
// exist or has no record of the type asked (NXDOMAIN or NODATA): a
// definite "no", which is cached.
var ErrNotFound = errors.New("no such record")

// Resolver answers the DNS questions of discovery. TTLs are in seconds;
// 0 means unknown. Any error other than ErrNotFound is transient (timeout,
// SERVFAIL, network) and is not cached.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, uint32, error)
	LookupSRV(ctx context.Context, name string) ([]*net.SRV, uint32, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// DNSResolver asks one DNS server directly (github.com/miekg/dns): UDP,
// then TCP when the answer is truncated. It reports record TTLs.
type DNSResolver struct {
	// Server is host:port of a recursive resolver.
	Server string
	// Timeout bounds one exchange (default 2s); the context can cut it
	// shorter.
	Timeout time.Duration
}

func (r *DNSResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	c := &dns.Client{Net: "udp", Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.Server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
		return in, nil
	case dns.RcodeNameError:
		return nil, fmt.Errorf("%s %s: NXDOMAIN: %w", dns.TypeToString[qtype], name, ErrNotFound)
	}
	return nil, fmt.Errorf("%s %s: the DNS server answered %s", dns.TypeToString[qtype], name, dns.RcodeToString[in.Rcode])
}

func minTTL(ttl, v uint32) uint32 {
	if ttl == 0 || v < ttl {
		return v
	}
	return ttl
}

// LookupMX returns the MX records of name, by preference.
func (r *DNSResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, uint32, error) {
	in, err := r.exchange(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, 0, err
	}
	var out []*net.MX
	var ttl uint32
	for _, rr := range in.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
			ttl = minTTL(ttl, mx.Hdr.Ttl)
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("MX %s: no records: %w", name, ErrNotFound)
	}
	sortMX(out)
	return out, ttl, nil
}

// LookupTXT returns the TXT records of name, each one's strings joined
// (RFC 7208 §3.3), for domain verification (internal/domain).
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	in, err := r.exchange(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range in.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("TXT %s: no records: %w", name, ErrNotFound)
	}
	return out, nil
}

// LookupSRV returns the SRV records of name (for example
// "_imaps._tcp.example.com"), by priority.
func (r *DNSResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, uint32, error) {
	in, err := r.exchange(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var out []*net.SRV
	var ttl uint32
	for _, rr := range in.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, &net.SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
			ttl = minTTL(ttl, s.Hdr.Ttl)
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("SRV %s: no records: %w", name, ErrNotFound)
	}
	sortSRV(out)
	return out, ttl, nil
}

// LookupIP returns the IPv4 and IPv6 addresses of host.
func (r *DNSResolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		in, err := r.exchange(ctx, host, t)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, rr := range in.Answer {
			switch a := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					out = append(out, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(a.AAAA); ok {
					out = append(out, ip)
				}
			}
		}
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("A/AAAA %s: no records: %w", host, ErrNotFound)
		}
		return nil, firstErr
	}
	return out, nil
}

// SystemResolver uses net.Resolver (the system's configuration). It
// cannot see TTLs.
type SystemResolver struct {
	R *net.Resolver // nil: net.DefaultResolver
}

func (r *SystemResolver) res() *net.Resolver {
	if r.R != nil {
		return r.R
	}
	return net.DefaultResolver
}

func sysErr(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return err
}

// LookupMX implements Resolver.
func (r *SystemResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, uint32, error) {
	mx, err := r.res().LookupMX(ctx, dns.Fqdn(name))
	if err == nil && len(mx) == 0 {
		err = fmt.Errorf("MX %s: no records: %w", name, ErrNotFound)
	}
	return mx, 0, sysErr(err)
}

// LookupSRV implements Resolver.
func (r *SystemResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, uint32, error) {
	_, srv, err := r.res().LookupSRV(ctx, "", "", dns.Fqdn(name))
	if err == nil && len(srv) == 0 {
		err = fmt.Errorf("SRV %s: no records: %w", name, ErrNotFound)
	}
	return srv, 0, sysErr(err)
}

// LookupTXT returns the TXT records of name.
func (r *SystemResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := r.res().LookupTXT(ctx, dns.Fqdn(name))
	if err == nil && len(txt) == 0 {
		err = fmt.Errorf("TXT %s: no records: %w", name, ErrNotFound)
	}
	return txt, sysErr(err)
}

// LookupIP implements Resolver.
func (r *SystemResolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	// Fully qualified, as MX and SRV: the resolv.conf search list must not
	// turn an attacker's name into an internal one (Kubernetes ndots).
	ips, err := r.res().LookupNetIP(ctx, "ip", dns.Fqdn(host))
	return ips, sysErr(err)
}

func sortMX(mx []*net.MX) {
	for i := 1; i < len(mx); i++ {
		for j := i; j > 0 && mx[j].Pref < mx[j-1].Pref; j-- {
			mx[j], mx[j-1] = mx[j-1], mx[j]
		}
	}
}

// sortSRV orders by priority, then by weight (heaviest first); RFC 2782's
// weighted random choice is not needed to pick a server to show.
func sortSRV(s []*net.SRV) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (s[j].Priority < s[j-1].Priority || s[j].Priority == s[j-1].Priority && s[j].Weight > s[j-1].Weight); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// publicAddr reports whether ip may be contacted during discovery. A
// hostile domain must not make grantd fetch from its own network.
func publicAddr(ip netip.Addr) bool { return netx.Public(ip) }

// trimDot removes the trailing dot of a DNS name and lower-cases it.
func trimDot(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
