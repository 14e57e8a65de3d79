package dnsd

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// RateLimiter is response rate limiting (RRL) for UDP, as BIND and Knot
// do it: a source that spoofs its victim's address gets dnsd to send the
// victim at most Rate responses a second of each kind, however fast it
// sends; beyond that, responses are dropped but for every Slip-th, sent
// truncated (TC, no records) so that a real client behind that address
// retries over TCP, which cannot be spoofed, and is answered.
//
// A source is a network: the /24 of an IPv4 address, the /56 of an IPv6
// one (what one customer is given), since an attacker picks addresses
// inside the victim's network as easily as the victim's own. Each network
// has a token bucket per kind of response (answers; NXDOMAIN and NODATA;
// errors), of Rate tokens refilled at Rate a second, kept as the time it
// next has a token (GCRA): a network that has not been limited for a
// second holds no state worth keeping, which is what makes a fixed table
// enough.
//
// The table has a fixed number of entries (rrlEntries), in sets of
// rrlWays found by a keyed hash of the network: memory does not grow
// with the number of sources, and a flood of spoofed random sources costs
// each query one hash, one lock and four compares. A network not in its
// set takes the place of the entry whose bucket is fullest (the one
// least limited); random sources each spend one token and are those
// replaced first, while a victim's exhausted bucket stays.
type RateLimiter struct {
	interval  int64 // nanoseconds per token: 1s / rate
	tolerance int64 // how far ahead of now a bucket's next token may be: burst-1 tokens
	slip      uint32
	exempt    []netip.Prefix
	seed      maphash.Seed
	sets      []rrlSet
	locks     [rrlLocks]struct {
		sync.Mutex
		_ [56]byte // one lock a cache line: the readers run on several cores
	}
}

// The table: 2^16 entries of 24 octets (1.5 MiB), in sets of 4. A
// network that gets one response holds its entry for 1/rate (50 ms at
// 20/s), so the table keeps every limited network while the spoofed
// random sources stay under 2^16 × rate a second (1.3 million at 20/s).
const (
	rrlWays    = 4
	rrlEntries = 1 << 16
	rrlLocks   = 256
)

type rrlSet [rrlWays]rrlEntry

type rrlEntry struct {
	key   uint64 // networkKey; 0: free
	tat   int64  // when the bucket next has a token, in ns since the limiter's epoch
	slips uint32 // responses over the limit since the last one slipped
}

// rrlKind is the kind of response a bucket counts.
type rrlKind uint8

const (
	kindAnswer   rrlKind = iota // NOERROR with records (or truncated for size)
	kindNegative                // NXDOMAIN, NODATA
	kindError                   // REFUSED, FORMERR, NOTIMP, BADVERS, SERVFAIL
	rrlKinds
)

var rrlKindNames = [rrlKinds]string{"answer", "negative", "error"}

// rrlAction is what becomes of a response.
type rrlAction uint8

const (
	rrlSend rrlAction = iota
	rrlDrop
	rrlSlip
	rrlActions
)

var rrlActionNames = [rrlActions]string{"sent", "dropped", "slipped"}

// NewRateLimiter returns a limiter of rate responses a second per network
// and kind, with a burst of as many; every slip-th response over the
// limit is sent truncated (1: all of them, 0: none). Sources in exempt
// are never limited.
func NewRateLimiter(rate, slip int, exempt []netip.Prefix) *RateLimiter {
	rate = max(rate, 1)
	rl := &RateLimiter{
		interval: int64(time.Second) / int64(rate),
		slip:     uint32(max(slip, 0)),
		exempt:   exempt,
		seed:     maphash.MakeSeed(),
		sets:     make([]rrlSet, rrlEntries/rrlWays),
	}
	rl.tolerance = int64(rate-1) * rl.interval
	return rl
}

// exempted reports whether src is never limited.
func (rl *RateLimiter) exempted(src netip.Addr) bool {
	for _, p := range rl.exempt {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// networkKey packs the network of src (24 bits of IPv4, 56 of IPv6), its
// family and the kind into one word, never 0.
func networkKey(src netip.Addr, kind rrlKind) uint64 {
	key := uint64(kind+1) << 57
	if src.Is4() {
		a := src.As4()
		return key | uint64(a[0])<<16 | uint64(a[1])<<8 | uint64(a[2])
	}
	a := src.As16()
	return key | 1<<56 | uint64(a[0])<<48 | uint64(a[1])<<40 | uint64(a[2])<<32 | uint64(a[3])<<24 | uint64(a[4])<<16 | uint64(a[5])<<8 | uint64(a[6])
}

// take spends a token of src's bucket for kind at now (ns since the
// limiter's epoch) and says what to do with the response.
func (rl *RateLimiter) take(src netip.Addr, kind rrlKind, now int64) rrlAction {
	key := networkKey(src.Unmap(), kind)
	i := maphash.Comparable(rl.seed, key) & uint64(len(rl.sets)-1)
	mu := &rl.locks[i%rrlLocks]
	mu.Lock()
	defer mu.Unlock()
	set := &rl.sets[i]
	var e *rrlEntry
	for j := range set {
		if set[j].key == key {
			e = &set[j]
			break
		}
	}
	if e == nil { // replace the fullest bucket; a free entry has tat 0
		e = &set[0]
		for j := 1; j < rrlWays; j++ {
			if set[j].tat < e.tat {
				e = &set[j]
			}
		}
		*e = rrlEntry{key: key}
	}
	tat := max(e.tat, now)
	if tat-now <= rl.tolerance {
		e.tat = tat + rl.interval
		return rrlSend
	}
	e.slips++
	if rl.slip > 0 && e.slips >= rl.slip {
		e.slips = 0
		return rrlSlip
	}
	return rrlDrop
}

// Defences protect a server that answers the internet (README.md, "On
// the internet").
type Defences struct {
	// RateLimit limits UDP responses per source network; nil: none.
	RateLimit *RateLimiter
	// Cookies are the secrets of server cookies; nil keeps the random
	// one NewHandler made.
	Cookies *CookieSecrets
}

// Defend sets the defences. Call it before the transports start.
func (h *Handler) Defend(d Defences) {
	h.rrl = d.RateLimit
	if d.Cookies != nil {
		h.cookies = d.Cookies
	}
}

// now is the query's time, read from the clock once.
func (h *Handler) now(s *Scratch) time.Time {
	if s.now.IsZero() {
		s.now = h.clock()
	}
	return s.now
}

// limit passes the UDP reply serve built, drops it, or slips it. A query
// with a valid server cookie is not limited: the cookie proves that the
// source address is the asker's, so the reply goes to whoever asked.
func (h *Handler) limit(s *Scratch, src netip.Addr) []byte {
	src = src.Unmap()
	if s.q.cookieValid || h.rrl.exempted(src) {
		return s.w.b
	}
	kind := replyKind(s.status, s.w.b)
	act := h.rrl.take(src, kind, int64(h.now(s).Sub(h.epoch)))
	switch act {
	case rrlSend:
		return s.w.b
	case rrlDrop:
		h.metrics.rrl[kind][act].Add(1)
		return nil
	}
	h.metrics.rrl[kind][act].Add(1)
	return h.slip(s)
}

// replyKind is the bucket a reply counts against.
func replyKind(st parseStatus, b []byte) rrlKind {
	rcode := b[3] & 0xf
	switch {
	case st != parsedOK || rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError:
		return kindError
	case rcode == dns.RcodeNameError || binary.BigEndian.Uint16(b[6:]) == 0 && b[2]&(flagTC>>8) == 0:
		return kindNegative
	}
	return kindAnswer
}

// slip turns the reply into what a limited query may get instead of
// nothing: no records, and for a query with a client cookie BADCOOKIE
// with a new server cookie (RFC 7873 section 5.2.3), with which the
// client asks again at once and is not limited, as BIND does; for
// others TC, so that the client asks again over TCP.
func (h *Handler) slip(s *Scratch) []byte {
	q, w := s.q, &s.w
	rcode := int(w.b[3] & 0xf)
	if s.status == parseBadVers {
		rcode = dns.RcodeBadVers
	}
	w.b = w.b[:w.records]
	w.an, w.ns, w.ar = 0, 0, 0
	w.b[2] &^= flagAA >> 8
	if q.sendCookie {
		rcode = dns.RcodeBadCookie
		w.b[3] = w.b[3]&0xf0 | byte(rcode&0xf)
	} else {
		w.b[2] |= flagTC >> 8
	}
	if q.edns {
		w.opt(rcode, false, 0)
	}
	return w.finish()
}
