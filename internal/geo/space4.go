package geo

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// space4 is the IPv4 half of an Index: the networks of both databases
// laid over each other, as one partition of the address space into
// segments, each inside one City network and one ASN network (or none),
// with a two-level index over the /16s and /24s.
//
// dnsd looks up a different address in every query, and a million
// networks are far bigger than the CPU's caches, so what a lookup costs
// is how many places in memory it reads: here the root (256 KiB, which
// stays in the cache), one block entry and one segment, for both
// databases at once. Networks are found by address, and a segment
// stores only their prefix lengths: adjacent networks with the same
// record become one segment.
type space4 struct {
	// root[x>>16] is the segment that holds the whole /16, or
	// blockBit|b: the /16's /24s are blocks[b<<8:][:256].
	root []uint32
	// A block entry is the segment that holds the /24's first address,
	// splitBit set when the next one starts inside the /24.
	blocks []uint32
	segs   []seg4
}

const (
	blockBit = 1 << 31
	splitBit = 1 << 31
	// noNet is a segment's prefix length where a database has no
	// network.
	noNet = 0xff
)

// seg4 is a segment: from start to the next segment's start, the City
// network is cityBits long and places its addresses at loc, and the ASN
// network is asnBits long and names asn.
type seg4 struct {
	start             uint32
	loc               uint32
	asn               uint32
	cityBits, asnBits uint8 // noNet: no network
}

// net4 is a network of one database and its value.
type net4 struct {
	start uint32
	bits  uint8
	val   uint32
}

// end is the address after n's last, as 64 bits: 1<<32 at the top.
func (n *net4) end() uint64 { return uint64(n.start) + 1<<(32-n.bits) }

// newSpace4 lays city over asn, both sorted by start and disjoint (as a
// MaxMind tree's leaves are).
func newSpace4(city, asn []net4) space4 {
	var s space4
	// The sweep: at pos, the networks that hold it (if any) decide the
	// segment, which ends where the first of them ends or the next
	// begins.
	var ci, ai int
	for pos := uint64(0); pos < 1<<32; {
		sg := seg4{start: uint32(pos), cityBits: noNet, asnBits: noNet}
		c, cend := holder4(city, &ci, pos)
		if c != nil {
			sg.loc, sg.cityBits = c.val, c.bits
		}
		a, aend := holder4(asn, &ai, pos)
		if a != nil {
			sg.asn, sg.asnBits = a.val, a.bits
		}
		next := min(cend, aend)
		if k := len(s.segs) - 1; k < 0 || !s.segs[k].same(&sg) {
			s.segs = append(s.segs, sg)
		}
		pos = next
	}
	s.root = make([]uint32, 1<<16)
	i := 0 // the segment that holds the address at hand
	at := func(x uint32) {
		for i+1 < len(s.segs) && s.segs[i+1].start <= x {
			i++
		}
	}
	// startsBy reports whether a segment after i starts at or before x.
	startsBy := func(x uint32) bool { return i+1 < len(s.segs) && s.segs[i+1].start <= x }
	// The root first, counting the /16s that need a block, so that the
	// blocks are allocated once: a reload builds a space while queries
	// are answered, and garbage is the collector's work at their
	// expense.
	nblocks := 0
	for r := range uint32(1 << 16) {
		at(r << 16)
		if !startsBy(r<<16 | 0xffff) {
			s.root[r] = uint32(i)
			continue
		}
		s.root[r] = blockBit | uint32(nblocks)
		nblocks++
	}
	s.blocks = make([]uint32, 0, nblocks<<8)
	i = 0
	for r := range uint32(1 << 16) {
		if s.root[r]&blockBit == 0 {
			continue
		}
		for c := range uint32(256) {
			x := r<<16 | c<<8
			at(x)
			e := uint32(i)
			if startsBy(x | 0xff) {
				e |= splitBit
			}
			s.blocks = append(s.blocks, e)
		}
	}
	return s
}

// moveOut moves s's tables out of the heap (see bigCopy) and returns the
// function that frees them.
func (s *space4) moveOut() func() {
	var f1, f2, f3 func()
	s.root, f1 = bigCopy(s.root)
	s.blocks, f2 = bigCopy(s.blocks)
	s.segs, f3 = bigCopy(s.segs)
	return func() { f1(); f2(); f3() }
}

// holder4 returns the network of ns (sorted, from *i on, which it
// advances) that holds pos, or nil, and where what ns says of pos ends:
// at that network's end, or at the next one's start.
func holder4(ns []net4, i *int, pos uint64) (*net4, uint64) {
	for *i < len(ns) && ns[*i].end() <= pos {
		*i++
	}
	if *i == len(ns) {
		return nil, 1 << 32
	}
	if n := &ns[*i]; uint64(n.start) <= pos {
		return n, n.end()
	}
	return nil, uint64(ns[*i].start)
}

// same reports whether s and t say the same of their addresses (an
// address's networks are the address masked to their lengths).
func (s *seg4) same(t *seg4) bool {
	return s.loc == t.loc && s.asn == t.asn && s.cityBits == t.cityBits && s.asnBits == t.asnBits
}

// find returns the segment that holds x.
func (s *space4) find(x uint32) seg4 {
	e := s.root[x>>16]
	if e&blockBit != 0 {
		e = s.blocks[(e&^blockBit)<<8|x>>8&0xff]
		if e&splitBit != 0 {
			// At most 256 segments start in a /24; few do in practice.
			i := e &^ splitBit
			for int(i)+1 < len(s.segs) && s.segs[i+1].start <= x {
				i++
			}
			return s.segs[i]
		}
	}
	return s.segs[e]
}

// prefix4 is the network of length bits that holds x.
func prefix4(x uint32, bits uint8) netip.Prefix {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], x&^(0xffffffff>>bits))
	return netip.PrefixFrom(netip.AddrFrom4(a), int(bits))
}

// sortNets4 sorts a database's networks by start.
func sortNets4(ns []net4) []net4 {
	if !slices.IsSortedFunc(ns, func(a, b net4) int { return cmp.Compare(a.start, b.start) }) {
		slices.SortStableFunc(ns, func(a, b net4) int { return cmp.Compare(a.start, b.start) })
	}
	return ns
}

// touch reads, for each address of xs, the block entry and then the
// segment a find of it reads, and returns a value that depends on them
// all (so that the reads are not optimised away). The reads of one pass
// do not depend on each other, so the CPU has many of them in flight at
// once: a batch pays about one trip to memory per pass, not one per
// address, and the finds that follow hit the cache.
func (s *space4) touch(xs []uint32) uint32 {
	var sum uint32
	for _, x := range xs {
		if e := s.root[x>>16]; e&blockBit != 0 {
			sum += s.blocks[(e&^blockBit)<<8|x>>8&0xff]
		}
	}
	for _, x := range xs {
		e := s.root[x>>16]
		if e&blockBit != 0 {
			e = s.blocks[(e&^blockBit)<<8|x>>8&0xff] &^ splitBit
		}
		sum += s.segs[e].loc
	}
	return sum
}
