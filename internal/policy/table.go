package policy

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Table is a Set compiled for answering many clients, one mirror each, as
// dnsd does: for every place a GeoIP database names and each family, the
// first band of the first tier a client there gets when its network
// matches no mirror (its country, a neighbour, or the rest by distance),
// worked out once. An answer then costs a weighted rendezvous over that
// band, whatever the size of the network; a client whose subnet or ASN
// matches a mirror is ranked among those mirrors alone.
//
// First(c) is always Select(c)[0]: tested against Select for every place
// of test databases and for random networks and clients.
type Table struct {
	s      *Set
	places []tablePlace
	bands  [inventory.NumFamilies][]span // per place
	// unplaced is the band of a client the databases do not place.
	unplaced [inventory.NumFamilies]span
	// pool holds the bands' members, grouped by weight within a band;
	// places whose bands hold the same members share them. With a
	// different asker in every query, the pool is read at random: it is
	// kept small (4 bytes a member) so that it stays in the cache, and
	// what rendezvous reads of a member is in mem, one entry a
	// candidate.
	pool []int32
	mem  []member
}

// member is what rendezvous reads of a candidate.
type member struct {
	mixed  uint64
	weight float64
}

type tablePlace struct {
	vec       country.Vec
	located   bool
	continent country.Continent
}

// span is a band: pool[off:off+n], whose members are of tier kind (rest
// meaning continent or world, by the member).
type span struct {
	off, n uint32
	kind   Reason
}

// Compile works out the first band of every place in locs (geo.Index's
// Locations, indexed as Hit.Loc).
func (s *Set) Compile(locs []geo.Location) *Table {
	t := &Table{s: s, places: make([]tablePlace, len(locs)), mem: make([]member, len(s.cands))}
	for i := range s.cands {
		t.mem[i] = member{mixed: s.cands[i].mixed, weight: s.cands[i].weight}
	}
	bands := map[string]span{} // a band's kind and members -> where the pool has them
	var buf []ranked
	for f := range inventory.NumFamilies {
		t.bands[f] = make([]span, len(locs))
		// Places that differ in nothing the band depends on share it.
		type key struct {
			cc  country.Code
			vec country.Vec
			ok  bool
		}
		seen := map[key]span{}
		for p, loc := range locs {
			c := Client{Country: loc.Country, Continent: loc.Continent, Coord: loc.Coord, HasCoord: loc.HasCoord, Family: f}
			if c.Continent == "" {
				c.Continent = c.Country.Continent()
			}
			vec, located := place(c)
			t.places[p] = tablePlace{vec: vec, located: located, continent: c.Continent}
			k := key{loc.Country, vec, located}
			sp, ok := seen[k]
			if !ok {
				sp, buf = t.band(&c, vec, located, buf, bands)
				seen[k] = sp
			}
			t.bands[f][p] = sp
		}
		t.unplaced[f], buf = t.band(&Client{Family: f}, country.Vec{}, false, buf, bands)
	}
	return t
}

// band works out the first band of the first tier Select gives c when no
// network matches, and stores it in the pool unless bands has it.
func (t *Table) band(c *Client, where country.Vec, located bool, buf []ranked, bands map[string]span) (span, []ranked) {
	s := t.s
	fi := &s.fam[c.Family]
	var members []int32
	kind := Country
	if c.Country != "" {
		members = fi.byCountry[c.Country]
	}
	neighbours := s.p.Neighbours[c.Country]
	for n, cc := range neighbours {
		if len(members) > 0 {
			break
		}
		if cc == c.Country || slices.Contains(neighbours[:n], cc) {
			continue
		}
		members, kind = fi.byCountry[cc], Neighbour
	}
	if len(members) == 0 {
		kind = rest
		for _, i := range fi.pub {
			if cc := s.cands[i].m.Country; (c.Country == "" || cc != c.Country) && !slices.Contains(neighbours, cc) {
				members = append(members, i)
			}
		}
	}
	buf = buf[:0]
	if located {
		// Nearest first by chord; the band's edge, dmin + BandKm, is
		// decided in km as Select decides it, exactly for members whose
		// chord is too close to the edge's to tell.
		nearest := math.Inf(1)
		for _, i := range members {
			if s.cands[i].placed {
				nearest = min(nearest, where.Chord2(s.cands[i].vec))
			}
		}
		edgeKm := country.ChordKm(nearest) + s.p.BandKm
		edge := country.KmChord2(edgeKm)
		for _, i := range members {
			if math.IsInf(nearest, 1) {
				// Only unplaced mirrors: equally (infinitely) far, one band.
				buf = append(buf, ranked{i: i})
				continue
			}
			if !s.cands[i].placed {
				continue
			}
			c2 := where.Chord2(s.cands[i].vec)
			switch {
			case c2 < edge*(1-1e-9):
			case c2 > edge*(1+1e-9):
				continue
			case where.DistanceKm(s.cands[i].vec) > edgeKm:
				continue
			}
			buf = append(buf, ranked{i: i})
		}
	} else {
		for _, i := range members {
			buf = append(buf, ranked{i: i})
		}
	}
	// Equal weights together: rendezvous then compares their hashes
	// alone (see first).
	slices.SortFunc(buf, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(s.cands[b.i].weight, s.cands[a.i].weight), cmp.Compare(a.i, b.i))
	})
	key := make([]byte, 0, 1+4*len(buf))
	key = append(key, byte(kind))
	for _, r := range buf {
		key = binary.LittleEndian.AppendUint32(key, uint32(r.i))
	}
	if sp, ok := bands[string(key)]; ok {
		return sp, buf
	}
	sp := span{off: uint32(len(t.pool)), n: uint32(len(buf)), kind: kind}
	for _, r := range buf {
		t.pool = append(t.pool, r.i)
	}
	bands[string(key)] = sp
	return sp, buf
}

// First returns the first mirror Select gives c, as an index for Mirror,
// and why; ok is false when Select gives none. loc is where the databases
// place c (Hit.Loc, -1 for nowhere); c's Country, Continent, Coord and
// HasCoord must be that place's, and c.Addr, ASN, Family and Key its own.
// First does not allocate.
func (t *Table) First(c *Client, loc int32) (int32, Reason, bool) {
	s := t.s
	fi := &s.fam[c.Family]
	if !c.Known() { // every mirror by weight
		sp := t.unplaced[c.Family]
		if sp.n == 0 {
			return -1, 0, false
		}
		return t.rendezvous(t.pool[sp.off:sp.off+sp.n], c.Key), Weight, true
	}
	var pl tablePlace
	if loc >= 0 {
		pl = t.places[loc]
	}
	// A network match: ranked among those mirrors alone.
	if c.Addr.IsValid() {
		if i, ok := t.best(s.subnets.lookup(c.Addr.Unmap()), c, pl, false); ok {
			return i, Subnet, true
		}
	}
	if c.ASN != 0 {
		if i, ok := t.best(fi.byASN[c.ASN], c, pl, true); ok {
			return i, ASN, true
		}
	}
	sp := t.unplaced[c.Family]
	if loc >= 0 {
		sp = t.bands[c.Family][loc]
	}
	if sp.n == 0 {
		return -1, 0, false
	}
	i := t.rendezvous(t.pool[sp.off:sp.off+sp.n], c.Key)
	r := sp.kind
	if r == rest {
		r = World
		if pl.continent != "" && s.cands[i].continent == pl.continent {
			r = Continent
		}
	}
	return i, r, true
}

// best is the first of members (healthy over c's family and, for an ASN
// match, near c) in Select's order: the rendezvous winner of the band of
// the nearest, or of them all when c is not located.
func (t *Table) best(members []int32, c *Client, pl tablePlace, asn bool) (int32, bool) {
	s := t.s
	ok := func(i int32) (float64, bool) {
		if s.cands[i].up[c.Family] == 0 {
			return 0, false
		}
		d := -1.0
		if pl.located {
			d = s.distKm(pl.vec, i)
		}
		if asn && !s.asnNear(c, i, d) {
			return 0, false
		}
		return d, true
	}
	// A member's distance (an arcsine) is worked out once when the
	// members fit in dist, as an ASN's nearly always do; NaN is "not in".
	var dist [16]float64
	kept := len(members) <= len(dist)
	nearest, any := math.Inf(1), false
	for k, i := range members {
		d, in := ok(i)
		if in {
			nearest, any = min(nearest, d), true
		} else {
			d = math.NaN()
		}
		if kept {
			dist[k] = d
		}
	}
	if !any {
		return -1, false
	}
	best, bestScore := int32(-1), 0.0
	for k, i := range members {
		var d float64
		var in bool
		if kept {
			d = dist[k]
			in = d == d
		} else {
			d, in = ok(i)
		}
		if !in || (pl.located && d > nearest+s.p.BandKm) {
			continue
		}
		sc := s.score(c.Key, i)
		if best < 0 || sc > bestScore || sc == bestScore && s.cands[i].m.Name < s.cands[best].m.Name {
			best, bestScore = i, sc
		}
	}
	return best, true
}

// rendezvous returns the member with the highest rendezvous score for key
// (ties by name), members grouped by weight: among equal weights the
// highest hash wins, so only one logarithm is taken per weight.
func (t *Table) rendezvous(members []int32, key uint64) int32 {
	s, mem := t.s, t.mem
	best, bestScore := int32(-1), 0.0
	for k := 0; k < len(members); {
		top := members[k]
		w, topH := mem[top].weight, mix64(key^mem[top].mixed)>>11
		k++
		for ; k < len(members) && mem[members[k]].weight == w; k++ {
			i := members[k]
			h := mix64(key^mem[i].mixed) >> 11
			if h > topH || h == topH && s.cands[i].m.Name < s.cands[top].m.Name {
				top, topH = i, h
			}
		}
		if best < 0 && k == len(members) {
			return top // one weight: the highest hash wins, no logarithm
		}
		sc := w / -math.Log((float64(topH)+0.5)/(1<<53))
		if best < 0 || sc > bestScore || sc == bestScore && s.cands[top].m.Name < s.cands[best].m.Name {
			best, bestScore = top, sc
		}
	}
	return best
}

// Offers reports whether Select(c) can hold candidate i at all (for a
// private mirror: a subnet or near ASN match), with loc as for First.
func (t *Table) Offers(c *Client, loc int32, i int32) bool {
	s := t.s
	cd := &s.cands[i]
	if cd.up[c.Family] == 0 {
		return false
	}
	if cd.m.Public {
		return true
	}
	if c.Addr.IsValid() && slices.Contains(s.subnets.lookup(c.Addr.Unmap()), i) {
		return true
	}
	if c.ASN == 0 || !slices.Contains(cd.m.ASNs, c.ASN) {
		return false
	}
	d := -1.0
	if loc >= 0 && t.places[loc].located {
		d = s.distKm(t.places[loc].vec, i)
	} else if c.HasCoord || c.Country != "" || c.Continent != "" {
		// A place the table does not know: as Select locates it.
		if v, ok := place(*c); ok {
			d = s.distKm(v, i)
		}
	}
	return s.asnNear(c, i, d)
}

// Index returns the candidate index of m, or -1 if the Set does not hold
// it (First names mirrors by these).
func (t *Table) Index(m *inventory.Mirror) int32 {
	for i := range t.s.cands {
		if t.s.cands[i].m == m {
			return int32(i)
		}
	}
	return -1
}

// Mirror returns the mirror First named by i.
func (t *Table) Mirror(i int32) *inventory.Mirror { return t.s.cands[i].m }

// Set returns the Set t was compiled from.
func (t *Table) Set() *Set { return t.s }
