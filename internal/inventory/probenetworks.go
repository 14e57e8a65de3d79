package inventory

import (
	"fmt"
	"net/netip"
)

// NeverProbed lists the networks probe never connects to, whatever a
// mirror declares in probe_networks: no mirror stands there, and the
// cloud instance metadata services (which answer with the machine's
// credentials) do.
var NeverProbed = []NeverProbedNetwork{
	{netip.MustParsePrefix("169.254.0.0/16"), "IPv4 link-local, where cloud metadata services answer (169.254.169.254)"},
	{netip.MustParsePrefix("fe80::/10"), "IPv6 link-local"},
	{netip.MustParsePrefix("100.100.100.200/32"), "Alibaba Cloud's metadata service"},
	{netip.MustParsePrefix("fd00:ec2::/64"), "AWS's IPv6 instance services, metadata at fd00:ec2::254"},
}

// NeverProbedNetwork is one network of [NeverProbed] and what is there.
type NeverProbedNetwork struct {
	Prefix netip.Prefix
	What   string
}

// probeNetworks reads a mirror's probe_networks: CIDR prefixes without
// host bits, in IPv4 form for IPv4, none overlapping [NeverProbed].
func (v *validator) probeNetworks(at, what string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for j, s := range list {
		p := fmt.Sprintf("%s.probe_networks.%d", at, j)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			v.errorf(p, "%s: probe_networks %q is not a CIDR prefix; write the network the mirror is reached on, e.g. \"10.20.0.0/16\" or \"fd12:3456::/48\"", what, s)
			continue
		}
		if pfx.Addr().Is4In6() {
			v.errorf(p, "%s: probe_networks %q is an IPv4-mapped IPv6 prefix, which probe never sees (it judges such addresses as IPv4); write the IPv4 prefix", what, s)
			continue
		}
		if pfx != pfx.Masked() {
			v.errorf(p, "%s: probe_networks %q has host bits set; write %q", what, s, pfx.Masked().String())
			continue
		}
		bad := false
		for _, n := range NeverProbed {
			if pfx.Overlaps(n.Prefix) {
				v.errorf(p, "%s: probe_networks %q covers %s (%s), which probe never connects to, declared or not; remove it, or declare only the mirror's own network, leaving %s out", what, s, n.Prefix, n.What, n.Prefix)
				bad = true
				break
			}
		}
		if !bad {
			out = append(out, pfx)
		}
	}
	return out
}
