package country

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	all := All()
	if len(all) != 250 {
		t.Errorf("All() has %d countries, want the 249 ISO 3166-1 alpha-2 codes and XK", len(all))
	}
	seen := map[Code]bool{}
	for i, in := range all {
		c := string(in.Code)
		if len(c) != 2 || !isUpper(c[0]) || !isUpper(c[1]) {
			t.Errorf("%q: not two upper-case letters", c)
		}
		if seen[in.Code] {
			t.Errorf("%s: listed twice", c)
		}
		seen[in.Code] = true
		if i > 0 && all[i-1].Code >= in.Code {
			t.Errorf("%s after %s: All() is not sorted by code", c, all[i-1].Code)
		}
		if in.Name == "" || strings.TrimSpace(in.Name) != in.Name {
			t.Errorf("%s: bad name %q", c, in.Name)
		}
		if !in.Continent.Valid() {
			t.Errorf("%s: invalid continent %q", c, in.Continent)
		}
		if !in.Coord.Valid() {
			t.Errorf("%s: invalid coordinate %v", c, in.Coord)
		}
		if got, ok := Lookup(in.Code); !ok || got != in {
			t.Errorf("Lookup(%s) = %v, %v; want %v, true", c, got, ok, in)
		}
		if !in.Code.Valid() || in.Code.Continent() != in.Continent {
			t.Errorf("%s: Valid or Continent disagrees with All()", c)
		}
		if got, ok := in.Code.Coord(); !ok || got != in.Coord {
			t.Errorf("%s.Coord() = %v, %v; want %v, true", c, got, ok, in.Coord)
		}
	}
	for _, k := range Continents() {
		n := 0
		for _, in := range all {
			if in.Continent == k {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no country in continent %s", k)
		}
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	if All()[0].Name == "changed" {
		t.Fatal("modifying the result of All() changed the table")
	}
}

func TestSpotChecks(t *testing.T) {
	// Continents as MaxMind GeoIP2 reports them; coordinates (population
	// medians) loosely.
	for _, tc := range []struct {
		code      Code
		name      string
		continent Continent
		lat, lon  float64 // checked within ±3°
	}{
		{"DE", "Germany", Europe, 51, 9},
		{"NZ", "New Zealand", Oceania, -41, 174},
		{"AU", "Australia", Oceania, -34, 149}, // where Australians live, not the desert,
		{"BR", "Brazil", SouthAmerica, -21, -46},
		{"US", "United States", NorthAmerica, 39, -88},
		{"JP", "Japan", Asia, 36, 138},
		{"EG", "Egypt", Africa, 30, 31},
		{"AQ", "Antarctica", Antarctica, -78, 167},
		{"RU", "Russia", Europe, 56, 43}, // not Siberia,
		{"MX", "Mexico", NorthAmerica, 19.5, -99},
		{"TR", "Türkiye", Asia, 40, 30},
		{"CY", "Cyprus", Europe, 35, 33},
		{"GE", "Georgia", Asia, 42, 43},
		{"TL", "Timor-Leste", Oceania, -9, 126},
		{"GS", "South Georgia and the South Sandwich Islands", Antarctica, -54, -37},
		{"GB", "United Kingdom", Europe, 55, -3},
		{"SS", "South Sudan", Africa, 8, 30},
		{"XK", "Kosovo", Europe, 42.6, 20.9}, // what GeoIP databases say for Kosovo
	} {
		in, ok := Lookup(tc.code)
		if !ok {
			t.Errorf("Lookup(%s): not found", tc.code)
			continue
		}
		if in.Name != tc.name || in.Continent != tc.continent {
			t.Errorf("Lookup(%s) = %q in %s; want %q in %s", tc.code, in.Name, in.Continent, tc.name, tc.continent)
		}
		if math.Abs(in.Coord.Lat-tc.lat) > 3 || math.Abs(in.Coord.Lon-tc.lon) > 3 {
			t.Errorf("Lookup(%s).Coord = %v; want about %v,%v", tc.code, in.Coord, tc.lat, tc.lon)
		}
	}
	for _, c := range []Code{"", "de", "XX", "UK", "ZZ", "DEU"} {
		if c.Valid() {
			t.Errorf("Code(%q).Valid() = true", c)
		}
		if k := c.Continent(); k != "" {
			t.Errorf("Code(%q).Continent() = %q, want \"\"", c, k)
		}
		if _, ok := c.Coord(); ok {
			t.Errorf("Code(%q).Coord() ok", c)
		}
		if _, ok := Lookup(c); ok {
			t.Errorf("Lookup(%q) ok", c)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Code
	}{
		{"DE", "DE"}, {"de", "DE"}, {"dE", "DE"}, {" nz ", "NZ"}, {"gb", "GB"},
		{"xk", "XK"}, // Kosovo: not ISO, but what GeoIP databases return
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if got.String() != string(tc.want) {
			t.Errorf("%q.String() = %q", got, got.String())
		}
	}
	for _, tc := range []struct {
		in      string
		mention []string // each must appear in the error
	}{
		{"UK", []string{`"UK"`, `did you mean "GB"?`}},
		{"uk", []string{`"uk"`, `"GB"`}},
		{"EL", []string{`"EL"`, `"GR"`}},
		{"XX", []string{`unknown country code "XX"`}},
		{"ZZ", []string{`unknown country code "ZZ"`}}, // DB-IP's "no location"
		{"", []string{"empty"}},
		{"  ", []string{"empty"}},
		{"DEU", []string{`"DEU"`, "two letters"}},
		{"D", []string{`"D"`, "two letters"}},
		{"D1", []string{`"D1"`}},
		{"Germany", []string{`"Germany"`, `did you mean "DE"?`}},
	} {
		got, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tc.in, got)
			continue
		}
		if got != "" {
			t.Errorf("Parse(%q) returned %q with its error", tc.in, got)
		}
		for _, m := range tc.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Parse(%q) error %q does not mention %s", tc.in, err, m)
			}
		}
		if !strings.Contains(err.Error(), "ISO 3166-1 alpha-2") {
			t.Errorf("Parse(%q) error %q does not say what a code is", tc.in, err)
		}
	}
	if _, err := Parse("UK"); err.Error() != `unknown country code "UK" (ISO 3166-1 alpha-2; did you mean "GB"?)` {
		t.Errorf("Parse(\"UK\") error = %q", err)
	}
}

func TestContinents(t *testing.T) {
	ks := Continents()
	want := []Continent{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
	if !slices.Equal(ks, want) {
		t.Fatalf("Continents() = %v, want %v", ks, want)
	}
	ks[0] = "XX"
	if Continents()[0] != Africa {
		t.Error("modifying the result of Continents() changed it")
	}
	for _, k := range want {
		if !k.Valid() {
			t.Errorf("%s.Valid() = false", k)
		}
		if c := k.Coord(); !c.Valid() || c == (Coord{}) {
			t.Errorf("%s.Coord() = %v", k, c)
		}
		for _, s := range []string{string(k), strings.ToLower(string(k)), " " + string(k) + " "} {
			if got, err := ParseContinent(s); err != nil || got != k {
				t.Errorf("ParseContinent(%q) = %q, %v; want %q", s, got, err, k)
			}
		}
	}
	for _, s := range []string{"", "XX", "AP", "Europe", "E"} {
		if got, err := ParseContinent(s); err == nil {
			t.Errorf("ParseContinent(%q) = %q, want an error", s, got)
		}
	}
	if Continent("XX").Valid() || Continent("XX").Coord() != (Coord{}) {
		t.Error(`Continent("XX") is valid or has a coordinate`)
	}
	// Each continent's point should be nearer to its own countries, on
	// average, than to the whole world's: a guard against swapped values.
	for _, k := range want {
		var own, other, nOwn, nOther float64
		for _, in := range All() {
			d := k.Coord().DistanceKm(in.Coord)
			if in.Continent == k {
				own, nOwn = own+d, nOwn+1
			} else {
				other, nOther = other+d, nOther+1
			}
		}
		if own/nOwn >= other/nOther {
			t.Errorf("%s.Coord() is on average %.0f km from its countries and %.0f km from others", k, own/nOwn, other/nOther)
		}
	}
}

func TestDistanceKm(t *testing.T) {
	berlin := Coord{52.5200, 13.4050}
	paris := Coord{48.8566, 2.3522}
	for _, tc := range []struct {
		name string
		a, b Coord
		want float64
		tol  float64
	}{
		{"Berlin-Paris", berlin, paris, 878, 5},
		{"Paris-Berlin", paris, berlin, 878, 5},
		{"same point", berlin, berlin, 0, 0},
		{"pole to pole", Coord{90, 0}, Coord{-90, 0}, math.Pi * earthRadiusKm, 1e-6},
		{"antipodes on the equator", Coord{0, 0}, Coord{0, 180}, math.Pi * earthRadiusKm, 1e-6},
		{"across the antimeridian", Coord{0, 179.5}, Coord{0, -179.5}, 111.2, 0.1},
		{"one degree of latitude", Coord{0, 0}, Coord{1, 0}, 111.195, 0.01},
		{"New York-London", Coord{40.7128, -74.0060}, Coord{51.5074, -0.1278}, 5570, 15},
	} {
		got := tc.a.DistanceKm(tc.b)
		if math.IsNaN(got) || math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%s: DistanceKm = %.3f, want %.3f ±%v", tc.name, got, tc.want, tc.tol)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = berlin.DistanceKm(paris) }); n != 0 {
		t.Errorf("DistanceKm allocates %v times per call", n)
	}
}

func TestCoordValid(t *testing.T) {
	for _, c := range []Coord{{0, 0}, {90, 180}, {-90, -180}, {51.5, -0.1}} {
		if !c.Valid() {
			t.Errorf("%v.Valid() = false", c)
		}
	}
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []Coord{{90.1, 0}, {-91, 0}, {0, 180.5}, {0, -181}, {nan, 0}, {0, nan}, {inf, 0}, {0, -inf}} {
		if c.Valid() {
			t.Errorf("%v.Valid() = true", c)
		}
	}
}

func TestParseTableRejects(t *testing.T) {
	const h = "code,name,continent,lat,lon\n"
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "header"},
		{"bad header", "code,name,lat,lon,continent\n", "header"},
		{"no rows", h, "no countries"},
		{"lower-case code", h + "de,Germany,EU,51,10\n", "upper-case"},
		{"long code", h + "DEU,Germany,EU,51,10\n", "upper-case"},
		{"duplicate", h + "DE,Germany,EU,51,10\nDE,Germany,EU,51,10\n", "twice"},
		{"no name", h + "DE,,EU,51,10\n", "no name"},
		{"bad continent", h + "DE,Germany,XX,51,10\n", "continent"},
		{"bad lat", h + "DE,Germany,EU,x,10\n", "lat,lon"},
		{"lat out of range", h + "DE,Germany,EU,91,10\n", "lat,lon"},
		{"NaN", h + "DE,Germany,EU,NaN,10\n", "lat,lon"},
		{"missing field", h + "DE,Germany,EU,51\n", "fields"},
	} {
		_, err := parseTable([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: parseTable error = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	got, err := parseTable([]byte(h + "FR,France,EU,46,2\n\"DE\",\"Germany, Federal Republic\",EU,51,10\n"))
	if err != nil || len(got) != 2 || got[0].Code != "DE" || got[0].Name != "Germany, Federal Republic" {
		t.Errorf("parseTable of a valid table = %v, %v", got, err)
	}
}

var sink float64

func BenchmarkDistanceKm(b *testing.B) {
	b.ReportAllocs()
	berlin, paris := Coord{52.52, 13.405}, Coord{48.8566, 2.3522}
	for b.Loop() {
		sink = berlin.DistanceKm(paris)
	}
}
