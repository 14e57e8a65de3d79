package policy_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// mirror is a compact description of a [[mirror]] for tests: its name is
// also its host, and extra is TOML appended to the table.
type mirror struct {
	name, cc string
	extra    string
}

// network builds an inventory with one rpm repo (release 9, archs x86_64
// and aarch64) and the given policy TOML and mirrors.
func network(t testing.TB, policyTOML string, ms ...mirror) *inventory.Inventory {
	t.Helper()
	var b strings.Builder
	b.WriteString(`[network]
name = "Test"
origin = "https://origin.test/pub/"
stamp = "TIME"
max_lag = "6h"

[[repo]]
name = "baseos"
path = "{release}/BaseOS/{arch}/os/"
releases = ["9"]
archs = ["x86_64", "aarch64"]
format = "rpm"

[policy]
`)
	b.WriteString(policyTOML)
	for _, m := range ms {
		fmt.Fprintf(&b, "\n[[mirror]]\nname = %q\ncountry = %q\nhttps = \"https://%s/pub/\"\n%s\n", m.name, m.cc, m.name, m.extra)
	}
	inv, err := inventory.Parse("test.toml", []byte(b.String()), t.TempDir())
	if err != nil {
		t.Fatalf("inventory: %v\n%s", err, b.String())
	}
	return inv
}

func names(cs []policy.Choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Mirror.Name
	}
	return out
}

func reasons(cs []policy.Choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Reason.String()
	}
	return out
}

func at(lat, lon float64) string { return fmt.Sprintf("lat = %v\nlon = %v", lat, lon) }

// world is a network over several continents; coordinates are real cities.
var world = []mirror{
	{"de-berlin", "DE", at(52.52, 13.40)},
	{"de-isp", "DE", at(50.11, 8.68) + "\nasn = [3320]"},
	{"fr-paris", "FR", at(48.86, 2.35) + "\nasn = 16276"},
	{"nl-ams", "NL", at(52.37, 4.90)},
	{"gb-london", "GB", at(51.51, -0.13)},
	{"bg-sofia", "BG", at(42.70, 23.32) + "\nasn = 64500"},
	{"us-nyc", "US", at(40.71, -74.01)},
	{"us-sfo", "US", at(37.77, -122.42)},
	{"br-sp", "BR", at(-23.55, -46.63)},
	{"jp-tokyo", "JP", at(35.68, 139.69)},
	{"sg", "SG", at(1.35, 103.82)},
	{"th-bkk", "TH", at(13.75, 100.50) + "\nasn = 16276"},
	{"au-sydney", "AU", at(-33.87, 151.21)},
	{"au-melbourne", "AU", at(-37.81, 144.96)},
	{"za-jnb", "ZA", at(-26.20, 28.05)},
	{"ke-nairobi", "KE", at(-1.29, 36.82) + "\nasn = 36900"},
	{"tn-tunis", "TN", at(36.81, 10.18)},
	{"il-telaviv", "IL", at(32.09, 34.78)},
	{"corp-private", "US", at(39.04, -77.49) + "\nasn = 16509\nsubnets = [\"198.51.100.0/24\", \"2001:db8:5::/48\"]\npublic = false"},
}

const worldPolicy = `min = 3
max = 6
band_km = 0
asn_max_km = 1000
neighbours = { NZ = ["AU", "SG", "JP"], PT = ["ES", "FR"] }
`

func TestSelectTiers(t *testing.T) {
	inv := network(t, worldPolicy, world...)
	set := policy.NewSet(inv, nil, policy.Want{})
	tests := []struct {
		name        string
		client      policy.Client
		want        []string
		wantReasons []string
	}{
		{
			name:        "subnet match comes first and is the only way to a private mirror",
			client:      policy.Client{Addr: netip.MustParseAddr("198.51.100.7"), Country: "DE", Key: policy.KeyString("k")},
			want:        []string{"corp-private", "de-isp", "de-berlin"},
			wantReasons: []string{"subnet", "country", "country"},
		},
		{
			name:        "IPv6 subnet match",
			client:      policy.Client{Addr: netip.MustParseAddr("2001:db8:5::1"), Family: inventory.IPv6, Country: "US", Key: policy.KeyString("k")},
			want:        []string{"corp-private", "us-nyc", "us-sfo"},
			wantReasons: []string{"subnet", "country", "country"},
		},
		{
			name:   "private mirror is never offered outside its networks",
			client: policy.Client{Country: "US", Coord: country.Coord{Lat: 39.0, Lon: -77.5}, HasCoord: true, Key: policy.KeyString("k")},
			want:   []string{"us-nyc", "us-sfo", "de-isp"}[:2],
		},
		{
			name:        "ASN match within asn_max_km of the client wins over its country (Brussels to Paris)",
			client:      policy.Client{ASN: 16276, Country: "BE", Coord: country.Coord{Lat: 50.85, Lon: 4.35}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"fr-paris"},
			wantReasons: []string{"asn"},
		},
		{
			name:        "ASN match in another country does not count when only the country is known (was: same continent)",
			client:      policy.Client{ASN: 16276, Country: "PT", Key: policy.KeyString("k")},
			want:        []string{"fr-paris"},
			wantReasons: []string{"neighbour"},
		},
		{
			name:        "ASN match in the client's own country counts when only the country is known (static lists)",
			client:      policy.Client{ASN: 3320, Country: "DE", Key: policy.KeyString("k")},
			want:        []string{"de-isp", "de-berlin"},
			wantReasons: []string{"asn", "country"},
		},
		{
			name:        "same ASN far away does not count (hosting ASN: Dutch client is not sent to Thailand)",
			client:      policy.Client{ASN: 16276, Country: "NL", Coord: country.Coord{Lat: 52.37, Lon: 4.90}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"fr-paris", "nl-ams"},
			wantReasons: []string{"asn", "country"},
		},
		{
			name:        "ASN match beyond asn_max_km does not count even on the client's continent (Johannesburg, pan-African ASN in Nairobi)",
			client:      policy.Client{ASN: 36900, Country: "ZA", Coord: country.Coord{Lat: -26.10, Lon: 28.00}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"za-jnb"},
			wantReasons: []string{"country"},
		},
		{
			name:        "ASN match across a continent line counts within asn_max_km (Istanbul to Sofia)",
			client:      policy.Client{ASN: 64500, Country: "TR", Coord: country.Coord{Lat: 41.01, Lon: 28.98}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"bg-sofia"},
			wantReasons: []string{"asn"},
		},
		{
			name:        "ASN with unknown location counts",
			client:      policy.Client{ASN: 3320, Key: policy.KeyString("k")},
			want:        []string{"de-isp"},
			wantReasons: []string{"asn"},
		},
		{
			name:        "a private mirror's subnet counts at any distance (the deliberate far match)",
			client:      policy.Client{Addr: netip.MustParseAddr("198.51.100.9"), ASN: 16509, Country: "AU", Coord: country.Coord{Lat: -33.87, Lon: 151.21}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"corp-private", "au-sydney"},
			wantReasons: []string{"subnet", "country"},
		},
		{
			name:   "a private mirror's ASN far away is not offered",
			client: policy.Client{Addr: netip.MustParseAddr("203.0.113.9"), ASN: 16509, Country: "AU", Coord: country.Coord{Lat: -33.87, Lon: 151.21}, HasCoord: true, Key: policy.KeyString("k")},
			want:   []string{"au-sydney", "au-melbourne"},
		},
		{
			name:        "distance beats the continent line: Cairo gets Tel Aviv (400 km, Asia) and Sofia before Tunis (2,100 km, Africa)",
			client:      policy.Client{Country: "EG", Coord: country.Coord{Lat: 30.06, Lon: 31.25}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"il-telaviv", "bg-sofia", "tn-tunis"},
			wantReasons: []string{"world", "world", "continent"},
		},
		{
			name:        "distance beats the continent line: Cyprus (EU) gets Israel (AS) before Bulgaria",
			client:      policy.Client{Country: "CY", Key: policy.KeyString("k")},
			want:        []string{"il-telaviv", "bg-sofia"},
			wantReasons: []string{"world", "continent"},
		},
		{
			name:        "XK (Kosovo, as GeoIP says) is placed by the country table: Sofia first",
			client:      policy.Client{Country: "XK", Key: policy.KeyString("k")},
			want:        []string{"bg-sofia"},
			wantReasons: []string{"continent"},
		},
		{
			name:        "a country code the table lacks: the client is placed by its coordinates, not sent to the world list",
			client:      policy.Client{Country: "ZZ", Coord: country.Coord{Lat: 30.06, Lon: 31.25}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"il-telaviv", "bg-sofia"},
			wantReasons: []string{"world", "world"},
		},
		{
			name:        "no country, only coordinates: placed by them",
			client:      policy.Client{Coord: country.Coord{Lat: -6.2, Lon: 106.8}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"sg", "th-bkk"},
			wantReasons: []string{"world", "world"},
		},
		{
			name:        "same country, nearest first",
			client:      policy.Client{Country: "DE", Coord: country.Coord{Lat: 50.0, Lon: 8.5}, HasCoord: true, Key: policy.KeyString("k")},
			want:        []string{"de-isp", "de-berlin", "nl-ams"},
			wantReasons: []string{"country", "country", "continent"},
		},
		{
			name:        "neighbours in their configured order before the continent",
			client:      policy.Client{Country: "NZ", Key: policy.KeyString("k")},
			want:        []string{"au-sydney", "au-melbourne", "sg", "jp-tokyo"}[:3],
			wantReasons: []string{"neighbour", "neighbour", "neighbour"},
		},
		{
			name:        "continent fills to min when the country has none",
			client:      policy.Client{Country: "AT", Key: policy.KeyString("k")},
			want:        []string{"de-berlin", "de-isp", "bg-sofia"},
			wantReasons: []string{"continent", "continent", "continent"},
		},
		{
			name:        "after its country, the rest by distance on any continent (South Africa: Nairobi, then Tel Aviv before Tunis)",
			client:      policy.Client{Country: "ZA", Key: policy.KeyString("k")},
			want:        []string{"za-jnb", "ke-nairobi", "il-telaviv", "tn-tunis"},
			wantReasons: []string{"country", "continent", "world", "continent"},
		},
		{
			name:        "continent only (no country) orders from the continent's point",
			client:      policy.Client{Continent: country.SouthAmerica, Key: policy.KeyString("k")},
			want:        []string{"br-sp", "us-nyc"},
			wantReasons: []string{"continent", "world"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := set.Select(tt.client)
			if n := len(tt.want); len(got) < n || !slices.Equal(names(got)[:n], tt.want) {
				t.Errorf("got %v, want prefix %v (reasons %v)", names(got), tt.want, reasons(got))
			}
			if n := len(tt.wantReasons); n > 0 && (len(got) < n || !slices.Equal(reasons(got)[:n], tt.wantReasons)) {
				t.Errorf("reasons %v, want prefix %v", reasons(got), tt.wantReasons)
			}
			if slices.Contains(names(got), "corp-private") && !tt.client.Addr.IsValid() {
				t.Errorf("private mirror offered to a client outside its networks: %v", names(got))
			}
		})
	}
}

func TestSelectMinMax(t *testing.T) {
	inv := network(t, "min = 2\nmax = 3\n", world...)
	set := policy.NewSet(inv, nil, policy.Want{})
	tests := []struct {
		name   string
		client policy.Client
		want   int
	}{
		{"a country tier with 2 meets min 2 and stops there", policy.Client{Country: "AU", Key: policy.KeyString("k")}, 2},
		{"a tier larger than max is cut at max", policy.Client{Continent: country.Europe, Key: policy.KeyString("k")}, 3},
		{"one in the country is filled from later tiers up to max", policy.Client{Country: "JP", Key: policy.KeyString("k")}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.Select(tt.client); len(got) != tt.want {
				t.Errorf("got %d entries %v (%v), want %d", len(got), names(got), reasons(got), tt.want)
			}
		})
	}
}

func TestSelectUnknownClientGetsAllPublicByWeight(t *testing.T) {
	inv := network(t, worldPolicy, world...)
	set := policy.NewSet(inv, nil, policy.Want{})
	got := set.Select(policy.Client{Key: policy.KeyString("global")})
	if len(got) != len(world)-1 {
		t.Fatalf("got %d mirrors %v, want every public mirror (%d), uncapped", len(got), names(got), len(world)-1)
	}
	for _, c := range got {
		if c.Reason != policy.Weight || c.DistanceKm != -1 {
			t.Errorf("%s: reason %v distance %v, want weight and -1", c.Mirror.Name, c.Reason, c.DistanceKm)
		}
		if !c.Mirror.Public {
			t.Errorf("private mirror %s offered to an unknown client", c.Mirror.Name)
		}
	}
}

func TestSelectDistance(t *testing.T) {
	inv := network(t, worldPolicy, world...)
	set := policy.NewSet(inv, nil, policy.Want{})
	got := set.Select(policy.Client{Country: "DE", Coord: country.Coord{Lat: 52.52, Lon: 13.40}, HasCoord: true, Key: policy.KeyString("k")})
	if got[0].Mirror.Name != "de-berlin" || got[0].DistanceKm > 1 {
		t.Errorf("first = %s at %.0f km, want de-berlin at 0 km", got[0].Mirror.Name, got[0].DistanceKm)
	}
	if d := got[1].DistanceKm; math.Abs(d-424) > 10 {
		t.Errorf("Berlin-Frankfurt = %.0f km, want about 424", d)
	}
}

func TestHealth(t *testing.T) {
	inv := network(t, "min = 10\nmax = 10\n",
		mirror{"a", "DE", ""},
		mirror{"b", "DE", ""},
		mirror{"c", "DE", "http = \"http://c/pub/\""},
		mirror{"d", "DE", "archs = [\"x86_64\"]"},
	)
	x86 := inv.Variants()[0]
	arm := inv.Variants()[1]
	de := func(f inventory.Family) policy.Client {
		return policy.Client{Country: "DE", Family: f, Key: policy.KeyString("k")}
	}
	tests := []struct {
		name   string
		snap   *state.Snapshot
		want   policy.Want
		client policy.Client
		names  []string
	}{
		{"no snapshot: every declared mirror that carries the repo", nil, policy.Want{Variant: &arm}, de(inventory.IPv4), []string{"a", "b", "c"}},
		{"IPv6 client: only mirrors whose IPv6 endpoint is healthy",
			statetest.Healthy(inv, func(n string, e *state.Endpoint) { e.Healthy = !(n == "a" && e.Family == state.IPv6) }),
			policy.Want{Variant: &x86}, de(inventory.IPv6), []string{"b", "c", "d"}},
		{"IPv4 client keeps the mirror that is down over IPv6 only",
			statetest.Healthy(inv, func(n string, e *state.Endpoint) { e.Healthy = !(n == "a" && e.Family == state.IPv6) }),
			policy.Want{Variant: &x86}, de(inventory.IPv4), []string{"a", "b", "c", "d"}},
		{"a repo that is not fresh at the mirror is not offered",
			statetest.Healthy(inv, func(n string, e *state.Endpoint) {
				for i := range e.Repos {
					if n == "b" && e.Repos[i].Arch == "x86_64" {
						e.Repos[i].Fresh = false
					}
				}
			}),
			policy.Want{Variant: &x86}, de(inventory.IPv4), []string{"a", "c", "d"}},
		{"a mirror the snapshot does not know is excluded",
			func() *state.Snapshot { s := statetest.Healthy(inv, nil); delete(s.Mirrors, "d"); return s }(),
			policy.Want{Variant: &x86}, de(inventory.IPv4), []string{"a", "b", "c"}},
		{"https down but http healthy keeps the mirror (protocol set http+https)",
			statetest.Healthy(inv, func(n string, e *state.Endpoint) { e.Healthy = !(n == "c" && e.Protocol == state.HTTPS) }),
			policy.Want{Variant: &x86}, de(inventory.IPv4), []string{"a", "b", "c", "d"}},
		{"asking for https only drops it",
			statetest.Healthy(inv, func(n string, e *state.Endpoint) { e.Healthy = !(n == "c" && e.Protocol == state.HTTPS) }),
			policy.Want{Variant: &x86, Protocols: []inventory.Protocol{inventory.HTTPS}}, de(inventory.IPv4), []string{"a", "b", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(policy.NewSet(inv, tt.snap, tt.want).Select(tt.client))
			slices.Sort(got)
			if !slices.Equal(got, tt.names) {
				t.Errorf("got %v, want %v", got, tt.names)
			}
		})
	}
}

func TestChoiceProtocols(t *testing.T) {
	inv := network(t, "", mirror{"c", "DE", "http = \"http://c/pub/\""})
	snap := statetest.Healthy(inv, func(n string, e *state.Endpoint) { e.Healthy = e.Protocol != state.HTTPS || e.Family == state.IPv4 })
	set := policy.NewSet(inv, snap, policy.Want{})
	for _, tt := range []struct {
		fam       inventory.Family
		https     bool
		http      bool
		rationale string
	}{
		{inventory.IPv4, true, true, "both healthy over IPv4"},
		{inventory.IPv6, false, true, "https is down over IPv6, so lists must print the http URL"},
	} {
		c := set.Select(policy.Client{Country: "DE", Family: tt.fam})[0]
		if c.Has(inventory.HTTPS) != tt.https || c.Has(inventory.HTTP) != tt.http {
			t.Errorf("%v: https=%v http=%v, want %v %v (%s)", tt.fam, c.Has(inventory.HTTPS), c.Has(inventory.HTTP), tt.https, tt.http, tt.rationale)
		}
	}
}

func TestStableAndSpreadByWeight(t *testing.T) {
	// Three mirrors in one city: one band, so first place is decided by
	// weighted rendezvous hashing alone.
	inv := network(t, "min = 3\nmax = 3\nband_km = 50\n",
		mirror{"w100", "DE", at(50.1, 8.7) + "\nweight = 100"},
		mirror{"w200", "DE", at(50.1, 8.7) + "\nweight = 200"},
		mirror{"w300", "DE", at(50.1, 8.7) + "\nweight = 300"},
	)
	set := policy.NewSet(inv, nil, policy.Want{})
	const keys = 10000
	first := map[string]int{}
	for i := range keys {
		c := policy.Client{Country: "DE", Key: policy.KeyString(fmt.Sprintf("198.51.%d.%d/24", i/256, i%256))}
		got := set.Select(c)
		again := set.Select(c)
		if !slices.Equal(names(got), names(again)) {
			t.Fatalf("key %d: order changed between calls: %v then %v", c.Key, names(got), names(again))
		}
		first[got[0].Mirror.Name]++
	}
	for name, w := range map[string]float64{"w100": 100, "w200": 200, "w300": 300} {
		want := w / 600
		share := float64(first[name]) / keys
		if math.Abs(share-want) > 0.05*want {
			t.Errorf("%s first for %.2f%% of keys, want %.2f%% ±5%%", name, 100*share, 100*want)
		}
	}
}

func TestBandSeparatesNearFromFar(t *testing.T) {
	// Far mirror has a huge weight but is outside the band: it never
	// comes first, whatever the key.
	inv := network(t, "min = 2\nmax = 2\nband_km = 100\n",
		mirror{"near", "DE", at(52.5, 13.4)},
		mirror{"far", "DE", at(48.1, 11.6) + "\nweight = 100000"},
	)
	set := policy.NewSet(inv, nil, policy.Want{})
	for i := range 200 {
		got := set.Select(policy.Client{Country: "DE", Coord: country.Coord{Lat: 52.5, Lon: 13.4}, HasCoord: true, Key: policy.KeyString(fmt.Sprint(i))})
		if got[0].Mirror.Name != "near" {
			t.Fatalf("key %d: %v, want near first", i, names(got))
		}
	}
}

func TestAppendSelectDoesNotAllocateWithCapacity(t *testing.T) {
	inv := network(t, worldPolicy, world...)
	set := policy.NewSet(inv, nil, policy.Want{})
	c := policy.Client{Country: "DE", ASN: 3320, Key: policy.KeyString("81.1.2.0/24")}
	dst := make([]policy.Choice, 0, 16)
	got := set.AppendSelect(dst, c)
	if len(got) == 0 || &got[:1][0] != &dst[:1][0] {
		t.Fatalf("AppendSelect did not reuse dst")
	}
}

func BenchmarkSelect(b *testing.B) {
	var ms []mirror
	for i := range 400 {
		info := country.All()[i%len(country.All())]
		ms = append(ms, mirror{fmt.Sprintf("m%d", i), string(info.Code), fmt.Sprintf("weight = %d", 50+i%200)})
	}
	inv := network(b, "", ms...)
	set := policy.NewSet(inv, nil, policy.Want{})
	c := policy.Client{Country: "DE", ASN: 3320, Key: policy.KeyString("81.1.2.0/24")}
	dst := make([]policy.Choice, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = set.AppendSelect(dst[:0], c)
	}
}

func TestClientOf(t *testing.T) {
	de := geo.Info{Country: "DE", Continent: "EU", Coord: country.Coord{Lat: 52.52, Lon: 13.40}, HasCoord: true, ASN: 3320, ASOrg: "Deutsche Telekom AG"}
	addr := netip.MustParseAddr
	tests := []struct {
		name   string
		a      netip.Addr
		bits   int
		info   geo.Info
		family inventory.Family
		key    uint64
	}{
		{"a plain IPv4 address is keyed by its /24", addr("81.1.2.3"), 32, de, inventory.IPv4, policy.KeyAddr(addr("81.1.2.0"), 24)},
		{"an ECS /24 is keyed like an address in it", addr("81.1.2.0"), 24, de, inventory.IPv4, policy.KeyAddr(addr("81.1.2.99"), 32)},
		{"an ECS /16 is keyed by its 16 bits only", addr("81.1.0.0"), 16, de, inventory.IPv4, policy.KeyAddr(addr("81.1.0.0"), 16)},
		{"a plain IPv6 address is keyed by its /48", addr("2a01:db8:1::7"), 128, de, inventory.IPv6, policy.KeyAddr(addr("2a01:db8:1:ffff::"), 48)},
		{"an IPv4-mapped address is IPv4", addr("::ffff:81.1.2.3"), 128, de, inventory.IPv4, policy.KeyAddr(addr("81.1.2.3"), 32)},
		{"an address GeoIP does not know keeps only its address", addr("192.0.2.1"), 32, geo.Info{}, inventory.IPv4, policy.KeyAddr(addr("192.0.2.1"), 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policy.ClientOf(tt.a, tt.bits, tt.info)
			want := policy.Client{
				Addr: tt.a, Family: tt.family,
				ASN: tt.info.ASN, Country: tt.info.Country, Continent: tt.info.Continent,
				Coord: tt.info.Coord, HasCoord: tt.info.HasCoord, Key: tt.key,
			}
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
	if policy.ClientOf(addr("81.1.0.0"), 16, de).Key == policy.ClientOf(addr("81.1.0.0"), 24, de).Key {
		t.Error("an ECS /16 and a /24 at the same address share a key, but the /16 knows less")
	}
	if n := testing.AllocsPerRun(100, func() { policy.ClientOf(addr("2a01:db8:1::7"), 56, de) }); n != 0 {
		t.Errorf("ClientOf allocates %v times; dnsd calls it per query", n)
	}
}

// keyAddrFNV is KeyAddr as first written: FNV-1a over all 16 bytes of
// the masked address, then the bit count. Keys are in every list gen has
// written and every answer dnsd gave; the folded version must keep them.
func keyAddrFNV(a netip.Addr, bits int) uint64 {
	a = a.Unmap()
	limit := policy.KeyBitsV4
	if a.Is6() {
		limit = policy.KeyBitsV6
	}
	p, err := a.Prefix(min(bits, limit))
	if err != nil {
		return 0
	}
	b := p.Addr().As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= uint64(min(bits, limit))
	h *= 1099511628211
	return h
}

func TestKeyAddrKeepsItsValues(t *testing.T) {
	addr := netip.MustParseAddr
	addrs := []netip.Addr{{}, addr("0.0.0.0"), addr("255.255.255.255"), addr("81.1.2.3"), addr("::ffff:81.1.2.3"),
		addr("::"), addr("2a01:db8:1::7"), addr("fe80::1%eth0"), addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		addrs = append(addrs, netip.AddrFrom16(b), netip.AddrFrom4([4]byte(b[:4])))
	}
	for _, a := range addrs {
		for _, bits := range []int{-1, 0, 1, 7, 8, 16, 23, 24, 25, 32, 33, 47, 48, 49, 64, 128, 129} {
			if got, want := policy.KeyAddr(a, bits), keyAddrFNV(a, bits); got != want {
				t.Fatalf("KeyAddr(%v, %d) = %#x, want %#x", a, bits, got, want)
			}
		}
	}
}
