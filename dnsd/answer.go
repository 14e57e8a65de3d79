package dnsd

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// asker is whom a query is answered for.
type asker struct {
	addr   netip.Addr // the ECS address (masked to its prefix) or the source
	bits   int        // how many leading bits of addr are known
	family inventory.Family
	ecs    bool // addr came from the Client Subnet option
	src    netip.Addr
}

// choice is the answer for a steered name.
type choice struct {
	mirror  int32 // index in geoName.mirrors, or fallbackChoice
	reason  policy.Reason
	scope   uint8 // ECS scope prefix length
	country country.Code
}

// reasonPreference marks an answer from a preference name's own list.
const reasonPreference policy.Reason = 0

// choose returns the answer to a for g: the first mirror the policy
// gives a, among g's mirrors healthy for a's family, or the fallback.
// Answers that depend on the asker are cached per key prefix (the /24 or
// /48, or the ECS source prefix when shorter) with the scope they hold
// for; most queries end at the cache.
func (z *Zone) choose(g *geoName, a *asker, buf *[]policy.Choice) choice {
	if c := g.constant[a.family]; c != dependsOnAsker {
		return choice{mirror: c}
	}
	kp, _ := a.addr.Prefix(keyBits(a))
	key := cacheKey{name: int32(g.idx), pfx: kp}
	if e, ok := z.cache.get(key); ok && e.scope.Contains(a.addr) {
		return e.choice
	}
	c, scope, _, _ := z.compute(g, a, buf)
	z.cache.put(key, cacheEntry{scope: scope, choice: c})
	return c
}

// compute runs the policy for a, and says over which prefix the answer
// holds.
func (z *Zone) compute(g *geoName, a *asker, buf *[]policy.Choice) (choice, netip.Prefix, policy.Client, geo.Info) {
	cl, info := z.locate(a)
	*buf = g.set.AppendSelect((*buf)[:0], cl)
	c := choice{mirror: fallbackChoice, country: info.Country}
	if len(*buf) > 0 {
		first := (*buf)[0]
		c.mirror, c.reason = int32(g.index[first.Mirror]), first.Reason
	}
	p := z.scope(g, a, info)
	c.scope = uint8(p.Bits())
	return c, p, cl, info
}

// locate is what the policy knows of a: policy.ClientOf its address (the
// ECS prefix or the source) and GeoIP record, the client lookup --ip
// builds for an address.
func (z *Zone) locate(a *asker) (policy.Client, geo.Info) {
	info := z.in.GeoIP.Lookup(a.addr)
	return policy.ClientOf(a.addr, a.bits, info), info
}

// keyBits is how many bits of a's address its policy key uses.
func keyBits(a *asker) int {
	if a.addr.Is4() {
		return min(a.bits, policy.KeyBitsV4)
	}
	return min(a.bits, policy.KeyBitsV6)
}

// scope returns the widest prefix around a's address over which the
// answer cannot change: inside one policy key (the /24 or /48), one
// GeoIP City record and one ASN record (or, where a database has no
// record, the known bits of the address: how far the gap reaches is not
// known), and never across the edge of a mirror's subnet.
func (z *Zone) scope(g *geoName, a *asker, info geo.Info) netip.Prefix {
	p, _ := a.addr.Prefix(keyBits(a))
	narrow := func(q netip.Prefix) {
		q = sameFamily(q, a.addr)
		if q.IsValid() && q.Bits() > p.Bits() && q.Contains(a.addr) {
			p = q
		}
	}
	exact, _ := a.addr.Prefix(a.bits)
	if z.in.HasCity {
		if info.CityPrefix.IsValid() {
			narrow(info.CityPrefix)
		} else {
			narrow(exact)
		}
	}
	if z.in.HasASN {
		if info.ASNPrefix.IsValid() {
			narrow(info.ASNPrefix)
		} else {
			narrow(exact)
		}
	}
	for _, s := range g.subnets[a.family] {
		if s.Addr().Is4() != a.addr.Is4() || s.Bits() <= p.Bits() || !p.Contains(s.Addr()) {
			continue // s holds all of p, or none of it
		}
		if s.Contains(a.addr) {
			p = s
		} else {
			p, _ = a.addr.Prefix(commonBits(a.addr, s.Addr()) + 1)
		}
	}
	return p
}

// sameFamily returns q for an address of a's family: a database that
// stores IPv4 inside IPv6 may give an IPv4 address's network as
// ::ffff:a.b.c.d/N+96 or ::a.b.c.d/N+96.
func sameFamily(q netip.Prefix, a netip.Addr) netip.Prefix {
	if !q.IsValid() || q.Addr().Is4() == a.Is4() {
		return q
	}
	if a.Is4() && q.Bits() >= 96 {
		b := q.Addr().As16()
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[12:])), q.Bits()-96)
	}
	return netip.Prefix{}
}

// commonBits is the length of the longest common prefix of a and b (same
// family).
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			n += bits.LeadingZeros8(d)
			break
		}
		n += 8
	}
	if a.Is4() {
		n -= 96
	}
	return n
}

// prefer answers a preference name: label is the first label of
// <l1>-<l2>-....<name>.<zone>. It returns false when a part is not the
// label of one of g's mirrors (the name does not exist).
func (z *Zone) prefer(g *geoName, label []byte, a *asker, buf *[]policy.Choice) (choice, bool) {
	var idx [16]int
	n := 0
	for len(label) > 0 {
		part := label
		if i := bytes.IndexByte(label, '-'); i >= 0 {
			part, label = label[:i], label[i+1:]
			if len(label) == 0 {
				return choice{}, false
			}
		} else {
			label = nil
		}
		j, ok := g.byLabel[string(part)]
		if !ok || n == len(idx) {
			return choice{}, false
		}
		idx[n] = j
		n++
	}
	if n == 0 {
		return choice{}, false
	}
	located := false
	var cl policy.Client
	var info geo.Info
	for _, j := range idx[:n] {
		if !g.healthy[a.family][j] {
			continue
		}
		if g.mirrors[j].Public {
			c := choice{mirror: int32(j), reason: reasonPreference}
			if located { // a private mirror before it was a match for others
				c.scope, c.country = uint8(z.scope(g, a, info).Bits()), info.Country
			}
			return c, true
		}
		if !located {
			cl, info = z.locate(a)
			located = true
		}
		// A private mirror may serve a only if the policy offers it.
		if *buf = g.one[j].AppendSelect((*buf)[:0], cl); len(*buf) > 0 {
			return choice{mirror: int32(j), reason: reasonPreference, scope: uint8(z.scope(g, a, info).Bits()), country: info.Country}, true
		}
	}
	return z.choose(g, a, buf), true
}

// cache holds the answers that depend on the asker, per steered name and
// key prefix. It is sharded to keep queries on different cores apart,
// and a shard that fills up is emptied: the answers are cheap to redo.
type cache struct {
	shards [64]cacheShard
}

const shardMax = 1 << 14

type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
	_  [40]byte // keep shards on their own cache lines
}

type cacheKey struct {
	name int32
	pfx  netip.Prefix
}

type cacheEntry struct {
	scope netip.Prefix
	choice
}

func (c *cache) init() {
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
}

func (c *cache) shard(k cacheKey) *cacheShard {
	b := k.pfx.Addr().As16()
	h := binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:]) ^ uint64(k.name)<<8 ^ uint64(k.pfx.Bits())
	h *= 0xbf58476d1ce4e5b9
	return &c.shards[h>>58]
}

func (c *cache) get(k cacheKey) (cacheEntry, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	return e, ok
}

func (c *cache) put(k cacheKey, e cacheEntry) {
	s := c.shard(k)
	s.mu.Lock()
	if len(s.m) >= shardMax {
		clear(s.m)
	}
	s.m[k] = e
	s.mu.Unlock()
}
