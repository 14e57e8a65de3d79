package geo_test

import (
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// Issue 14, item 4: Lookup reads the first subdivision of a City record,
// the one an edge's sub-country list is for (US-CA), as nginx's geoip2
// module reads subdivisions.0.iso_code.
func TestLookupSubdivision(t *testing.T) {
	nets := []geotest.Net{
		{Prefix: pfx("10.1.0.0/24"), Country: "US", Subdivisions: []string{"CA", "075"}, Continent: "NA"},
		{Prefix: pfx("10.1.1.0/24"), Country: "GB", Subdivisions: []string{"ENG"}, Lat: 51.5, Lon: -0.1, HasCoord: true},
		{Prefix: pfx("10.1.2.0/24"), Country: "US", Continent: "NA"},
		{Prefix: pfx("10.1.3.0/24"), Registered: "US", Subdivisions: []string{"CA"}},
		{Prefix: pfx("10.1.4.0/24"), Country: "US", Subdivisions: []string{"CALIFORNIA"}},
		{Prefix: pfx("10.1.5.0/24"), Country: "US", Subdivisions: []string{}},
		{Prefix: pfx("10.1.6.0/24"), Country: "US", Subdivisions: []string{""}},
		{Prefix: pfx("2001:db8:7::/48"), Country: "AU", Subdivisions: []string{"NSW"}},
	}
	city, _, err := geotest.Write(t.TempDir(), nets)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ix, err := db.Index()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr string
		code string              // Info.SubdivisionCode
		want country.Subdivision // Info.Subdivision()
	}{
		{"the first (largest) subdivision", "10.1.0.1", "CA", "US-CA"},
		{"three letters", "10.1.1.1", "ENG", "GB-ENG"},
		{"IPv6", "2001:db8:7::1", "NSW", "AU-NSW"},
		{"no subdivision", "10.1.2.1", "", ""},
		{"not of the registered country", "10.1.3.1", "", ""},
		{"a code ISO 3166-2 cannot have is kept as written, but is no subdivision", "10.1.4.1", "CALIFORNIA", ""},
		{"an empty array", "10.1.5.1", "", ""},
		{"a subdivision without a code", "10.1.6.1", "", ""},
		{"no record", "10.2.0.1", "", ""},
	}
	// A lookup without a subdivision after one with it must not keep
	// the other's: Lookup reuses its decoding buffers.
	for range 2 {
		for _, tt := range tests {
			info := db.Lookup(addr(tt.addr))
			if info.SubdivisionCode != tt.code || info.Subdivision() != tt.want {
				t.Errorf("%s: Lookup(%s) = %q, %q; want %q, %q", tt.name, tt.addr, info.SubdivisionCode, info.Subdivision(), tt.code, tt.want)
			}
			if got := ix.Info(addr(tt.addr)); got.SubdivisionCode != tt.code {
				t.Errorf("%s: Index.Info(%s) has %q, want %q", tt.name, tt.addr, got.SubdivisionCode, tt.code)
			}
		}
	}
	// dnsd looks up every query's client: a record with subdivisions
	// costs no allocation either.
	if n := testing.AllocsPerRun(100, func() { db.Lookup(addr("10.1.0.1")) }); n != 0 {
		t.Errorf("Lookup of a record with subdivisions allocates %v times", n)
	}
}
