package placement_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/placement"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

var pfx = netip.MustParsePrefix

// nets is the test City database: real records in documentation and
// made-up ranges.
var nets = []geotest.Net{
	{Prefix: pfx("192.0.2.0/28"), Country: "DE", Continent: "EU", Lat: 52.52, Lon: 13.40, HasCoord: true},
	{Prefix: pfx("192.0.2.16/28"), Country: "FR", Continent: "EU", Lat: 48.86, Lon: 2.35, HasCoord: true},
	{Prefix: pfx("192.0.2.32/28"), Country: "BR", Continent: "SA"},                   // no coordinates
	{Prefix: pfx("192.0.2.48/28"), Continent: "EU", Lat: 47, Lon: 8, HasCoord: true}, // no country
	{Prefix: pfx("2001:db8:de::/48"), Country: "DE", Continent: "EU", Lat: 50.11, Lon: 8.68, HasCoord: true},
	{Prefix: pfx("2001:db8:f2::/48"), Country: "FR", Continent: "EU", Lat: 43.30, Lon: 5.37, HasCoord: true},
}

func openDB(t *testing.T) *geo.DB {
	t.Helper()
	city, _, err := geotest.Write(t.TempDir(), nets)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// addrs gives a mirror's snapshot addresses: "http/ipv4=192.0.2.1".
type addrs map[string]string

func TestPlace(t *testing.T) {
	db := openDB(t)
	berlin := country.Coord{Lat: 52.52, Lon: 13.40}
	paris := country.Coord{Lat: 48.86, Lon: 2.35}
	brazil, _ := country.Code("BR").Coord()
	germany, _ := country.Code("DE").Coord()
	tests := []struct {
		rule    string
		toml    string // the [[mirror]] keys besides name
		snap    addrs
		country country.Code
		coord   country.Coord
		by      string // "" when nothing placed it
	}{
		{"a mirror without a country takes its address's country and position",
			`http = "http://m.test/"`, addrs{"http/ipv4": "192.0.2.1"}, "DE", berlin, "192.0.2.1"},
		{"the country most addresses name wins",
			`http = "http://m.test/"` + "\n" + `https = "https://s.m.test/"` + "\n" + `ftp = "ftp://f.m.test/"`,
			addrs{"http/ipv4": "192.0.2.17", "https/ipv4": "192.0.2.2", "ftp/ipv4": "192.0.2.3"}, "DE", berlin, "192.0.2.2"},
		{"an address counts once, however many endpoints reached it",
			`http = "http://m.test/"` + "\n" + `https = "https://m.test/"` + "\n" + `ftp = "ftp://f.m.test/"`,
			addrs{"http/ipv4": "192.0.2.17", "https/ipv4": "192.0.2.17", "ftp/ipv4": "192.0.2.2", "ftp/ipv6": "2001:db8:de::1"}, "DE", berlin, "192.0.2.2"},
		{"a tie goes to the first: IPv4 before IPv6",
			`http = "http://m.test/"`, addrs{"http/ipv6": "2001:db8:de::1", "http/ipv4": "192.0.2.17"}, "FR", paris, "192.0.2.17"},
		{"IPv6 alone places too",
			`http = "http://m.test/"`, addrs{"http/ipv6": "2001:db8:f2::1"}, "FR", country.Coord{Lat: 43.30, Lon: 5.37}, "2001:db8:f2::1"},
		{"an address written in a base URL comes before probe's",
			`http = "http://192.0.2.18/pub/"` + "\n" + `https = "https://m.test/"`, addrs{"https/ipv4": "192.0.2.1"}, "FR", paris, "192.0.2.18"},
		{"a record without coordinates places at the country's point",
			`http = "http://m.test/"`, addrs{"http/ipv4": "192.0.2.33"}, "BR", brazil, "192.0.2.33"},
		{"a record without a country places nothing",
			`http = "http://m.test/"`, addrs{"http/ipv4": "192.0.2.49"}, "", country.Coord{}, ""},
		{"an address no record holds places nothing",
			`http = "http://m.test/"`, addrs{"http/ipv4": "198.51.100.1"}, "", country.Coord{}, ""},
		{"without an address nothing is placed",
			`http = "http://m.test/"`, nil, "", country.Coord{}, ""},
		{"lat/lon from the file stay; the country comes from GeoIP",
			`http = "http://m.test/"` + "\nlat = 53.55\nlon = 9.99", addrs{"http/ipv4": "192.0.2.1"}, "DE", country.Coord{Lat: 53.55, Lon: 9.99}, "192.0.2.1"},
		{"a mirror with a country takes coordinates of a record that agrees",
			`country = "DE"` + "\n" + `http = "http://m.test/"` + "\n" + `https = "https://s.m.test/"`,
			addrs{"http/ipv4": "192.0.2.17", "https/ipv4": "192.0.2.2"}, "DE", berlin, "192.0.2.2"},
		{"a record of another country is an anycast address: the country's point stays",
			`country = "DE"` + "\n" + `http = "http://m.test/"`, addrs{"http/ipv4": "192.0.2.17"}, "DE", germany, ""},
		{"a mirror the file places wholly is left alone",
			`country = "FR"` + "\n" + `http = "http://m.test/"` + "\nlat = 45.76\nlon = 4.84", addrs{"http/ipv4": "192.0.2.1"}, "FR", country.Coord{Lat: 45.76, Lon: 4.84}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			inv := load(t, tt.toml)
			snap := snapshot(inv, tt.snap)
			placed := placement.Place(inv, snap, db)
			m := inv.Mirrors[0]
			if m.Country != tt.country || m.Coord != tt.coord {
				t.Errorf("placed at %q %v, want %q %v", m.Country, m.Coord, tt.country, tt.coord)
			}
			by := ""
			if m.PlacedBy.IsValid() {
				by = m.PlacedBy.String()
			}
			if by != tt.by {
				t.Errorf("placed by %q, want %q", by, tt.by)
			}
			if (len(placed) == 1) != (tt.by != "") || len(placed) > 1 {
				t.Errorf("reported %v", placed)
			}
			if m.Placed() != (tt.country != "") {
				t.Errorf("Placed() = %v", m.Placed())
			}
		})
	}
}

func TestPlacedString(t *testing.T) {
	db := openDB(t)
	inv := load(t, `http = "http://m.test/"`)
	placed := placement.Place(inv, snapshot(inv, addrs{"http/ipv4": "192.0.2.1"}), db)
	want := `mirror "m": country DE and position 52.52,13.40 from 192.0.2.1 (GeoIP)`
	if len(placed) != 1 || placed[0].String() != want {
		t.Errorf("got %v, want %q", placed, want)
	}
}

func TestPlaceWithoutSnapshotUsesURLs(t *testing.T) {
	db := openDB(t)
	inv := load(t, `http = "http://[2001:db8:de::80]/pub/"`)
	placement.Place(inv, nil, db)
	if m := inv.Mirrors[0]; m.Country != "DE" || m.PlacedBy != netip.MustParseAddr("2001:db8:de::80") {
		t.Errorf("got %q by %v", m.Country, m.PlacedBy)
	}
}

func load(t *testing.T, mirror string) *inventory.Inventory {
	t.Helper()
	doc := "[network]\nname = \"t\"\norigin = \"https://origin.test/\"\nstamp = \"TIME\"\nmax_lag = \"1h\"\n" +
		"[[repo]]\nname = \"r\"\npath = \"r/\"\nformat = \"files\"\n" +
		"[[mirror]]\nname = \"m\"\n" + mirror + "\n"
	inv, err := inventory.Parse("t.toml", []byte(doc), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// snapshot is a healthy snapshot whose endpoints have the addresses a
// gives ("proto/family" keys); an endpoint a names but the mirror lacks
// is an error in the test.
func snapshot(inv *inventory.Inventory, a addrs) *state.Snapshot {
	used := 0
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		if s, ok := a[fmt.Sprintf("%s/%s", e.Protocol, e.Family)]; ok {
			e.Addr = netip.MustParseAddr(s)
			used++
		}
	})
	if used != len(a) {
		panic(fmt.Sprintf("addresses %v name endpoints the mirror does not have", a))
	}
	return snap
}
