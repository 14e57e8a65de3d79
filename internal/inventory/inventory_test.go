package inventory

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// loadShipped loads the example inventory at the root of the repository,
// which must always load.
func loadShipped(t *testing.T) *Inventory {
	t.Helper()
	inv, err := Load("../../mirrors.toml")
	if err != nil {
		t.Fatalf("the shipped mirrors.toml does not load:\n%v", err)
	}
	return inv
}

func TestShippedInventory(t *testing.T) {
	inv := loadShipped(t)
	if got := len(inv.Mirrors); got != 42 {
		t.Errorf("%d mirrors, want 42", got)
	}
	if got := len(inv.Variants()); got != 17 {
		t.Errorf("%d variants, want 17", got)
	}
	n := inv.Network
	if n.Name != "Example Linux" || n.Origin != "https://origin.example.org/pub/example/" || n.Stamp != "TIME" || n.MaxLag != 12*time.Hour {
		t.Errorf("network = %+v", n)
	}
	p := inv.Policy
	if p.Min != 5 || p.Max != 10 || p.BandKm != 500 || p.ASNMaxKm != 500 {
		t.Errorf("policy = min %d max %d band_km %v asn_max_km %v, want 5 10 500 500", p.Min, p.Max, p.BandKm, p.ASNMaxKm)
	}
	if got, want := p.Neighbours["NZ"], []country.Code{"AU", "SG", "JP"}; !slices.Equal(got, want) {
		t.Errorf("neighbours of NZ = %v, want %v", got, want)
	}
	if got := len(p.Neighbours); got != 10 {
		t.Errorf("%d countries with neighbours, want 10", got)
	}
	first := inv.Mirrors[0]
	if first.Name != "ftp.de.example.net" {
		t.Errorf("first mirror = %q, want the first in the file", first.Name)
	}
	if got := inv.Mirrors[len(inv.Mirrors)-1].Name; got != "mirror.nbo.example.ke" {
		t.Errorf("last mirror = %q, want the last in the file", got)
	}
	if got := inv.ASNs(); !slices.IsSorted(got) || !slices.Contains(got, 16509) || len(got) != len(slices.Compact(slices.Clone(got))) {
		t.Errorf("ASNs() = %v, want every declared ASN once, ascending", got)
	}
}

func TestShippedDefaults(t *testing.T) {
	inv := loadShipped(t)
	m := inv.Mirror("mirror.telekom.example.de") // declares neither weight nor public
	if m == nil {
		t.Fatal("mirror.telekom.example.de not found")
	}
	if m.Weight != 100 {
		t.Errorf("weight = %d, want the default 100", m.Weight)
	}
	if !m.Public {
		t.Error("public = false, want the default true")
	}
	if !slices.Equal(m.ASNs, []uint32{3209, 3320}) {
		t.Errorf("ASNs = %v, want [3209 3320] (sorted)", m.ASNs)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8:3320::/48")}
	if !slices.Equal(m.Subnets, wantNets) {
		t.Errorf("subnets = %v, want %v", m.Subnets, wantNets)
	}
	if m.MaxLag != 0 || inv.LagLimit(m) != 12*time.Hour {
		t.Errorf("max_lag = %v, limit %v; want none and the network's 12h", m.MaxLag, inv.LagLimit(m))
	}
	if got := inv.Mirror("ftp.de.example.net"); got.Weight != 200 || got.Sponsor == "" || got.SponsorURL != "https://www.example-uni-berlin.de/" {
		t.Errorf("ftp.de.example.net = %+v", got)
	}
	if got := inv.Mirror("no.such.mirror"); got != nil {
		t.Errorf("Mirror(unknown) = %v, want nil", got)
	}
}

func TestShippedPrivateMirror(t *testing.T) {
	inv := loadShipped(t)
	var private []string
	for _, m := range inv.Mirrors {
		if !m.Public {
			private = append(private, m.Name)
		}
	}
	if want := []string{"mirror.internal.example-cloud.net"}; !slices.Equal(private, want) {
		t.Fatalf("private mirrors = %v, want %v", private, want)
	}
	m := inv.Mirror(private[0])
	if m.Weight != 1000 || !slices.Equal(m.ASNs, []uint32{16509}) || len(m.Subnets) != 2 {
		t.Errorf("private mirror = weight %d ASNs %v subnets %v", m.Weight, m.ASNs, m.Subnets)
	}
	if m.URL(HTTP) != "http://mirror.internal.example-cloud.net/example/" || m.URL(HTTPS) != "" {
		t.Errorf("URLs = %v, want http only", m.URLs)
	}
	if got := m.Host(HTTP); got != "mirror.internal.example-cloud.net" {
		t.Errorf("Host(http) = %q", got)
	}
	if got := m.Host(HTTPS); got != "" {
		t.Errorf("Host(https) = %q, want \"\" for an undeclared protocol", got)
	}
	if !m.HasCoord || m.Continent() != country.NorthAmerica {
		t.Errorf("coord %v (declared %v), continent %v", m.Coord, m.HasCoord, m.Continent())
	}
}

func TestShippedDNS(t *testing.T) {
	inv := loadShipped(t)
	d := inv.DNS
	if d == nil {
		t.Fatal("no [dns]")
	}
	if d.Zone != "example.org." || d.TTL != 60 {
		t.Errorf("zone %q ttl %d, want example.org. 60", d.Zone, d.TTL)
	}
	wantNames := []DNSName{{"download", HTTPS}, {"download-http", HTTP}}
	if !slices.Equal(d.Names, wantNames) {
		t.Errorf("names = %v, want %v (sorted by label)", d.Names, wantNames)
	}
	if len(d.NS) != 2 {
		t.Fatalf("ns = %v, want 2", d.NS)
	}
	wantNS := []NameServer{
		{"ns1.example.org.", []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}},
		{"ns2.example.org.", []netip.Addr{netip.MustParseAddr("198.51.100.53")}},
	}
	for i, ns := range d.NS {
		if ns.Name != wantNS[i].Name || !slices.Equal(ns.Addrs, wantNS[i].Addrs) {
			t.Errorf("ns[%d] = %v, want %v (fully qualified, sorted)", i, ns, wantNS[i])
		}
	}
	if got := inv.Mirror("mirror.vie.example.at").DNS; !slices.Equal(got, []string{"download-http"}) {
		t.Errorf("dns of the http-only mirror = %v, want [download-http]", got)
	}
}

func TestNSNames(t *testing.T) {
	doc := edit(`ns = { ns1 = ["192.0.2.53"] }`, `ns = { NS1 = ["192.0.2.53"], "ns.example.net." = [], "ns2.Example.NET." = ["2001:db8::53"] }`)
	inv, err := parse(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ns := range inv.DNS.NS {
		got = append(got, ns.Name)
	}
	// Relative names get the zone; names out of zone need no glue.
	if want := []string{"ns.example.net.", "ns1.example.org.", "ns2.example.net."}; !slices.Equal(got, want) {
		t.Errorf("ns = %v, want %v", got, want)
	}
}

func TestVariants(t *testing.T) {
	inv := loadShipped(t)
	tests := []struct {
		repo, release, arch string
		path, dir           string
	}{
		{"baseos", "9", "x86_64", "9/BaseOS/x86_64/os/", "baseos/9/x86_64"},
		{"appstream", "10", "aarch64", "10/AppStream/aarch64/os/", "appstream/10/aarch64"},
		{"debian", "stable", "amd64", "debian/", "debian/stable/amd64"},
		{"arch", "", "x86_64", "archlinux/$repo/os/$arch", "arch/x86_64"},
		{"isos", "9", "aarch64", "9/isos/aarch64/", "isos/9/aarch64"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			r := inv.Repo(tt.repo)
			if r == nil {
				t.Fatalf("no repo %q", tt.repo)
			}
			v := Variant{Repo: r, Release: tt.release, Arch: tt.arch}
			if !slices.Contains(r.Variants(), v) {
				t.Errorf("%v is not among the repo's variants", v)
			}
			if got := v.Path(); got != tt.path {
				t.Errorf("Path() = %q, want %q", got, tt.path)
			}
			if got := v.Dir(); got != tt.dir {
				t.Errorf("Dir() = %q, want %q", got, tt.dir)
			}
		})
	}

	plain := &Repo{Name: "tools", Path: "tools/"}
	if vs := plain.Variants(); len(vs) != 1 {
		t.Errorf("a repo without releases and archs has %d variants, want 1", len(vs))
	} else if vs[0].Path() != "tools/" || vs[0].Dir() != "tools" {
		t.Errorf("its variant has path %q and dir %q, want tools/ and tools", vs[0].Path(), vs[0].Dir())
	}

	// Releases outer, archs inner, in file order.
	var got []string
	for _, v := range inv.Repo("baseos").Variants() {
		got = append(got, v.Dir())
	}
	if want := []string{"baseos/9/x86_64", "baseos/9/aarch64", "baseos/10/x86_64", "baseos/10/aarch64"}; !slices.Equal(got, want) {
		t.Errorf("variants of baseos = %v, want %v", got, want)
	}
}

func TestCarries(t *testing.T) {
	inv := loadShipped(t)
	variant := func(repo, release, arch string) Variant {
		return Variant{Repo: inv.Repo(repo), Release: release, Arch: arch}
	}
	tests := []struct {
		name    string
		mirror  string
		variant Variant
		want    bool
	}{
		{"no repos or archs key: carries everything", "mirror.telekom.example.de", variant("debian", "testing", "arm64"), true},
		{"listed repo", "mirror.hamburg.example.com", variant("isos", "10", "aarch64"), true},
		{"repo not listed", "mirror.hamburg.example.com", variant("debian", "stable", "amd64"), false},
		{"listed arch", "de.mirror.example.io", variant("baseos", "9", "x86_64"), true},
		{"arch not listed", "de.mirror.example.io", variant("baseos", "9", "aarch64"), false},
		{"arch list does not apply to a variant without arch", "de.mirror.example.io", Variant{Repo: &Repo{Name: "baseos"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := inv.Mirror(tt.mirror)
			if got := m.Carries(tt.variant); got != tt.want {
				t.Errorf("%s carries %s: %v, want %v", tt.mirror, tt.variant.Dir(), got, tt.want)
			}
		})
	}
}

func TestLagLimit(t *testing.T) {
	inv, err := parse(t, add("max_lag = \"90m\"\n"+mirrorB))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.LagLimit(inv.Mirror("a.example.net")); got != 90*time.Minute {
		t.Errorf("a mirror's own max_lag: limit %v, want 1h30m", got)
	}
	if got := inv.LagLimit(inv.Mirror("b.example.net")); got != 12*time.Hour {
		t.Errorf("no max_lag: limit %v, want the network's 12h", got)
	}
}
