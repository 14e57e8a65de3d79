package probe

import (
	"net/netip"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// TestAddressPolicy checks where a check may connect: global unicast
// addresses always, other addresses only where the mirror declares them
// (or, for the origin, its own), link-local and metadata never.
func TestAddressPolicy(t *testing.T) {
	mirror := func(networks ...string) *addrPolicy {
		return mirrorPolicy(&inventory.Mirror{ProbeNetworks: prefixes(networks...)})
	}
	tests := []struct {
		rule     string
		policy   *addrPolicy
		target   string
		redirect bool
		allow    bool
	}{
		{"a global address", mirror(), "151.101.2.132", false, true},
		{"a global IPv6 address", mirror(), "2a00:1450:4001:80e::200e", false, true},
		{"a global address a redirect leads to", mirror(), "151.101.2.132", true, true},
		{"not loopback", mirror(), "127.0.0.1", false, false},
		{"nor IPv6 loopback", mirror(), "::1", false, false},
		{"nor 10/8", mirror(), "10.255.255.1", false, false},
		{"nor 172.16/12", mirror(), "172.16.0.1", false, false},
		{"nor 192.168/16", mirror(), "192.168.1.1", false, false},
		{"nor a unique local IPv6 address", mirror(), "fd12::1", false, false},
		{"nor carrier-grade NAT space", mirror(), "100.64.0.1", false, false},
		{"nor documentation addresses", mirror(), "192.0.2.10", false, false},
		{"nor IPv6 documentation addresses", mirror(), "2001:db8::10", false, false},
		{"nor benchmarking space", mirror(), "198.18.0.1", false, false},
		{"nor reserved space", mirror(), "240.0.0.1", false, false},
		{"nor link-local", mirror(), "169.254.1.1", false, false},
		{"nor IPv6 link-local", mirror(), "fe80::1", false, false},
		{"nor the cloud metadata service", mirror(), "169.254.169.254", false, false},
		{"nor AWS's IPv6 metadata service", mirror(), "fd00:ec2::254", false, false},
		{"nor Alibaba's", mirror(), "100.100.100.200", false, false},
		{"nor the unspecified address", mirror(), "0.0.0.0", false, false},
		{"nor 'this network'", mirror(), "0.1.2.3", false, false},
		{"nor multicast", mirror(), "224.0.0.1", false, false},
		{"nor broadcast", mirror(), "255.255.255.255", false, false},
		{"an IPv4-mapped address is judged as IPv4", mirror(), "::ffff:10.0.0.1", false, false},
		{"a NAT64 address by the IPv4 address in it", mirror(), "64:ff9b::a9fe:a9fe", false, false},
		{"a 6to4 address by the IPv4 address in it", mirror(), "2002:a00:1::1", false, false},
		{"a NAT64 address of a global one is global", mirror(), "64:ff9b::9765:284", false, true},
		{"a declared private network", mirror("10.20.0.0/16"), "10.20.0.5", false, true},
		{"a redirect inside it", mirror("10.20.0.0/16"), "10.20.9.9", true, true},
		{"but not outside it", mirror("10.20.0.0/16"), "10.21.0.1", false, false},
		{"declared loopback, as tests do", mirror("127.0.0.0/8", "::1/128"), "::1", false, true},
		{"declaring loopback does not open link-local", mirror("127.0.0.0/8"), "169.254.169.254", false, false},
		{"the origin's own address", originPolicy(addrs("10.1.2.3")), "10.1.2.3", false, true},
		{"but not where a redirect of the origin's leads", originPolicy(addrs("10.1.2.3")), "10.1.2.3", true, false},
		{"nor another private address", originPolicy(addrs("10.1.2.3")), "10.1.2.4", false, false},
		{"never the origin's own metadata address", originPolicy(addrs("169.254.169.254")), "169.254.169.254", false, false},
	}
	for _, tc := range tests {
		if got := tc.policy.check(netip.MustParseAddr(tc.target), tc.redirect) == nil; got != tc.allow {
			t.Errorf("%s: %s: allowed %v, want %v", tc.rule, tc.target, got, tc.allow)
		}
	}
}

// TestForbiddenMessages: a refusal names the address and what it is, and
// says how to allow what can be allowed.
func TestForbiddenMessages(t *testing.T) {
	tests := []struct {
		policy *addrPolicy
		target string
		want   string
	}{
		{mirrorPolicy(&inventory.Mirror{}), "169.254.169.254", "refused to connect to 169.254.169.254 (a cloud metadata address), where the host name resolves: probe never connects there"},
		{mirrorPolicy(&inventory.Mirror{}), "10.0.0.1", "refused to connect to 10.0.0.1 (a private address), where the host name resolves: it is in none of the mirror's probe_networks; declare the mirror's network there if it really stands on one"},
		{originPolicy(addrs("10.0.0.1")), "127.0.0.1", "refused to connect to 127.0.0.1 (a loopback address), where the host name resolves: only global addresses and the origin's own are reached"},
	}
	for _, tc := range tests {
		if err := tc.policy.check(netip.MustParseAddr(tc.target), false); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %s", tc.target, err, tc.want)
		}
	}
}
