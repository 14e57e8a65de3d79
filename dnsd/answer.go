package dnsd

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// asker is whom a query is answered for.
type asker struct {
	addr   netip.Addr // the ECS address (masked to its prefix) or the source
	bits   int        // how many leading bits of addr are known
	family inventory.Family
	ecs    bool // addr came from the Client Subnet option
	src    netip.Addr
}

// choice is the answer for a steered name.
type choice struct {
	mirror  int32 // index in geoName.mirrors, or fallbackChoice
	reason  policy.Reason
	scope   uint8 // ECS scope prefix length
	country country.Code
}

// reasonPreference marks an answer from a preference name's own list.
const reasonPreference policy.Reason = 0

// choose returns the answer to a for g: the first mirror the policy
// gives a, among g's mirrors healthy for a's family, or the fallback. It
// costs a GeoIP index lookup and a rendezvous over the first band of a's
// place (see policy.Table), keeps no state between queries, and does not
// allocate: whoever asks, a query costs the same.
func (z *Zone) choose(g *geoName, a *asker) choice {
	if c := g.constant[a.family]; c != dependsOnAsker {
		// The answer is the same for everyone; the statistics still
		// want the asker's country.
		info, _ := z.in.GeoIndex.Where(a.addr)
		return choice{mirror: c, country: info.Country}
	}
	c, _, _, _ := z.compute(g, a)
	return c
}

// memo is what a UDP reader remembers of the answers it gave: the last
// asker of each slot, by the slot's hash of name and asker. A resolver
// asks again and again for the same Client Subnet (or for itself, with
// none), and an answer remembered costs a comparison instead of the GeoIP
// lookup and the policy. A different asker in every query overwrites a
// slot each time and costs what it costs without the memo: the memo is a
// fixed array, never grows with the askers, and a new zone does not
// empty it (its id is part of the key).
type memo [memoSlots]memoSlot

// memoSlots is the memo's size: 256 slots of 64 bytes, in the L1 and L2
// caches of the reader's core.
const (
	memoBits  = 8
	memoSlots = 1 << memoBits
)

type memoSlot struct {
	zone uint64 // Zone.id
	addr netip.Addr
	bits int32
	name int32 // geoName.idx
	c    choice
}

// choose is z.choose through s's memo, when s has one.
func (s *Scratch) choose(z *Zone, g *geoName, a *asker) choice {
	if s.memo == nil {
		return z.choose(g, a)
	}
	b := a.addr.As16()
	h := (binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:]) ^ uint64(a.bits)<<48 ^ uint64(g.idx)<<56) * 0xbf58476d1ce4e5b9
	m := &s.memo[h>>(64-memoBits)]
	if m.zone == z.id && m.addr == a.addr && m.bits == int32(a.bits) && m.name == int32(g.idx) {
		return m.c
	}
	c := z.choose(g, a)
	*m = memoSlot{zone: z.id, addr: a.addr, bits: int32(a.bits), name: int32(g.idx), c: c}
	return c
}

// compute runs the compiled policy for a, and says over which prefix the
// answer holds.
func (z *Zone) compute(g *geoName, a *asker) (choice, netip.Prefix, policy.Client, geo.Info) {
	cl, info, loc := z.locate(a)
	c := choice{mirror: fallbackChoice, country: info.Country}
	if i, reason, ok := g.table.First(&cl, loc); ok {
		c.mirror, c.reason = g.byCand[i], reason
	}
	p := z.scope(g, a, info)
	c.scope = uint8(p.Bits())
	return c, p, cl, info
}

// locate is what the policy knows of a: policy.ClientOf its address (the
// ECS prefix or the source) and GeoIP record, the client lookup --ip
// builds for an address, and the index of its place.
func (z *Zone) locate(a *asker) (policy.Client, geo.Info, int32) {
	info, loc := z.in.GeoIndex.Where(a.addr)
	return policy.ClientOf(a.addr, a.bits, info), info, loc
}

// keyBits is how many bits of a's address its policy key uses.
func keyBits(a *asker) int {
	if a.addr.Is4() {
		return min(a.bits, policy.KeyBitsV4)
	}
	return min(a.bits, policy.KeyBitsV6)
}

// scope returns the widest prefix around a's address over which the
// answer cannot change: inside one policy key (the /24 or /48), one
// GeoIP City record and one ASN record (or, where a database has no
// record, the known bits of the address: how far the gap reaches is not
// known), and never across the edge of a mirror's subnet.
func (z *Zone) scope(g *geoName, a *asker, info geo.Info) netip.Prefix {
	p, _ := a.addr.Prefix(keyBits(a))
	narrow := func(q netip.Prefix) {
		q = sameFamily(q, a.addr)
		if q.IsValid() && q.Bits() > p.Bits() && q.Contains(a.addr) {
			p = q
		}
	}
	exact, _ := a.addr.Prefix(a.bits)
	if z.in.HasCity {
		if info.CityPrefix.IsValid() {
			narrow(info.CityPrefix)
		} else {
			narrow(exact)
		}
	}
	if z.in.HasASN {
		if info.ASNPrefix.IsValid() {
			narrow(info.ASNPrefix)
		} else {
			narrow(exact)
		}
	}
	// Nor across a subnet's edge: p starts at or after the nearest edge
	// below a and ends before the nearest above it (found by binary
	// search, however many subnets the mirrors list). Only an edge
	// inside p can narrow it: none can when p is in a /16 no edge is in.
	if p.Bits() >= 16 && a.addr.Is4() && !g.edgeIn16(a.addr) {
		return p
	}
	edges, v4 := g.edges[a.family], a.addr.Is4()
	i, found := searchKeys(edges, keyOf(a.addr))
	above := i
	if found {
		above++
	}
	if below := i - 1; found {
		below = i
		narrowFrom(&p, a.addr, edges[below].addr(v4))
	} else if below >= 0 {
		narrowFrom(&p, a.addr, edges[below].addr(v4))
	}
	if above < len(edges) {
		if e := edges[above].addr(v4); p.Contains(e) {
			p, _ = a.addr.Prefix(commonBits(a.addr, e) + 1)
		}
	}
	return p
}

// edgeIn16 reports whether a subnet edge of g is in the /16 of a, an
// IPv4 address.
func (g *geoName) edgeIn16(a netip.Addr) bool {
	if g.edge16 == nil {
		return false
	}
	b := a.As4()
	x := uint(b[0])<<8 | uint(b[1])
	return g.edge16[x/64]&(1<<(x%64)) != 0
}

// addrKey is an address of one family as a number: keys order as
// netip.Addr.Compare orders the addresses.
type addrKey struct{ hi, lo uint64 }

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr is the address k is, IPv4 when v4.
func (k addrKey) addr(v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{byte(k.lo >> 24), byte(k.lo >> 16), byte(k.lo >> 8), byte(k.lo)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b)
}

// searchKeys is slices.BinarySearch over keys.
func searchKeys(keys []addrKey, x addrKey) (int, bool) {
	i, j := 0, len(keys)
	for i < j {
		h := int(uint(i+j) >> 1)
		if k := keys[h]; k.hi < x.hi || k.hi == x.hi && k.lo < x.lo {
			i = h + 1
		} else {
			j = h
		}
	}
	return i, i < len(keys) && keys[i] == x
}

// narrowFrom narrows *p, which holds a, until it starts at or after lo.
func narrowFrom(p *netip.Prefix, a, lo netip.Addr) {
	for p.Addr().Less(lo) && p.Bits() < a.BitLen() {
		*p, _ = a.Prefix(p.Bits() + 1)
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// sameFamily returns q for an address of a's family: a database that
// stores IPv4 inside IPv6 may give an IPv4 address's network as
// ::ffff:a.b.c.d/N+96 or ::a.b.c.d/N+96.
func sameFamily(q netip.Prefix, a netip.Addr) netip.Prefix {
	if !q.IsValid() || q.Addr().Is4() == a.Is4() {
		return q
	}
	if a.Is4() && q.Bits() >= 96 {
		b := q.Addr().As16()
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[12:])), q.Bits()-96)
	}
	return netip.Prefix{}
}

// commonBits is the length of the longest common prefix of a and b (same
// family).
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			n += bits.LeadingZeros8(d)
			break
		}
		n += 8
	}
	if a.Is4() {
		n -= 96
	}
	return n
}

// prefer answers a preference name: label is the first label of
// <l1>-<l2>-....<name>.<zone>. It returns false when a part is not the
// label of one of g's mirrors (the name does not exist).
func (z *Zone) prefer(g *geoName, label []byte, a *asker) (choice, bool) {
	var idx [16]int
	n := 0
	for len(label) > 0 {
		part := label
		if i := bytes.IndexByte(label, '-'); i >= 0 {
			part, label = label[:i], label[i+1:]
			if len(label) == 0 {
				return choice{}, false
			}
		} else {
			label = nil
		}
		j, ok := g.byLabel[string(part)]
		if !ok || n == len(idx) {
			return choice{}, false
		}
		idx[n] = j
		n++
	}
	if n == 0 {
		return choice{}, false
	}
	located := false
	var cl policy.Client
	var info geo.Info
	var loc int32
	for _, j := range idx[:n] {
		if !g.healthy[a.family][j] {
			continue
		}
		if g.mirrors[j].Public {
			c := choice{mirror: int32(j), reason: reasonPreference}
			if located { // a private mirror before it was a match for others
				c.scope, c.country = uint8(z.scope(g, a, info).Bits()), info.Country
			}
			return c, true
		}
		if !located {
			cl, info, loc = z.locate(a)
			located = true
		}
		// A private mirror may serve a only if the policy offers it.
		if k := g.candOf[j]; k >= 0 && g.table.Offers(&cl, loc, k) {
			return choice{mirror: int32(j), reason: reasonPreference, scope: uint8(z.scope(g, a, info).Bits()), country: info.Country}, true
		}
	}
	return z.choose(g, a), true
}
