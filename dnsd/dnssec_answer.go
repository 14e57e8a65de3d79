package dnsd

import (
	"slices"

	"github.com/miekg/dns"
)

// flagCO is the Compact Answers OK flag of the EDNS header (RFC 9824
// section 4), beside DO: a resolver that sets it takes a compact denial
// with the NXDOMAIN rcode.
const flagCO = 0x40 // in the second octet of the OPT's TTL, DO being 0x80

// signedFor returns the signatures to answer q with: the zone's, when it
// is signed and q has DO; else nil, and the answer goes unsigned.
func (z *Zone) signedFor(q *query) *sigTable {
	if !q.do {
		return nil
	}
	return z.sigs
}

// sigs appends the RRSIG records of the RRset id, owned by owner, when t
// is not nil, and returns how many.
func (w *msgWriter) sigs(t *sigTable, id int32, owner []byte) uint16 {
	if t == nil {
		return 0
	}
	for _, b := range t.sets[id] {
		w.rr(owner, b)
	}
	return uint16(len(t.sets[id]))
}

// noData writes the authority section of a NODATA answer at n: the SOA
// and, signed, its RRSIG and n's NSEC with its RRSIG (RFC 9824 3.2, 3.3:
// the NSEC owned by the name, listing its types).
func (z *Zone) noData(w *msgWriter, t *sigTable, n *node) {
	w.rr(z.zone, z.soaNeg)
	w.ns++
	if t == nil {
		return
	}
	for _, b := range t.soaNeg {
		w.rr(z.zone, b)
		w.ns++
	}
	w.rr(n.name, n.nsec.rrs[0])
	w.ns++
	w.ns += w.sigs(t, n.nsec.sig, n.name)
}

// noName writes the authority section of an answer for a name that does
// not exist and returns its rcode. Unsigned, NXDOMAIN with the SOA.
// Signed, compact denial (RFC 9824 3.1): the name is said to exist with
// no data, by an NSEC owned by it whose next name is its immediate
// successor and whose types are RRSIG, NSEC and NXNAME, signed now. The
// rcode is NOERROR, as validators that do not know NXNAME expect of a
// NODATA, but NXDOMAIN to a resolver that sets CO (RFC 9824 4).
func (z *Zone) noName(w *msgWriter, t *sigTable) int {
	q := w.q
	w.rr(z.zone, z.soaNeg)
	w.ns++
	if t == nil {
		return dns.RcodeNameError
	}
	for _, b := range t.soaNeg {
		w.rr(z.zone, b)
		w.ns++
	}
	name := q.name()
	nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: nameString(name), Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: min(InfraTTL, z.inv.DNS.NegativeTTL)},
		NextDomain: nameString(successor(name, z.zone)), TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}}
	if b, err := blob(nsec); err == nil {
		w.rr(name, b)
		w.ns++
		w.ns += t.online(w, name, b)
	}
	if q.co {
		return dns.RcodeNameError
	}
	return dns.RcodeSuccess
}

// online signs, with the keys that sign the zone's data, the RRset of
// the one record owner (lower-case wire form) and b (type to rdata),
// appends its RRSIG records and returns how many. It is for the answers
// that cannot be signed ahead; it allocates.
func (t *sigTable) online(w *msgWriter, owner, b []byte) uint16 {
	if t == nil {
		return 0
	}
	rr, _, err := dns.UnpackRR(append(slices.Clip(owner), b...), 0)
	if err != nil {
		return 0
	}
	sigs, err := signRRset([]dns.RR{rr}, t.keys.data, t.zone, t.inception, t.expiration)
	if err != nil {
		return 0
	}
	for _, s := range sigs {
		w.rr(owner, s)
	}
	return uint16(len(sigs))
}

// allSigs appends, for a query of type RRSIG, the signatures of every
// RRset at n, and returns how many (none in an unsigned zone).
func (z *Zone) allSigs(w *msgWriter, n *node) uint16 {
	if z.sigs == nil {
		return 0
	}
	c := w.sigs(z.sigs, n.nsec.sig, n.name)
	for i := range n.rrsets {
		c += w.sigs(z.sigs, n.rrsets[i].sig, n.name)
	}
	return c
}

// blob is the CNAME record of choice c, without its owner.
func (g *geoName) blob(c choice) []byte {
	if c.mirror < 0 {
		return g.fallback
	}
	return g.cname[c.mirror]
}

// sig is the signatures' id of choice c's CNAME, in a signed zone.
func (g *geoName) sig(c choice) int32 {
	if c.mirror < 0 {
		return g.sigBase + int32(len(g.mirrors))
	}
	return g.sigBase + c.mirror
}
