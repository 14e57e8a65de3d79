package geo_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// demoPaths writes the demo databases into a fresh directory.
func demoPaths(tb testing.TB) (city, asn string) {
	tb.Helper()
	city, asn, err := geotest.Write(tb.TempDir(), geotest.Demo())
	if err != nil {
		tb.Fatal(err)
	}
	return city, asn
}

func openDemo(tb testing.TB) *geo.DB {
	tb.Helper()
	city, asn := demoPaths(tb)
	db, err := geo.Open(city, asn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func at(lat, lon float64) geo.Info {
	return geo.Info{Coord: country.Coord{Lat: lat, Lon: lon}, HasCoord: true}
}

// located builds the Info of an address found in both databases.
func located(cc country.Code, k country.Continent, lat, lon float64, asn uint32, org, cityPrefix, asnPrefix string) geo.Info {
	i := at(lat, lon)
	i.Country, i.Continent, i.ASN, i.ASOrg = cc, k, asn, org
	if cityPrefix != "" {
		i.CityPrefix = pfx(cityPrefix)
	}
	if asnPrefix != "" {
		i.ASNPrefix = pfx(asnPrefix)
	}
	return i
}

func TestLookup(t *testing.T) {
	db := openDemo(t)
	de := located("DE", "EU", 52.52, 13.40, 3320, "Deutsche Telekom AG", "81.1.0.0/16", "81.1.0.0/17")
	de6 := located("DE", "EU", 52.52, 13.40, 3320, "Deutsche Telekom AG", "2a01:db8:1::/48", "2a01:db8:1::/48")
	nl := located("NL", "EU", 52.37, 4.90, 1136, "KPN B.V.", "127.0.0.0/8", "127.0.0.0/8")
	nl6 := located("NL", "EU", 52.37, 4.90, 1136, "KPN B.V.", "::1/128", "::1/128")

	tests := []struct {
		name string
		addr netip.Addr
		want geo.Info
	}{
		{"IPv4 in both databases", addr("81.1.2.3"), de},
		{"IPv6 in both databases", addr("2a01:db8:1:ff::5"), de6},
		{"IPv4-mapped IPv6 is looked up as IPv4", addr("::ffff:81.1.2.3"), de},
		{"zone is ignored", addr("2a01:db8:1:ff::5%eth0"), de6},
		{"6to4 address is located by its IPv4 address (aliased in the database)", addr("2002:5101:0203::1"),
			located("DE", "EU", 52.52, 13.40, 3320, "Deutsche Telekom AG", "2002:5101::/32", "2002:5101::/33")},
		{"IPv4 loopback is located", addr("127.0.0.1"), nl},
		{"IPv6 loopback is located", addr("::1"), nl6},
		{"more specific ASN record wins; City keeps the wider network",
			addr("81.1.200.1"), located("DE", "EU", 52.52, 13.40, 8881, "1&1 Versatel", "81.1.0.0/16", "81.1.128.0/17")},
		{"IPv6 on another continent", addr("2001:db8:82::1"),
			located("BR", "SA", -23.55, -46.63, 28573, "Claro NXT Telecomunicacoes Ltda", "2001:db8:82::/48", "2001:db8:82::/48")},
		{"single-address network", addr("192.0.2.3"),
			located("SG", "AS", 1.35, 103.82, 64503, "Mirror-AP", "192.0.2.3/32", "192.0.2.3/32")},
		{"City record without ASN record", addr("198.51.100.7"),
			located("AQ", "AN", -77.85, 166.67, 0, "", "198.51.100.0/24", "")},
		{"ASN record without City record", addr("203.0.113.130"),
			geo.Info{ASN: 64512, ASOrg: "Unlocated Networks", ASNPrefix: pfx("203.0.113.128/26")}},
		{"pseudo country EU is unknown, its continent is kept", addr("203.0.113.5"),
			located("", "EU", 47, 8, 64510, "Pan-European Anycast", "203.0.113.0/26", "203.0.113.0/26")},
		{"no country: registered country instead; no location: no coordinates", addr("203.0.113.70"),
			geo.Info{Country: "US", Continent: "NA", ASN: 64511, ASOrg: "Anycast Example",
				CityPrefix: pfx("203.0.113.64/26"), ASNPrefix: pfx("203.0.113.64/26")}},
		{"IPv4 address in no network", addr("8.8.8.8"), geo.Info{}},
		{"IPv6 address in no network", addr("2001:4860:4860::8888"), geo.Info{}},
		{"invalid address", netip.Addr{}, geo.Info{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.Lookup(tt.addr); got != tt.want {
				t.Errorf("Lookup(%v)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

// TestLookupDemo checks that every demo network comes back as written,
// from its first and its last address.
func TestLookupDemo(t *testing.T) {
	db := openDemo(t)
	demo := geotest.Demo()
	for _, n := range demo {
		if n.Country == "" || n.Country == "EU" {
			continue // covered by TestLookup
		}
		for _, a := range []netip.Addr{n.Prefix.Addr(), last(n.Prefix)} {
			got := db.Lookup(a)
			var sub string
			if len(n.Subdivisions) > 0 {
				sub = n.Subdivisions[0]
			}
			if string(got.Country) != n.Country || got.SubdivisionCode != sub || string(got.Continent) != n.Continent ||
				got.Coord != (country.Coord{Lat: n.Lat, Lon: n.Lon}) || !got.HasCoord || got.CityPrefix != n.Prefix {
				t.Errorf("Lookup(%v) = %+v, want %+v", a, got, n)
			}
			// The ASN record is the most specific network with an ASN.
			var asn geotest.Net
			for _, m := range demo {
				if m.ASN != 0 && m.Prefix.Contains(a) && m.Prefix.Bits() >= asn.Prefix.Bits() {
					asn = m
				}
			}
			if got.ASN != asn.ASN || got.ASOrg != asn.Org || (asn.ASN != 0) != got.ASNPrefix.IsValid() {
				t.Errorf("Lookup(%v) = AS%d %q %v, want AS%d %q within %v", a, got.ASN, got.ASOrg, got.ASNPrefix, asn.ASN, asn.Org, asn.Prefix)
			}
		}
	}
}

// last returns the last address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestLookupRecords checks how record contents map to Info, on
// databases made for the purpose.
func TestLookupRecords(t *testing.T) {
	nets := []geotest.Net{
		{Prefix: pfx("10.0.0.0/24"), Country: "GH", Continent: "AF", Lat: 0, Lon: 0, HasCoord: true},
		{Prefix: pfx("10.0.1.0/24"), Country: "DE"},
		{Prefix: pfx("10.0.2.0/24"), Country: "XK", Registered: "XK", Continent: "EU"},
		{Prefix: pfx("10.0.3.0/24"), Country: "AP", Registered: "JP", Continent: "AS"},
		{Prefix: pfx("10.0.4.0/24"), Continent: "XX"},
		{Prefix: pfx("10.0.5.0/24"), Country: "de"},
		{Prefix: pfx("10.0.6.0/24"), ASN: 64496},
		{Prefix: pfx("10.0.7.0/24"), Country: "ZZ", Registered: "ZZ", Lat: 1.5, Lon: 2.5, HasCoord: true},
		{Prefix: pfx("10.0.8.0/24"), Country: "US", Continent: "NA", Lat: 37.751, Lon: -97.822, HasCoord: true, Radius: 1000},
		{Prefix: pfx("10.0.9.0/24"), Country: "US", Continent: "NA", Lat: 40.7, Lon: -74, HasCoord: true, Radius: 500},
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

	tests := []struct {
		name string
		addr string
		want geo.Info
	}{
		{"0,0 is a position, not a missing one", "10.0.0.1",
			geo.Info{Country: "GH", Continent: "AF", HasCoord: true, CityPrefix: pfx("10.0.0.0/24")}},
		{"country only", "10.0.1.1", geo.Info{Country: "DE", CityPrefix: pfx("10.0.1.0/24")}},
		{"XK, Kosovo's code in MaxMind and DB-IP, is a country", "10.0.2.1", geo.Info{Country: "XK", Continent: "EU", CityPrefix: pfx("10.0.2.0/24")}},
		{"DB-IP's ZZ (no location) is unknown; the coordinates are kept", "10.0.7.1",
			geo.Info{Coord: country.Coord{Lat: 1.5, Lon: 2.5}, HasCoord: true, CityPrefix: pfx("10.0.7.0/24")}},
		{"MaxMind's country-level record (radius 1000 km) places by the country only", "10.0.8.1",
			geo.Info{Country: "US", Continent: "NA", CityPrefix: pfx("10.0.8.0/24")}},
		{"a radius under 1000 km keeps the coordinates", "10.0.9.1",
			geo.Info{Country: "US", Continent: "NA", Coord: country.Coord{Lat: 40.7, Lon: -74}, HasCoord: true, CityPrefix: pfx("10.0.9.0/24")}},
		{"pseudo code falls back to the registered country", "10.0.3.1",
			geo.Info{Country: "JP", Continent: "AS", CityPrefix: pfx("10.0.3.0/24")}},
		{"unknown continent code", "10.0.4.1", geo.Info{CityPrefix: pfx("10.0.4.0/24")}},
		{"lower-case code is not a database code", "10.0.5.1", geo.Info{CityPrefix: pfx("10.0.5.0/24")}},
		{"ASN without organization", "10.0.6.1", geo.Info{ASN: 64496, ASNPrefix: pfx("10.0.6.0/24")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.Lookup(addr(tt.addr)); got != tt.want {
				t.Errorf("Lookup(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestOpenPartial(t *testing.T) {
	city, asn := demoPaths(t)
	a := addr("2a01:db8:1::1")
	full := located("DE", "EU", 52.52, 13.40, 3320, "Deutsche Telekom AG", "2a01:db8:1::/48", "2a01:db8:1::/48")
	cityOnly := full
	cityOnly.ASN, cityOnly.ASOrg, cityOnly.ASNPrefix = 0, "", netip.Prefix{}
	asnOnly := geo.Info{ASN: full.ASN, ASOrg: full.ASOrg, ASNPrefix: full.ASNPrefix}

	tests := []struct {
		name      string
		city, asn string
		want      geo.Info
		describe  string
	}{
		{"both", city, asn, full, "city GeoIP2-City built 2025-01-01 (" + city + "), asn GeoLite2-ASN built 2025-01-01 (" + asn + ")"},
		{"City only", city, "", cityOnly, "city GeoIP2-City built 2025-01-01 (" + city + "), asn none"},
		{"ASN only", "", asn, asnOnly, "city none, asn GeoLite2-ASN built 2025-01-01 (" + asn + ")"},
		{"neither", "", "", geo.Info{}, "city none, asn none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geo.Open(tt.city, tt.asn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.Lookup(a); got != tt.want {
				t.Errorf("Lookup(%v)\n got %+v\nwant %+v", a, got, tt.want)
			}
			if got := db.Describe(); got != tt.describe {
				t.Errorf("Describe()\n got %s\nwant %s", got, tt.describe)
			}
		})
	}
}

func TestNilAndClosed(t *testing.T) {
	var db *geo.DB
	if got := db.Lookup(addr("81.1.2.3")); got != (geo.Info{}) {
		t.Errorf("nil DB: Lookup = %+v, want zero", got)
	}
	if got, want := db.Describe(), "city none, asn none"; got != want {
		t.Errorf("nil DB: Describe = %q, want %q", got, want)
	}
	if err := db.Close(); err != nil {
		t.Errorf("nil DB: Close = %v", err)
	}

	city, asn := demoPaths(t)
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup(addr("81.1.2.3")); got != (geo.Info{}) {
		t.Errorf("closed DB: Lookup = %+v, want zero", got)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	city, asn := demoPaths(t)
	missing := filepath.Join(dir, "GeoLite2-City.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("<html>404 Not Found</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	anon := writeTyped(t, dir, "GeoIP2-Anonymous-IP")
	dbip := writeTyped(t, dir, "DBIP-ASN-Lite (compat=GeoLite2-ASN)")

	tests := []struct {
		name      string
		city, asn string
		want      []string // substrings of the error
	}{
		{"City file missing", missing, asn, []string{"City/Country database " + missing + " (--geoip-city): file not found"}},
		{"ASN file missing", city, missing, []string{"ASN database " + missing + " (--geoip-asn): file not found"}},
		{"City file is not an MMDB", garbage, asn, []string{"City/Country database " + garbage + " (--geoip-city): not a MaxMind DB (.mmdb) file"}},
		{"ASN file is not an MMDB", city, garbage, []string{"ASN database " + garbage + " (--geoip-asn): not a MaxMind DB (.mmdb) file"}},
		{"empty file", empty, "", []string{empty, "not a MaxMind DB (.mmdb) file", "empty"}},
		{"directory", dir, "", []string{"City/Country database (--geoip-city)", dir}},
		{"ASN database given as City", asn, "", []string{
			"City/Country database " + asn + " (--geoip-city)", `database type "GeoLite2-ASN" is an ASN database`, "give it to --geoip-asn"}},
		{"City database given as ASN", "", city, []string{
			"ASN database " + city + " (--geoip-asn)", `database type "GeoIP2-City" is a City/Country database`, "give it to --geoip-city"}},
		{"swapped", asn, city, []string{"City/Country database " + asn, "give it to --geoip-asn"}},
		{"DB-IP ASN database given as City", dbip, "", []string{`"DBIP-ASN-Lite (compat=GeoLite2-ASN)"`, "is an ASN database"}},
		{"neither layout", anon, "", []string{`"GeoIP2-Anonymous-IP" is neither a City/Country nor an ASN database`, "give --geoip-city a City or Country database"}},
		{"neither layout as ASN", "", anon, []string{`"GeoIP2-Anonymous-IP" is neither`, "give --geoip-asn an ASN database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geo.Open(tt.city, tt.asn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q, %q) succeeded, want an error", tt.city, tt.asn)
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q, %q) error %q does not contain %q", tt.city, tt.asn, err, w)
				}
			}
		})
	}
}

// writeTyped writes an empty database of the given type.
func writeTyped(t *testing.T, dir, dbType string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.Fields(dbType)[0]+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConcurrentLookup runs lookups from many goroutines; run it with
// -race.
func TestConcurrentLookup(t *testing.T) {
	db := openDemo(t)
	var addrs []netip.Addr
	for _, n := range geotest.Demo() {
		addrs = append(addrs, n.Prefix.Addr(), last(n.Prefix))
	}
	addrs = append(addrs, addr("8.8.8.8"), addr("::ffff:81.1.2.3"))
	want := make([]geo.Info, len(addrs))
	for i, a := range addrs {
		want[i] = db.Lookup(a)
	}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for r := range 200 {
				i := (g*31 + r) % len(addrs)
				if got := db.Lookup(addrs[i]); got != want[i] {
					t.Errorf("concurrent Lookup(%v) = %+v, want %+v", addrs[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkLookup measures Lookup with both databases, as dnsd does per
// query, for addresses found in both (IPv4, IPv6) and in neither.
func BenchmarkLookup(b *testing.B) {
	db := openDemo(b)
	cases := []struct {
		name  string
		addrs []netip.Addr
	}{
		{"v4", []netip.Addr{addr("81.1.2.3"), addr("73.2.9.9"), addr("106.3.0.1"), addr("41.0.0.7")}},
		{"v6", []netip.Addr{addr("2a01:db8:1::1"), addr("2600:db8:2::1"), addr("2001:db8:81::1"), addr("2001:db8:83::1")}},
		{"miss", []netip.Addr{addr("8.8.8.8"), addr("2001:4860:4860::8888")}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				info := db.Lookup(c.addrs[i%len(c.addrs)])
				if c.name != "miss" && info.Country == "" {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		addrs := append(cases[0].addrs, cases[1].addrs...)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				db.Lookup(addrs[i%len(addrs)])
				i++
			}
		})
	})
}
