package policy

import (
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Want is what a client asks for.
type Want struct {
	// Variant is the repository, release and arch; nil asks for the
	// mirror itself (dnsd names), whatever it carries.
	Variant *inventory.Variant
	// Protocols are the acceptable ways to reach a mirror; nil means http
	// and https, what every client this project writes lists for speaks.
	Protocols []inventory.Protocol
	// DNSName, when set, admits only the mirrors that list this [dns]
	// name in their dns key: what dnsd answers download.<zone> from, and
	// lookup --name shows.
	DNSName string
}

// Set is the network prepared for one Want: every mirror with, per address
// family, the acceptable protocols that are healthy and carry the Want.
// Building it costs one pass over the inventory; Select then only ranks.
type Set struct {
	inv   *inventory.Inventory
	p     Params
	cands []candidate
}

type candidate struct {
	m         *inventory.Mirror
	continent country.Continent
	nameHash  uint64
	up        [inventory.NumFamilies]uint8 // healthy acceptable protocols, per family
}

// NewSet prepares inv for w with the health in snap. With a nil snapshot
// nothing is verified and every declared endpoint counts as healthy (gen
// says so loudly); with a snapshot, a mirror it does not mention is never
// offered.
func NewSet(inv *inventory.Inventory, snap *state.Snapshot, w Want) *Set {
	protos := w.Protocols
	if protos == nil {
		protos = []inventory.Protocol{inventory.HTTP, inventory.HTTPS}
	}
	s := &Set{inv: inv, p: inv.Policy, cands: make([]candidate, 0, len(inv.Mirrors))}
	for _, m := range inv.Mirrors {
		if w.Variant != nil && !m.Carries(*w.Variant) {
			continue
		}
		if w.DNSName != "" && !slices.Contains(m.DNS, w.DNSName) {
			continue
		}
		c := candidate{m: m, continent: m.Continent(), nameHash: hashString(m.Name)}
		for _, p := range protos {
			if m.URL(p) == "" {
				continue
			}
			for f := range inventory.NumFamilies {
				if healthy(snap, m, p, f, w.Variant) {
					c.up[f] |= protoBit(p)
				}
			}
		}
		if c.up != [inventory.NumFamilies]uint8{} {
			s.cands = append(s.cands, c)
		}
	}
	return s
}

// Same reports whether s and t, built from the same inventory, offer the
// same mirrors with the same health, so every client gets the same list from
// both: gen computes the lists of one such set once and reuses them for
// every repository, release and arch that has it.
func (s *Set) Same(t *Set) bool {
	if s.inv != t.inv || len(s.cands) != len(t.cands) {
		return false
	}
	for i := range s.cands {
		if s.cands[i].m != t.cands[i].m || s.cands[i].up != t.cands[i].up {
			return false
		}
	}
	return true
}

// Len returns how many mirrors can be offered to someone.
func (s *Set) Len() int { return len(s.cands) }

func healthy(snap *state.Snapshot, m *inventory.Mirror, p inventory.Protocol, f inventory.Family, v *inventory.Variant) bool {
	if snap == nil {
		return true
	}
	ep := snap.Endpoint(m.Name, p, f)
	if ep == nil || !ep.Healthy {
		return false
	}
	return v == nil || ep.Fresh(v.Repo.Name, v.Release, v.Arch)
}

func protoBit(p inventory.Protocol) uint8 {
	switch p {
	case inventory.HTTP:
		return 1
	case inventory.HTTPS:
		return 2
	case inventory.FTP:
		return 4
	case inventory.Rsync:
		return 8
	}
	return 0
}
