package geo

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

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
	locs                []Location
	city4, asn4         table4
	city6, asn6         table6
	hasCity, hasAS      bool
	cityAlias, asnAlias aliases
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
func (db *DB) Index() (*Index, error) {
	ix := &Index{}
	if db == nil {
		return ix, nil
	}
	if db.city != nil {
		ix.hasCity = true
		ids := map[uintptr]int32{}    // record offset -> location
		byLoc := map[Location]int32{} // the same place in several records
		var rec cityRecord
		var b4 builder4
		var b6 builder6
		var probe aliasProbe
		for res := range db.city.Networks() {
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
				addNetwork(&b4, &b6, res.Prefix(), uint32(id))
				probe.note(res)
			}
		}
		ix.city4, ix.city6 = b4.table(), b6.table()
		ix.cityAlias = probe.aliases(db.city)
	}
	if db.asn != nil {
		ix.hasAS = true
		asns := map[uintptr]uint32{}
		var rec asnRecord
		var b4 builder4
		var b6 builder6
		var probe aliasProbe
		for res := range db.asn.Networks() {
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
			addNetwork(&b4, &b6, res.Prefix(), asn)
			probe.note(res)
		}
		ix.asn4, ix.asn6 = b4.table(), b6.table()
		ix.asnAlias = probe.aliases(db.asn)
	}
	return ix, nil
}

func addNetwork(b4 *builder4, b6 *builder6, p netip.Prefix, v uint32) {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		a, p = a.Unmap(), netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if a.Is4() {
		b4.add(binary.BigEndian.Uint32(a.AsSlice()), uint8(p.Bits()), v)
		return
	}
	b := a.As16()
	b6.add(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint8(p.Bits()), v)
}

// Locations returns every place the City database names, indexed by
// Hit.Loc. Do not modify.
func (ix *Index) Locations() []Location { return ix.locs }

// HasCity and HasASN say which databases the Index was built from.
func (ix *Index) HasCity() bool { return ix.hasCity }

// HasASN reports whether the Index has an ASN database.
func (ix *Index) HasASN() bool { return ix.hasAS }

// Lookup returns what the databases say of a. An IPv4-mapped address is
// looked up as IPv4 and a zone is ignored. It does not allocate. Unlike
// DB.Lookup, it knows nothing of the deprecated IPv4-compatible IPv6
// addresses (::a.b.c.d, RFC 4291 2.5.5.1), which reach the IPv4 networks
// of a MaxMind tree by accident; 6to4 and Teredo addresses are found where
// the database aliases them.
func (ix *Index) Lookup(a netip.Addr) Hit {
	h := Hit{Loc: -1}
	if !a.IsValid() {
		return h
	}
	a = a.Unmap()
	if a.Is4() {
		x := binary.BigEndian.Uint32(a.AsSlice())
		if v, p, ok := ix.city4.find(x); ok {
			h.Loc, h.CityPrefix = int32(v), p
		}
		if v, p, ok := ix.asn4.find(x); ok {
			h.ASN, h.ASNPrefix = v, p
		}
		return h
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if v, p, ok := ix.city6.find(hi, lo); ok {
		h.Loc, h.CityPrefix = int32(v), p
	} else if x, bits, ok := ix.cityAlias.v4(hi, lo); ok {
		if v, p, ok := ix.city4.find(x); ok {
			h.Loc, h.CityPrefix = int32(v), aliasPrefix(a, p, bits)
		}
	}
	if v, p, ok := ix.asn6.find(hi, lo); ok {
		h.ASN, h.ASNPrefix = v, p
	} else if x, bits, ok := ix.asnAlias.v4(hi, lo); ok {
		if v, p, ok := ix.asn4.find(x); ok {
			h.ASN, h.ASNPrefix = v, aliasPrefix(a, p, bits)
		}
	}
	return h
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

// aliasPrefix is the IPv6 network that holds a and stands for the IPv4
// network p, whose address starts at bit off of a.
func aliasPrefix(a netip.Addr, p netip.Prefix, off int) netip.Prefix {
	q, _ := a.Prefix(off + p.Bits())
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
	h := ix.Lookup(a)
	info := Info{CityPrefix: h.CityPrefix, ASN: h.ASN, ASNPrefix: h.ASNPrefix}
	if h.Loc >= 0 {
		l := ix.locs[h.Loc]
		info.Country, info.SubdivisionCode, info.Continent, info.Coord, info.HasCoord = l.Country, l.SubdivisionCode, l.Continent, l.Coord, l.HasCoord
	}
	return info
}

// Networks returns how many networks the Index holds, for logs.
func (ix *Index) Networks() int {
	return len(ix.city4.start) + len(ix.city6.hi) + len(ix.asn4.start) + len(ix.asn6.hi)
}

// table4 holds IPv4 networks sorted by their first address. first[b] is
// the number of networks that start before b<<16, so a lookup only
// searches the networks that start in its own /16 (and the one before
// them, which may reach into it).
type table4 struct {
	start []uint32
	bits  []uint8
	val   []uint32
	first []uint32 // 1<<16 + 1 entries
}

func (t *table4) find(x uint32) (uint32, netip.Prefix, bool) {
	if len(t.start) == 0 {
		return 0, netip.Prefix{}, false
	}
	b := x >> 16
	lo, hi := int(t.first[b]), int(t.first[b+1])
	// The last network of the bucket that starts at or before x, else
	// the one before the bucket.
	i := lo + sortSearch(hi-lo, func(k int) bool { return t.start[lo+k] > x }) - 1
	if i < 0 {
		return 0, netip.Prefix{}, false
	}
	n := t.bits[i]
	if n > 0 && (x^t.start[i])>>(32-n) != 0 {
		return 0, netip.Prefix{}, false
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], t.start[i])
	return t.val[i], netip.PrefixFrom(netip.AddrFrom4(a), int(n)), true
}

// table6 is table4 for IPv6, keyed by the first 16 bits.
type table6 struct {
	hi, lo []uint64
	bits   []uint8
	val    []uint32
	first  []uint32
}

func (t *table6) find(xh, xl uint64) (uint32, netip.Prefix, bool) {
	if len(t.hi) == 0 {
		return 0, netip.Prefix{}, false
	}
	b := xh >> 48
	lo, hi := int(t.first[b]), int(t.first[b+1])
	i := lo + sortSearch(hi-lo, func(k int) bool {
		j := lo + k
		return t.hi[j] > xh || t.hi[j] == xh && t.lo[j] > xl
	}) - 1
	if i < 0 {
		return 0, netip.Prefix{}, false
	}
	n := int(t.bits[i])
	if !contains6(t.hi[i], t.lo[i], n, xh, xl) {
		return 0, netip.Prefix{}, false
	}
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], t.hi[i])
	binary.BigEndian.PutUint64(a[8:], t.lo[i])
	return t.val[i], netip.PrefixFrom(netip.AddrFrom16(a), n), true
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

// sortSearch is sort.Search without the closure escaping: the smallest
// k in [0, n) with f(k), or n.
func sortSearch(n int, f func(int) bool) int {
	i, j := 0, n
	for i < j {
		h := int(uint(i+j) >> 1)
		if !f(h) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

type builder4 struct {
	start []uint32
	bits  []uint8
	val   []uint32
}

func (b *builder4) add(start uint32, bits uint8, v uint32) {
	b.start, b.bits, b.val = append(b.start, start), append(b.bits, bits), append(b.val, v)
}

func (b *builder4) table() table4 {
	idx := make([]int, len(b.start))
	for i := range idx {
		idx[i] = i
	}
	if !slices.IsSorted(b.start) {
		slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(b.start[x], b.start[y]) })
	}
	t := table4{start: make([]uint32, len(idx)), bits: make([]uint8, len(idx)), val: make([]uint32, len(idx)), first: make([]uint32, 1<<16+1)}
	for k, i := range idx {
		t.start[k], t.bits[k], t.val[k] = b.start[i], b.bits[i], b.val[i]
	}
	j := 0
	for bucket := range t.first {
		for j < len(t.start) && t.start[j]>>16 < uint32(bucket) {
			j++
		}
		t.first[bucket] = uint32(j)
	}
	return t
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
	t := table6{hi: make([]uint64, len(idx)), lo: make([]uint64, len(idx)), bits: make([]uint8, len(idx)), val: make([]uint32, len(idx)), first: make([]uint32, 1<<16+1)}
	for k, i := range idx {
		t.hi[k], t.lo[k], t.bits[k], t.val[k] = b.hi[i], b.lo[i], b.bits[i], b.val[i]
	}
	j := 0
	for bucket := range t.first {
		for j < len(t.hi) && t.hi[j]>>48 < uint64(bucket) {
			j++
		}
		t.first[bucket] = uint32(j)
	}
	return t
}
