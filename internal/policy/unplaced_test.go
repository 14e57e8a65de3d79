package policy_test

import (
	"slices"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// TestUnplacedMirrors checks what the policy does with a mirror that has
// no country and no lat/lon (nothing placed it from its address): it is
// in no country's tier, behind every placed mirror, never an ASN match
// of a located client, and by weight among everyone for a client of
// whom nothing is known.
func TestUnplacedMirrors(t *testing.T) {
	ms := []mirror{
		{"de", "DE", ""},
		{"au", "AU", ""},
		{"us", "US", ""},
		{"heavy", "", "weight = 100000\nasn = [64500]"}, // unplaced
		{"sydney", "", at(-33.87, 151.21)},              // no country, but a position
	}
	inv := network(t, "min = 5\nmax = 5\nband_km = 0\n", ms...)
	set := policy.NewSet(inv, nil, policy.Want{})
	type row struct{ name, reason string }
	list := func(cs []policy.Choice) []row {
		out := make([]row, len(cs))
		for i, c := range cs {
			out[i] = row{c.Mirror.Name, c.Reason.String()}
		}
		return out
	}
	tests := []struct {
		rule   string
		client policy.Client
		want   []row
	}{
		{"an unplaced mirror is in no country's tier, and last",
			policy.Client{Country: "DE"},
			[]row{{"de", "country"}, {"us", "world"}, {"au", "world"}, {"sydney", "world"}, {"heavy", "world"}}},
		{"a mirror with lat/lon but no country ranks by distance",
			policy.Client{Country: "NZ"},
			[]row{{"sydney", "world"}, {"au", "continent"}, {"us", "world"}, {"de", "world"}, {"heavy", "world"}}},
		{"an ASN match of a located client needs a placed mirror",
			policy.Client{Country: "DE", ASN: 64500},
			[]row{{"de", "country"}, {"us", "world"}, {"au", "world"}, {"sydney", "world"}, {"heavy", "world"}}},
		{"a client known by its ASN alone gets every mirror of it",
			policy.Client{ASN: 64500, Key: 1},
			[]row{{"heavy", "asn"}}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := list(set.Select(tt.client))
			if tt.rule == "a client known by its ASN alone gets every mirror of it" {
				got = got[:1]
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	for _, c := range set.Select(policy.Client{Country: "DE"}) {
		if c.Mirror.Name == "heavy" && c.DistanceKm != -1 {
			t.Errorf("an unplaced mirror's distance is unknown (-1), got %v", c.DistanceKm)
		}
	}
	if got := names(set.Select(policy.Client{Key: 7})); !slices.Contains(got, "heavy") || len(got) != 5 {
		t.Errorf("a client of whom nothing is known gets every mirror by weight, unplaced ones too: %v", got)
	}

	// Full lists of placed mirrors leave it out.
	small := policy.NewSet(network(t, "min = 1\nmax = 2\n", ms...), nil, policy.Want{})
	if got := names(small.Select(policy.Client{Country: "JP"})); slices.Contains(got, "heavy") {
		t.Errorf("a list that placed mirrors fill holds no unplaced one: %v", got)
	}

	// The compiled table agrees, also where only unplaced mirrors are
	// left: it is the band then, by weight.
	only := network(t, "min = 1\nmax = 3\n", mirror{"x", "", ""}, mirror{"y", "", "weight = 300"})
	locs := []geo.Location{{Country: "DE", Continent: "EU"}, {Country: "JP", Coord: country.Coord{Lat: 35.68, Lon: 139.69}, HasCoord: true}}
	for _, inv := range []*inventory.Inventory{inv, only} {
		s := policy.NewSet(inv, nil, policy.Want{})
		table := s.Compile(locs)
		for loc, l := range locs {
			for key := range uint64(200) {
				c := policy.Client{Country: l.Country, Continent: l.Continent, Coord: l.Coord, HasCoord: l.HasCoord, Key: key}
				want := s.Select(c)[0]
				i, reason, ok := table.First(&c, int32(loc))
				if !ok || table.Mirror(i) != want.Mirror || reason != want.Reason {
					t.Fatalf("%s, key %d: table gives %v (%v), Select %s (%v)", l.Country, key, table.Mirror(i).Name, reason, want.Mirror.Name, want.Reason)
				}
			}
		}
	}
}
