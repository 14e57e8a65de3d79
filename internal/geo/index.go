package geo

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Index is an open DB compiled for many lookups: every network of both
// databases in sorted tables, and every distinct place the City database
// names decoded once. A lookup costs a table index and a short binary
// search and decodes nothing, so dnsd can afford one for every query and
// needs no cache that grows with the number of askers.
//
// Lookup agrees with DB.Lookup for every address (tested on every
// network's edges). An Index holds no reference to the DB: the DB may be
// closed once the Index is built.
type Index struct {
	// An Index must not be copied: its tables live outside the heap and
	// are freed when the Index is (go vet reports a copy).
	_                   noCopy
	locs                []Location
	v4                  space4
	city6, asn6         table6 // when a network is longer than /64
	v6                  space6 // else
	hasV6               bool
	hasCity, hasAS      bool
	cityAlias, asnAlias aliases
	networks            int
}

// Hit is what an Index says of an address.
type Hit struct {
	// Loc is the place the City database gives the address, an index
	// into Locations, or -1 when it has no record for it.
	Loc int32
	// CityPrefix is the City network that matched (invalid if none):
	// every address in it has the same Loc.
	CityPrefix netip.Prefix
	// ASN is the autonomous system, 0 when unknown; ASNPrefix the ASN
	// network that matched (invalid if none).
	ASN       uint32
	ASNPrefix netip.Prefix
}

// Index reads every network of db's databases into an Index. It takes
// about a second for a City database of a few million networks; Lookup
// on the DB keeps working meanwhile.
func (db *DB) Index() (*Index, error) { return db.index(nil) }

// IndexBehind is Index for a server that goes on answering from another
// Index meanwhile: every few thousand networks it rests three times as
// long as it worked, and so takes four times as long. Indexing a million
// networks streams hundreds of MiB through memory, and the server's
// lookups, misses of the cache every one, wait behind it: under load,
// dnsd answered 70-85% of its queries in the second after a reload began
// at full speed, 85-94% at half speed, 89-106% at a quarter
// (bench/dnsd-load.sh).
func (db *DB) IndexBehind() (*Index, error) {
	return db.index(&pacer{every: 16384, rest: 3, now: time.Now, sleep: time.Sleep})
}

// pacer makes work rest rest times as long as it worked, every so many
// steps.
type pacer struct {
	every int
	rest  time.Duration
	now   func() time.Time
	sleep func(time.Duration)
	n     int
	since time.Time // when the work resumed
}

// step counts a step of work, and rests after every p.every of them. A
// nil pacer never rests.
func (p *pacer) step() {
	if p == nil {
		return
	}
	if p.n == 0 {
		p.since = p.now()
	}
	if p.n++; p.n%p.every == 0 {
		p.sleep(p.rest * p.now().Sub(p.since))
		p.since = p.now()
	}
}

func (db *DB) index(pace *pacer) (*Index, error) {
	ix := &Index{}
	var city4, asn4 []net4
	if db == nil {
		ix.finish(nil, nil)
		return ix, nil
	}
	if db.city != nil {
		ix.hasCity = true
		ids := map[uintptr]int32{}    // record offset -> location
		byLoc := map[Location]int32{} // the same place in several records
		var rec cityRecord
		var b6 builder6
		var probe aliasProbe
		for res := range db.city.Networks() {
			pace.step()
			if err := res.Err(); err != nil {
				return nil, fmt.Errorf("%s: reading its networks: %w", db.cityPath, err)
			}
			id, seen := ids[res.Offset()]
			if !seen {
				loc, ok := db.location(res, &rec)
				if !ok {
					id = -1
				} else if id, seen = byLoc[loc]; !seen {
					id = int32(len(ix.locs))
					ix.locs = append(ix.locs, loc)
					byLoc[loc] = id
				}
				ids[res.Offset()] = id
			}
			if id >= 0 {
				addNetwork(&city4, &b6, res.Prefix(), uint32(id))
				probe.note(res)
			}
		}
		ix.city6 = b6.table()
		ix.networks += len(city4) + len(b6.hi)
		ix.cityAlias = probe.aliases(db.city)
	}
	if db.asn != nil {
		ix.hasAS = true
		asns := map[uintptr]uint32{}
		var rec asnRecord
		var b6 builder6
		var probe aliasProbe
		for res := range db.asn.Networks() {
			pace.step()
			if err := res.Err(); err != nil {
				return nil, fmt.Errorf("%s: reading its networks: %w", db.asnPath, err)
			}
			asn, seen := asns[res.Offset()]
			if !seen {
				rec = asnRecord{}
				if res.Decode(&rec) == nil {
					asn = rec.Number
				}
				asns[res.Offset()] = asn
			}
			// A record without a number still marks the network as
			// known to the database: DB.Lookup gives its prefix.
			addNetwork(&asn4, &b6, res.Prefix(), asn)
			probe.note(res)
		}
		ix.asn6 = b6.table()
		ix.networks += len(asn4) + len(b6.hi)
		ix.asnAlias = probe.aliases(db.asn)
	}
	// An entry of space4's blocks has 31 bits for a segment, and there
	// are at most two segments a network.
	if n := len(city4) + len(asn4); n >= 1<<29 {
		return nil, fmt.Errorf("%s, %s: %d IPv4 networks, more than dnsd can index (%d); is this a GeoIP database?", db.cityPath, db.asnPath, n, 1<<29)
	}
	ix.finish(city4, asn4)
	return ix, nil
}

// noCopy makes go vet's copylocks check report a copy of what holds it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// finish builds the IPv4 space from both databases' networks and moves
// the big tables out of the heap (see bigCopy), to be freed when the
// Index is: nothing outside it points there (lookups copy what they
// read).
func (ix *Index) finish(city4, asn4 []net4) {
	ix.v4 = newSpace4(sortNets4(city4), sortNets4(asn4))
	if ix.v6, ix.hasV6 = newSpace6(&ix.city6, &ix.asn6); ix.hasV6 {
		ix.city6, ix.asn6 = table6{}, table6{}
	}
	frees := []func(){ix.v4.moveOut(), ix.v6.moveOut(), ix.city6.moveOut(), ix.asn6.moveOut()}
	runtime.AddCleanup(ix, func(frees []func()) {
		for _, free := range frees {
			free()
		}
	}, frees)
}

func addNetwork(b4 *[]net4, b6 *builder6, p netip.Prefix, v uint32) {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		a, p = a.Unmap(), netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if a.Is4() {
		*b4 = append(*b4, net4{binary.BigEndian.Uint32(a.AsSlice()), uint8(p.Bits()), v})
		return
	}
	b := a.As16()
	b6.add(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint8(p.Bits()), v)
}

// Locations returns every place the City database names, indexed by
// Hit.Loc. Do not modify.
func (ix *Index) Locations() []Location {
	if ix == nil {
		return nil
	}
	return ix.locs
}

// HasCity and HasASN say which databases the Index was built from.
func (ix *Index) HasCity() bool { return ix.hasCity }

// HasASN reports whether the Index has an ASN database.
func (ix *Index) HasASN() bool { return ix.hasAS }

// Lookup returns what the databases say of a. An IPv4-mapped address is
// looked up as IPv4 and a zone is ignored. It does not allocate. As in a
// MaxMind tree, an IPv4-compatible IPv6 address (::a.b.c.d) finds the
// IPv4 networks, and 6to4 and Teredo addresses find them where the
// database aliases them.
func (ix *Index) Lookup(a netip.Addr) Hit {
	h := Hit{Loc: -1}
	if ix == nil || !a.IsValid() {
		return h
	}
	a = a.Unmap()
	if a.Is4() {
		x := binary.BigEndian.Uint32(a.AsSlice())
		sg := ix.v4.find(x)
		if sg.cityBits != noNet {
			h.Loc, h.CityPrefix = int32(sg.loc), prefix4(x, sg.cityBits)
		}
		if sg.asnBits != noNet {
			h.ASN, h.ASNPrefix = sg.asn, prefix4(x, sg.asnBits)
		}
		return h
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if hi == 0 && lo>>32 == 0 {
		// ::/96 is where a MaxMind tree keeps its IPv4 networks.
		sg := ix.v4.find(uint32(lo))
		if sg.cityBits != noNet {
			h.Loc, h.CityPrefix = int32(sg.loc), aliasPrefix(a, sg.cityBits, 96)
		}
		if sg.asnBits != noNet {
			h.ASN, h.ASNPrefix = sg.asn, aliasPrefix(a, sg.asnBits, 96)
		}
		return h
	}
	if ix.hasV6 {
		sg := ix.v6.find(hi)
		if sg.cityBits != noNet {
			h.Loc, h.CityPrefix = int32(sg.loc), prefix6(hi, sg.cityBits)
		} else if x, off, ok := ix.cityAlias.v4(hi, lo); ok {
			if sg := ix.v4.find(x); sg.cityBits != noNet {
				h.Loc, h.CityPrefix = int32(sg.loc), aliasPrefix(a, sg.cityBits, off)
			}
		}
		if sg.asnBits != noNet {
			h.ASN, h.ASNPrefix = sg.asn, prefix6(hi, sg.asnBits)
		} else if x, off, ok := ix.asnAlias.v4(hi, lo); ok {
			if sg := ix.v4.find(x); sg.asnBits != noNet {
				h.ASN, h.ASNPrefix = sg.asn, aliasPrefix(a, sg.asnBits, off)
			}
		}
		return h
	}
	i, j := findPair6(&ix.city6, &ix.asn6, hi, lo)
	if i >= 0 {
		v, p := ix.city6.at(i)
		h.Loc, h.CityPrefix = int32(v), p
	} else if x, off, ok := ix.cityAlias.v4(hi, lo); ok {
		if sg := ix.v4.find(x); sg.cityBits != noNet {
			h.Loc, h.CityPrefix = int32(sg.loc), aliasPrefix(a, sg.cityBits, off)
		}
	}
	if j >= 0 {
		h.ASN, h.ASNPrefix = ix.asn6.at(j)
	} else if x, off, ok := ix.asnAlias.v4(hi, lo); ok {
		if sg := ix.v4.find(x); sg.asnBits != noNet {
			h.ASN, h.ASNPrefix = sg.asn, aliasPrefix(a, sg.asnBits, off)
		}
	}
	return h
}

// Prefetcher is the scratch space of Prefetch, kept by its caller (one
// per goroutine) so that a prefetch allocates nothing. The zero value is
// ready.
type Prefetcher struct {
	xs  []uint32
	sum uint32
}

// Prefetch reads into the CPU's cache what looking up the IPv4 addresses
// of as will read, for all of them at once, pass by pass: each pass's
// reads are independent of each other, so the CPU has many in flight and
// a batch waits about once a pass, not once an address. A server that
// has a batch of queries calls it before answering them. (IPv6 lookups
// walk a radix: prefetching its levels pass by pass, tried, saved nothing
// measurable.)
func (ix *Index) Prefetch(as []netip.Addr, p *Prefetcher) {
	if ix == nil {
		return
	}
	p.xs = p.xs[:0]
	for _, a := range as {
		if a = a.Unmap(); a.Is4() {
			p.xs = append(p.xs, binary.BigEndian.Uint32(a.AsSlice()))
		}
	}
	// The sum of what was read is kept, so that the reads stay.
	p.sum += ix.v4.touch(p.xs)
}

// aliases says which IPv6 ranges a database maps onto its IPv4 networks,
// as MaxMind's do: 6to4 (2002::/16, the IPv4 address in bits 16-47) and
// Teredo (2001::/32, the client's IPv4 address inverted in bits 96-127).
type aliases struct{ sixToFour, teredo bool }

// v4 returns the IPv4 address an aliased IPv6 address stands for and
// where in the IPv6 address it starts.
func (al aliases) v4(hi, lo uint64) (uint32, int, bool) {
	switch {
	case al.sixToFour && hi>>48 == 0x2002:
		return uint32(hi >> 16), 16, true
	case al.teredo && hi>>32 == 0x20010000:
		return ^uint32(lo), 96, true
	}
	return 0, 0, false
}

// aliasPrefix is the IPv6 network that holds a and stands for an IPv4
// network bits long, whose address starts at bit off of a.
func aliasPrefix(a netip.Addr, bits uint8, off int) netip.Prefix {
	q, _ := a.Prefix(off + int(bits))
	return q
}

// aliasProbe remembers a few IPv4 networks and their records, to find out
// whether a database aliases IPv6 ranges onto them.
type aliasProbe struct {
	addrs []netip.Addr
	offs  []uintptr
}

func (ap *aliasProbe) note(res maxminddb.Result) {
	if p := res.Prefix(); p.Addr().Is4() && len(ap.addrs) < 16 {
		ap.addrs = append(ap.addrs, p.Addr())
		ap.offs = append(ap.offs, res.Offset())
	}
}

func (ap *aliasProbe) aliases(r *maxminddb.Reader) aliases {
	var al aliases
	if len(ap.addrs) == 0 {
		return al
	}
	al.sixToFour, al.teredo = true, true
	for i, a := range ap.addrs {
		v4 := a.As4()
		six := netip.AddrFrom16([16]byte{0x20, 0x02, v4[0], v4[1], v4[2], v4[3]})
		ter := netip.AddrFrom16([16]byte{0x20, 0x01, 12: ^v4[0], 13: ^v4[1], 14: ^v4[2], 15: ^v4[3]})
		if res := r.Lookup(six); !res.Found() || res.Offset() != ap.offs[i] {
			al.sixToFour = false
		}
		if res := r.Lookup(ter); !res.Found() || res.Offset() != ap.offs[i] {
			al.teredo = false
		}
	}
	return al
}

// Info returns what DB.Lookup would for a, but the AS organisation.
func (ix *Index) Info(a netip.Addr) Info {
	info, _ := ix.Where(a)
	return info
}

// Where returns Info and the index of a's place in Locations (-1 for
// none). It does not allocate.
func (ix *Index) Where(a netip.Addr) (Info, int32) {
	h := ix.Lookup(a)
	info := Info{CityPrefix: h.CityPrefix, ASN: h.ASN, ASNPrefix: h.ASNPrefix}
	if h.Loc >= 0 {
		l := &ix.locs[h.Loc]
		info.Country, info.SubdivisionCode, info.Continent, info.Coord, info.HasCoord = l.Country, l.SubdivisionCode, l.Continent, l.Coord, l.HasCoord
	}
	return info, h.Loc
}

// Networks returns how many networks the Index holds, for logs.
func (ix *Index) Networks() int {
	return ix.networks
}

// table6 holds one database's IPv6 networks sorted by their first
// address, and a radix over the first 64 bits of the address that
// narrows a lookup to the few networks starting in its own part of the
// space (and the one before them, which may reach into it). Networks are
// disjoint, as the leaves of a MaxMind tree are, so the one that holds x
// is the last one starting at or before x, if it reaches x.
//
// IPv6 networks are too sparse for space4's direct index; a lookup is the
// radix's nodes, a line or two of starts and one entry, whose value and
// length sit together.
type table6 struct {
	start [][2]uint64 // an address's high and low half, together
	ent   []entry
	rdx   radix
}

// entry is a network's value and prefix length.
type entry struct {
	val  uint32
	bits uint8
}

func (t *table6) find(xh, xl uint64) (uint32, netip.Prefix, bool) {
	i, _ := findPair6(t, &table6{}, xh, xl)
	if i < 0 {
		return 0, netip.Prefix{}, false
	}
	v, p := t.at(i)
	return v, p, true
}

// moveOut moves t's tables out of the heap (see bigCopy) and returns
// the function that frees them.
func (t *table6) moveOut() func() { return moveOut6(&t.start, &t.ent, &t.rdx) }

// moveOut6 moves an IPv6 table's starts, what it says of them and its
// radix out of the heap (see bigCopy) and returns the function that
// frees them.
func moveOut6[S, V any](start *[]S, val *[]V, r *radix) func() {
	var f1, f2, f3, f4 func()
	*start, f1 = bigCopy(*start)
	*val, f2 = bigCopy(*val)
	r.root, f3 = bigCopy(r.root)
	r.nodes, f4 = bigCopy(r.nodes)
	return func() { f1(); f2(); f3(); f4() }
}

// at returns the value and the network of entry i.
func (t *table6) at(i int) (uint32, netip.Prefix) {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], t.start[i][0])
	binary.BigEndian.PutUint64(a[8:], t.start[i][1])
	return t.ent[i].val, netip.PrefixFrom(netip.AddrFrom16(a), int(t.ent[i].bits))
}

// findPair6 returns the entries of a and of b that hold (xh, xl), -1 for
// none. It searches both tables in lockstep, so that the cache misses of
// the two (the City and the ASN table) overlap instead of adding up.
func findPair6(a, b *table6, xh, xl uint64) (int, int) {
	la, ha, lb, hb := narrowPair(&a.rdx, &b.rdx, xh)
	after := func(s *[2]uint64) bool { return s[0] > xh || s[0] == xh && s[1] > xl }
	i, j := la, lb
	for i < ha || j < hb {
		if i < ha {
			if m := int(uint(i+ha) >> 1); after(&a.start[m]) {
				ha = m
			} else {
				i = m + 1
			}
		}
		if j < hb {
			if m := int(uint(j+hb) >> 1); after(&b.start[m]) {
				hb = m
			} else {
				j = m + 1
			}
		}
	}
	i, j = i-1, j-1
	if i >= 0 && !contains6(a.start[i][0], a.start[i][1], int(a.ent[i].bits), xh, xl) {
		i = -1
	}
	if j >= 0 && !contains6(b.start[j][0], b.start[j][1], int(b.ent[j].bits), xh, xl) {
		j = -1
	}
	return i, j
}

// radix narrows a sorted array of 64-bit keys to those that share a key's
// top bits: the first 16 bits index the root; a part of the space where
// more than leafMax keys start gets a node over the next nodeBits bits,
// and so on, so a search ends in at most leafMax keys (or in keys that share all
// 64 bits). Sparse parts cost nothing beyond the root, and each level is
// one cache miss: a slot holds its bound and its child together.
type radix struct {
	// root[b].first is the index of the first key whose top 16 bits are
	// >= b, root[b].kid the node under b, or -1. The last slot closes the
	// range of the one before it.
	root []slot // 1<<16 + 1
	// Node n is nodes[n*(fan+1):][:fan+1], over the next nodeBits bits.
	nodes []slot
}

type slot struct {
	first uint32
	kid   int32
}

// A node resolves nodeBits more bits of the key and takes 2 KiB: about 20
// MiB of nodes for the 2.3 million networks of bench/mkworld, and a dense
// /16 is resolved to /24s in one step.
const (
	nodeBits = 8
	fan      = 1 << nodeBits
)

// leafMax is the most keys a search scans without a node over them:
// 32 uint32 starts are two cache lines.
const leafMax = 32

// narrowPair returns the ranges of keys of a and of b that start in the
// smallest part of the space each resolves around x, walking both in
// lockstep (see findPair6). An empty radix gives an empty range.
func narrowPair(a, b *radix, x uint64) (int, int, int, int) {
	var sa, sb []slot
	if a.root != nil {
		sa = a.root[x>>48:][:2]
	}
	if b.root != nil {
		sb = b.root[x>>48:][:2]
	}
	shift := 48
	for {
		ka, kb := int32(-1), int32(-1)
		if sa != nil {
			ka = sa[0].kid
		}
		if sb != nil {
			kb = sb[0].kid
		}
		if ka < 0 && kb < 0 {
			break
		}
		shift -= nodeBits
		c := int(x>>shift) & (fan - 1)
		if ka >= 0 {
			sa = a.nodes[int(ka)*(fan+1)+c:][:2]
		}
		if kb >= 0 {
			sb = b.nodes[int(kb)*(fan+1)+c:][:2]
		}
	}
	var la, ha, lb, hb int
	if sa != nil {
		la, ha = int(sa[0].first), int(sa[1].first)
	}
	if sb != nil {
		lb, hb = int(sb[0].first), int(sb[1].first)
	}
	return la, ha, lb, hb
}

// buildRadix indexes keys, sorted.
func buildRadix(keys []uint64) radix {
	r := radix{root: make([]slot, 1<<16+1)}
	// fill sets s[c].first to the first key in [lo, hi) whose digit at
	// shift is >= c, and every child to none.
	fill := func(s []slot, lo, hi int, shift uint) {
		j, mask := lo, uint64(len(s)-2)
		for c := range len(s) - 1 {
			for j < hi && (keys[j]>>shift)&mask < uint64(c) {
				j++
			}
			s[c] = slot{uint32(j), -1}
		}
		s[len(s)-1] = slot{uint32(hi), -1}
	}
	fill(r.root, 0, len(keys), 48)
	// Nodes are made breadth first; a node is addressed by number, not
	// by a slice of r.nodes, which moves as it grows.
	type todo struct {
		node  int32 // -1: the root
		shift uint
	}
	queue := []todo{{-1, 48}}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if t.shift == 0 {
			continue
		}
		parent := func() []slot {
			if t.node < 0 {
				return r.root
			}
			return r.nodes[int(t.node)*(fan+1):][:fan+1]
		}
		for c := range len(parent()) - 1 {
			lo, hi := int(parent()[c].first), int(parent()[c+1].first)
			if hi-lo <= leafMax {
				continue
			}
			n := int32(len(r.nodes) / (fan + 1))
			r.nodes = append(r.nodes, make([]slot, fan+1)...)
			fill(r.nodes[int(n)*(fan+1):][:fan+1], lo, hi, t.shift-nodeBits)
			parent()[c].kid = n
			queue = append(queue, todo{n, t.shift - nodeBits})
		}
	}
	r.nodes = slices.Clip(r.nodes)
	return r
}

// contains6 reports whether the network at (sh, sl)/n holds (xh, xl).
func contains6(sh, sl uint64, n int, xh, xl uint64) bool {
	switch {
	case n == 0:
		return true
	case n <= 64:
		return (sh^xh)>>(64-n) == 0
	case sh != xh:
		return false
	case n == 128:
		return sl == xl
	}
	return (sl^xl)>>(128-n) == 0
}

type builder6 struct {
	hi, lo []uint64
	bits   []uint8
	val    []uint32
}

func (b *builder6) add(hi, lo uint64, bits uint8, v uint32) {
	b.hi, b.lo, b.bits, b.val = append(b.hi, hi), append(b.lo, lo), append(b.bits, bits), append(b.val, v)
}

func (b *builder6) table() table6 {
	idx := make([]int, len(b.hi))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		return cmp.Or(cmp.Compare(b.hi[x], b.hi[y]), cmp.Compare(b.lo[x], b.lo[y]))
	})
	t := table6{start: make([][2]uint64, len(idx)), ent: make([]entry, len(idx))}
	keys := make([]uint64, len(idx))
	for k, i := range idx {
		t.start[k], t.ent[k] = [2]uint64{b.hi[i], b.lo[i]}, entry{b.val[i], b.bits[i]}
		keys[k] = b.hi[i]
	}
	t.rdx = buildRadix(keys)
	return t
}
