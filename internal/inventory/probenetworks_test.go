package inventory

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestProbeNetworks checks the probe_networks key: which networks a
// mirror may declare that probe reaches it on besides global unicast
// addresses, and the place and fix of every refusal.
func TestProbeNetworks(t *testing.T) {
	accepted := []struct {
		rule string
		doc  string
		want []string
	}{
		{"no key: none", base, nil},
		{"a private network", add(`probe_networks = ["10.20.0.0/16"]` + "\n"), []string{"10.20.0.0/16"}},
		{"loopback, IPv4 and IPv6, as tests and the demo run", add(`probe_networks = ["127.0.0.0/8", "::1/128"]` + "\n"), []string{"127.0.0.0/8", "::1/128"}},
		{"a unique local IPv6 network beside AWS's", add(`probe_networks = ["fd12:3456::/32"]` + "\n"), []string{"fd12:3456::/32"}},
		{"carrier-grade NAT space short of Alibaba's metadata address", add(`probe_networks = ["100.64.0.0/11"]` + "\n"), []string{"100.64.0.0/11"}},
	}
	for _, tc := range accepted {
		inv, err := parse(t, tc.doc)
		if err != nil {
			t.Errorf("%s: %v", tc.rule, err)
			continue
		}
		var got []string
		for _, p := range inv.Mirrors[0].ProbeNetworks {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: probe networks %v, want %v", tc.rule, got, tc.want)
		}
	}

	refused := []struct {
		rule string
		doc  string
		at   string
		want []string
	}{
		{"link-local is never probed, even declared", add(`probe_networks = ["169.254.0.0/16"]` + "\n"), `"169.254.0.0/16"`,
			[]string{`[[mirror]] "a.example.net": probe_networks "169.254.0.0/16" covers 169.254.0.0/16`, "cloud metadata", "never connects to", "remove it"}},
		{"nor the metadata address alone", add(`probe_networks = ["10.0.0.0/8", "169.254.169.254/32"]` + "\n"), `"169.254.169.254/32"`,
			[]string{`probe_networks "169.254.169.254/32" covers 169.254.0.0/16`}},
		{"nor a network around link-local", add(`probe_networks = ["0.0.0.0/0"]` + "\n"), `"0.0.0.0/0"`,
			[]string{`probe_networks "0.0.0.0/0" covers 169.254.0.0/16`, "declare only the mirror's own network"}},
		{"nor IPv6 link-local", add(`probe_networks = ["fe80::/64"]` + "\n"), `"fe80::/64"`,
			[]string{`covers fe80::/10 (IPv6 link-local)`}},
		{"nor all of IPv6", add(`probe_networks = ["::/0"]` + "\n"), `"::/0"`,
			[]string{`covers fe80::/10`}},
		{"nor CGNAT space around Alibaba's metadata service", add(`probe_networks = ["100.64.0.0/10"]` + "\n"), `"100.64.0.0/10"`,
			[]string{`covers 100.100.100.200/32 (Alibaba Cloud's metadata service)`, "leaving 100.100.100.200/32 out"}},
		{"nor the unique local block around AWS's IPv6 metadata", add(`probe_networks = ["fd00::/8"]` + "\n"), `"fd00::/8"`,
			[]string{`covers fd00:ec2::/64 (AWS's IPv6 instance services`}},
		{"not a prefix", add(`probe_networks = ["10.20.0.0"]` + "\n"), `"10.20.0.0"`,
			[]string{`probe_networks "10.20.0.0" is not a CIDR prefix; write the network the mirror is reached on, e.g. "10.20.0.0/16"`}},
		{"host bits", add(`probe_networks = ["10.20.1.1/16"]` + "\n"), `"10.20.1.1/16"`,
			[]string{`probe_networks "10.20.1.1/16" has host bits set; write "10.20.0.0/16"`}},
		{"IPv4-mapped", add(`probe_networks = ["::ffff:10.0.0.0/104"]` + "\n"), `"::ffff:10.0.0.0/104"`,
			[]string{`is an IPv4-mapped IPv6 prefix`, "write the IPv4 prefix"}},
		{"not a list", add(`probe_networks = "10.20.0.0/16"` + "\n"), `"10.20.0.0/16"`,
			[]string{`probe_networks must be an array of strings`}},
	}
	for _, tc := range refused {
		_, err := parse(t, tc.doc)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Errorf("%s: got %v, want one error", tc.rule, err)
			continue
		}
		line, col := position(t, tc.doc, tc.at)
		if prefix := fmt.Sprintf("mirrors.toml:%d:%d: ", line, col); !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%s: error does not start with %q:\n%v", tc.rule, prefix, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not contain %q:\n%v", tc.rule, w, err)
			}
		}
	}
}

// TestNeverProbedCoversTheMetadataServices: every cloud metadata address
// probe knows of is in a never-probed network.
func TestNeverProbedCoversTheMetadataServices(t *testing.T) {
	for _, s := range []string{"169.254.169.254", "169.254.170.2", "169.254.0.23", "100.100.100.200", "fd00:ec2::254", "fe80::a9fe:a9fe"} {
		a := netip.MustParseAddr(s)
		if !slices.ContainsFunc(NeverProbed, func(n NeverProbedNetwork) bool { return n.Prefix.Contains(a) }) {
			t.Errorf("%s is not in NeverProbed", a)
		}
	}
}
