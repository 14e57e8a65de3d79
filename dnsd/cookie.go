package dnsd

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"strings"
)

// CookieSecrets are the server secrets of DNS Cookies (RFC 7873) made as
// RFC 9018 says, so that every server of an anycast set that shares them
// accepts the cookies of the others. The first secret makes new server
// cookies; every one is accepted, so that a secret can be rolled over
// without a cookie failing: add the new one second everywhere, then make
// it first, then remove the old one (RFC 9018 section 5).
type CookieSecrets struct {
	keys [][2]uint64 // SipHash keys: the secret's octets 0-7 and 8-15, little-endian
}

// NewCookieSecrets returns the secrets given, the first of which makes
// the cookies.
func NewCookieSecrets(first [16]byte, more ...[16]byte) *CookieSecrets {
	c := &CookieSecrets{}
	for _, s := range append([][16]byte{first}, more...) {
		c.keys = append(c.keys, [2]uint64{binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:])})
	}
	return c
}

// RandomCookieSecret returns a secret of 128 random bits: cookies that
// only this process accepts, and only until it stops.
func RandomCookieSecret() *CookieSecrets {
	var s [16]byte
	rand.Read(s[:]) // never fails (crypto/rand crashes the program if it cannot read)
	return NewCookieSecrets(s)
}

// LoadCookieSecrets reads the secrets from a file: one secret a line, 32
// hexadecimal digits (128 bits, `openssl rand -hex 16`), the first line
// making the cookies; blank lines and lines starting with # are skipped.
func LoadCookieSecrets(path string) (*CookieSecrets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	defer f.Close()
	var secrets [][16]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var s [16]byte
		if n, err := hex.Decode(s[:], []byte(text)); err != nil || n != 16 || len(text) != 32 {
			return nil, fmt.Errorf("%s:%d: want a secret of 32 hexadecimal digits (128 bits, e.g. from `openssl rand -hex 16`), got %d characters", path, line, len(text))
		}
		secrets = append(secrets, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cookie secret %s: %w", path, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%s: no secret in the file; put one line of 32 hexadecimal digits in it (`openssl rand -hex 16`)", path)
	}
	return NewCookieSecrets(secrets[0], secrets[1:]...), nil
}

// RFC 9018 section 4.3: a server cookie is valid for an hour, and up to
// five minutes before its time (clocks of an anycast set differ); one
// older than half an hour is replaced by a new one in the reply.
const (
	cookieMaxAge   = 3600
	cookieMaxAhead = 300
	cookieRenew    = 1800
)

// cookieResult is what a query's COOKIE option proved, for the metrics.
type cookieResult uint8

const (
	cookieClient    cookieResult = iota // a client cookie only: a new server cookie is sent
	cookieValid                         // a valid server cookie: the source address is proven
	cookieInvalid                       // a server cookie that fails: treated as a client cookie only
	cookieMalformed                     // a COOKIE option of a wrong length: FORMERR
	cookieResults
)

var cookieResultNames = [cookieResults]string{"client", "valid", "invalid", "malformed"}

// check validates the server cookie of q from src at now (Unix seconds,
// modulo 2^32 as RFC 9018 keeps them), and prepares the server cookie of
// the reply: the one received while it is under half an hour old and of
// the first secret, else a new one.
func (c *CookieSecrets) check(q *query, src netip.Addr, now uint32) cookieResult {
	q.sendCookie = true
	res := cookieClient
	if sc := q.serverCookie; len(sc) > 0 {
		res = cookieInvalid
		if len(sc) == 16 && sc[0] == 1 {
			// Serial number arithmetic (RFC 1982): the timestamp wraps
			// in 2106.
			age := int32(now - binary.BigEndian.Uint32(sc[4:8]))
			for i, k := range c.keys {
				if age > cookieMaxAge || age < -cookieMaxAhead || cookieHash(k, &q.clientCookie, sc[:8], src) != binary.LittleEndian.Uint64(sc[8:]) {
					continue
				}
				q.cookieValid = true
				res = cookieValid
				if i == 0 && age < cookieRenew {
					copy(q.replyCookie[:], sc)
					return res
				}
				break
			}
		}
	}
	c.make(q, src, now)
	return res
}

// make writes a new server cookie for q into q.replyCookie: version 1,
// three reserved octets, the time, and the hash of them with the client
// cookie and the client's address (RFC 9018 section 4).
func (c *CookieSecrets) make(q *query, src netip.Addr, now uint32) {
	r := &q.replyCookie
	*r = [16]byte{0: 1}
	binary.BigEndian.PutUint32(r[4:8], now)
	binary.LittleEndian.PutUint64(r[8:], cookieHash(c.keys[0], &q.clientCookie, r[:8], src))
}

// cookieHash is SipHash-2-4 of Client Cookie | Version | Reserved |
// Timestamp | Client-IP (4 octets for IPv4, 16 for IPv6).
func cookieHash(k [2]uint64, client *[8]byte, head []byte, src netip.Addr) uint64 {
	var b [32]byte
	copy(b[:8], client[:])
	copy(b[8:16], head)
	src = src.Unmap()
	n := 16
	if src.Is4() {
		a := src.As4()
		n += copy(b[16:], a[:])
	} else {
		a := src.As16()
		n += copy(b[16:], a[:])
	}
	return sipHash24(k[0], k[1], b[:n])
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) of m with the key k0, k1.
func sipHash24(k0, k1 uint64, m []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	last := uint64(len(m)) << 56
	for ; len(m) >= 8; m = m[8:] {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		round()
		round()
		v0 ^= w
	}
	for i, c := range m {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}

// cookie reads the query's COOKIE option against the secrets and
// prepares the reply's.
func (h *Handler) cookie(s *Scratch, src netip.Addr) {
	switch {
	case s.status == parseBadCookie:
		h.metrics.cookies[cookieMalformed].Add(1)
	case s.q.cookie:
		h.metrics.cookies[h.cookies.check(s.q, src, uint32(h.now(s).Unix()))].Add(1)
	}
}
