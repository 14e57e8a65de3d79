package dnsd

import (
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The 64 vectors of the SipHash reference implementation (vectors.h):
// key 00 01 .. 0f, message 00 01 .. n-1 for n from 0 to 63.
var sipHashVectors = [64]uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
}

func TestSipHash24ReferenceVectors(t *testing.T) {
	var msg [64]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	for n, want := range sipHashVectors {
		if got := sipHash24(k0, k1, msg[:n]); got != want {
			t.Errorf("message of %d octets: %#016x, want %#016x", n, got, want)
		}
	}
}

func secretOf(t *testing.T, h string) [16]byte {
	t.Helper()
	var s [16]byte
	if n, err := hex.Decode(s[:], []byte(h)); err != nil || n != 16 {
		t.Fatalf("secret %q: %v", h, err)
	}
	return s
}

// cookieQuery is a parsed query whose COOKIE option is opt (hex).
func cookieQuery(t *testing.T, opt string) *query {
	t.Helper()
	b, err := hex.DecodeString(opt)
	if err != nil {
		t.Fatal(err)
	}
	q := &query{cookie: true}
	copy(q.clientCookie[:], b)
	if len(b) > 8 {
		q.serverCookie = b[8:]
	}
	return q
}

// The examples of RFC 9018 appendix A, byte for byte: each query's
// cookie judged, and each reply's server cookie made.
func TestRFC9018Examples(t *testing.T) {
	const (
		secret1 = "e5e973e5a6b2a43f48e7dc849e37bfcf"
		old     = "dd3bdf9344b678b185a6f5cb60fca715"
		rolled  = "445536bcd2513298075a5d379663c962"
	)
	tests := []struct {
		name    string
		secrets []string // the first makes cookies
		client  string
		opt     string // the query's COOKIE option
		now     uint32
		want    cookieResult
		reply   string // the reply's server cookie
	}{
		{"A.1: a client cookie only gets a new server cookie", []string{secret1}, "198.51.100.100",
			"2464c4abcf10c957", 1559731985, cookieClient, "010000005cf79f111f8130c3eee29480"},
		{"A.2: a valid cookie 40 minutes old (over half an hour) is renewed", []string{secret1}, "198.51.100.100",
			"2464c4abcf10c957010000005cf79f111f8130c3eee29480", 1559734385, cookieValid, "010000005cf7a871d4a564a1442aca77"},
		{"A.3: the hash covers the reserved octets as received (valid when made)", []string{secret1}, "203.0.113.203",
			"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559727985, cookieValid, "01abcdef5cf78f71a314227b6679ebf5"},
		{"A.3: the same cookie an hour and 52 minutes later has expired: a new one", []string{secret1}, "203.0.113.203",
			"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559734700, cookieInvalid, "010000005cf7a9acf73a7810aca2381e"},
		{"A.4: IPv6, made with the secret rolled over from, renewed with the new", []string{rolled, old}, "2001:db8:220:1:59de:d0f4:8769:82b8",
			"22681ab97d52c298010000005cf7c57926556bd0934c72f8", 1559741961, cookieValid, "010000005cf7c609a6bb79d16625507a"},
		{"A.4: without the old secret the cookie fails", []string{rolled}, "2001:db8:220:1:59de:d0f4:8769:82b8",
			"22681ab97d52c298010000005cf7c57926556bd0934c72f8", 1559741961, cookieInvalid, "010000005cf7c609a6bb79d16625507a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys [][16]byte
			for _, s := range tt.secrets {
				keys = append(keys, secretOf(t, s))
			}
			c := NewCookieSecrets(keys[0], keys[1:]...)
			q := cookieQuery(t, tt.opt)
			got := c.check(q, netip.MustParseAddr(tt.client), tt.now)
			if got != tt.want || q.cookieValid != (tt.want == cookieValid) || !q.sendCookie {
				t.Errorf("result %s (valid %v), want %s", cookieResultNames[got], q.cookieValid, cookieResultNames[tt.want])
			}
			if r := hex.EncodeToString(q.replyCookie[:]); r != tt.reply {
				t.Errorf("reply's server cookie %s, want %s", r, tt.reply)
			}
		})
	}
}

// The cookie of A.1 sent back: valid from five minutes ahead to an hour
// old, echoed while under half an hour old, and bound to the client
// cookie, the address and the secret.
func TestCookieValidity(t *testing.T) {
	c := NewCookieSecrets(secretOf(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"))
	addr := netip.MustParseAddr("198.51.100.100")
	const made = 1559731985
	good := "2464c4abcf10c957010000005cf79f111f8130c3eee29480"
	flip := func(i int) string { // octet i with its low bit flipped
		b, _ := hex.DecodeString(good)
		b[i] ^= 1
		return hex.EncodeToString(b)
	}
	// Cases that fail are a minute later, so that a new cookie differs
	// from the one received.
	tests := []struct {
		name string
		opt  string
		addr netip.Addr
		now  uint32
		want cookieResult
		echo bool // the reply carries the cookie received
	}{
		{"just made: valid, echoed", good, addr, made, cookieValid, true},
		{"29m59s old: echoed", good, addr, made + 1799, cookieValid, true},
		{"half an hour old: valid, renewed", good, addr, made + 1800, cookieValid, false},
		{"an hour old: valid", good, addr, made + 3600, cookieValid, false},
		{"an hour and a second old: expired", good, addr, made + 3601, cookieInvalid, false},
		{"five minutes ahead (another server's clock): valid", good, addr, made - 300, cookieValid, true},
		{"five minutes and a second ahead: invalid", good, addr, made - 301, cookieInvalid, false},
		{"another client cookie", flip(0), addr, made + 60, cookieInvalid, false},
		{"another version", flip(8), addr, made + 60, cookieInvalid, false},
		{"another timestamp", flip(15), addr, made + 60, cookieInvalid, false},
		{"another hash", flip(23), addr, made + 60, cookieInvalid, false},
		{"another address", good, netip.MustParseAddr("198.51.100.101"), made + 60, cookieInvalid, false},
		{"the address IPv4-mapped (a dual-stack socket)", good, netip.MustParseAddr("::ffff:198.51.100.100"), made, cookieValid, true},
		{"a server cookie of 8 octets: not ours", good[:32], addr, made + 60, cookieInvalid, false},
		{"a server cookie of 32 octets: not ours", good + strings.Repeat("00", 16), addr, made + 60, cookieInvalid, false},
		{"a client cookie only", good[:16], addr, made + 60, cookieClient, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := cookieQuery(t, tt.opt)
			got := c.check(q, tt.addr, tt.now)
			if got != tt.want {
				t.Errorf("result %s, want %s", cookieResultNames[got], cookieResultNames[tt.want])
			}
			echoed := hex.EncodeToString(q.replyCookie[:]) == good[16:]
			if echoed != tt.echo {
				t.Errorf("reply cookie %x: echoed %v, want %v", q.replyCookie, echoed, tt.echo)
			}
			// Whatever was sent back is valid and fresh from this address.
			back := cookieQuery(t, tt.opt[:16]+hex.EncodeToString(q.replyCookie[:]))
			if r := c.check(back, tt.addr, tt.now); r != cookieValid || back.replyCookie != q.replyCookie {
				t.Errorf("the reply's own cookie sent back: %s, reply %x", cookieResultNames[r], back.replyCookie)
			}
		})
	}
}

func TestLoadCookieSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("two", "# rolled over on 2026-05-01\n445536bcd2513298075a5d379663c962\n\n  DD3BDF9344B678B185A6F5CB60FCA715  \n")
	c, err := LoadCookieSecrets(p)
	if err != nil {
		t.Fatal(err)
	}
	want := NewCookieSecrets(secretOf(t, "445536bcd2513298075a5d379663c962"), secretOf(t, "dd3bdf9344b678b185a6f5cb60fca715"))
	if len(c.keys) != 2 || c.keys[0] != want.keys[0] || c.keys[1] != want.keys[1] {
		t.Errorf("keys %x, want %x", c.keys, want.keys)
	}
	for _, tt := range []struct {
		name, text, want string
	}{
		{"a secret too short names its line", "445536bcd2513298075a5d379663c962\n445536bcd2513298\n", "short:2: want a secret of 32 hexadecimal digits"},
		{"not hexadecimal", "g45536bcd2513298075a5d379663c962\n", "nothex:1: want a secret of 32 hexadecimal digits"},
		{"no secret", "# none yet\n", "empty: no secret in the file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.Fields(tt.want)[0]
			name = name[:strings.IndexAny(name, ":")]
			_, err := LoadCookieSecrets(write(name, tt.text))
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadCookieSecrets(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing file: %v", err)
	}
}

// withCookie adds a COOKIE option (hex) to a query.
func withCookie(h string) opt {
	return func(m *dns.Msg) {
		o := m.IsEdns0()
		if o == nil {
			m.SetEdns0(1232, false)
			o = m.IsEdns0()
		}
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: h})
	}
}

// cookieOf returns the COOKIE option of a reply (hex), or "".
func cookieOf(r *dns.Msg) string {
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if c, ok := e.(*dns.EDNS0_COOKIE); ok {
				return c.Cookie
			}
		}
	}
	return ""
}

// A client learns a server cookie from a reply and sends it back; the
// handler answers as RFC 7873 section 5.2 says, over UDP and TCP.
func TestCookieExchange(t *testing.T) {
	f := newFixture(t, nil)
	clk := f.clock()
	f.h.Defend(Defences{Cookies: NewCookieSecrets(secretOf(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"))})
	const client = "2464c4abcf10c957"
	src := "198.51.100.100"

	r := f.ask(t, question("download.example.org.", dns.TypeA, withCookie(client)), src)
	c := cookieOf(r)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || len(c) != 48 || c[:16] != client || c[16:18] != "01" {
		t.Fatalf("a client cookie: want the answer and a 16-octet server cookie:\n%v", r)
	}
	valid := f.h.Metrics().cookies[cookieValid].Load()
	clk.advance(10 * time.Minute)
	for _, tr := range []Transport{UDP, TCP} {
		r = f.askOver(t, question("download.example.org.", dns.TypeA, withCookie(c)), src, tr)
		if cookieOf(r) != c || len(r.Answer) != 1 {
			t.Errorf("transport %d: the server cookie sent back is echoed while under half an hour old:\n%v", tr, r)
		}
	}
	if got := f.h.Metrics().cookies[cookieValid].Load() - valid; got != 2 {
		t.Errorf("%d valid cookies counted, want 2", got)
	}
	// From another address the cookie is not valid: answered, with a
	// new one (RFC 7873 section 5.2.4), never BADCOOKIE unless limited.
	r = f.ask(t, question("download.example.org.", dns.TypeA, withCookie(c)), "198.51.100.101")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || cookieOf(r) == c || cookieOf(r)[:16] != client {
		t.Errorf("a cookie from another address: want an answer and a new cookie:\n%v", r)
	}
	// Error replies carry the cookie too.
	r = f.ask(t, question("www.example.net.", dns.TypeA, withCookie(client)), src)
	if r.Rcode != dns.RcodeRefused || len(cookieOf(r)) != 48 {
		t.Errorf("REFUSED: want a server cookie in it:\n%v", r)
	}
	// Malformed: FORMERR, with an OPT and no cookie (RFC 7873 section
	// 5.2.2).
	for _, bad := range []string{"2464c4abcf10", client + "0102", client + strings.Repeat("00", 33)} {
		r = f.ask(t, question("download.example.org.", dns.TypeA, withCookie(bad)), src)
		if r.Rcode != dns.RcodeFormatError || r.IsEdns0() == nil || cookieOf(r) != "" {
			t.Errorf("COOKIE of %d octets: want FORMERR without a cookie:\n%v", len(bad)/2, r)
		}
	}
	if got := f.h.Metrics().cookies[cookieMalformed].Load(); got != 3 {
		t.Errorf("%d malformed cookies counted, want 3", got)
	}
	// A query without a cookie gets none.
	if r = f.ask(t, question("download.example.org.", dns.TypeA, edns(1232)), src); cookieOf(r) != "" {
		t.Errorf("no cookie asked, one sent:\n%v", r)
	}
}
