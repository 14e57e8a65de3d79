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
// its continent's; one located by nothing gets the mirrors by weight. A
// mirror without a country or lat/lon (inventory.Mirror.Placed) is
// infinitely far from every located client: in no country's tier, never
// a near ASN match, behind every placed mirror of a tier, so it is
// offered to a located client only when placed mirrors do not fill the
// list. So
// what a client's answer depends on is its subnet match, its ASN match
// within distance, its country (and so its neighbour list), its
// subdivision when it is given one, and its location: the inputs a
// precomputed table per client class needs. ClientOf gives none, so
// dnsd's classes are what they were.
package policy

import (
	"encoding/binary"
	"math"
	"net/netip"

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
	// The key is FNV-1a over the 16 bytes of the masked address and then
	// the bit count. Every byte past the known bits is zero, and so are
	// the first 10 of an IPv4 address's 16 (then 0xff 0xff): those steps
	// are folded into constants, and a key costs 5 or 7 multiplications
	// instead of 17, with the same value.
	if bits < 0 {
		return 0
	}
	a = a.Unmap()
	var h uint64
	switch {
	case a.Is4():
		bits = min(bits, KeyBitsV4)
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:]) & ^(^uint32(0) >> bits)
		h = fnvV4Prefix
		for s := 24; s >= 0; s -= 8 {
			h = (h ^ uint64(byte(v>>s))) * fnvPrime
		}
	case a.Is6():
		bits = min(bits, KeyBitsV6)
		b := a.As16()
		v := binary.BigEndian.Uint64(b[:8]) & ^(^uint64(0) >> bits)
		h = fnvOffset
		for s := 56; s >= 16; s -= 8 {
			h = (h ^ uint64(byte(v>>s))) * fnvPrime
		}
		h *= fnvPrime10
	default: // the zero Addr: 16 zero bytes
		bits = min(bits, KeyBitsV4)
		h = fnvOffset * fnvPrime16
	}
	return (h ^ uint64(bits)) * fnvPrime
}

// FNV-1a's constants, and what KeyAddr folds: FNV-1a steps over zero
// bytes multiply by the prime, so n of them multiply by its n-th power.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

var (
	fnvPrime10, fnvPrime16 = fnvPow(10), fnvPow(16)
	// fnvV4Prefix is the state after the first 12 bytes of an IPv4
	// address's 16: 10 zero bytes and 0xff 0xff.
	fnvV4Prefix = ((fnvOffset*fnvPrime10^0xff)*fnvPrime ^ 0xff) * fnvPrime
)

func fnvPow(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= fnvPrime
	}
	return p
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

// rendezvous is weighted rendezvous hashing (Schindelhauer and Schomaker's
// logarithmic method): for a uniform u in (0,1), w / -ln(u) is highest for
// mirror i with probability w_i / Σw, and it depends only on the key and
// the mirror, so adding or removing a mirror moves only its own share.
// mixed is mix64 of the mirror's name hash, computed once per mirror.
func rendezvous(key, mixed uint64, weight float64) float64 {
	return weight / -math.Log(unit(mix64(key^mixed)))
}

// unit maps a hash to a uniform number in (0, 1).
func unit(h uint64) float64 { return (float64(h>>11) + 0.5) / (1 << 53) }

// hashString is FNV-1a; mix64 then spreads its bits.
func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
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
