package geo

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"
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
			out = append(out, pfx4(hi|uint32(r.IntN(64))<<10, 22))
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

// buildTables indexes nets as one database would: the IPv4 ones in a
// space4 as its City networks (over asn4 as the ASN ones), the IPv6 ones
// in a table6. A network's value is its index in nets.
func buildTables(nets []netip.Prefix, asn4 []net4) (space4, table6) {
	var b4 []net4
	var b6 builder6
	for i, p := range nets {
		addNetwork(&b4, &b6, p, uint32(i))
	}
	return newSpace4(sortNets4(b4), sortNets4(asn4)), b6.table()
}

// holder returns a function that finds the network of sorted that holds
// an address by a plain search over them all.
func holder(sorted []netip.Prefix) func(netip.Addr) (int, bool) {
	return func(a netip.Addr) (int, bool) {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Addr().Compare(a) > 0 }) - 1
		if i >= 0 && sorted[i].Addr().Is4() == a.Is4() && sorted[i].Contains(a) {
			return i, true
		}
		return -1, false
	}
}

// TestTableFind: the tables find, for every address near a network's
// edges and for random addresses, the one network that holds it, as a
// plain search over every network does; in IPv4, the City and the ASN
// network at once, also where adjacent networks have the same value
// (their segments merge) and where they leave gaps.
func TestTableFind(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	nets := append(denseNets4(r, 400), denseNets6(r, 20000)...)
	// A crowded /32 and a crowded /48 in it: the radix's deep levels.
	for i := range 600 {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:], 0x2a0012340000<<16|uint64(i+1)<<16)
		nets = append(nets, netip.PrefixFrom(netip.AddrFrom16(a), 48))
	}
	for i := range 300 {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:], 0x2a00123400000000|uint64(i))
		nets = append(nets, netip.PrefixFrom(netip.AddrFrom16(a), 64))
	}
	nets = append(nets, pfx4(0, 32), pfx4(0xffffffff, 32), netip.MustParsePrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), netip.MustParsePrefix("::1:0:0:0/96"))
	// The ASN networks: others, the same value for runs of neighbours.
	asnNets := denseNets4(r, 300)
	slices.SortFunc(asnNets, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	var asn4 []net4
	for i, p := range asnNets {
		asn4 = append(asn4, net4{binary.BigEndian.Uint32(p.Addr().AsSlice()), uint8(p.Bits()), uint32(i / 4)})
	}
	s4, t6 := buildTables(nets, asn4)
	if len(t6.rdx.nodes) < 4*(fan+1) {
		t.Fatalf("the IPv6 radix has %d node slots: the test misses its deeper levels", len(t6.rdx.nodes))
	}
	sorted := slices.Clone(nets)
	slices.SortFunc(sorted, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	cityOf, asnOf := holder(sorted), holder(asnNets)
	check := func(a netip.Addr) {
		t.Helper()
		var got netip.Prefix
		var ok bool
		var v uint32
		if a.Is4() {
			x := binary.BigEndian.Uint32(a.AsSlice())
			sg := s4.find(x)
			if ok = sg.cityBits != noNet; ok {
				v, got = sg.loc, prefix4(x, sg.cityBits)
			}
			j, jok := asnOf(a)
			if gotOK := sg.asnBits != noNet; gotOK != jok || jok && (prefix4(x, sg.asnBits) != asnNets[j] || sg.asn != uint32(j/4)) {
				t.Fatalf("ASN of %v = %v %d (%v), want %v %d (%v)", a, prefix4(x, sg.asnBits), sg.asn, gotOK, asnNets[max(j, 0)], j/4, jok)
			}
		} else {
			b := a.As16()
			v, got, ok = t6.find(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
		}
		i, wok := cityOf(a)
		var w netip.Prefix
		if wok {
			w = sorted[i]
		}
		if ok != wok || got != w || ok && nets[v] != w {
			t.Fatalf("find(%v) = %v %v (value %d), want %v %v", a, got, ok, v, w, wok)
		}
	}
	// The lockstep search of two IPv6 tables finds what two searches
	// find.
	_, o6 := buildTables(denseNets6(r, 5000), nil)
	pair := func(a netip.Addr) {
		t.Helper()
		if a.Is4() {
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
	for _, p := range append(nets, asnNets...) {
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
	a4 := denseNets4(r, 2048)
	var asn4 []net4
	for i, p := range a4 {
		asn4 = append(asn4, net4{binary.BigEndian.Uint32(p.Addr().AsSlice()), uint8(p.Bits()), uint32(i)})
	}
	s4, t6 := buildTables(append(n4, n6...), asn4)
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
	b.Logf("IPv4: %d segments, %d /16 blocks (%d KiB)", len(s4.segs), len(s4.blocks)>>8, (len(s4.root)+len(s4.blocks))*4/1024+len(s4.segs)*16/1024)
	// The City and the ASN network at once.
	b.Run("v4", func(b *testing.B) {
		for i := range b.N {
			if sg := s4.find(q4[i&(1<<16-1)]); sg.cityBits == noNet {
				b.Fatal("not found")
			}
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

// TestSpaceMovedOut: a space4 big enough to leave the heap (see bigCopy)
// finds what it found before, and the copy is not the heap's.
func TestSpaceMovedOut(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nets := denseNets4(r, 4096)
	s, _ := buildTables(nets, nil)
	if size := len(s.blocks) * 4; size < 4<<21 {
		t.Fatalf("blocks of %d bytes: too few to leave the heap", size)
	}
	heapBlocks, heapSegs := s.blocks, s.segs
	moved := s
	free := moved.moveOut()
	if &moved.blocks[0] == &heapBlocks[0] || &moved.segs[0] == &heapSegs[0] {
		t.Fatal("the tables were not copied out of the heap")
	}
	for range 100000 {
		x := r.Uint32()
		if got, want := moved.find(x), s.find(x); got != want {
			t.Fatalf("find(%08x) = %+v after moving out, %+v before", x, got, want)
		}
	}
	free()
}

// TestPacer: work rests so many times as long as it worked, after every
// so many steps, and not between them.
func TestPacer(t *testing.T) {
	cases := []struct {
		name      string
		every     int
		rest      time.Duration
		steps     int
		stepTime  time.Duration
		wantRests []time.Duration
	}{
		{"no rest before the first batch ends", 4, 1, 3, time.Millisecond, nil},
		{"a rest as long as a batch's work", 4, 1, 4, time.Millisecond, []time.Duration{3 * time.Millisecond}},
		{"each rest as long as the work since the last", 2, 1, 6, 5 * time.Millisecond, []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}},
		{"rests three times the work", 2, 3, 6, 5 * time.Millisecond, []time.Duration{15 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			var rests []time.Duration
			p := &pacer{every: c.every, rest: c.rest,
				now:   func() time.Time { return now },
				sleep: func(d time.Duration) { rests = append(rests, d); now = now.Add(d) }}
			for range c.steps {
				p.step() // a step's work takes stepTime, after its call
				now = now.Add(c.stepTime)
			}
			if !slices.Equal(rests, c.wantRests) {
				t.Fatalf("rests %v, want %v", rests, c.wantRests)
			}
		})
	}
	var p *pacer
	p.step() // a nil pacer never rests
}

// TestSpace6: the IPv6 segments find, for every address near a network's
// edges and for random addresses, the City and the ASN network the two
// tables find, also at the top and bottom of the space; and they are not
// built when a network is longer than /64.
func TestSpace6(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	var city, asn []netip.Prefix
	for _, p := range denseNets6(r, 20000) {
		if p.Bits() <= 64 {
			city = append(city, p)
		}
	}
	for _, p := range denseNets6(r, 5000) {
		if p.Bits() <= 64 {
			asn = append(asn, p)
		}
	}
	city = append(city, netip.MustParsePrefix("::/8"), netip.MustParsePrefix("ffff:ffff:ffff:ffff::/64"))
	asn = append(asn, netip.MustParsePrefix("ff00::/8"))
	table := func(nets []netip.Prefix) table6 {
		var b4 []net4
		var b6 builder6
		for i, p := range nets {
			addNetwork(&b4, &b6, p, uint32(i+1))
		}
		return b6.table()
	}
	ct, at := table(city), table(asn)
	s, ok := newSpace6(&ct, &at)
	if !ok {
		t.Fatal("no segments for networks of /64 or shorter")
	}
	check := func(a netip.Addr) {
		t.Helper()
		b := a.As16()
		hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		sg := s.find(hi)
		for _, c := range []struct {
			name string
			t    *table6
			val  uint32
			bits uint8
		}{{"city", &ct, sg.loc, sg.cityBits}, {"asn", &at, sg.asn, sg.asnBits}} {
			v, p, found := c.t.find(hi, lo)
			if found != (c.bits != noNet) || found && (v != c.val || p != prefix6(hi, c.bits)) {
				t.Fatalf("%s: %s: segment %d /%d, table %v %d %v", a, c.name, c.val, c.bits, found, v, p)
			}
		}
	}
	for _, p := range append(city, asn...) {
		first, last := p.Masked().Addr(), lastAddr(p)
		for _, a := range []netip.Addr{first, last, first.Prev(), last.Next()} {
			if a.IsValid() {
				check(a)
			}
		}
	}
	for range 20000 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], r.Uint64())
		check(netip.AddrFrom16(b))
	}
	check(netip.IPv6Unspecified())
	long := table([]netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")})
	if _, ok := newSpace6(&long, &at); ok {
		t.Error("segments built over a /128")
	}
}
