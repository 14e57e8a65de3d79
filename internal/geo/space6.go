package geo

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// space6 is the IPv6 half of an Index when every IPv6 network of both
// databases is a /64 or shorter, as MaxMind's are: the networks laid over
// each other as space4 lays the IPv4 ones, a partition of the first 64
// bits of the space into segments, each inside one City network and one
// ASN network (or none), with a radix over the segments' starts. A
// lookup then walks one radix and one run of 8-byte starts for both
// databases, where the two table6s take two walks and runs of 16-byte
// starts.
type space6 struct {
	start []uint64 // segment i holds [start[i], start[i+1])
	segs  []seg6
	rdx   radix
}

// seg6 is what a segment says: the City network is cityBits long and
// places its addresses at loc, the ASN network asnBits long and names
// asn (noNet: none).
type seg6 struct {
	loc, asn          uint32
	cityBits, asnBits uint8
}

// newSpace6 lays city over asn (sorted by start, disjoint, every network
// a /64 or shorter), or reports false when a network is longer.
func newSpace6(city, asn *table6) (space6, bool) {
	for _, t := range []*table6{city, asn} {
		for _, e := range t.ent {
			if e.bits > 64 {
				return space6{}, false
			}
		}
	}
	var s space6
	var ci, ai int
	// pos runs over the 2^64 /64s; top is set when it reached the end.
	for pos, top := uint64(0), false; !top; {
		sg := seg6{cityBits: noNet, asnBits: noNet}
		cend, ctop := holder6(city, &ci, pos, &sg.loc, &sg.cityBits)
		aend, atop := holder6(asn, &ai, pos, &sg.asn, &sg.asnBits)
		if k := len(s.segs) - 1; k < 0 || s.segs[k] != sg {
			s.start, s.segs = append(s.start, pos), append(s.segs, sg)
		}
		switch {
		case ctop && atop:
			top = true
		case ctop:
			pos = aend
		case atop:
			pos = cend
		default:
			pos = min(cend, aend)
		}
	}
	s.rdx = buildRadix(s.start)
	return s, true
}

// holder6 finds the network of t (from *i on, which it advances) that
// holds pos and sets *val and *bits to its value and length; it returns
// where what t says of pos ends (top: at the end of the space).
func holder6(t *table6, i *int, pos uint64, val *uint32, nbits *uint8) (end uint64, top bool) {
	for *i < len(t.start) {
		e, etop := end6(t.start[*i][0], t.ent[*i].bits)
		if etop || e > pos {
			break
		}
		*i++
	}
	if *i == len(t.start) {
		return 0, true
	}
	if s := t.start[*i][0]; s > pos {
		return s, false
	}
	*val, *nbits = t.ent[*i].val, t.ent[*i].bits
	return end6(t.start[*i][0], t.ent[*i].bits)
}

// end6 is the first /64 after the network of n bits (n <= 64) at start,
// or top when it ends the space.
func end6(start uint64, n uint8) (uint64, bool) {
	if n == 0 {
		return 0, true
	}
	e, carry := bits.Add64(start, 1<<(64-n), 0)
	return e, carry != 0
}

// find returns the segment that holds the address whose first 64 bits
// are x.
func (s *space6) find(x uint64) seg6 {
	lo, hi, _, _ := narrowPair(&s.rdx, &radix{}, x)
	// The last segment starting at or before x: in [lo, hi) if one does,
	// else the one before lo (the segments cover the whole space).
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); s.start[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return s.segs[lo-1]
}

// prefix6 is the network of length n (<= 64) that holds the address
// whose first 64 bits are x.
func prefix6(x uint64, n uint8) netip.Prefix {
	var a [16]byte
	if n > 0 {
		binary.BigEndian.PutUint64(a[:8], x&^(^uint64(0)>>n))
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), int(n))
}

// moveOut moves s's tables out of the heap (see bigCopy) and returns the
// function that frees them.
func (s *space6) moveOut() func() { return moveOut6(&s.start, &s.segs, &s.rdx) }
