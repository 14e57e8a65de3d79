package dnsd

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TTLs of what dnsd answers from config rather than from the policy.
const (
	// InfraTTL is the TTL of the SOA, the NS records and their addresses.
	InfraTTL = 3600
	// SOA timers. They matter to secondaries only, which dnsd has none
	// of (every dnsd is a primary fed the same snapshot); the values are
	// the ones RIPE-203 recommends, so zone checkers are content.
	soaRefresh = 14400
	soaRetry   = 3600
	soaExpire  = 1209600
)

// Inputs are one generation of what dnsd answers from.
type Inputs struct {
	Inventory *inventory.Inventory // with a [dns] table
	// Records are the zone's ordinary records, from its zone file
	// (ReadZoneFile).
	Records []dns.RR
	// Snapshot is the health; nil means nothing is verified and every
	// declared endpoint counts as healthy.
	Snapshot *state.Snapshot
	// GeoIP is the open databases; GeoIndex, built from them (by
	// Compile when nil), locates askers. nil, or
	// databases without one of their parts, leave that part unknown.
	// HasCity and HasASN say which parts there are: a database that has
	// a part but no record for an address narrows the ECS scope
	// differently from one that lacks the part.
	GeoIP           *geo.DB
	GeoIndex        *geo.Index
	HasCity, HasASN bool
	// Serial is the SOA serial: the same inputs must give the same
	// serial on every dnsd serving the zone (the snapshot's time, say).
	Serial uint32
	// Keys sign the zone (ReadKeys); nil leaves it unsigned. Now is
	// when the signatures are made; the zero time means time.Now.
	Keys *Keys
	Now  time.Time
}

// Zone is one generation of inputs compiled into what queries need:
// every name of the zone with its records in wire form, and per steered
// name the candidate mirrors and their CNAME targets. A Zone is never
// modified after Compile; queries share it, and a reload swaps it whole.
type Zone struct {
	id      uint64 // unique among the zones of a process: a reader's memo key
	in      Inputs
	inv     *inventory.Inventory
	zone    []byte // wire form, lower case
	nodes   map[string]*node
	names   []*geoName
	soa     []byte // the SOA's type..rdata, TTL InfraTTL (for qtype SOA)
	soaNeg  []byte // the same with the negative TTL, for the authority section
	whoami  []netip.Prefix
	serial  uint32
	summary string

	// DNSSEC (dnssec_sign.go): the keys, every RRset to sign by id, the
	// SOA's id, and the signatures; nil sigs for an unsigned zone.
	keys   *Keys
	jobs   []signJob
	soaSig int32
	sigs   *sigTable
}

// zoneIDs numbers the zones Compile makes.
var zoneIDs atomic.Uint64

// node is one owner name of the zone.
type node struct {
	name   []byte // wire form, lower case
	rrsets []rrset
	geo    *geoName // a steered name
	whoami bool     // _whoami.<zone>
	// An empty non-terminal has neither: NODATA for every type.
	nsec *rrset // its NSEC, in a signed zone
}

type rrset struct {
	rtype uint16
	rrs   [][]byte  // type..rdata of each record; the owner is the node's
	glue  []glueSet // additional records (addresses of in-zone name servers)
	sig   int32     // its signatures' id, in a signed zone
}

// glueSet is an RRset of another node, sent in the additional section.
type glueSet struct {
	owner []byte
	set   *rrset
}

// geoName is a steered name and what answering it needs.
type geoName struct {
	idx   int
	label string
	name  []byte // wire form
	proto inventory.Protocol
	// table is the policy compiled for the places GeoIndex names;
	// byCand maps its candidates to mirrors' indexes, candOf back.
	table  *policy.Table
	byCand []int32
	candOf []int32
	// mirrors are the mirrors that list the name and can be a CNAME
	// target for it, in file order; cname[i] is mirrors[i]'s answer and
	// fallback the answer when none is healthy.
	mirrors  []*inventory.Mirror
	index    map[*inventory.Mirror]int
	cname    [][]byte
	fallback []byte
	healthy  [2][]bool // per family, per mirror
	// constant is, per family, the answer when it does not depend on the
	// asker: a mirror index, fallbackChoice, or dependsOnAsker.
	constant [2]int32
	// edges are, per family, the first address of every subnet of a
	// mirror healthy for it and the address after its last, sorted, as
	// numbers (searching netip.Addrs took a tenth of scope's time): an
	// ECS scope never straddles one (see scope).
	edges [2][]addrKey
	// edge16 has a bit for every IPv4 /16 an edge is in: an asker in
	// none (nearly every one) needs no search.
	edge16  *[1 << 16 / 64]uint64
	byLabel map[string]int
	// sigBase is the signatures' id of cname[0], in a signed zone; the
	// others' and the fallback's follow.
	sigBase int32
}

const (
	fallbackChoice int32 = -1
	dependsOnAsker int32 = -2
)

// Compile builds the Zone for in. It fails, saying which key of the
// inventory to change, on what the inventory loader and ReadZoneFile
// should have refused but a Zone cannot hold: no [dns] table, a name
// dnsd makes (a steered name, _whoami, the SOA's names, a CNAME target)
// longer than DNS allows, a record that does not pack. It never panics:
// whatever the inputs, a running server keeps its zone when a new one
// fails.
func Compile(in Inputs) (*Zone, error) {
	inv := in.Inventory
	d := inv.DNS
	if d == nil {
		return nil, fmt.Errorf("%s: there is no [dns] table; add one (zone, ns, names) for dnsd to serve", inv.File)
	}
	if err := checkNames(d); err != nil {
		return nil, fmt.Errorf("%s: %w", inv.File, err)
	}
	if in.GeoIndex == nil && in.GeoIP != nil {
		ix, err := in.GeoIP.Index()
		if err != nil {
			return nil, err
		}
		in.GeoIndex = ix
	}
	z := &Zone{id: zoneIDs.Add(1), in: in, inv: inv, nodes: map[string]*node{}, whoami: d.Whoami, serial: in.Serial}
	var err error
	if z.zone, err = wire(d.Zone); err != nil {
		return nil, fmt.Errorf("%s: [dns] zone: %w", inv.File, err)
	}
	add := func(name string) (*node, error) {
		w, err := wire(name)
		if err != nil {
			return nil, err
		}
		n := z.nodes[string(w)]
		if n == nil {
			n = &node{name: w}
			z.nodes[string(w)] = n
		}
		return n, nil
	}
	addRR := func(rr dns.RR) error {
		n, err := add(rr.Header().Name)
		if err != nil {
			return fmt.Errorf("%s: %w", rr.String(), err)
		}
		b, err := blob(rr)
		if err != nil {
			return fmt.Errorf("%s: %w", rr.String(), err)
		}
		i := slices.IndexFunc(n.rrsets, func(s rrset) bool { return s.rtype == rr.Header().Rrtype })
		if i < 0 {
			n.rrsets = append(n.rrsets, rrset{rtype: rr.Header().Rrtype})
			i = len(n.rrsets) - 1
		}
		n.rrsets[i].rrs = append(n.rrsets[i].rrs, b)
		return nil
	}

	// The apex: SOA and NS from [dns], with the NS addresses as glue.
	mname := d.Zone
	if len(d.NS) > 0 {
		mname = d.NS[0].Name
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: d.Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: InfraTTL},
		Ns: mname, Mbox: d.Hostmaster, Serial: in.Serial, Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: d.NegativeTTL}
	if z.soa, err = blob(soa); err != nil {
		return nil, fmt.Errorf("%s: [dns] SOA %s: %w", inv.File, soa, err)
	}
	soa.Hdr.Ttl = min(InfraTTL, d.NegativeTTL)
	if z.soaNeg, err = blob(soa); err != nil {
		return nil, fmt.Errorf("%s: [dns] SOA %s: %w", inv.File, soa, err)
	}
	apex, _ := add(d.Zone) // wire(d.Zone) succeeded above
	apex.rrsets = append(apex.rrsets, rrset{rtype: dns.TypeSOA, rrs: [][]byte{z.soa}})
	for _, ns := range d.NS {
		if err := addRR(&dns.NS{Hdr: dns.RR_Header{Name: d.Zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: InfraTTL}, Ns: ns.Name}); err != nil {
			return nil, err
		}
		if !dns.IsSubDomain(d.Zone, ns.Name) {
			continue
		}
		for _, a := range ns.Addrs {
			if err := addRR(addressRR(ns.Name, a, InfraTTL)); err != nil {
				return nil, err
			}
		}
	}
	for _, rr := range in.Records {
		if err := addRR(rr); err != nil {
			return nil, fmt.Errorf("%s: %w", d.ZoneFile, err)
		}
	}
	for _, n := range z.nodes {
		slices.SortFunc(n.rrsets, func(a, b rrset) int { return int(a.rtype) - int(b.rtype) })
	}

	// The steered names.
	for i, dn := range d.Names {
		g, err := z.compileName(i, dn)
		if err != nil {
			return nil, err
		}
		z.names = append(z.names, g)
		n, _ := add(dn.Label + "." + d.Zone) // checkNames checked them
		n.geo = g
	}
	n, _ := add("_whoami." + d.Zone)
	n.whoami = true

	// Empty non-terminals: every name between an owner and the apex.
	for _, n := range slices.Collect(maps.Values(z.nodes)) {
		for w := parent(n.name); len(w) > len(z.zone); w = parent(w) {
			if z.nodes[string(w)] == nil {
				z.nodes[string(w)] = &node{name: w}
			}
		}
	}
	if in.Keys != nil {
		now := in.Now
		if now.IsZero() {
			now = time.Now()
		}
		if err := z.prepareSigning(in.Keys, now); err != nil {
			return nil, fmt.Errorf("%s: [dns.dnssec]: %w", inv.File, err)
		}
	}
	// The name servers' addresses go with the NS RRset, from the nodes
	// now that they are complete.
	for i := range apex.rrsets {
		if apex.rrsets[i].rtype != dns.TypeNS {
			continue
		}
		for _, ns := range d.NS {
			owner, _ := wire(ns.Name) // checkNames checked it
			if n := z.nodes[string(owner)]; n != nil && dns.IsSubDomain(d.Zone, ns.Name) {
				for j := range n.rrsets {
					if t := n.rrsets[j].rtype; t == dns.TypeA || t == dns.TypeAAAA {
						apex.rrsets[i].glue = append(apex.rrsets[i].glue, glueSet{owner: n.name, set: &n.rrsets[j]})
					}
				}
			}
		}
	}
	z.summary = z.describe()
	return z, nil
}

// compileName prepares the steered name dn.
func (z *Zone) compileName(idx int, dn inventory.DNSName) (*geoName, error) {
	inv, d := z.inv, z.inv.DNS
	owner := dn.Label + "." + d.Zone
	name, err := wire(owner)
	if err != nil {
		return nil, fmt.Errorf("%s: [dns] names: %s: %w", inv.File, dn.Label, err)
	}
	g := &geoName{idx: idx, label: dn.Label, name: name, proto: dn.Protocol,
		index: map[*inventory.Mirror]int{}, byLabel: map[string]int{}}
	for _, m := range inv.Mirrors {
		if !slices.Contains(m.DNS, dn.Label) {
			continue
		}
		// The inventory guarantees a host name for every protocol a
		// mirror's dns names use.
		host := strings.ToLower(m.Host(dn.Protocol))
		b, err := blob(&dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.TTL}, Target: dns.Fqdn(host)})
		if err != nil {
			return nil, fmt.Errorf("%s: [[mirror]] %q: its %s host cannot be the CNAME target of %s: %w", inv.File, m.Name, dn.Protocol, owner, err)
		}
		g.index[m] = len(g.mirrors)
		if m.Label != "" {
			g.byLabel[m.Label] = len(g.mirrors)
		}
		g.mirrors = append(g.mirrors, m)
		g.cname = append(g.cname, b)
	}
	if g.fallback, err = blob(&dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.TTL}, Target: d.Fallback}); err != nil {
		return nil, fmt.Errorf("%s: [dns] fallback %q: %w", inv.File, d.Fallback, err)
	}
	// The same Want as lookup --name: the mirrors of this name, healthy
	// for its protocol.
	want := policy.Want{Protocols: []inventory.Protocol{dn.Protocol}, DNSName: dn.Label}
	set := policy.NewSet(inv, z.in.Snapshot, want)
	g.table = set.Compile(z.in.GeoIndex.Locations())
	g.byCand = make([]int32, set.Len())
	for i := range g.byCand {
		g.byCand[i] = int32(g.index[g.table.Mirror(int32(i))])
	}
	g.candOf = make([]int32, len(g.mirrors))
	for j, m := range g.mirrors {
		g.candOf[j] = g.table.Index(m)
	}
	for f := range 2 {
		fam := []state.Family{state.IPv4, state.IPv6}[f]
		var edges []netip.Addr
		g.healthy[f] = make([]bool, len(g.mirrors))
		n, public, last := 0, 0, int32(fallbackChoice)
		for i, m := range g.mirrors {
			if z.in.Snapshot != nil {
				ep := z.in.Snapshot.Endpoint(m.Name, dn.Protocol, fam)
				if ep == nil || !ep.Healthy {
					continue
				}
			}
			g.healthy[f][i] = true
			n++
			if m.Public {
				public++
			}
			last = int32(i)
			for _, s := range m.Subnets {
				s = s.Masked()
				edges = append(edges, s.Addr())
				if end := lastAddr(s).Next(); end.IsValid() {
					edges = append(edges, end)
				}
			}
		}
		slices.SortFunc(edges, netip.Addr.Compare)
		for _, e := range slices.Compact(edges) {
			g.edges[f] = append(g.edges[f], keyOf(e))
			if e.Is4() {
				if g.edge16 == nil {
					g.edge16 = new([1 << 16 / 64]uint64)
				}
				b := e.As4()
				x := uint(b[0])<<8 | uint(b[1])
				g.edge16[x/64] |= 1 << (x % 64)
			}
		}
		switch {
		case n == 0:
			g.constant[f] = fallbackChoice
		case n == 1 && public == 1:
			g.constant[f] = last
		default:
			g.constant[f] = dependsOnAsker
		}
	}
	return g, nil
}

func (z *Zone) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "zone %s serial %d, %d names", z.inv.DNS.Zone, z.serial, len(z.nodes))
	for _, g := range z.names {
		h4, h6 := 0, 0
		for i := range g.mirrors {
			if g.healthy[0][i] {
				h4++
			}
			if g.healthy[1][i] {
				h6++
			}
		}
		fmt.Fprintf(&b, "; %s (%s): %d mirrors, healthy %d ipv4 %d ipv6", g.label, g.proto, len(g.mirrors), h4, h6)
	}
	b.WriteString("; " + z.describeSigning())
	return b.String()
}

// Summary describes the zone in one line, for logs.
func (z *Zone) Summary() string { return z.summary }

// Inputs returns what z was compiled from.
func (z *Zone) Inputs() Inputs { return z.in }

func addressRR(name string, a netip.Addr, ttl uint32) dns.RR {
	h := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
	if a.Is4() || a.Is4In6() {
		h.Rrtype = dns.TypeA
		return &dns.A{Hdr: h, A: a.Unmap().AsSlice()}
	}
	h.Rrtype = dns.TypeAAAA
	return &dns.AAAA{Hdr: h, AAAA: a.AsSlice()}
}

// maxName is the most octets a name has in wire form (RFC 1035 section
// 2.3.4). miekg/dns packs longer names without a word, and decoders
// refuse them.
const maxName = 255

// wire returns the lower-case wire form of a fully qualified name, or
// why it is no DNS name.
func wire(name string) ([]byte, error) {
	name = strings.ToLower(dns.Fqdn(name))
	buf := make([]byte, len(name)+1) // the wire form is at most one octet longer
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a domain name: %w", name, err)
	case n > maxName:
		return nil, fmt.Errorf("%q is %d octets long in DNS wire form, over the %d a name may have", name, n, maxName)
	}
	return buf[:n:n], nil
}

// checkNames checks the names dnsd makes from the [dns] table, so that
// an error says which key to change.
func checkNames(d *inventory.DNS) error {
	shorter := "; use a shorter zone"
	if _, err := wire(d.Zone); err != nil {
		return fmt.Errorf("[dns] zone: %w%s", err, shorter)
	}
	for _, n := range d.Names {
		if _, err := wire(n.Label + "." + d.Zone); err != nil {
			return fmt.Errorf("[dns] names: %s: %w; use a shorter zone or label", n.Label, err)
		}
	}
	if _, err := wire("_whoami." + d.Zone); err != nil {
		return fmt.Errorf("[dns] zone: dnsd answers _whoami.<zone>, and %w%s", err, shorter)
	}
	if _, err := wire(d.Hostmaster); err != nil {
		return fmt.Errorf("[dns] hostmaster (the SOA's mailbox, hostmaster.<zone> unless set): %w; set a shorter one, e.g. hostmaster = \"hostmaster.example.net.\"", err)
	}
	for _, ns := range d.NS {
		if _, err := wire(ns.Name); err != nil {
			return fmt.Errorf("[dns] ns: %w; use a shorter name", err)
		}
	}
	if _, err := wire(d.Fallback); err != nil {
		return fmt.Errorf("[dns] fallback: %w; use a shorter host name", err)
	}
	return nil
}

// blob packs rr without compression and returns it without its owner
// name: type, class, TTL, rdlength and rdata. It checks that the record
// decodes again, which catches a name in the rdata longer than DNS
// allows.
func blob(rr dns.RR) ([]byte, error) {
	owner, err := wire(rr.Header().Name)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, dns.Len(rr)+512)
	end, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	if _, _, err := dns.UnpackRR(buf[:end], 0); err != nil {
		return nil, fmt.Errorf("the record does not decode once packed (a name over %d octets?): %w", maxName, err)
	}
	// A copy of its own size: a zone keeps thousands (a CNAME per
	// mirror, and as many signatures), the buffer is 512 octets more.
	return slices.Clone(buf[len(owner):end]), nil
}

// parent returns the wire name without its first label.
func parent(w []byte) []byte {
	if len(w) <= 1 {
		return w
	}
	return w[1+int(w[0]):]
}
