package policy_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// TestAppendSelectAllocatesNothingButItsAnswer: Select ranks in memory it
// keeps for the next call, so that gen's thousands of lists, and dnsd's
// misses, do not make garbage in proportion to the network. Given room
// for its answer, AppendSelect allocates nothing, whatever tiers it goes
// through.
func TestAppendSelectAllocatesNothingButItsAnswer(t *testing.T) {
	var ms []mirror
	for i := range 400 {
		info := country.All()[i%len(country.All())]
		extra := fmt.Sprintf("weight = %d\nasn = [%d]", 50+i%200, 64500+i%7)
		if i%50 == 0 {
			extra += fmt.Sprintf("\nsubnets = [\"10.%d.0.0/16\"]", i/50)
		}
		ms = append(ms, mirror{fmt.Sprintf("m%d", i), string(info.Code), extra})
	}
	set := policy.NewSet(network(t, "min = 5\nmax = 10\nband_km = 300", ms...), nil, policy.Want{})
	tests := []struct {
		name   string
		client policy.Client
	}{
		{"nothing known: every mirror by weight", policy.Client{Key: 1}},
		{"a country and the rest by distance", policy.Client{Country: "DE", Key: 2}},
		{"a continent alone: the rest by distance", policy.Client{Continent: "AF", Key: 3}},
		{"coordinates alone", policy.Client{Coord: country.Coord{Lat: -33.9, Lon: 18.4}, HasCoord: true, Key: 4}},
		{"an ASN near the client", policy.Client{ASN: 64501, Country: "FR", Key: 5}},
		{"a subnet match", policy.Client{Addr: netip.MustParseAddr("10.3.1.1"), Country: "JP", Key: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := set.Select(tt.client)
			dst := make([]policy.Choice, 0, len(want))
			allocs := testing.AllocsPerRun(50, func() {
				got := set.AppendSelect(dst[:0], tt.client)
				if !slices.Equal(got, want) {
					t.Fatalf("AppendSelect = %v, Select = %v", names(got), names(want))
				}
			})
			if allocs != 0 && !raceDetector {
				t.Errorf("AppendSelect with room for its answer: %v allocations, want 0", allocs)
			}
		})
	}
}
