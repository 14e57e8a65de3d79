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
