package policy_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// states is a network with mirrors in several US states (and one that
// declares none), Canada and Mexico.
var states = []mirror{
	{"us-nyc", "US", at(40.71, -74.01) + "\nsubdivision = \"US-NY\""},
	{"us-buf", "US", at(42.89, -78.88) + "\nsubdivision = \"US-NY\""},
	{"us-sfo", "US", at(37.77, -122.42) + "\nsubdivision = \"US-CA\""},
	{"us-lax", "US", at(34.05, -118.24) + "\nsubdivision = \"US-CA\""},
	{"us-chi", "US", at(41.88, -87.63) + "\nsubdivision = \"US-IL\""},
	{"us-kc", "US", at(39.10, -94.58)},
	{"us-corp", "US", at(37.39, -122.08) + "\nsubdivision = \"US-CA\"\nasn = 64500\npublic = false"},
	{"ca-tor", "CA", at(43.65, -79.38) + "\nsubdivision = \"CA-ON\""},
	{"mx-mex", "MX", at(19.43, -99.13)},
}

// Issue 14, item 4: a client known by its subdivision (a subdivision's
// static list, an edge's client) gets the mirrors of its subdivision
// first, then the rest of its country as the country's list orders them,
// then what follows the country; the subdivision changes nothing else.
func TestSelectSubdivision(t *testing.T) {
	inv := network(t, "min = 3\nmax = 7\nband_km = 0\n", states...)
	set := policy.NewSet(inv, nil, policy.Want{})
	us := func(sub country.Subdivision) policy.Client {
		return policy.Client{Country: "US", Subdivision: sub, Key: policy.KeyString("k")}
	}
	// Located at the country's point (in Illinois) and band_km 0, the
	// country's list is by distance from it.
	countryOrder := []string{"us-chi", "us-kc", "us-buf", "us-nyc", "us-lax", "us-sfo"}
	tests := []struct {
		name    string
		client  policy.Client
		want    []string
		reasons []string
	}{
		{"without a subdivision: the country's list", us(""), countryOrder, nil},
		{"the subdivision's mirrors first, then the rest of the country in the country's order",
			us("US-CA"), []string{"us-lax", "us-sfo", "us-chi", "us-kc", "us-buf", "us-nyc"},
			[]string{"country", "country", "country", "country", "country", "country"}},
		{"two mirrors in the subdivision", us("US-NY"), []string{"us-buf", "us-nyc", "us-chi", "us-kc", "us-lax", "us-sfo"}, nil},
		{"a subdivision without mirrors: the country's order", us("US-TX"), countryOrder, nil},
		{"a private mirror in the subdivision stays private", us("US-CA"), []string{"us-lax", "us-sfo", "us-chi"}, nil},
		{"with its ASN the private mirror comes first, as an ASN match",
			policy.Client{ASN: 64500, Country: "US", Subdivision: "US-CA", Key: policy.KeyString("k")},
			[]string{"us-corp", "us-lax", "us-sfo", "us-chi", "us-kc", "us-buf", "us-nyc"},
			[]string{"asn", "country", "country", "country", "country", "country", "country"}},
		{"the tiers after the country are the country's",
			policy.Client{Country: "CA", Subdivision: "CA-BC", Key: policy.KeyString("k")},
			[]string{"ca-tor", "us-buf", "us-nyc"}, []string{"country", "continent", "continent"}},
		{"a subdivision of another country changes nothing",
			policy.Client{Country: "MX", Subdivision: "US-CA", Key: policy.KeyString("k")},
			[]string{"mx-mex", "us-kc", "us-lax"}, nil},
		{"a located client: its subdivision's mirrors first, each part nearest first",
			policy.Client{Country: "US", Subdivision: "US-NY", Coord: country.Coord{Lat: 37.77, Lon: -122.42}, HasCoord: true, Key: policy.KeyString("k")},
			[]string{"us-buf", "us-nyc", "us-sfo", "us-lax", "us-kc", "us-chi"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := set.Select(tt.client)
			want := tt.want
			if len(got) < len(want) {
				t.Fatalf("got %v, want %v first", names(got), want)
			}
			if got := names(got)[:len(want)]; !slices.Equal(got, want) {
				t.Errorf("got %v, want %v first", got, want)
			}
			if tt.reasons != nil && !slices.Equal(reasons(got)[:len(tt.reasons)], tt.reasons) {
				t.Errorf("reasons %v, want %v", reasons(got), tt.reasons)
			}
		})
	}
	// The subdivision and the rest of its country are one tier: a
	// subdivision that fills min does not end the list before the rest
	// of its country, as the country's list has it.
	inv = network(t, "min = 2\nmax = 7\nband_km = 0\n", states...)
	if got := names(policy.NewSet(inv, nil, policy.Want{}).Select(us("US-NY"))); !slices.Equal(got, []string{"us-buf", "us-nyc", "us-chi", "us-kc", "us-lax", "us-sfo"}) {
		t.Errorf("min 2 for US-NY: got %v, want the two in US-NY, then the rest of US", got)
	}
	// Max still cuts: the subdivision's mirrors are the ones kept.
	inv = network(t, "min = 2\nmax = 2\nband_km = 0\n", states...)
	if got := names(policy.NewSet(inv, nil, policy.Want{}).Select(us("US-CA"))); !slices.Equal(got, []string{"us-lax", "us-sfo"}) {
		t.Errorf("max 2 for US-CA: got %v, want [us-lax us-sfo]", got)
	}
}

// dnsd and lookup --ip rank a located client by distance: ClientOf leaves
// its GeoIP subdivision out of the policy's client, so what dnsd answers
// does not change with sub-country lists.
func TestClientOfLeavesTheSubdivisionOut(t *testing.T) {
	info := geo.Info{Country: "US", SubdivisionCode: "CA", Continent: "NA", Coord: country.Coord{Lat: 37.77, Lon: -122.42}, HasCoord: true}
	if c := policy.ClientOf(netip.MustParseAddr("73.2.3.4"), 32, info); c.Subdivision != "" || c.Country != "US" {
		t.Errorf("ClientOf = %+v, want country US and no subdivision", c)
	}
}
