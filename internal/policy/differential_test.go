package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// randomNetwork writes an inventory of n mirrors in a few countries (so
// that countries hold several and bands several), some with coordinates,
// ASNs shared between mirrors, subnets nested and overlapping, private
// mirrors, neighbour lists, and random policy knobs.
func randomNetwork(t testing.TB, r *rand.Rand, n int) *inventory.Inventory {
	t.Helper()
	ccs := []string{"DE", "FR", "NL", "US", "BR", "JP", "AU", "ZA", "KE", "IL", "TN", "EG", "XK", "NZ", "SG"}
	var b strings.Builder
	fmt.Fprintf(&b, `[network]
name = "Random"
origin = "https://origin.test/pub/"
stamp = "TIME"
max_lag = "6h"

[[repo]]
name = "r"
path = "r/"
format = "files"

[policy]
min = %d
max = %d
band_km = %d
asn_max_km = %d
neighbours = { NZ = ["AU", "SG"], EG = ["IL", "TN"], XK = ["DE"] }
`, 1+r.IntN(5), 5+r.IntN(8), []int{0, 100, 500, 3000}[r.IntN(4)], []int{200, 500, 2000}[r.IntN(3)])
	for i := range n {
		cc := ccs[r.IntN(len(ccs))]
		fmt.Fprintf(&b, "\n[[mirror]]\nname = \"m%d\"\nhttps = \"https://m%d.test/\"\nweight = %d\n", i, i, []int{1, 50, 100, 100, 100, 200, 1000}[r.IntN(7)])
		// One mirror in 8 has no country (unplaced, or placed by its
		// lat/lon alone), as imported inventories have.
		if r.IntN(8) != 0 {
			fmt.Fprintf(&b, "country = %q\n", cc)
		}
		if r.IntN(2) == 0 {
			p, _ := country.Code(cc).Coord()
			fmt.Fprintf(&b, "lat = %.3f\nlon = %.3f\n", p.Lat+r.Float64()*6-3, p.Lon+r.Float64()*6-3)
		}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, "asn = [%d]\n", 64500+r.IntN(4))
		}
		if r.IntN(6) == 0 {
			fmt.Fprintf(&b, "subnets = [\"10.%d.0.0/16\", \"10.%d.%d.0/24\", \"2001:db8:%x::/48\"]\n", r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3))
		}
		if r.IntN(8) == 0 {
			b.WriteString("public = false\n")
		}
	}
	inv, err := inventory.Parse("random.toml", []byte(b.String()), t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return inv
}

// randomSnapshot marks about a quarter of the endpoints unhealthy.
func randomSnapshot(r *rand.Rand, inv *inventory.Inventory) *state.Snapshot {
	snap := &state.Snapshot{Mirrors: map[string]*state.Mirror{}}
	for _, m := range inv.Mirrors {
		sm := &state.Mirror{}
		for _, f := range inventory.Families {
			sm.Endpoints = append(sm.Endpoints, state.Endpoint{Protocol: inventory.HTTPS, Family: f, Healthy: r.IntN(4) != 0})
		}
		snap.Mirrors[m.Name] = sm
	}
	return snap
}

func randomClient(r *rand.Rand) Client {
	var c Client
	c.Family = inventory.Families[r.IntN(2)]
	c.Key = r.Uint64()
	switch r.IntN(4) {
	case 0:
		c.Addr = netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(3)), byte(r.IntN(256))})
	case 1:
		c.Addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(r.IntN(3)), 9: 1})
	case 2:
		c.Addr = netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(256))})
	}
	if r.IntN(3) > 0 {
		c.ASN = uint32(64500 + r.IntN(5))
	}
	switch r.IntN(6) {
	case 0, 1:
		c.Country = country.Code([]string{"DE", "FR", "US", "NZ", "EG", "XK", "CY", "GR", "KE"}[r.IntN(9)])
	case 2:
		c.Continent = country.Continent([]string{"EU", "AF", "AS", "OC"}[r.IntN(4)])
	case 3:
		c.Country = "DE"
		c.Continent = "EU"
	}
	if r.IntN(2) == 0 {
		c.Coord, c.HasCoord = country.Coord{Lat: r.Float64()*140 - 70, Lon: r.Float64()*360 - 180}, true
	}
	return c
}

// TestSelectAgreesWithReference: the ranked-by-tier Select gives exactly
// the lists the policy gave when it ranked the whole network per client,
// for random networks, health and clients. The large networks have tiers
// of hundreds, which Select narrows by chord before it measures (near).
func TestSelectAgreesWithReference(t *testing.T) {
	for _, size := range []struct {
		name               string
		seed               uint64
		nets, fewest, most int
	}{
		{"small networks", 11, 60, 5, 65},
		{"large networks, large tiers narrowed by chord", 12, 12, 200, 1200},
	} {
		t.Run(size.name, func(t *testing.T) {
			agreeWithReference(t, rand.New(rand.NewPCG(7, size.seed)), size.nets, size.fewest, size.most)
		})
	}
}

func agreeWithReference(t *testing.T, r *rand.Rand, nets, fewest, most int) {
	clients := 0
	for net := range nets {
		inv := randomNetwork(t, r, fewest+r.IntN(most-fewest))
		snap := randomSnapshot(r, inv)
		if net%3 == 0 {
			snap = nil
		}
		set := NewSet(inv, snap, Want{})
		ref := refNewSet(inv, snap, Want{})
		for range 300 {
			c := randomClient(r)
			got, want := set.Select(c), ref.appendSelect(nil, c)
			clients++
			if !sameList(got, want) {
				t.Fatalf("network %d, client %+v:\n got %s\nwant %s", net, c, describe(got), describe(want))
			}
		}
	}
	t.Logf("%d clients agree", clients)
}

func sameList(a, b []Choice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Mirror != b[i].Mirror || a[i].Reason != b[i].Reason || a[i].protos != b[i].protos ||
			math.Abs(a[i].DistanceKm-b[i].DistanceKm) > 1e-6 {
			return false
		}
	}
	return true
}

func describe(cs []Choice) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s(%s %.1f) ", c.Mirror.Name, c.Reason, c.DistanceKm)
	}
	return b.String()
}

// TestTableFirstIsSelectFirst: the compiled table's answer is the first
// entry of Select, for every kind of place and client.
func TestTableFirstIsSelectFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	checked := 0
	for net := range 60 {
		inv := randomNetwork(t, r, 5+r.IntN(80))
		snap := randomSnapshot(r, inv)
		if net%4 == 0 {
			snap = nil
		}
		set := NewSet(inv, snap, Want{})
		var locs []geo.Location
		for range 40 {
			c := randomClient(r)
			locs = append(locs, geo.Location{Country: c.Country, Continent: c.Continent, Coord: c.Coord, HasCoord: c.HasCoord})
		}
		// Places the compiled table must tell apart although they look alike.
		locs = append(locs, geo.Location{Country: "DE"}, geo.Location{Continent: "EU"}, geo.Location{}, geo.Location{Country: "DE", Continent: "AS"})
		table := set.Compile(locs)
		for range 400 {
			c := randomClient(r)
			loc := int32(r.IntN(len(locs)+1)) - 1
			c.Country, c.Continent, c.Coord, c.HasCoord = "", "", country.Coord{}, false
			if loc >= 0 {
				l := locs[loc]
				c.Country, c.Continent, c.Coord, c.HasCoord = l.Country, l.Continent, l.Coord, l.HasCoord
			}
			if r.IntN(20) == 0 {
				c.Addr, c.ASN, loc = netip.Addr{}, 0, -1 // nothing known at all
				c.Country, c.Continent, c.Coord, c.HasCoord = "", "", country.Coord{}, false
			}
			want := set.Select(c)
			i, reason, ok := table.First(&c, loc)
			checked++
			switch {
			case len(want) == 0 && ok:
				t.Fatalf("network %d, client %+v at %d: First gave %s, Select nothing", net, c, loc, table.Mirror(i).Name)
			case len(want) == 0:
			case !ok:
				t.Fatalf("network %d, client %+v at %d: First gave nothing, Select %s", net, c, loc, describe(want))
			case table.Mirror(i) != want[0].Mirror || reason != want[0].Reason:
				t.Fatalf("network %d, client %+v at %d: First gave %s (%s), Select %s", net, c, loc, table.Mirror(i).Name, reason, describe(want))
			}
		}
	}
	t.Logf("%d answers agree", checked)
}

// worldNetwork is a network of n mirrors spread as a real one is (many in
// a few countries, some in many), public, a tenth with an ASN, at jittered
// points of their countries; and places for askers in every country.
func worldNetwork(b testing.TB, n int) (*Set, []geo.Location) {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	heavy := []string{"US", "DE", "FR", "GB", "NL", "CN", "JP", "BR", "RU", "SE", "CA", "AU", "IN", "IT", "ES", "PL"}
	all := country.All()
	var sb strings.Builder
	sb.WriteString("[network]\nname = \"World\"\norigin = \"https://origin.test/\"\nstamp = \"TIME\"\nmax_lag = \"6h\"\n[[repo]]\nname = \"r\"\npath = \"r/\"\nformat = \"files\"\n")
	for i := range n {
		var cc country.Code
		if r.IntN(3) > 0 {
			cc = country.Code(heavy[r.IntN(len(heavy))])
		} else {
			cc = all[r.IntN(70)].Code
		}
		p, _ := cc.Coord()
		fmt.Fprintf(&sb, "[[mirror]]\nname = \"m%d\"\ncountry = %q\nhttps = \"https://m%d.test/\"\nlat = %.3f\nlon = %.3f\nweight = %d\n", i, cc, i,
			max(-89, min(89, p.Lat+r.NormFloat64()*2)), max(-179, min(179, p.Lon+r.NormFloat64()*3)), []int{50, 100, 100, 200}[r.IntN(4)])
		if r.IntN(10) == 0 {
			fmt.Fprintf(&sb, "asn = %d\n", 64500+r.IntN(n/10+1))
		}
	}
	inv, err := inventory.Parse("world.toml", []byte(sb.String()), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var locs []geo.Location
	for _, info := range all {
		for range 20 {
			locs = append(locs, geo.Location{Country: info.Code, Continent: info.Continent, HasCoord: true,
				Coord: country.Coord{Lat: max(-89, min(89, info.Coord.Lat+r.NormFloat64()*2)), Lon: max(-179, min(179, info.Coord.Lon+r.NormFloat64()*2))}})
		}
	}
	return NewSet(inv, nil, Want{}), locs
}

// BenchmarkFirst is dnsd's per-query policy work for random askers:
// compiled at 40, 400 and 4,000 mirrors, it should not grow with the
// network.
func BenchmarkFirst(b *testing.B) {
	for _, n := range []int{40, 400, 4000} {
		b.Run(fmt.Sprintf("mirrors=%d", n), func(b *testing.B) {
			set, locs := worldNetwork(b, n)
			table := set.Compile(locs)
			r := rand.New(rand.NewPCG(9, 9))
			type ask struct {
				c   Client
				loc int32
			}
			asks := make([]ask, 1<<14)
			for k := range asks {
				loc := int32(r.IntN(len(locs)))
				l := locs[loc]
				c := Client{Addr: netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), 0}), Key: r.Uint64(),
					Country: l.Country, Continent: l.Continent, Coord: l.Coord, HasCoord: l.HasCoord}
				if r.IntN(5) == 0 {
					c.ASN = uint32(64500 + r.IntN(n/10+1))
				}
				asks[k] = ask{c, loc}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				a := &asks[i&(len(asks)-1)]
				table.First(&a.c, a.loc)
			}
		})
	}
}
