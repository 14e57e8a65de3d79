package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Handler answers DNS messages from the current Zone: a function from a
// query (bytes, source address, transport) to a reply. It is safe for
// concurrent use; Swap replaces the zone atomically, so a query is
// answered wholly from the zone it started with.
type Handler struct {
	zone    atomic.Pointer[zoneState]
	metrics *Metrics

	// The defences (Defend); clock is time.Now but in tests, and epoch
	// the rate limiter's zero.
	rrl     *RateLimiter
	cookies *CookieSecrets
	clock   func() time.Time
	epoch   time.Time
}

type zoneState struct {
	z *Zone
	c *zoneCounters
}

// NewHandler returns a handler serving z, counting into m.
func NewHandler(z *Zone, m *Metrics) *Handler {
	if m == nil {
		m = NewMetrics()
	}
	h := &Handler{metrics: m, cookies: RandomCookieSecret(), clock: time.Now}
	h.epoch = h.clock()
	h.Swap(z)
	return h
}

// Swap makes z the zone every query from now on is answered from, and
// returns the previous one.
func (h *Handler) Swap(z *Zone) *Zone {
	old := h.zone.Swap(&zoneState{z: z, c: h.metrics.forZone(z)})
	if old == nil {
		return nil
	}
	return old.z
}

// Zone returns the zone being served.
func (h *Handler) Zone() *Zone { return h.zone.Load().z }

// Metrics returns the handler's counters.
func (h *Handler) Metrics() *Metrics { return h.metrics }

// Scratch is the per-goroutine memory Serve works in; a transport keeps
// one per reader so that answering allocates nothing.
type Scratch struct {
	q      *query // the query being answered: one of batch
	w      msgWriter
	status parseStatus
	now    time.Time // the query's time, read once when needed
	stripe uint32    // which stripe of the answer statistics it adds to

	// ServeBatch's: the queries of a batch, decoded, their askers, and
	// the scratch space of reading the GeoIP index for them.
	batch  []parsed
	askers []netip.Addr
	pf     geo.Prefetcher
	memo   *memo // a UDP reader's (answer.go); nil: none
}

// parsed is a query of a batch, decoded.
type parsed struct {
	q      query
	status parseStatus
}

// NewScratch returns a Scratch.
func NewScratch() *Scratch {
	s := &Scratch{stripe: nextStripe.Add(1), batch: make([]parsed, 1)}
	s.q = &s.batch[0].q
	return s
}

// Transport is how a query arrived; it bounds the reply's size.
type Transport uint8

// The transports.
const (
	UDP Transport = iota
	TCP
)

// Serve answers the DNS message msg from src, appending the reply to
// dst[:0]. It returns nil when there is nothing to send: the message is
// too short to answer, or is itself a response, or the reply is over the
// rate limit (UDP only).
func (h *Handler) Serve(s *Scratch, dst, msg []byte, src netip.Addr, tr Transport) []byte {
	s.q = &s.batch[0].q
	return h.answer(s, s.q.parse(msg), dst, msg, src, tr)
}

// ServeBatch answers a batch of messages as Serve answers each, msgs[i]
// from srcs[i], its reply appended to replies[i][:0] and left in
// replies[i] (nil when there is nothing to send). It decodes them all
// first and reads into the CPU's cache, at once, the GeoIP index entries
// of all their askers (see geo.Index.Prefetch): with a different Client
// Subnet in every query, those reads are what a query waits for most,
// and overlapped a batch waits for them about once.
func (h *Handler) ServeBatch(s *Scratch, replies, msgs [][]byte, srcs []netip.Addr, tr Transport) {
	if s.memo == nil {
		s.memo = new(memo)
	}
	if len(s.batch) < len(msgs) {
		s.batch = make([]parsed, len(msgs))
	}
	s.askers = s.askers[:0]
	for i, msg := range msgs {
		p := &s.batch[i]
		if p.status = p.q.parse(msg); p.status != parsedOK {
			continue
		}
		if p.q.subnetUsable() {
			s.askers = append(s.askers, p.q.ecsAddr)
		} else {
			s.askers = append(s.askers, srcs[i])
		}
	}
	h.zone.Load().z.in.GeoIndex.Prefetch(s.askers, &s.pf)
	for i := range msgs {
		s.q = &s.batch[i].q
		replies[i] = h.answer(s, s.batch[i].status, replies[i][:0], msgs[i], srcs[i], tr)
	}
}

// answer is Serve for the query s.q, decoded from msg with status.
func (h *Handler) answer(s *Scratch, status parseStatus, dst, msg []byte, src netip.Addr, tr Transport) []byte {
	s.now = time.Time{}
	out := h.serve(s, status, dst, msg, src, tr)
	if out == nil || tr != UDP || h.rrl == nil {
		return out
	}
	return h.limit(s, src)
}

// serve decides the reply to msg, decoded into s.q with status.
func (h *Handler) serve(s *Scratch, status parseStatus, dst, msg []byte, src netip.Addr, tr Transport) []byte {
	st := h.zone.Load()
	z, zc := st.z, st.c
	q, w := s.q, &s.w
	s.status = status
	h.cookie(s, src)
	maxLen := dns.MaxMsgSize
	if tr == UDP {
		maxLen = 512
		if q.edns {
			maxLen = min(max(int(q.udpSize), 512), MaxUDP)
		}
	}
	fail := func(rcode int, counters *nameCounters) []byte {
		w.start(dst, q, rcode, 0)
		if q.edns {
			w.opt(rcode, false, 0)
		}
		counters.count(s.stripe, q.qtype, rcode)
		return w.finish()
	}
	switch status {
	case parseDrop:
		return nil
	case parseNotImp:
		return fail(dns.RcodeNotImplemented, zc.malformed)
	case parseFormErr, parseBadECSOp, parseBadCookie:
		return fail(dns.RcodeFormatError, zc.malformed)
	case parseBadVers:
		return fail(dns.RcodeBadVers, zc.malformed)
	}
	if q.qclass != dns.ClassINET && q.qclass != dns.ClassANY {
		return fail(dns.RcodeRefused, zc.outside)
	}
	zl := labelCount(z.zone)
	if q.nlabels < zl || string(q.suffix(q.nlabels-zl)) != string(z.zone) {
		return fail(dns.RcodeRefused, zc.outside)
	}
	switch q.qtype {
	case dns.TypeOPT, dns.TypeNXNAME: // NXNAME: RFC 9824 3.5
		return fail(dns.RcodeFormatError, zc.malformed)
	case dns.TypeAXFR, dns.TypeIXFR:
		return fail(dns.RcodeRefused, zc.static)
	}

	a := asker{src: src.Unmap()}
	if q.subnetUsable() {
		a.addr, a.bits, a.ecs = q.ecsAddr, int(q.ecsSource), true
	} else {
		a.addr = a.src
		a.bits = a.addr.BitLen()
	}
	a.family = inventory.FamilyOf(a.addr)

	rcode, scope := dns.RcodeSuccess, uint8(0)
	counters := zc.static
	n := z.nodes[string(q.name())]
	w.start(dst, q, dns.RcodeSuccess, flagAA)
	sig := z.signedFor(q) // nil: no RRSIGs (dnssec_answer.go)
	q.replyCO = sig != nil && q.co
	switch {
	case n == nil:
		// A preference name, one label below a steered name?
		if q.nlabels > zl+1 {
			if p := z.nodes[string(q.suffix(1))]; p != nil && p.geo != nil {
				g := p.geo
				first := q.lname[1 : 1+q.lname[0]]
				if c, ok := z.prefer(g, first, &a); ok {
					counters = zc.names[g.idx]
					scope = h.steered(w, z, zc, g, c, s.stripe)
					w.an += sig.online(w, q.name(), g.blob(c))
					break
				}
			}
		}
		rcode = z.noName(w, sig)
	case n.geo != nil:
		g := n.geo
		counters = zc.names[g.idx]
		c := s.choose(z, g, &a)
		scope = h.steered(w, z, zc, g, c, s.stripe)
		w.an += w.sigs(sig, g.sig(c), n.name)
	case n.whoami:
		counters = zc.whoami
		if !z.whoamiAllowed(a.src) {
			return fail(dns.RcodeRefused, zc.whoami)
		}
		if q.qtype == dns.TypeTXT || q.qtype == dns.TypeANY {
			b := z.whoamiTXT(&a, q)
			w.rr(n.name, b)
			w.an++
			w.an += sig.online(w, n.name, b)
		} else {
			z.noData(w, sig, n)
		}
	case q.qtype == dns.TypeNSEC && n.nsec != nil:
		w.rr(n.name, n.nsec.rrs[0])
		w.an++
		w.an += w.sigs(sig, n.nsec.sig, n.name)
	case q.qtype == dns.TypeRRSIG && z.sigs != nil:
		w.an += z.allSigs(w, n)
	default:
		answered := false
		for i := range n.rrsets {
			set := &n.rrsets[i]
			if set.rtype == q.qtype || q.qtype == dns.TypeANY || set.rtype == dns.TypeCNAME {
				// ANY gets one RRset (RFC 8482); a CNAME answers every type.
				for _, b := range set.rrs {
					w.rr(n.name, b)
					w.an++
				}
				w.an += w.sigs(sig, set.sig, n.name)
				for _, r := range set.glue {
					for _, b := range r.set.rrs {
						w.rr(r.owner, b)
						w.ar++
					}
					w.ar += w.sigs(sig, r.set.sig, r.owner)
				}
				answered = true
				break
			}
		}
		if !answered { // NODATA, also for empty non-terminals
			z.noData(w, sig, n)
		}
	}
	if rcode != dns.RcodeSuccess {
		w.b[3] = w.b[3]&0xf0 | byte(rcode)
	}
	if len(w.b)+q.optLen() > maxLen {
		w.truncate()
	}
	if q.edns {
		if !a.ecs {
			scope = 0 // the option was not used: the answer holds for every subnet
		}
		w.opt(rcode, q.ecs, scope)
	}
	counters.count(s.stripe, q.qtype, rcode)
	return w.finish()
}

// steered writes the answer for a steered name and counts it.
func (h *Handler) steered(w *msgWriter, z *Zone, zc *zoneCounters, g *geoName, c choice, stripe uint32) uint8 {
	blob := g.fallback
	if c.mirror >= 0 {
		blob = g.cname[c.mirror]
	} else {
		zc.names[g.idx].fallback.Add(1)
	}
	w.rr(w.q.name(), blob)
	w.an++
	zc.stats[g.idx][c.mirror+1].count(stripe&h.metrics.stats.mask, c.country, c.reason)
	return c.scope
}

// subnetUsable reports whether q is answered for its Client Subnet
// rather than for its source: it sent one, not /0, of a global address.
func (q *query) subnetUsable() bool {
	return q.ecs && q.ecsSource > 0 && global(q.ecsAddr)
}

// global reports whether a Client Subnet address may be used: not
// unspecified, loopback, private (RFC 1918, ULA), link-local or
// multicast. Documentation ranges count as global: test databases use
// them.
func global(a netip.Addr) bool {
	return !(a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsInterfaceLocalMulticast() || a.IsLinkLocalMulticast())
}

func labelCount(w []byte) int {
	n := 0
	for len(w) > 1 {
		n++
		w = w[1+int(w[0]):]
	}
	return n
}

func (z *Zone) whoamiAllowed(src netip.Addr) bool {
	if src.IsLoopback() {
		return true
	}
	for _, p := range z.whoami {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// whoamiTXT is the _whoami answer: how dnsd sees the asker, and what each
// steered name answers it and why. It is built per query; it is a
// debugging aid, not a hot path.
func (z *Zone) whoamiTXT(a *asker, q *query) []byte {
	via := "source address"
	if a.ecs {
		via = "client subnet"
	}
	txt := []string{
		fmt.Sprintf("addr %s/%d (%s %s); source %s", a.addr, a.bits, a.family, via, a.src),
	}
	if q.ecs {
		txt = append(txt, fmt.Sprintf("ecs %s/%d", q.ecsAddr, q.ecsSource))
	} else {
		txt = append(txt, "ecs none")
	}
	cl, info, _ := z.locate(a)
	loc := fmt.Sprintf("country %s continent %s asn %d", orDash(string(info.Country)), orDash(string(info.Continent)), info.ASN)
	if info.HasCoord {
		loc += fmt.Sprintf(" coord %.4f,%.4f", info.Coord.Lat, info.Coord.Lon)
	}
	if info.CityPrefix.IsValid() {
		loc += " city-net " + info.CityPrefix.String()
	}
	if info.ASNPrefix.IsValid() {
		loc += " asn-net " + info.ASNPrefix.String()
	}
	txt = append(txt, loc, "key "+strconv.FormatUint(cl.Key, 16))
	for _, g := range z.names {
		c := choice{mirror: g.constant[a.family]}
		scope := netip.Prefix{}
		if c.mirror == dependsOnAsker {
			c, scope, _, _ = z.compute(g, a)
		}
		target, reason := z.inv.DNS.Fallback+" (fallback: no healthy mirror)", c.reason.String()
		if c.mirror >= 0 {
			target = g.mirrors[c.mirror].Name
			if g.constant[a.family] >= 0 {
				reason = "only healthy mirror"
			}
		}
		txt = append(txt, fmt.Sprintf("%s -> %s reason %s scope %d", g.label, target, reason, max(scope.Bits(), 0)))
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: "_whoami." + z.inv.DNS.Zone, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: txt}
	b, err := blob(rr)
	if err != nil {
		msg := err.Error()
		b, _ = blob(&dns.TXT{Hdr: rr.Hdr, Txt: []string{msg[:min(len(msg), 255)]}})
	}
	return b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
