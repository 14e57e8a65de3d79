// Package policy decides which mirrors a client gets, in which order. It is
// the one selection policy of mirrorsteer: gen calls it for every static
// list, lookup to explain a choice, dnsd for every asker. It is pure: the
// same inventory, snapshot and client give the same answer.
//
// Tiers, in order: network match (the client's address in a mirror's
// subnet, then its ASN in the mirror's ASNs; private mirrors only ever
// here), same country, neighbour countries in their configured order, same
// continent, the rest of the world. Inside a tier mirrors are ordered
// nearest first; mirrors within BandKm of the nearest remaining one count
// as equally near and are ordered by weighted rendezvous hashing keyed by
// the client, so one client always gets the same order and, over many
// clients, each mirror is first in proportion to its weight. Tiers are
// taken until the list holds Min mirrors; it never holds more than Max.
package policy

import (
	"cmp"
	"math"
	"net/netip"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Family is an IP address family.
type Family uint8

// The address families. A list or an answer is for one of them.
const (
	IPv4 Family = iota
	IPv6
	numFamilies
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// FamilyOf returns the family of a (IPv4-mapped addresses are IPv4).
func FamilyOf(a netip.Addr) Family {
	if a.Is6() && !a.Is4In6() {
		return IPv6
	}
	return IPv4
}

// Reason says why a mirror is in a list: the tier it came from.
type Reason uint8

// The reasons, in tier order.
const (
	Subnet    Reason = iota + 1 // the client's address is in one of the mirror's subnets
	ASN                         // the client's ASN is one the mirror declares
	Country                     // same country
	Neighbour                   // a configured neighbour of the client's country
	Continent                   // same continent
	World                       // anywhere else
	Weight                      // nothing is known of the client: all mirrors by weight
)

var reasonNames = [...]string{"", "subnet", "asn", "country", "neighbour", "continent", "world", "weight"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Client is what is known of whoever asks. Every field may be unknown.
type Client struct {
	Addr      netip.Addr // invalid when unknown
	Family    Family
	ASN       uint32 // 0 when unknown
	Country   country.Code
	Continent country.Continent // derived from Country when empty
	Coord     country.Coord
	HasCoord  bool
	// Key identifies the client for the weighted spread: the same key
	// gets the same order. gen keys a list by its file name
	// (KeyString("DE")), lookup and dnsd by the client's network
	// (KeyAddr).
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
		return cmp.Or(cmp.Compare(a.tier, b.tier), cmp.Compare(a.sub, b.sub), cmp.Compare(a.dist, b.dist), byScore(a, b))
	})
	start := len(dst)
	for i := 0; i < len(rs); {
		// One tier (and neighbour) at a time: order it, then decide
		// whether the list needs the next one.
		j := i
		for j < len(rs) && rs[j].tier == rs[i].tier && rs[j].sub == rs[i].sub {
			j++
		}
		if located {
			spread(rs[i:j], s.p.BandKm)
		} else {
			slices.SortFunc(rs[i:j], byScore)
		}
		for _, r := range rs[i:j] {
			if len(dst)-start == s.p.Max {
				return dst
			}
			dst = append(dst, Choice{Mirror: r.cand.m, Reason: r.tier, DistanceKm: r.dist, protos: r.protos})
		}
		if len(dst)-start >= s.p.Min {
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
	if c.ASN != 0 && slices.Contains(m.ASNs, c.ASN) {
		// A large ASN spans continents: its match counts on the client's
		// own continent, within ASNMaxKm, or when nothing else is known.
		if c.Continent == "" || cd.continent == c.Continent || (dist >= 0 && dist <= s.p.ASNMaxKm) {
			return ASN, 0
		}
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
	if c.Continent != "" && cd.continent == c.Continent {
		return Continent, 0
	}
	return World, 0
}

// spread orders one tier that is sorted by distance: each band of mirrors
// within bandKm of the band's nearest is reordered by rendezvous score.
func spread(rs []ranked, bandKm float64) {
	for i := 0; i < len(rs); {
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
	sub    int
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
