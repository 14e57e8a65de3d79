package dnsd

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkServe measures the handler alone, from query bytes to reply
// bytes, for the kinds of query dnsperf sends (bench/dnsd.sh).
func BenchmarkServe(b *testing.B) {
	f := newFixture(b, nil)
	cases := []struct {
		name string
		q    *dns.Msg
		src  string
	}{
		{"geo ECS", question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1"},
		{"geo ECS IPv6", question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/48")), "127.0.0.1"},
		{"geo source", question("download.example.org.", dns.TypeA, edns(1232)), "81.1.200.7"},
		{"static", question("mail.example.org.", dns.TypeA, edns(1232)), "127.0.0.1"},
		{"NXDOMAIN", question("nope.example.org.", dns.TypeA, edns(1232)), "127.0.0.1"},
		{"preference", question("de2-fr.download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1"},
	}
	for _, c := range cases {
		wire, err := c.q.Pack()
		if err != nil {
			b.Fatal(err)
		}
		src := netip.MustParseAddr(c.src)
		b.Run(c.name, func(b *testing.B) {
			s, dst := NewScratch(), make([]byte, 0, 1500)
			b.ReportAllocs()
			for b.Loop() {
				if out := f.h.Serve(s, dst, wire, src, UDP); len(out) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}

// BenchmarkServeDefences measures what cookies and response rate
// limiting add to a steered answer from a source address (compare
// "geo source" above).
func BenchmarkServeDefences(b *testing.B) {
	f := newFixture(b, nil)
	src := netip.MustParseAddr("81.1.200.7")
	s, dst := NewScratch(), make([]byte, 0, 1500)
	pack := func(m *dns.Msg) []byte {
		wire, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return wire
	}
	client := pack(question("download.example.org.", dns.TypeA, withCookie("2464c4abcf10c957")))
	r := new(dns.Msg)
	if err := r.Unpack(f.h.Serve(s, dst, client, src, UDP)); err != nil {
		b.Fatal(err)
	}
	valid := pack(question("download.example.org.", dns.TypeA, withCookie(cookieOf(r))))
	plain := pack(question("download.example.org.", dns.TypeA, edns(1232)))
	run := func(name string, wire []byte, rl *RateLimiter, from func(i int) netip.Addr) {
		f.h.Defend(Defences{RateLimit: rl})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.h.Serve(s, dst, wire, from(i), UDP)
				i++
			}
		})
	}
	one := func(int) netip.Addr { return src }
	run("client cookie: a new server cookie", client, nil, one)
	run("valid server cookie", valid, nil, one)
	run("RRL on, under the limit", plain, NewRateLimiter(1e9, 2, nil), one)
	run("RRL on, over the limit", plain, NewRateLimiter(1, 2, nil), one)
	run("RRL on, over the limit, valid server cookie", valid, NewRateLimiter(1, 2, nil), one)
	// A spoofed flood: every query from another network, so every one
	// takes the place of an entry in the table (a static name, whose
	// answer does not depend on the asker).
	static := pack(question("mail.example.org.", dns.TypeA, edns(1232)))
	many := make([]netip.Addr, 1<<18)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1})
	}
	spoofed := func(i int) netip.Addr { return many[i&(len(many)-1)] }
	run("static, random sources, RRL off", static, nil, spoofed)
	run("static, random sources, RRL on", static, NewRateLimiter(20, 2, nil), spoofed)
}

func BenchmarkCookieHash(b *testing.B) {
	var client [8]byte
	head := []byte{1, 0, 0, 0, 1, 2, 3, 4}
	src := netip.MustParseAddr("198.51.100.100")
	for b.Loop() {
		cookieHash([2]uint64{1, 2}, &client, head, src)
	}
}
