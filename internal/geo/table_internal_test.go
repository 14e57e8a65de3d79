package geo

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
)

// denseNets4 returns disjoint IPv4 networks shaped like a big City
// database: most /16s empty, some holding one network, and dense ones cut
// into /24s, some of those into /28s (hundreds to thousands per /16).
func denseNets4(r *rand.Rand, dense int) []netip.Prefix {
	var out []netip.Prefix
	for b := range 1 << 16 {
		hi := uint32(b) << 16
		switch x := r.IntN(1 << 16); {
		case x < dense:
			for c := range uint32(256) {
				if r.IntN(8) == 0 {
					continue // a gap: the network before reaches no address here
				}
				if r.IntN(16) == 0 {
					for d := range uint32(16) {
						out = append(out, pfx4(hi|c<<8|d<<4, 28))
					}
					continue
				}
				out = append(out, pfx4(hi|c<<8, 24))
			}
		case x < dense*4:
			out = append(out, pfx4(hi, 16))
		case x < dense*5:
			out = append(out, pfx4(hi|uint32(r.IntN(256))<<8, 22))
		}
	}
	return out
}

func pfx4(x uint32, bits int) netip.Prefix {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], x)
	return netip.PrefixFrom(netip.AddrFrom4(a), bits)
}

// denseNets6 returns n disjoint IPv6 networks, crowded into a few /16s as
// the RIRs' allocations are: /32s, /48s and some /64s and /124s.
func denseNets6(r *rand.Rand, n int) []netip.Prefix {
	seen := map[uint64]bool{}
	var out []netip.Prefix
	for len(out) < n {
		top := []uint64{0x2001, 0x2400, 0x2a00, 0x2a01, 0x2c0f}[r.IntN(5)]
		hi := top<<48 | r.Uint64()&(1<<48-1)&^(1<<16-1) // a /48
		if seen[hi] {
			continue
		}
		seen[hi] = true
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi)
		switch r.IntN(16) {
		case 0:
			binary.BigEndian.PutUint64(a[8:], r.Uint64()&^15)
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 124))
		case 1:
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 64))
		default:
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 48))
		}
	}
	return out
}

func buildTables(nets []netip.Prefix) (table4, table6) {
	var b4 builder4
	var b6 builder6
	for i, p := range nets {
		addNetwork(&b4, &b6, p, uint32(i))
	}
	return b4.table(), b6.table()
}

// TestTableFind: the tables find, for every address near a network's
// edges and for random addresses, the one network that holds it, as a
// plain search over every network does.
func TestTableFind(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	nets := append(denseNets4(r, 400), denseNets6(r, 20000)...)
	nets = append(nets, pfx4(0, 32), pfx4(0xffffffff, 32), netip.MustParsePrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), netip.MustParsePrefix("::1:0:0:0/96"))
	t4, t6 := buildTables(nets)
	sorted := slices.Clone(nets)
	slices.SortFunc(sorted, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	want := func(a netip.Addr) (netip.Prefix, bool) {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Addr().Compare(a) > 0 }) - 1
		if i >= 0 && sorted[i].Addr().Is4() == a.Is4() && sorted[i].Contains(a) {
			return sorted[i], true
		}
		return netip.Prefix{}, false
	}
	check := func(a netip.Addr) {
		t.Helper()
		var got netip.Prefix
		var ok bool
		var v uint32
		if a.Is4() {
			v, got, ok = t4.find(binary.BigEndian.Uint32(a.AsSlice()))
		} else {
			b := a.As16()
			v, got, ok = t6.find(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
		}
		w, wok := want(a)
		if ok != wok || got != w || ok && nets[v] != w {
			t.Fatalf("find(%v) = %v %v (value %d), want %v %v", a, got, ok, v, w, wok)
		}
	}
	// The lockstep search of two tables finds what two searches find.
	o4, o6 := buildTables(append(denseNets4(r, 300), denseNets6(r, 5000)...))
	pair := func(a netip.Addr) {
		t.Helper()
		if a.Is4() {
			x := binary.BigEndian.Uint32(a.AsSlice())
			i, j := findPair4(&t4, &o4, x)
			i1, _ := findPair4(&t4, &table4{}, x)
			_, j1 := findPair4(&table4{}, &o4, x)
			if i != i1 || j != j1 {
				t.Fatalf("findPair4(%v) = %d, %d; alone %d, %d", a, i, j, i1, j1)
			}
			return
		}
		b := a.As16()
		xh, xl := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		i, j := findPair6(&t6, &o6, xh, xl)
		i1, _ := findPair6(&t6, &table6{}, xh, xl)
		_, j1 := findPair6(&table6{}, &o6, xh, xl)
		if i != i1 || j != j1 {
			t.Fatalf("findPair6(%v) = %d, %d; alone %d, %d", a, i, j, i1, j1)
		}
	}
	for _, p := range nets {
		first := p.Addr()
		last := lastAddr(p)
		check(first)
		check(last)
		pair(first)
		pair(last)
		if prev := first.Prev(); prev.IsValid() {
			check(prev)
		}
		if next := last.Next(); next.IsValid() {
			check(next)
		}
	}
	for range 200000 {
		check(netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}))
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], []uint64{0x2001, 0x2a00, 0x3000}[r.IntN(3)]<<48|r.Uint64()>>16)
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		check(netip.AddrFrom16(b))
		pair(netip.AddrFrom16(b))
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// BenchmarkTableFind looks up random addresses inside the networks of a
// table the size of a full City database (over a million IPv4 networks,
// half a million IPv6 ones): the cost is in cache misses, so the
// addresses are spread over the whole table.
func BenchmarkTableFind(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	n4 := denseNets4(r, 4096)
	n6 := denseNets6(r, 500000)
	t4, t6 := buildTables(append(n4, n6...))
	q4 := make([]uint32, 1<<16)
	for i := range q4 {
		p := n4[r.IntN(len(n4))]
		q4[i] = binary.BigEndian.Uint32(p.Addr().AsSlice()) | r.Uint32()&(1<<(32-p.Bits())-1)
	}
	q6 := make([][2]uint64, 1<<16)
	for i := range q6 {
		b := n6[r.IntN(len(n6))].Addr().As16()
		q6[i] = [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	}
	b.Logf("%d IPv4 and %d IPv6 networks", len(n4), len(n6))
	b.Run("v4", func(b *testing.B) {
		for i := range b.N {
			if _, _, ok := t4.find(q4[i&(1<<16-1)]); !ok {
				b.Fatal("not found")
			}
		}
	})
	// A second table, as the ASN database is beside the City one: two
	// searches one after the other, and in lockstep.
	a4, _ := buildTables(denseNets4(r, 2048))
	b.Run("v4 two tables", func(b *testing.B) {
		for i := range b.N {
			x := q4[i&(1<<16-1)]
			t4.find(x)
			a4.find(x)
		}
	})
	b.Run("v4 two tables in lockstep", func(b *testing.B) {
		for i := range b.N {
			findPair4(&t4, &a4, q4[i&(1<<16-1)])
		}
	})
	b.Run("v6", func(b *testing.B) {
		for i := range b.N {
			q := q6[i&(1<<16-1)]
			if _, _, ok := t6.find(q[0], q[1]); !ok {
				b.Fatal("not found")
			}
		}
	})
}
