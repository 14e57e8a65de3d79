package policy

import (
	"math"
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
	// What a client's answer depends on, per family: the candidates
	// healthy over it that each tier can hold. A tier is then ranked
	// from its own members, not from a pass over the whole network.
	fam     [inventory.NumFamilies]famIndex
	subnets subnetTable // every candidate with subnets, whatever its health
	// asnChord2 is the square of the chord of ASNMaxKm: an ASN match is
	// near when its chord is no longer (see asnNear).
	asnChord2 float64
}

type candidate struct {
	m         *inventory.Mirror
	country   country.Code // m.Country, beside what a tier is ranked by
	continent country.Continent
	vec       country.Vec // where the mirror stands, when placed
	placed    bool        // it has a country or lat/lon (see distKm)
	nameHash  uint64
	mixed     uint64                       // mix64(nameHash): what rendezvous mixes the key with
	weight    float64                      // the mirror's weight
	up        [inventory.NumFamilies]uint8 // healthy acceptable protocols, per family
}

// famIndex is one family's view of a Set.
type famIndex struct {
	pub       []int32                  // public candidates healthy over the family
	byCountry map[country.Code][]int32 // the same by country
	byASN     map[uint32][]int32       // every candidate healthy over the family, by declared ASN
}

// NewSet prepares inv for w with the health in snap. With a nil snapshot
// nothing is verified and every declared endpoint counts as healthy (gen
// says so loudly); with a snapshot, a mirror it does not mention is never
// offered.
func NewSet(inv *inventory.Inventory, snap *state.Snapshot, w Want) *Set {
	s := candidates(inv, snap, w)
	s.index()
	return s
}

// NewSets prepares inv for each of ws with the health in snap, as NewSet
// does; the Wants that admit the same mirrors with the same health (see
// Same) share one Set, indexed once. gen asks for one Set per
// repository, release and arch, and most have the same mirrors: it
// ranks each distinct Set's lists once.
func NewSets(inv *inventory.Inventory, snap *state.Snapshot, ws []Want) []*Set {
	sets := make([]*Set, len(ws))
	var distinct []*Set
	for i, w := range ws {
		s := candidates(inv, snap, w)
		if k := slices.IndexFunc(distinct, s.Same); k >= 0 {
			sets[i] = distinct[k]
			continue
		}
		s.index()
		distinct = append(distinct, s)
		sets[i] = s
	}
	return sets
}

// candidates returns the Set of inv for w, not indexed.
func candidates(inv *inventory.Inventory, snap *state.Snapshot, w Want) *Set {
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
		h := hashString(m.Name)
		c := candidate{m: m, country: m.Country, continent: m.Continent(), vec: m.Coord.Vec(), placed: m.Placed(), nameHash: h, mixed: mix64(h), weight: float64(m.Weight)}
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

// index builds what ranking a tier needs: per family the public
// candidates, by country, and everyone by declared ASN; the subnet table.
func (s *Set) index() {
	s.asnChord2 = country.KmChord2(s.p.ASNMaxKm)
	for f := range inventory.NumFamilies {
		fi := &s.fam[f]
		fi.byCountry = map[country.Code][]int32{}
		fi.byASN = map[uint32][]int32{}
		for i := range s.cands {
			cd := &s.cands[i]
			if cd.up[f] == 0 {
				continue
			}
			for _, asn := range cd.m.ASNs {
				if l := fi.byASN[asn]; len(l) == 0 || l[len(l)-1] != int32(i) {
					fi.byASN[asn] = append(l, int32(i))
				}
			}
			if cd.m.Public {
				fi.pub = append(fi.pub, int32(i))
				if cd.m.Country != "" {
					fi.byCountry[cd.m.Country] = append(fi.byCountry[cd.m.Country], int32(i))
				}
			}
		}
	}
	s.subnets = newSubnetTable(s.cands)
}

// distKm is how far candidate i is from where, in km. A mirror with no
// country and no lat/lon (inventory.Mirror.Placed) is infinitely far
// from everyone: it ranks behind every placed mirror of its tier, is
// never near enough for an ASN match of a located client, and is
// offered to one only when no placed mirror fills the list.
func (s *Set) distKm(where country.Vec, i int32) float64 {
	cd := &s.cands[i]
	if !cd.placed {
		return math.Inf(1)
	}
	return where.DistanceKm(cd.vec)
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

// SameFamilies reports whether every mirror of s is healthy over IPv4
// and IPv6 alike, with the same protocols: then a client gets the same
// list over either family (Select depends on the family only through
// that), and gen ranks each of its lists once for both.
func (s *Set) SameFamilies() bool {
	for i := range s.cands {
		if s.cands[i].up[inventory.IPv4] != s.cands[i].up[inventory.IPv6] {
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
