package policy

// The policy as it was before it was compiled (issue 12), kept as the
// reference the compiled form must agree with: every Select, in every
// test network and for random clients, must give the same list.

import (
	"cmp"
	"math"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

type refSet struct {
	inv   *inventory.Inventory
	p     Params
	cands []refCandidate
}

type refCandidate struct {
	m         *inventory.Mirror
	continent country.Continent
	nameHash  uint64
	up        [inventory.NumFamilies]uint8
}

type refRanked struct {
	cand   *refCandidate
	tier   Reason
	rank   Reason
	sub    int
	dist   float64
	score  float64
	protos uint8
}

func refNewSet(inv *inventory.Inventory, snap *state.Snapshot, w Want) *refSet {
	protos := w.Protocols
	if protos == nil {
		protos = []inventory.Protocol{inventory.HTTP, inventory.HTTPS}
	}
	s := &refSet{inv: inv, p: inv.Policy, cands: make([]refCandidate, 0, len(inv.Mirrors))}
	for _, m := range inv.Mirrors {
		if w.Variant != nil && !m.Carries(*w.Variant) {
			continue
		}
		if w.DNSName != "" && !slices.Contains(m.DNS, w.DNSName) {
			continue
		}
		c := refCandidate{m: m, continent: m.Continent(), nameHash: hashString(m.Name)}
		for _, p := range protos {
			if m.URL(p) == "" {
				continue
			}
			for f := range inventory.NumFamilies {
				if refHealthy(snap, m, p, f, w.Variant) {
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

func refHealthy(snap *state.Snapshot, m *inventory.Mirror, p inventory.Protocol, f inventory.Family, v *inventory.Variant) bool {
	if snap == nil {
		return true
	}
	ep := snap.Endpoint(m.Name, p, f)
	if ep == nil || !ep.Healthy {
		return false
	}
	return v == nil || ep.Fresh(v.Repo.Name, v.Release, v.Arch)
}

func (s *refSet) appendSelect(dst []Choice, c Client) []Choice {
	if c.Continent == "" {
		c.Continent = c.Country.Continent()
	}
	where, located := c.Coord, c.HasCoord
	if !located {
		if cc, ok := c.Country.Coord(); ok {
			where, located = cc, true
		} else if c.Continent != "" {
			where, located = c.Continent.Coord(), true
		}
	}
	keyHash := c.Key
	rs := make([]refRanked, 0, len(s.cands))
	for i := range s.cands {
		cd := &s.cands[i]
		protos := cd.up[c.Family]
		if protos == 0 {
			continue
		}
		m := cd.m
		r := refRanked{cand: cd, protos: protos, dist: -1}
		if located {
			r.dist = math.Inf(1) // an unplaced mirror is behind every placed one
			if m.Placed() {
				r.dist = where.DistanceKm(m.Coord)
			}
		}
		r.tier, r.sub = s.refTier(c, cd, r.dist)
		if r.tier == 0 {
			continue // private, no network match
		}
		r.rank = min(r.tier, rest)
		r.score = refRendezvous(keyHash, cd.nameHash, m.Weight)
		rs = append(rs, r)
	}
	if !c.Known() {
		slices.SortFunc(rs, refByScore)
		for _, r := range rs {
			dst = append(dst, Choice{Mirror: r.cand.m, Reason: Weight, DistanceKm: -1, protos: r.protos})
		}
		return dst
	}
	slices.SortFunc(rs, func(a, b refRanked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.sub, b.sub), cmp.Compare(a.dist, b.dist), refByScore(a, b))
	})
	start := len(dst)
	for i := 0; i < len(rs); {
		// One tier (and neighbour) at a time: order it, then decide
		// whether the list needs the next one.
		j := i
		for j < len(rs) && rs[j].rank == rs[i].rank && rs[j].sub == rs[i].sub {
			j++
		}
		// Only the first Max-len entries of the tier can be listed: order
		// no more of it than that (the last tier is most of the network).
		need := s.p.Max - (len(dst) - start)
		if located {
			refSpread(rs[i:j], s.p.BandKm, need)
		} else {
			slices.SortFunc(rs[i:j], refByScore)
		}
		for _, r := range rs[i:min(j, i+need)] {
			d := r.dist
			if math.IsInf(d, 1) {
				d = -1
			}
			dst = append(dst, Choice{Mirror: r.cand.m, Reason: r.tier, DistanceKm: d, protos: r.protos})
		}
		if len(dst)-start == s.p.Max {
			return dst
		}
		if len(dst)-start >= s.p.Min {
			break
		}
		i = j
	}
	return dst
}

func (s *refSet) refTier(c Client, cd *refCandidate, dist float64) (Reason, int) {
	m := cd.m
	if c.Addr.IsValid() {
		a := c.Addr.Unmap()
		for _, p := range m.Subnets {
			if p.Contains(a) {
				return Subnet, 0
			}
		}
	}
	if c.ASN != 0 && slices.Contains(m.ASNs, c.ASN) && s.refASNNear(c, cd, dist) {
		return ASN, 0
	}
	switch {
	case !m.Public:
		return 0, 0
	case c.Country != "" && m.Country == c.Country:
		return Country, 0
	}
	if n := slices.Index(s.p.Neighbours[c.Country], m.Country); n >= 0 {
		return Neighbour, n
	}
	// The rest is one tier by distance: a continent line is no network
	// boundary (Egypt and Israel, Cyprus and Israel, Christmas Island and
	// Java are near neighbours across one), so it only names the reason.
	if c.Continent != "" && cd.continent == c.Continent {
		return Continent, 0
	}
	return World, 0
}

func (s *refSet) refASNNear(c Client, cd *refCandidate, dist float64) bool {
	switch {
	case c.HasCoord:
		return dist <= s.p.ASNMaxKm
	case c.Country != "":
		return cd.m.Country == c.Country
	case c.Continent != "":
		return cd.continent == c.Continent
	}
	return true
}

func refSpread(rs []refRanked, bandKm float64, need int) {
	for i := 0; i < len(rs) && i < need; {
		j := i + 1
		for j < len(rs) && rs[j].dist <= rs[i].dist+bandKm {
			j++
		}
		slices.SortFunc(rs[i:j], refByScore)
		i = j
	}
}

func refByScore(a, b refRanked) int {
	return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.cand.m.Name, b.cand.m.Name))
}

func refRendezvous(key, name uint64, weight int) float64 {
	h := mix64(key ^ mix64(name))
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return float64(weight) / -math.Log(u)
}
