package dnsd

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkServeSigned measures the handler on a signed zone, for the
// kinds of query of BenchmarkServe, without and with DO: answers signed
// ahead are copied, so DO costs the copying of their RRSIGs and nothing
// else (no allocation). NXDOMAIN and preference names with DO are signed
// per query, and show what that costs.
func BenchmarkServeSigned(b *testing.B) {
	f := newSignedFixture(b)
	cases := []struct {
		name string
		q    *dns.Msg
		src  string
	}{
		{"geo ECS", question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1"},
		{"geo ECS IPv6", question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/48")), "127.0.0.1"},
		{"geo source", question("download.example.org.", dns.TypeA, edns(1232)), "81.1.200.7"},
		{"static", question("mail.example.org.", dns.TypeA, edns(1232)), "127.0.0.1"},
		{"NODATA", question("mail.example.org.", dns.TypeTXT, edns(1232)), "127.0.0.1"},
		{"NXDOMAIN", question("nope.example.org.", dns.TypeA, edns(1232)), "127.0.0.1"},
		{"preference", question("de2-fr.download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1"},
	}
	for _, c := range cases {
		for _, withDO := range []bool{false, true} {
			q := c.q.Copy()
			name := c.name + "/DO unset"
			if withDO {
				do(q)
				name = c.name + "/DO set"
			}
			wire, err := q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			src := netip.MustParseAddr(c.src)
			b.Run(name, func(b *testing.B) {
				s, dst := NewScratch(), make([]byte, 0, 1500)
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					out := f.h.Serve(s, dst, wire, src, UDP)
					if len(out) == 0 {
						b.Fatal("no reply")
					}
					n = len(out)
				}
				b.ReportMetric(float64(n), "bytes/reply")
			})
		}
	}
}
