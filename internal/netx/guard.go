package netx

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// ErrNotPublic is the error of a connection a Guard refused. Its message
// names neither the host nor the address: callers show it to API clients,
// who must not learn how internal names resolve.
var ErrNotPublic = errors.New("the server's address is not a public internet address (loopback, private, link-local, shared or reserved addresses are refused)")

// Guard decides which addresses grantd may connect to when a caller
// chose the host (IMAP, SMTP and EWS servers, discovery, webhook URLs):
// a hostile caller must not turn grantd into a scanner of the networks it
// runs in. The zero Guard permits public addresses only.
type Guard struct {
	// AllowPrivate permits every address.
	AllowPrivate bool
	// Allowed are ranges permitted although not public (an on-premises
	// Exchange server on a private network, say).
	Allowed []netip.Prefix
}

// Permits reports whether the guard lets a connection go to ip.
func (g Guard) Permits(ip netip.Addr) bool {
	if g.AllowPrivate || Public(ip) {
		return true
	}
	ip = ip.Unmap()
	for _, p := range g.Allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function: it runs after the host name
// was resolved, on the very address about to be connected to, so a name
// that resolves to a public address when checked and to a private one when
// used (DNS rebinding) is refused all the same.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !g.Permits(ip) {
		return ErrNotPublic
	}
	return nil
}

// Dialer returns a copy of d whose connections the guard checks.
func (g Guard) Dialer(d net.Dialer) *net.Dialer {
	if !g.AllowPrivate {
		d.Control = g.Control
	}
	return &d
}

// Public reports whether ip is a public internet address: not loopback,
// private, link-local, shared (CGNAT), unspecified, multicast, reserved
// or an IPv6 form that reaches an IPv4 address through translation.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	// IPv6 forms that carry or route to an IPv4 address (NAT64, 6to4,
	// Teredo, IPv4-compatible), the old site-local range, documentation
	// and the discard prefix: on a network that translates them they reach
	// any IPv4 address, 169.254.169.254 included.
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("100::/64"),
}
