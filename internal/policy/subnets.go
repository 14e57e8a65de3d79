package policy

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// subnetTable finds the mirrors whose subnets hold an address. The
// address space is cut at every subnet's edges into intervals, each with
// the (sorted, shared) list of candidates whose subnets cover it, so a
// lookup is one binary search however many subnets and subnet files the
// inventory has.
type subnetTable struct {
	v4, v6 intervals
	// in16 has a bit for every IPv4 /16 a subnet holds addresses of:
	// with a different asker every query, most are in none, and a bit
	// in 8 KiB answers for them instead of a binary search.
	in16 *[1 << 16 / 64]uint64
}

// intervals are sorted starts; cover[i] holds for [start[i], start[i+1]).
type intervals struct {
	start []u128
	cover [][]int32
}

// u128 is an address as a number: IPv4 in lo alone.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int { return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo)) }

func (a u128) next() (u128, bool) {
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return u128{}, false
		}
		return u128{a.hi + 1, 0}, true
	}
	return u128{a.hi, a.lo + 1}, true
}

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		return u128{0, uint64(binary.BigEndian.Uint32(a.AsSlice()))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// last is the last address of p, as a number.
func last(p netip.Prefix) u128 {
	first := toU128(p.Addr())
	bits := 128
	if p.Addr().Is4() {
		bits = 32
	}
	host := bits - p.Bits() // host bits
	switch {
	case host == 0:
		return first
	case host < 64:
		return u128{first.hi, first.lo | (1<<host - 1)}
	case host == 64:
		return u128{first.hi, ^uint64(0)}
	case host < 128:
		return u128{first.hi | (1<<(host-64) - 1), ^uint64(0)}
	}
	return u128{^uint64(0), ^uint64(0)}
}

type subnetEdge struct {
	at    u128
	cand  int32
	start bool
}

func newSubnetTable(cands []candidate) subnetTable {
	var e4, e6 []subnetEdge
	in16 := new([1 << 16 / 64]uint64)
	for i := range cands {
		for _, p := range cands[i].m.Subnets {
			p = p.Masked()
			edges := &e6
			if p.Addr().Is4() {
				edges = &e4
				for b := toU128(p.Addr()).lo >> 16; b <= last(p).lo>>16; b++ {
					in16[b/64] |= 1 << (b % 64)
				}
			}
			*edges = append(*edges, subnetEdge{at: toU128(p.Addr()), cand: int32(i), start: true})
			if end, ok := last(p).next(); ok && (!p.Addr().Is4() || end.lo <= 0xffffffff) {
				*edges = append(*edges, subnetEdge{at: end, cand: int32(i)})
			}
		}
	}
	return subnetTable{v4: sweep(e4), v6: sweep(e6), in16: in16}
}

// near reports whether a subnet may hold addresses near a: of its /16
// for IPv4 (exactly), always for IPv6.
func (t *subnetTable) near(a netip.Addr) bool {
	if !a.Is4() || t.in16 == nil {
		return true
	}
	b := a.As4()
	x := uint(b[0])<<8 | uint(b[1])
	return t.in16[x/64]&(1<<(x%64)) != 0
}

// sweep turns edges into intervals: at each distinct edge address, the
// candidates whose subnets cover it from there on.
func sweep(edges []subnetEdge) intervals {
	var iv intervals
	if len(edges) == 0 {
		return iv
	}
	slices.SortStableFunc(edges, func(a, b subnetEdge) int { return a.at.cmp(b.at) })
	count := map[int32]int{} // a mirror may list nested or equal subnets
	var prev []int32
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			if edges[i].start {
				count[edges[i].cand]++
			} else if count[edges[i].cand]--; count[edges[i].cand] == 0 {
				delete(count, edges[i].cand)
			}
		}
		cover := make([]int32, 0, len(count))
		for c := range count {
			cover = append(cover, c)
		}
		slices.Sort(cover)
		if slices.Equal(cover, prev) && len(iv.start) > 0 {
			continue // the same mirrors on both sides of this edge
		}
		if len(cover) == 0 {
			cover = nil
		}
		iv.start = append(iv.start, at)
		iv.cover = append(iv.cover, cover)
		prev = cover
	}
	return iv
}

// lookup returns the candidates whose subnets hold a (any health).
func (t *subnetTable) lookup(a netip.Addr) []int32 {
	iv := &t.v6
	if a.Is4() {
		iv = &t.v4
	}
	x := toU128(a)
	i, j := 0, len(iv.start)
	for i < j {
		h := int(uint(i+j) >> 1)
		if iv.start[h].cmp(x) <= 0 {
			i = h + 1
		} else {
			j = h
		}
	}
	if i == 0 {
		return nil
	}
	return iv.cover[i-1]
}
