package geo_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// TestIndexAgreesWithLookup: for every network of the databases, its
// first and last address and the addresses just outside it, and for
// random addresses, the Index says what DB.Lookup says; with an IPv6
// network longer than /64 (the IPv6 tables) and without (the IPv6
// segments).
func TestIndexAgreesWithLookup(t *testing.T) {
	long := geotest.Net{Prefix: pfx("2c0f:f001:1:2:3:4:5:6/128"), Country: "KE", Continent: "AF"}
	t.Run("an IPv6 network longer than /64", func(t *testing.T) { indexAgreesWithLookup(t, &long) })
	t.Run("IPv6 networks /64 or shorter", func(t *testing.T) { indexAgreesWithLookup(t, nil) })
}

func indexAgreesWithLookup(t *testing.T, long *geotest.Net) {
	nets := append(geotest.Demo(),
		// Nested and adjacent networks, /0-like and host routes, both
		// families, a network at the very top and bottom of the space.
		geotest.Net{Prefix: pfx("0.0.0.0/8"), Country: "US", Continent: "NA", ASN: 1},
		geotest.Net{Prefix: pfx("255.255.255.255/32"), Country: "JP", Continent: "AS", Lat: 35, Lon: 139, HasCoord: true},
		geotest.Net{Prefix: pfx("198.18.0.0/15"), Country: "DE", Continent: "EU", ASN: 64500},
		geotest.Net{Prefix: pfx("198.20.0.0/24"), Country: "DE", Continent: "EU", Lat: 52.5, Lon: 13.4, HasCoord: true},
		geotest.Net{Prefix: pfx("198.20.1.7/32"), Country: "FR", Continent: "EU", ASN: 64501},
		geotest.Net{Prefix: pfx("2c0f:f000::/20"), Country: "ZA", Continent: "AF", Lat: -26.2, Lon: 28, HasCoord: true, ASN: 37100},
		geotest.Net{Prefix: pfx("2c0f:f001:1::/64"), Country: "KE", Continent: "AF", ASN: 37101},
		geotest.Net{Prefix: pfx("2c0f:f001:1:1::/64"), Country: "KE", Continent: "AF", ASN: 37101},
		geotest.Net{Prefix: pfx("ffff::/16"), Country: "BR", Continent: "SA", ASN: 7},
	)
	if long != nil {
		nets = append(nets, *long)
	}
	city, asn, err := geotest.Write(t.TempDir(), nets)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ix, err := db.Index()
	if err != nil {
		t.Fatal(err)
	}
	behind, err := db.IndexBehind() // paced: the same index
	if err != nil {
		t.Fatal(err)
	}
	check := func(a netip.Addr) {
		t.Helper()
		want := db.Lookup(a)
		want.ASOrg = ""
		if got := ix.Info(a); got != want {
			t.Errorf("%s:\nindex  %+v\nlookup %+v", a, got, want)
		}
		if got := behind.Info(a); got != want {
			t.Errorf("%s:\nIndexBehind %+v\nlookup      %+v", a, got, want)
		}
	}
	n := 0
	for _, nw := range nets {
		p := nw.Prefix.Masked()
		first := p.Addr()
		last := lastAddr(p)
		for _, a := range []netip.Addr{first, last, first.Prev(), last.Next()} {
			if a.IsValid() {
				check(a)
				n++
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		check(netip.AddrFrom4([4]byte(b[:4])))
		check(netip.AddrFrom16(b))
		n += 2
	}
	check(netip.MustParseAddr("::ffff:81.1.2.3"))
	for range 2000 { // IPv4 inside 6to4 and Teredo: databases alias them
		v4 := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		check(netip.AddrFrom16([16]byte{0x20, 0x02, v4[0], v4[1], v4[2], v4[3], 9}))
		check(netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, ^v4[0], ^v4[1], ^v4[2], ^v4[3]}))
	}
	if len(ix.Locations()) == 0 || n < 40000 {
		t.Fatalf("%d locations, %d addresses checked", len(ix.Locations()), n)
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func BenchmarkIndexLookup(b *testing.B) {
	city, asn, err := geotest.Write(b.TempDir(), geotest.Demo())
	if err != nil {
		b.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ix, err := db.Index()
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), 1})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ix.Lookup(addrs[i&4095])
	}
}
