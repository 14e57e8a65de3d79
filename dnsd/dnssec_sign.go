package dnsd

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// A signed zone answers every RRset it can send from signatures made
// ahead of time: the SOA, NS, DNSKEY, the zone file's records, the
// name servers' addresses, the NSEC of every name (for NODATA), and per
// steered name one CNAME per mirror and the fallback's. They are made
// when the zone is compiled, before it is swapped in, and again (Resign)
// before they expire; a query copies them. Only what is not in that
// finite set is signed per query, with the keys that sign the zone's
// data: the NSEC of a name that does not exist (RFC 9824 compact
// denial), the CNAME of a preference name (<l1>-<l2>.download.<zone>,
// there are too many to sign ahead) and the _whoami TXT.

// signJob is one RRset of the zone to sign: its owner and records in
// the zone's wire form, shared with the zone (decoded when signed, so
// that a zone keeps no second copy of them).
type signJob struct {
	owner []byte
	rrs   [][]byte
	apex  bool // the DNSKEY set, signed by the keys with the SEP flag
}

// records decodes the job's RRset.
func (j signJob) records() ([]dns.RR, error) {
	var rrs []dns.RR
	for _, b := range j.rrs {
		rr, _, err := dns.UnpackRR(append(slices.Clip(j.owner), b...), 0)
		if err != nil {
			return nil, fmt.Errorf("a record of %s does not decode: %w", nameString(j.owner), err)
		}
		rrs = append(rrs, rr)
	}
	return rrs, nil
}

// sigTable is one generation of signatures: for every RRset the zone
// can send, by its id, its RRSIG records in wire form (type to rdata,
// without the owner, which is the RRset's). A Zone holds one; Resign
// makes a Zone that shares everything else with a new one.
type sigTable struct {
	sets [][][]byte
	// soaNeg are the SOA's signatures with the TTL of the SOA in a
	// negative answer (RFC 4035 2.2: an RRSIG's TTL is its RRset's).
	soaNeg [][]byte
	// made is when they were made, refresh when to make them again;
	// expires the earliest expiration among them.
	made, refresh, expires time.Time
	// inception and expiration of signatures made per query.
	inception, expiration uint32
	keys                  *Keys
	zone                  string
	octets                int // of every signature, for the logs and figures
}

// The signing schedule. A signature holds from an hour before it is
// made (for resolvers whose clocks are behind) until Validity after,
// less a jitter of up to a tenth of Validity, drawn per RRset, so that
// the expirations resolvers cache are spread out. The zone is signed
// again when half of Validity is left to its earliest expiration: a
// failure to sign then has days to be fixed (the default Validity is
// 14 days) before any signature expires.
const (
	inceptionSkew = time.Hour
	jitterShare   = 10 // the jitter is up to Validity / jitterShare
)

// prepareSigning turns z, compiled without signatures, into a signed
// zone: it adds the DNSKEY set and every name's NSEC, numbers every
// RRset to sign, and signs them all at now.
func (z *Zone) prepareSigning(keys *Keys, now time.Time) error {
	z.keys = keys
	apex := z.nodes[string(z.zone)]
	dnskey := rrset{rtype: dns.TypeDNSKEY}
	for _, k := range keys.All {
		b, err := blob(k.DNSKEY)
		if err != nil {
			return fmt.Errorf("%s.key: %w", k.File, err)
		}
		dnskey.rrs = append(dnskey.rrs, b)
	}
	apex.rrsets = append(apex.rrsets, dnskey)
	slices.SortFunc(apex.rrsets, func(a, b rrset) int { return int(a.rtype) - int(b.rtype) })

	add := func(owner []byte, set *rrset) error {
		set.sig = int32(len(z.jobs))
		z.jobs = append(z.jobs, signJob{owner: owner, rrs: set.rrs, apex: set.rtype == dns.TypeDNSKEY})
		return nil
	}
	negTTL := min(InfraTTL, z.inv.DNS.NegativeTTL)
	for _, w := range slices.Sorted(maps.Keys(z.nodes)) {
		n := z.nodes[w]
		// The NSEC of compact denial (RFC 9824 3.2, 3.3): owned by the
		// name, the next name its immediate successor, so that it
		// denies nothing else; the types of the name, with RRSIG and
		// NSEC. TTL min(SOA TTL, SOA minimum) (RFC 9077).
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
		for _, s := range n.rrsets {
			types = append(types, s.rtype)
		}
		switch {
		case n.geo != nil:
			types = append(types, dns.TypeCNAME)
		case n.whoami:
			types = append(types, dns.TypeTXT)
		}
		slices.Sort(types)
		nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: nameString(n.name), Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: negTTL},
			NextDomain: nameString(successor(n.name, z.zone)), TypeBitMap: types}
		b, err := blob(nsec)
		if err != nil {
			return fmt.Errorf("the NSEC of %s: %w", nsec.Hdr.Name, err)
		}
		n.nsec = &rrset{rtype: dns.TypeNSEC, rrs: [][]byte{b}}
		if err := add(n.name, n.nsec); err != nil {
			return err
		}
		for i := range n.rrsets {
			if err := add(n.name, &n.rrsets[i]); err != nil {
				return err
			}
		}
	}
	for _, g := range z.names {
		g.sigBase = int32(len(z.jobs))
		for _, b := range append(slices.Clip(g.cname), g.fallback) {
			if err := add(g.name, &rrset{rtype: dns.TypeCNAME, rrs: [][]byte{b}}); err != nil {
				return err
			}
		}
	}
	z.soaSig = apex.rrsets[slices.IndexFunc(apex.rrsets, func(s rrset) bool { return s.rtype == dns.TypeSOA })].sig
	t, err := z.sign(now, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if err != nil {
		return err
	}
	z.sigs = t
	return nil
}

// sign makes every signature of z at now, the expirations jittered with
// r.
func (z *Zone) sign(now time.Time, r *rand.Rand) (*sigTable, error) {
	v := z.keys.Validity
	t := &sigTable{sets: make([][][]byte, len(z.jobs)), made: now, keys: z.keys, zone: z.inv.DNS.Zone}
	t.inception = uint32(now.Add(-inceptionSkew).Unix())
	latest := now.Add(v)
	t.expiration = uint32(latest.Add(-v / jitterShare).Unix())
	t.expires = latest
	for id, job := range z.jobs {
		exp := latest.Add(-time.Duration(r.Int64N(int64(v / jitterShare)))).Truncate(time.Second)
		if exp.Before(t.expires) {
			t.expires = exp
		}
		keys := z.keys.data
		if job.apex {
			keys = z.keys.apex
		}
		rrs, err := job.records()
		if err != nil {
			return nil, err
		}
		sigs, err := signRRset(rrs, keys, z.inv.DNS.Zone, t.inception, uint32(exp.Unix()))
		if err != nil {
			return nil, err
		}
		t.sets[id] = sigs
		for _, s := range sigs {
			t.octets += len(s)
		}
	}
	t.refresh = t.expires.Add(-v / 2)
	// The SOA's signatures in a negative answer: the same, with the
	// negative TTL (the RRSIG's original TTL stays the SOA's).
	for _, s := range t.sets[z.soaSig] {
		c := slices.Clone(s)
		ttl := min(InfraTTL, z.inv.DNS.NegativeTTL)
		c[4], c[5], c[6], c[7] = byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl)
		t.soaNeg = append(t.soaNeg, c)
	}
	return t, nil
}

// signRRset signs rrs with each of keys and returns the RRSIG records
// in wire form without their owner.
func signRRset(rrs []dns.RR, keys []*Key, zone string, inception, expiration uint32) ([][]byte, error) {
	var out [][]byte
	for _, k := range keys {
		h := rrs[0].Header()
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
			Algorithm: k.DNSKEY.Algorithm, KeyTag: k.Tag(), SignerName: zone, Inception: inception, Expiration: expiration}
		if err := sig.Sign(k.signer, rrs); err != nil {
			return nil, fmt.Errorf("signing %s %s with key %d (%s): %w", h.Name, dns.TypeToString[h.Rrtype], k.Tag(), k.File, err)
		}
		b, err := blob(sig)
		if err != nil {
			return nil, fmt.Errorf("the RRSIG of %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Signed reports whether z is signed.
func (z *Zone) Signed() bool { return z.sigs != nil }

// ResignAt is when z's signatures should be made again (the zero time
// for an unsigned zone).
func (z *Zone) ResignAt() time.Time {
	if z.sigs == nil {
		return time.Time{}
	}
	return z.sigs.refresh
}

// Expires is the earliest expiration of z's signatures (the zero time
// for an unsigned zone).
func (z *Zone) Expires() time.Time {
	if z.sigs == nil {
		return time.Time{}
	}
	return z.sigs.expires
}

// Resign returns a zone that answers as z does, with every signature
// made again at now. z is not changed: queries keep using it until the
// new one is swapped in.
func (z *Zone) Resign(now time.Time) (*Zone, error) {
	if z.sigs == nil {
		return z, nil
	}
	t, err := z.sign(now, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if err != nil {
		return nil, err
	}
	nz := *z
	nz.sigs = t
	nz.summary = nz.describe()
	return &nz, nil
}

// SignatureOctets is how many octets z's signatures take in wire form
// (with their owners left out, as they are kept).
func (z *Zone) SignatureOctets() int {
	if z.sigs == nil {
		return 0
	}
	return z.sigs.octets
}

// describeSigning is the signing part of the zone's summary.
func (z *Zone) describeSigning() string {
	if z.sigs == nil {
		return "unsigned"
	}
	return fmt.Sprintf("signed, keys %s, %d RRsets (%d KiB of signatures), re-signing at %s, earliest expiry %s",
		z.keys.Describe(), len(z.jobs), z.sigs.octets>>10, z.sigs.refresh.UTC().Format(time.RFC3339), z.sigs.expires.UTC().Format(time.RFC3339))
}

// successor returns the name right after w in the canonical order (RFC
// 4034 6.1), as RFC 4471 section 3 makes it: w with a label \000 in
// front, or when that would be over 255 octets, w's first label with an
// octet \000 added, or its last octet below \255 incremented (the rest
// dropped). A first label of 63 octets \255 in a name of 255 has no
// successor that is as short; then it is the apex, as in the last NSEC
// of a zone (RFC 4034 4.1.1). w is in lower case.
func successor(w, apex []byte) []byte {
	if len(w)+2 <= maxName {
		return append([]byte{1, 0}, w...)
	}
	l := int(w[0])
	if l < 63 && len(w)+1 <= maxName {
		out := append([]byte{byte(l + 1)}, w[1:1+l]...)
		out = append(out, 0)
		return append(out, w[1+l:]...)
	}
	for i := l; i >= 1; i-- {
		c := w[i]
		if c == 0xff {
			continue
		}
		if c == 'A'-1 {
			c = 'Z' // upper case sorts as lower case: '[' is next
		}
		out := append([]byte{byte(i)}, w[1:i]...)
		out = append(out, c+1)
		return append(out, w[1+l:]...)
	}
	return apex
}

// nameString is the presentation form of the wire name w.
func nameString(w []byte) string {
	s, _, err := dns.UnpackDomainName(w, 0)
	if err != nil {
		return "."
	}
	return s
}
