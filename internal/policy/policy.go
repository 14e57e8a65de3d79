// Package policy decides which mirrors a client gets, in which order. It is
// the one selection policy of mirrorsteer: gen calls it for every static
// list, lookup to explain a choice, dnsd for every asker. It is pure: the
// same inventory, snapshot and client give the same answer.
//
// Tiers, in order: the client's address in a mirror's subnet (anywhere);
// its ASN in the mirror's ASNs, counted only when the mirror is near the
// client (within ASNMaxKm of its coordinates, or in its country when only
// the country is known); same country, where a client known by its
// subdivision (a subdivision's static list) gets the mirrors of its
// subdivision first; neighbour countries in their configured order; then every other mirror by distance alone, across
// continent lines. Private mirrors are only offered in the first two
// tiers. Inside a tier mirrors are ordered nearest first; mirrors within
// BandKm of the nearest remaining one count as equally near and are
// ordered by weighted rendezvous hashing keyed by the client, so one client
// always gets the same order and, over many clients, each mirror is first
// in proportion to its weight. Tiers are taken until the list holds Min
// mirrors; it never holds more than Max.
//
// A client is located by its coordinates, else its country's point, else
// its continent's; one located by nothing gets the mirrors by weight. So
// what a client's answer depends on is its subnet match, its ASN match
// within distance, its country (and so its neighbour list), its
// subdivision when it is given one, and its location: the inputs a
// precomputed table per client class needs. ClientOf gives none, so
// dnsd's classes are what they were.
package policy

import (
	"cmp"
	"math"
	"net/netip"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Reason says why a mirror is in a list: the tier it came from.
type Reason uint8

// The reasons, in tier order.
const (
	Subnet    Reason = iota + 1 // the client's address is in one of the mirror's subnets
	ASN                         // the client's ASN is one the mirror declares, and the mirror is near
	Country                     // same country
	Neighbour                   // a configured neighbour of the client's country
	Continent                   // by distance, on the client's continent
	World                       // by distance, on another continent (or the client's is unknown)
	Weight                      // nothing is known of the client: all mirrors by weight
)

// rest is the rank of the last tier: Continent and World are one tier,
// ordered by distance alone; the reason only says which side of a
// continent line the mirror is on.
const rest = Continent

var reasonNames = [...]string{"", "subnet", "asn", "country", "neighbour", "continent", "world", "weight"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Client is what is known of whoever asks. Every field may be unknown.
type Client struct {
	Addr    netip.Addr // invalid when unknown
	Family  inventory.Family
	ASN     uint32 // 0 when unknown
	Country country.Code
	// Subdivision puts the mirrors of this subdivision of Country first
	// in the same-country tier, each part ordered as the tier is. It is
	// what an edge knows of a client besides its country, and what a
	// subdivision's static list is written for; ClientOf leaves it
	// empty, since a client located by its coordinates is ranked by
	// distance, which says more.
	Subdivision country.Subdivision
	Continent   country.Continent // derived from Country when empty
	Coord       country.Coord
	HasCoord    bool
	// Key identifies the client for the weighted spread: the same key
	// gets the same order. A static list is keyed by its name
	// (KeyString("DE"), made by layout.Key.Client for gen and lookup
	// alike), lookup --ip and dnsd by the client's network (KeyAddr).
	Key uint64
}

// KeyString returns the key for a client known by a name, such as the
// country or ASN a static list is for.
func KeyString(s string) uint64 { return hashString(s) }

// KeyBitsV4 and KeyBitsV6 are the widest networks whose clients share a
// key: a /24 or a /48 gets one order, the same in lookup and dnsd.
const (
	KeyBitsV4 = 24
	KeyBitsV6 = 48
)

// KeyAddr returns the key for a client at address a, of which only the
// first bits are known (32 or 128 for a plain address, the source prefix
// length for an EDNS Client Subnet). Addresses in one /24 (IPv4) or /48
// (IPv6) share a key, so a resolver's clients are spread like the rest.
// It does not allocate.
func KeyAddr(a netip.Addr, bits int) uint64 {
	a = a.Unmap()
	limit := KeyBitsV4
	if a.Is6() {
		limit = KeyBitsV6
	}
	bits = min(bits, limit)
	p, err := a.Prefix(bits)
	if err != nil {
		return 0
	}
	b := p.Addr().As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= uint64(bits)
	h *= 1099511628211
	return h
}

// ClientOf returns what the policy knows of a client at address a, of
// which the first bits are known (a.BitLen() for a plain address, the
// source prefix length for an EDNS Client Subnet, with a masked to it),
// that GeoIP places by info: its address, family, ASN, country, continent
// and coordinates, keyed by [KeyAddr]. dnsd answers, and lookup --ip
// explains, the client this returns, so both give one address the same
// list. It does not allocate.
func ClientOf(a netip.Addr, bits int, info geo.Info) Client {
	return Client{
		Addr: a, Family: inventory.FamilyOf(a),
		ASN: info.ASN, Country: info.Country, Continent: info.Continent,
		Coord: info.Coord, HasCoord: info.HasCoord,
		Key: KeyAddr(a, bits),
	}
}

// Known reports whether anything locates the client; an unknown client
// gets every healthy mirror by weight.
func (c Client) Known() bool {
	return c.Addr.IsValid() || c.ASN != 0 || c.Country != "" || c.Continent != "" || c.HasCoord
}

// Choice is one entry of a list.
type Choice struct {
	Mirror *inventory.Mirror
	Reason Reason
	// DistanceKm is the great-circle distance from the client, or -1 when
	// the client's location is unknown.
	DistanceKm float64
	protos     uint8
}

// Has reports whether protocol p is healthy for this entry's family and
// request, so callers print a URL that works.
func (c Choice) Has(p inventory.Protocol) bool { return c.protos&protoBit(p) != 0 }

// Params are the policy's knobs.
type Params = inventory.Policy

// Select returns the ordered list for c from s.
func (s *Set) Select(c Client) []Choice {
	return s.AppendSelect(nil, c)
}

// AppendSelect appends the ordered list for c to dst and returns it; dnsd
// reuses dst to stay off the allocator.
func (s *Set) AppendSelect(dst []Choice, c Client) []Choice {
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
	rs := make([]ranked, 0, len(s.cands))
	for i := range s.cands {
		cd := &s.cands[i]
		protos := cd.up[c.Family]
		if protos == 0 {
			continue
		}
		m := cd.m
		r := ranked{cand: cd, protos: protos, dist: -1}
		if located {
			r.dist = where.DistanceKm(m.Coord)
		}
		r.tier, r.sub = s.tier(c, cd, r.dist)
		if r.tier == 0 {
			continue // private, no network match
		}
		if r.tier == Country && c.Subdivision != "" && m.Subdivision != c.Subdivision {
			r.away = 1
		}
		r.rank = min(r.tier, rest)
		r.score = rendezvous(keyHash, cd.nameHash, m.Weight)
		rs = append(rs, r)
	}
	if !c.Known() {
		slices.SortFunc(rs, byScore)
		for _, r := range rs {
			dst = append(dst, Choice{Mirror: r.cand.m, Reason: Weight, DistanceKm: -1, protos: r.protos})
		}
		return dst
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.sub, b.sub), cmp.Compare(a.away, b.away), cmp.Compare(a.dist, b.dist), byScore(a, b))
	})
	start := len(dst)
	for i := 0; i < len(rs); {
		// One tier (and neighbour) at a time: order it, then decide
		// whether the list needs the next one. The client's subdivision
		// and the rest of its country are ordered apart, but are one
		// tier: the list does not stop between them.
		j := i
		for j < len(rs) && rs[j].rank == rs[i].rank && rs[j].sub == rs[i].sub && rs[j].away == rs[i].away {
			j++
		}
		// Only the first Max-len entries of the tier can be listed: order
		// no more of it than that (the last tier is most of the network).
		need := s.p.Max - (len(dst) - start)
		if located {
			spread(rs[i:j], s.p.BandKm, need)
		} else {
			slices.SortFunc(rs[i:j], byScore)
		}
		for _, r := range rs[i:min(j, i+need)] {
			dst = append(dst, Choice{Mirror: r.cand.m, Reason: r.tier, DistanceKm: r.dist, protos: r.protos})
		}
		if len(dst)-start == s.p.Max {
			return dst
		}
		if len(dst)-start >= s.p.Min && (j == len(rs) || rs[j].rank != rs[i].rank || rs[j].sub != rs[i].sub) {
			break
		}
		i = j
	}
	return dst
}

// tier places a candidate for c; 0 means it may not be offered at all.
func (s *Set) tier(c Client, cd *candidate, dist float64) (Reason, int) {
	m := cd.m
	if c.Addr.IsValid() {
		a := c.Addr.Unmap()
		for _, p := range m.Subnets {
			if p.Contains(a) {
				return Subnet, 0
			}
		}
	}
	if c.ASN != 0 && slices.Contains(m.ASNs, c.ASN) && s.asnNear(c, cd, dist) {
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

// asnNear reports whether a match of the client's ASN with a mirror dist
// km away counts. An ASN can span continents (a hosting company, a
// pan-African carrier): its match only keeps traffic on one network where
// the mirror is also near, within ASNMaxKm of the client's coordinates.
// Without coordinates the client's country stands in for its location
// (the same country), then its continent; a client known by nothing but
// its ASN gets every mirror of it. Subnet matches count at any distance:
// that is how an operator keeps a deliberate far match.
func (s *Set) asnNear(c Client, cd *candidate, dist float64) bool {
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

// spread orders one tier that is sorted by distance: each band of mirrors
// within bandKm of the band's nearest is reordered by rendezvous score,
// until the first need entries are in their final order.
func spread(rs []ranked, bandKm float64, need int) {
	for i := 0; i < len(rs) && i < need; {
		j := i + 1
		for j < len(rs) && rs[j].dist <= rs[i].dist+bandKm {
			j++
		}
		slices.SortFunc(rs[i:j], byScore)
		i = j
	}
}

type ranked struct {
	cand   *candidate
	tier   Reason
	rank   Reason // tier, with Continent and World one
	sub    int
	away   int // 1: in the client's country, outside its subdivision
	dist   float64
	score  float64
	protos uint8
}

// byScore orders highest rendezvous score first, then by name so that a
// tie (astronomically rare) is still deterministic.
func byScore(a, b ranked) int {
	return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.cand.m.Name, b.cand.m.Name))
}

// rendezvous is weighted rendezvous hashing (Schindelhauer and Schomaker's
// logarithmic method): for a uniform u in (0,1), w / -ln(u) is highest for
// mirror i with probability w_i / Σw, and it depends only on the key and
// the mirror, so adding or removing a mirror moves only its own share.
func rendezvous(key, name uint64, weight int) float64 {
	h := mix64(key ^ mix64(name))
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return float64(weight) / -math.Log(u)
}

// hashString is FNV-1a; mix64 then spreads its bits.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
