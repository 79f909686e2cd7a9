package netx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true}, {"1.1.1.1", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"::", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"fd00::1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a9fe:a9fe", false}, {"2002:a9fe:a9fe::1", false}, {"2001:0:1::1", false}, {"240.0.0.1", false},
		{"192.0.2.1", false}, {"2001:db8::1", false},
	} {
		if got := Public(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("Public(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

func TestGuardPermits(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	if (Guard{}).Permits(lo) {
		t.Error("the zero Guard permits loopback")
	}
	if !(Guard{AllowPrivate: true}).Permits(lo) {
		t.Error("AllowPrivate does not permit loopback")
	}
	g := Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	if !g.Permits(netip.MustParseAddr("10.20.3.4")) || !g.Permits(netip.MustParseAddr("::ffff:10.20.3.4")) {
		t.Error("an allowed range is refused")
	}
	if g.Permits(netip.MustParseAddr("10.21.3.4")) || g.Permits(lo) {
		t.Error("an address outside the allowed ranges is permitted")
	}
	if !g.Permits(netip.MustParseAddr("8.8.8.8")) {
		t.Error("a public address is refused")
	}
}

// TestGuardDialer connects for real: the guarded dialer refuses a loopback
// listener by the address it resolved (a name, "localhost", passes no
// check of its own), and says nothing of the address.
func TestGuardDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := Guard{}.Dialer(net.Dialer{})
	_, err = d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	if !errors.Is(err, ErrNotPublic) {
		t.Fatalf("guarded dial of localhost: %v, want ErrNotPublic", err)
	}
	for _, s := range []string{"127.0.0.1", "localhost", port} {
		if strings.Contains(ErrNotPublic.Error(), s) {
			t.Errorf("the refusal repeats %q", s)
		}
	}
	c, err := Guard{AllowPrivate: true}.Dialer(net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("AllowPrivate dial: %v", err)
	}
	c.Close()
	c, err = Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Dialer(net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial in an allowed range: %v", err)
	}
	c.Close()
}

// network.allow_private_hosts and network.allowed_cidrs make the guard of
// the connections to hosts a caller chose.
func TestConfigGuard(t *testing.T) {
	if g := (Config{}).Guard(); g.AllowPrivate || len(g.Allowed) != 0 || g.Permits(netip.MustParseAddr("169.254.169.254")) {
		t.Errorf("the default guard permits more than public addresses: %+v", g)
	}
	if !(Config{AllowPrivateHosts: true}).Guard().Permits(netip.MustParseAddr("127.0.0.1")) {
		t.Error("allow_private_hosts does not permit loopback")
	}
	g := Config{AllowedCIDRs: []string{"10.20.0.0/16", " 192.168.1.7 ", "fd00:1::/64", "10.30.1.2/8"}}.Guard()
	for _, c := range []struct {
		ip string
		ok bool
	}{
		{"10.20.9.9", true}, {"192.168.1.7", true}, {"192.168.1.8", false}, {"fd00:1::5", true}, {"fd00:2::5", false},
		{"10.99.0.1", true}, // 10.30.1.2/8 is the range 10.0.0.0/8
		{"127.0.0.1", false}, {"169.254.169.254", false}, {"8.8.8.8", true},
	} {
		if got := g.Permits(netip.MustParseAddr(c.ip)); got != c.ok {
			t.Errorf("allowed_cidrs: Permits(%s) = %v, want %v", c.ip, got, c.ok)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "mail.internal", "::ffff:10.0.0.0/104"} {
		if _, err := ParseCIDR(bad); err == nil {
			t.Errorf("ParseCIDR(%q) accepted", bad)
		}
	}
}
