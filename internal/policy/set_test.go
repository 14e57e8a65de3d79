package policy_test

import (
	"slices"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// TestSameFamilies: a Set says its lists are the same over both families
// only when every mirror has the same healthy protocols over both; a
// mirror down over IPv6, or reachable there over http only, makes them
// differ.
func TestSameFamilies(t *testing.T) {
	inv := network(t, worldPolicy, world...)
	tests := []struct {
		name string
		edit func(m string, e *state.Endpoint) // nil: no snapshot
		want bool
	}{
		{"no snapshot: every endpoint counts as healthy", nil, true},
		{"every endpoint healthy", func(string, *state.Endpoint) {}, true},
		{"one mirror down over IPv6", func(m string, e *state.Endpoint) {
			e.Healthy = !(m == world[0].name && e.Family == state.IPv6)
		}, false},
		{"one mirror down over IPv4", func(m string, e *state.Endpoint) {
			e.Healthy = !(m == world[1].name && e.Family == state.IPv4)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var snap *state.Snapshot
			if tt.edit != nil {
				snap = statetest.Healthy(inv, tt.edit)
			}
			set := policy.NewSet(inv, snap, policy.Want{})
			if got := set.SameFamilies(); got != tt.want {
				t.Fatalf("SameFamilies() = %v, want %v", got, tt.want)
			}
			if tt.want {
				c := policy.Client{Country: "DE", Key: 1}
				v4 := set.Select(c)
				c.Family = inventory.IPv6
				if v6 := set.Select(c); !slices.Equal(v4, v6) {
					t.Fatalf("same families, different lists:\nIPv4 %v\nIPv6 %v", names(v4), names(v6))
				}
			}
		})
	}
	t.Run("a mirror that offers IPv6 clients http only", func(t *testing.T) {
		inv := network(t, worldPolicy, mirror{"both", "DE", `http = "http://both/pub/"`})
		snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
			e.Healthy = !(e.Protocol == state.HTTPS && e.Family == state.IPv6)
		})
		if policy.NewSet(inv, snap, policy.Want{}).SameFamilies() {
			t.Fatal("SameFamilies() = true with https healthy over IPv4 only")
		}
	})
}

// TestNewSetsShareOnlyEqualSets: NewSets gives the Wants that admit the
// same mirrors one Set, a Want that admits others a Set of its own, and
// each Set answers as NewSet's for the same Want does.
func TestNewSetsShareOnlyEqualSets(t *testing.T) {
	inv := network(t, worldPolicy, append(slices.Clone(world), mirror{"x86-only", "FR", `archs = ["x86_64"]`})...)
	vs := inv.Variants() // baseos 9 x86_64, baseos 9 aarch64
	if len(vs) != 2 {
		t.Fatalf("%d variants, want 2", len(vs))
	}
	wants := []policy.Want{{Variant: &vs[0]}, {Variant: &vs[1]}, {Variant: &vs[0]}, {}}
	sets := policy.NewSets(inv, nil, wants)
	switch {
	case sets[0] != sets[2]:
		t.Error("two Wants for the same variant got two Sets")
	case sets[0] == sets[1]:
		t.Error("x86_64 and aarch64, which x86-only does not carry, share a Set")
	case sets[3] != sets[0]:
		t.Error("the Want of any variant and x86_64's, which admit the same mirrors, do not share a Set")
	}
	for i, w := range wants {
		for _, c := range []policy.Client{{Country: "FR", Key: 7}, {Country: "NZ", Key: 8}, {Key: 9}, {Coord: country.Coord{Lat: 10, Lon: 10}, HasCoord: true, Key: 10}} {
			if got, want := sets[i].Select(c), policy.NewSet(inv, nil, w).Select(c); !slices.Equal(got, want) {
				t.Errorf("want %d, client %+v: NewSets' %v, NewSet's %v", i, c, names(got), names(want))
			}
		}
	}
}
