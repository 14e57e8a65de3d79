package policy

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Select returns the ordered list for c from s.
func (s *Set) Select(c Client) []Choice {
	return s.AppendSelect(nil, c)
}

// AppendSelect appends the ordered list for c to dst and returns it.
//
// It ranks one tier at a time, each from its own members (the mirrors of
// the client's subnet, of its ASN, of its country, of each neighbour), and
// the rest of the network only when those tiers hold fewer than Min: a
// list costs what its tiers hold, not a pass over every mirror.
func (s *Set) AppendSelect(dst []Choice, c Client) []Choice {
	if c.Continent == "" {
		c.Continent = c.Country.Continent()
	}
	where, located := place(c)
	f := c.Family
	fi := &s.fam[f]
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	if !c.Known() {
		rs := sc.rs[:0]
		for _, i := range fi.pub {
			rs = append(rs, ranked{i: i, tier: Weight, dist: -1, score: s.score(c.Key, i)})
		}
		slices.SortFunc(rs, s.byScore)
		for _, r := range rs {
			dst = append(dst, s.choice(r, f))
		}
		sc.rs = rs
		return dst
	}
	sel := selection{s: s, c: c, where: where, located: located, dst: dst, start: len(dst), sc: sc}

	// Network matches first: the only way to a private mirror.
	taken := sc.taken[:0]
	defer func() { sc.taken = taken }()
	if c.Addr.IsValid() {
		for _, i := range s.subnets.lookup(c.Addr.Unmap()) {
			if s.cands[i].up[f] != 0 {
				taken = append(taken, i)
			}
		}
		if sel.group(taken, Subnet) {
			return sel.dst
		}
	}
	if c.ASN != 0 {
		n := len(taken)
		for _, i := range fi.byASN[c.ASN] {
			if !slices.Contains(taken[:n], i) && s.asnNear(&c, i, sel.dist(i)) {
				taken = append(taken, i)
			}
		}
		if sel.group(taken[n:], ASN) {
			return sel.dst
		}
	}

	// Then the client's country and its neighbours, in their order.
	members := sc.members[:0]
	defer func() { sc.members = members }()
	if c.Country != "" {
		members = without(members[:0], fi.byCountry[c.Country], taken)
		if c.Subdivision != "" {
			// The client's subdivision and the rest of its country are
			// ordered apart, but are one tier: the list does not stop
			// between them.
			k := 0
			for n, i := range members {
				if s.cands[i].m.Subdivision == c.Subdivision {
					members[k], members[n] = members[n], members[k]
					k++
				}
			}
			sel.rank(members[:k], Country)
			members = members[k:]
		}
		if sel.group(members, Country) {
			return sel.dst
		}
	}
	neighbours := s.p.Neighbours[c.Country]
	for n, cc := range neighbours {
		if cc == c.Country || slices.Contains(neighbours[:n], cc) {
			continue // counted where it first stands
		}
		members = without(members[:0], fi.byCountry[cc], taken)
		if sel.group(members, Neighbour) {
			return sel.dst
		}
	}

	// Then everyone else by distance, across continent lines.
	members = members[:0]
	for _, i := range fi.pub {
		cc := s.cands[i].country
		if (c.Country != "" && cc == c.Country) || slices.Contains(neighbours, cc) || slices.Contains(taken, i) {
			continue
		}
		members = append(members, i)
	}
	sel.group(members, rest)
	return sel.dst
}

// place is where c is: its coordinates, else its country's point, else
// its continent's.
func place(c Client) (country.Vec, bool) {
	switch {
	case c.HasCoord:
		return c.Coord.Vec(), true
	}
	if p, ok := c.Country.Coord(); ok {
		return p.Vec(), true
	}
	if c.Continent != "" {
		return c.Continent.Coord().Vec(), true
	}
	return country.Vec{}, false
}

// asnNear reports whether a match of the client's ASN with candidate i,
// dist km away, counts. An ASN can span continents (a hosting company, a
// pan-African carrier): its match only keeps traffic on one network where
// the mirror is also near, within ASNMaxKm of the client's coordinates.
// Without coordinates the client's country stands in for its location
// (the same country), then its continent; a client known by nothing but
// its ASN gets every mirror of it. Subnet matches count at any distance:
// that is how an operator keeps a deliberate far match.
func (s *Set) asnNear(c *Client, i int32, dist float64) bool {
	cd := &s.cands[i]
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

// without appends to dst the members of from that are not in taken.
func without(dst, from, taken []int32) []int32 {
	for _, i := range from {
		if !slices.Contains(taken, i) {
			dst = append(dst, i)
		}
	}
	return dst
}

// selection is one Select under way.
type selection struct {
	s       *Set
	c       Client
	where   country.Vec
	located bool
	dst     []Choice
	start   int
	sc      *scratch
}

// scratch is the memory one Select ranks in, kept for the next: a list
// costs its answer and nothing else, however many mirrors it ranks.
type scratch struct {
	rs             []ranked
	taken, members []int32
	near           []int32
	chord2, order  []float64
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// ranked is a candidate placed for one client.
type ranked struct {
	i     int32 // index in Set.cands
	tier  Reason
	dist  float64 // km, -1 when the client is not located
	score float64
}

func (sel *selection) dist(i int32) float64 {
	if !sel.located {
		return -1
	}
	return sel.s.distKm(sel.where, i)
}

// group ranks one tier's members, appends as many as the list takes, and
// reports whether the list is complete: Max entries, or at least Min
// after a whole tier. tier rest names each member continent or world.
func (sel *selection) group(members []int32, tier Reason) bool {
	sel.rank(members, tier)
	n := len(sel.dst) - sel.start
	return n > 0 && (n == sel.s.p.Max || n >= sel.s.p.Min)
}

// rank ranks members and appends as many as the list takes.
func (sel *selection) rank(members []int32, tier Reason) {
	if len(members) == 0 {
		return
	}
	s, c := sel.s, sel.c
	need := s.p.Max - (len(sel.dst) - sel.start)
	if need <= 0 {
		return
	}
	if sel.located && len(members) > 4*need {
		members = sel.near(members, need)
	}
	rs := sel.sc.rs[:0]
	for _, i := range members {
		rs = append(rs, ranked{i: i, dist: sel.dist(i)})
	}
	if sel.located && len(rs) > 4*need {
		// A large tier (the rest of the network): only mirrors within
		// BandKm of the need-th nearest can be among the first need
		// placed, as every band that places them starts no farther.
		order := sel.sc.order[:0]
		for _, r := range rs {
			order = append(order, r.dist)
		}
		sel.sc.order = order
		limit := nthFloat(order, need-1) + s.p.BandKm
		k := 0
		for _, r := range rs {
			if r.dist <= limit {
				rs[k] = r
				k++
			}
		}
		rs = rs[:k]
	}
	for k := range rs {
		r := &rs[k]
		r.tier = tier
		if tier == rest {
			r.tier = World
			if c.Continent != "" && s.cands[r.i].continent == c.Continent {
				r.tier = Continent
			}
		}
		r.score = s.score(c.Key, r.i)
	}
	sel.sc.rs = rs
	if sel.located {
		slices.SortFunc(rs, func(a, b ranked) int { return cmp.Or(cmp.Compare(a.dist, b.dist), s.byScore(a, b)) })
		// Mirrors within BandKm of the nearest remaining one are equally
		// near: order each band by score, until the first need entries
		// are in their final order.
		for i := 0; i < len(rs) && i < need; {
			j := i + 1
			for j < len(rs) && rs[j].dist <= rs[i].dist+s.p.BandKm {
				j++
			}
			slices.SortFunc(rs[i:j], s.byScore)
			i = j
		}
	} else {
		slices.SortFunc(rs, s.byScore)
	}
	for _, r := range rs[:min(len(rs), need)] {
		sel.dst = append(sel.dst, s.choice(r, c.Family))
	}
}

// near returns the members of a large tier that can be among its first
// need placed, from the squares of their chords, which cost a fraction of
// a distance in km: every member within BandKm of the need-th nearest,
// and a few just beyond (the members past that band are never placed
// ahead of it; see rank). A tier of thousands then costs a distance
// each only for the few dozen near the client.
func (sel *selection) near(members []int32, need int) []int32 {
	s, sc := sel.s, sel.sc
	c2 := sc.chord2[:0]
	for _, i := range members {
		cd := &s.cands[i]
		if !cd.placed {
			c2 = append(c2, math.Inf(1))
			continue
		}
		c2 = append(c2, sel.where.Chord2(cd.vec))
	}
	sc.chord2 = c2
	// The need-th smallest chord is the need-th nearest member, give or
	// take the rounding of ChordKm, which the kilometre of slack covers
	// many times over.
	sc.order = append(sc.order[:0], c2...)
	kth := nthFloat(sc.order, need-1)
	if math.IsInf(kth, 1) {
		return members // fewer than need placed: every unplaced one may be
	}
	bound := country.KmChord2(country.ChordKm(kth) + s.p.BandKm + 1)
	if bound >= 4 {
		return members // the band reaches the antipodes: everyone
	}
	near := sc.near[:0]
	for k, i := range members {
		if c2[k] <= bound {
			near = append(near, i)
		}
	}
	sc.near = near
	return near
}

func (s *Set) choice(r ranked, f inventory.Family) Choice {
	cd := &s.cands[r.i]
	d := r.dist
	if math.IsInf(d, 1) { // an unplaced mirror: how far is not known
		d = -1
	}
	return Choice{Mirror: cd.m, Reason: r.tier, DistanceKm: d, protos: cd.up[f]}
}

// score is candidate i's rendezvous score for key.
func (s *Set) score(key uint64, i int32) float64 {
	cd := &s.cands[i]
	return rendezvous(key, cd.mixed, cd.weight)
}

// byScore orders highest rendezvous score first, then by name so that a
// tie (astronomically rare) is still deterministic.
func (s *Set) byScore(a, b ranked) int {
	return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(s.cands[a.i].m.Name, s.cands[b.i].m.Name))
}

// nthFloat returns the k-th smallest of xs (0-based), reordering xs.
func nthFloat(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		p := xs[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
