package netx

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is how grantd reaches the outside world (the network.* keys of
// grantd's configuration). Every outbound connection to a provider uses it:
// the OAuth providers' HTTP client, IMAP, SMTP, EWS and discovery.
type Config struct {
	// DNSServer is the host:port of the DNS server used for discovery
	// lookups; empty means the system resolver.
	DNSServer string `yaml:"dns_server"`
	// CAFile is a PEM file of extra CA certificates trusted for every
	// outbound TLS connection (providers, IMAP, SMTP, EWS).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one outbound call to a provider.
	Timeout time.Duration `yaml:"timeout"`
	// AllowInsecure permits plaintext IMAP/SMTP/EWS connections (no TLS);
	// meant for loopback test servers only.
	AllowInsecure bool `yaml:"allow_insecure"`
	// AllowPrivateHosts permits connections to hosts a caller chose (IMAP,
	// SMTP and EWS servers, discovery) on loopback, private, link-local,
	// shared and reserved addresses; off, only public addresses are
	// dialled (see Guard).
	AllowPrivateHosts bool `yaml:"allow_private_hosts"`
	// AllowedCIDRs are address ranges permitted although not public (an
	// on-premises Exchange server on a private network), as CIDR prefixes
	// ("10.20.0.0/16", "fd00:1::/64").
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
}

// Guard is the guard of connections to the hosts a caller chose, from
// AllowPrivateHosts and AllowedCIDRs (a prefix that does not parse is
// skipped: config validation refuses it before).
func (c Config) Guard() Guard {
	g := Guard{AllowPrivate: c.AllowPrivateHosts}
	for _, s := range c.AllowedCIDRs {
		if p, err := ParseCIDR(s); err == nil {
			g.Allowed = append(g.Allowed, p)
		}
	}
	return g
}

// ParseCIDR parses an allowed range: a CIDR prefix, or a single address
// (a range of one).
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix (like 10.20.0.0/16) or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix (like 10.20.0.0/16) or an IP address", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: give IPv4 ranges in IPv4 form", s)
	}
	return p.Masked(), nil
}

// DefaultConfig is the network configuration used when nothing is set.
func DefaultConfig() Config { return Config{Timeout: 15 * time.Second, AllowedCIDRs: []string{}} }
