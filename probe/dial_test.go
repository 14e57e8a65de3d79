package probe

import (
	"net/netip"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestRedirectTargets(t *testing.T) {
	tests := []struct {
		rule   string
		mirror []netip.Addr
		target string
		allow  bool
	}{
		{"a public mirror may redirect to a public address", addrs("192.0.2.10"), "198.51.100.7", true},
		{"a public mirror may redirect to another public IPv6 address", addrs("2001:db8::10"), "2a00:1450:4001:80e::200e", true},
		{"a public mirror may not redirect to loopback", addrs("192.0.2.10"), "127.0.0.1", false},
		{"nor to IPv6 loopback", addrs("2001:db8::10"), "::1", false},
		{"nor to a private address", addrs("192.0.2.10"), "10.255.255.1", false},
		{"nor to 192.168/16", addrs("192.0.2.10"), "192.168.1.1", false},
		{"nor to a unique local IPv6 address", addrs("2001:db8::10"), "fd12::1", false},
		{"nor to carrier-grade NAT space", addrs("192.0.2.10"), "100.64.0.1", false},
		{"nor to link-local", addrs("192.0.2.10"), "169.254.1.1", false},
		{"nor to IPv6 link-local", addrs("2001:db8::10"), "fe80::1", false},
		{"nor to the cloud metadata service", addrs("192.0.2.10"), "169.254.169.254", false},
		{"nor to AWS's IPv6 metadata service", addrs("2001:db8::10"), "fd00:ec2::254", false},
		{"nor to the unspecified address", addrs("192.0.2.10"), "0.0.0.0", false},
		{"nor to multicast", addrs("192.0.2.10"), "224.0.0.1", false},
		{"an IPv4-mapped address is judged as IPv4", addrs("192.0.2.10"), "::ffff:10.0.0.1", false},
		{"a mirror declared on loopback may redirect on loopback", addrs("127.0.0.5"), "127.0.0.9", true},
		{"a mirror declared on a private network may redirect inside private space", addrs("10.1.2.3"), "10.9.9.9", true},
		{"but not to link-local", addrs("10.1.2.3"), "169.254.1.1", false},
		{"and never to the metadata service", addrs("169.254.10.10"), "169.254.169.254", false},
		{"a mirror on loopback may redirect to public addresses", addrs("127.0.0.5"), "198.51.100.7", true},
		{"a mirror's own address is always allowed", addrs("169.254.169.254"), "169.254.169.254", true},
	}
	for _, tc := range tests {
		if got := newAddrPolicy(tc.mirror).allows(netip.MustParseAddr(tc.target)); got != tc.allow {
			t.Errorf("%s: mirror %v, target %s: allowed %v, want %v", tc.rule, tc.mirror, tc.target, got, tc.allow)
		}
	}
}
