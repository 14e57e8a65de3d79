package dnsd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

func TestSteering(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		q      *dns.Msg
		src    string
		target string // "" : any mirror of the country below
		cc     string
		scope  int // -1: no ECS in the reply
	}{
		{"ECS in the ISP's AS: its private mirror, scope the /24", question("download.example.org.", dns.TypeA, ecs("81.1.0.0/24")), "127.0.0.1", "mirror.isp.example.de.", "", 24},
		{"ECS inside the ISP's subnet: its private mirror, scope the subnet", question("download.example.org.", dns.TypeA, ecs("81.1.2.128/25")), "127.0.0.1", "mirror.isp.example.de.", "", 25},
		{"ECS in the ISP's ASN beside its subnet: the private mirror by ASN, scope stops at the subnet's edge", question("download.example.org.", dns.TypeA, ecs("81.1.2.0/24")), "127.0.0.1", "mirror.isp.example.de.", "", 25},
		{"ECS in the other AS of 81.1/16: no ASN match, a public German mirror, scope the /24", question("download.example.org.", dns.TypeA, ecs("81.1.200.0/24")), "127.0.0.1", "", "DE", 24},
		{"ECS in Japan", question("download.example.org.", dns.TypeAAAA, ecs("106.3.0.0/24")), "127.0.0.1", "jp.example.net.", "", 24},
		{"ECS with a short prefix: scope no wider than the prefix", question("download.example.org.", dns.TypeA, ecs("106.3.0.0/16")), "127.0.0.1", "jp.example.net.", "", 16},
		{"IPv6 ECS in Brazil: scope the /48", question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/56")), "::1", "br.example.net.", "", 48},
		{"IPv6 ECS in Australia", question("download.example.org.", dns.TypeA, ecs("2001:db8:84::/48")), "::1", "au.example.net.", "", 48},
		{"IPv6 ECS in the ISP's v6 subnet", question("download.example.org.", dns.TypeA, ecs("2a01:db8:1:8000::/56")), "::1", "mirror.isp.example.de.", "", 49},
		{"no ECS: the source address (loopback is NL in the demo database), no ECS in the reply", question("download.example.org.", dns.TypeA, edns(1232)), "127.0.0.1", "", "DE", -1},
		{"no EDNS at all", question("download.example.org.", dns.TypeA), "1.5.0.1", "au.example.net.", "", -1},
		{"private ECS address: the source address is used, scope 0", question("download.example.org.", dns.TypeA, ecs("10.1.0.0/16")), "106.3.9.9", "jp.example.net.", "", 0},
		{"ECS /0: the source address is used, scope 0", question("download.example.org.", dns.TypeA, ecs("0.0.0.0/0")), "177.4.1.1", "br.example.net.", "", 0},
		{"a name one mirror serves: the answer does not depend on the asker, scope 0", question("sync.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1", "fr.example.net.", "", 0},
		{"case is ignored", question("DownLoad.Example.ORG.", dns.TypeA, ecs("106.3.0.0/24")), "127.0.0.1", "jp.example.net.", "", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.ask(t, tt.q, tt.src)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("reply:\n%v", r)
			}
			got := target(r)
			if tt.target != "" && got != tt.target {
				t.Errorf("target %s, want %s", got, tt.target)
			}
			if tt.cc != "" && !strings.HasPrefix(got, strings.ToLower(tt.cc)) {
				t.Errorf("target %s, want a mirror in %s", got, tt.cc)
			}
			if s := scope(r); s != tt.scope {
				t.Errorf("scope %d, want %d", s, tt.scope)
			}
			if r.Answer[0].Header().Name != tt.q.Question[0].Name || r.Question[0].Name != tt.q.Question[0].Name {
				t.Errorf("owner %q / question %q, want the name as asked, %q", r.Answer[0].Header().Name, r.Question[0].Name, tt.q.Question[0].Name)
			}
			if r.Answer[0].Header().Ttl != 60 {
				t.Errorf("TTL %d, want [dns] ttl 60", r.Answer[0].Header().Ttl)
			}
		})
	}
}

// The first choice is the one `mirrorsteer lookup --ip` shows: the same
// client (policy.ClientOf the address and its GeoIP record) and the same
// policy.
func TestSameFirstChoiceAsLookup(t *testing.T) {
	f := newFixture(t, down("de2.example.net"))
	set := policy.NewSet(f.inv, f.snap, policy.Want{})
	n := 0
	for _, net := range geotest.Demo() {
		for _, a := range []netip.Addr{net.Prefix.Addr(), lastAddr(net.Prefix)} {
			info := f.db.Lookup(a)
			want := set.Select(policy.ClientOf(a, a.BitLen(), info))[0].Mirror.Host("https") + "."
			bits := 32
			if a.Is6() {
				bits = 128
			}
			for _, q := range []*dns.Msg{
				question("download.example.org.", dns.TypeA, ecs(netip.PrefixFrom(a, bits).String())),
				question("download.example.org.", dns.TypeA),
			} {
				r := f.ask(t, q, a.String())
				if got := target(r); got != want {
					t.Errorf("%s (%s, AS%d): dnsd %s, lookup %s", a, info.Country, info.ASN, got, want)
				}
				n++
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d comparisons", n)
	}
}

func TestZoneAnswers(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name    string
		q       *dns.Msg
		rcode   int
		aa      bool
		answer  []string // "TYPE rdata" of each answer record
		soaAuth bool     // the SOA in authority (negative answers)
		extra   int      // additional records besides the OPT
	}{
		{"apex SOA", question("example.org.", dns.TypeSOA), 0, true, []string{"SOA ns1.example.org. hostmaster.example.org. 2026112301 14400 3600 1209600 300"}, false, 0},
		{"apex NS with glue", question("example.org.", dns.TypeNS), 0, true, []string{"NS ns1.example.org.", "NS ns2.example.net."}, false, 2},
		{"name server address from config", question("ns1.example.org.", dns.TypeAAAA), 0, true, []string{"AAAA ::1"}, false, 0},
		{"zone file record", question("mail.example.org.", dns.TypeA), 0, true, []string{"A 192.0.2.25"}, false, 0},
		{"apex MX from the zone file", question("example.org.", dns.TypeMX), 0, true, []string{"MX 10 mail.example.org."}, false, 0},
		{"NXDOMAIN with the SOA", question("nope.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
		{"NODATA: the name exists, the type not", question("mail.example.org.", dns.TypeTXT), 0, true, nil, true, 0},
		{"empty non-terminal is NODATA", question("b.deep.example.org.", dns.TypeA), 0, true, nil, true, 0},
		{"empty non-terminal, one up", question("deep.example.org.", dns.TypeAAAA), 0, true, nil, true, 0},
		{"below an existing name: NXDOMAIN", question("x.mail.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
		{"outside the zone: REFUSED without AA", question("example.net.", dns.TypeA), dns.RcodeRefused, false, nil, false, 0},
		{"a parent of the zone: REFUSED", question("org.", dns.TypeNS), dns.RcodeRefused, false, nil, false, 0},
		{"a zone file CNAME answers every type", question("alias.example.org.", dns.TypeMX), 0, true, []string{"CNAME www.example.net."}, false, 0},
		{"a steered name answers every type with its CNAME", question("download.example.org.", dns.TypeMX, ecs("106.3.0.0/24")), 0, true, []string{"CNAME jp.example.net."}, false, 0},
		{"and CNAME itself", question("download.example.org.", dns.TypeCNAME, ecs("106.3.0.0/24")), 0, true, []string{"CNAME jp.example.net."}, false, 0},
		{"ANY is answered minimally: one RRset (RFC 8482)", question("mail.example.org.", dns.TypeANY), 0, true, []string{"A 192.0.2.25"}, false, 0},
		{"ANY on a steered name: the CNAME", question("download.example.org.", dns.TypeANY, ecs("106.3.0.0/24")), 0, true, []string{"CNAME jp.example.net."}, false, 0},
		{"zone transfers are refused", question("example.org.", dns.TypeAXFR), dns.RcodeRefused, false, nil, false, 0},
		{"a class other than IN is refused", func() *dns.Msg {
			m := question("example.org.", dns.TypeSOA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}(), dns.RcodeRefused, false, nil, false, 0},
		{"preference name, first label healthy", question("de2-fr.download.example.org.", dns.TypeA), 0, true, []string{"CNAME de2.example.net."}, false, 0},
		{"preference name with an unknown label: NXDOMAIN", question("de2-xx.download.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
		{"preference name with an empty part: NXDOMAIN", question("de2-.download.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
		{"a mirror label of another name: NXDOMAIN", question("jp.download-http.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
		{"two labels below a steered name: NXDOMAIN", question("a.de2.download.example.org.", dns.TypeA), dns.RcodeNameError, true, nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.ask(t, tt.q, "127.0.0.1")
			if r.Rcode != tt.rcode || r.Authoritative != tt.aa {
				t.Fatalf("rcode %s AA %v, want %s AA %v:\n%v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], tt.aa, r)
			}
			var got []string
			for _, rr := range r.Answer {
				s := rr.String()
				h := rr.Header().String()
				got = append(got, dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimSpace(s[len(h):]))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.answer) {
				t.Errorf("answer %q, want %q", got, tt.answer)
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if hasSOA != tt.soaAuth || (!tt.soaAuth && len(r.Ns) > 0) {
				t.Errorf("authority %v, want SOA: %v", r.Ns, tt.soaAuth)
			}
			if hasSOA && r.Ns[0].Header().Ttl != 300 {
				t.Errorf("negative TTL %d, want min(SOA TTL 3600, minimum 300) = 300", r.Ns[0].Header().Ttl)
			}
			extra := 0
			for _, rr := range r.Extra {
				if rr.Header().Rrtype != dns.TypeOPT {
					extra++
				}
			}
			if extra != tt.extra {
				t.Errorf("additional %v, want %d records", r.Extra, tt.extra)
			}
		})
	}
}

func TestEDNS(t *testing.T) {
	f := newFixture(t, nil)
	t.Run("OPT echoed with payload 1232, DO copied, no ECS without one", func(t *testing.T) {
		q := question("mail.example.org.", dns.TypeA)
		q.SetEdns0(4096, true)
		r := f.ask(t, q, "127.0.0.1")
		o := r.IsEdns0()
		if o == nil || o.UDPSize() != 1232 || !o.Do() || o.Version() != 0 || len(o.Option) != 0 {
			t.Errorf("OPT %v", o)
		}
	})
	t.Run("no OPT in the reply to a query without", func(t *testing.T) {
		if r := f.ask(t, question("mail.example.org.", dns.TypeA), "127.0.0.1"); r.IsEdns0() != nil {
			t.Errorf("OPT in reply: %v", r)
		}
	})
	t.Run("version 1: BADVERS", func(t *testing.T) {
		q := question("mail.example.org.", dns.TypeA, edns(1232))
		q.IsEdns0().SetVersion(1)
		r := f.ask(t, q, "127.0.0.1")
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 || len(r.Answer) != 0 {
			t.Errorf("reply %v", r)
		}
	})
	t.Run("unknown options are ignored", func(t *testing.T) {
		q := question("mail.example.org.", dns.TypeA, edns(1232))
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}}, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		if r := f.ask(t, q, "127.0.0.1"); r.Rcode != 0 || len(r.Answer) != 1 {
			t.Errorf("reply %v", r)
		}
	})
	// Malformed Client Subnet options (RFC 7871 section 7.1.1): FORMERR.
	for _, tc := range []struct {
		name string
		data []byte // family, source, scope, address
	}{
		{"scope set in a query", []byte{0, 1, 24, 8, 81, 1, 0}},
		{"prefix longer than IPv4", []byte{0, 1, 33, 0, 81, 1, 0, 0, 0}},
		{"address longer than the prefix needs", []byte{0, 1, 16, 0, 81, 1, 0}},
		{"address shorter than the prefix needs", []byte{0, 1, 24, 0, 81, 1}},
		{"bits set beyond the prefix", []byte{0, 1, 23, 0, 81, 1, 1}},
		{"unknown family", []byte{0, 3, 8, 0, 81}},
		{"too short", []byte{0, 1, 0}},
	} {
		t.Run("malformed ECS: "+tc.name, func(t *testing.T) {
			q := question("download.example.org.", dns.TypeA, edns(1232))
			q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: tc.data})
			r := f.ask(t, q, "127.0.0.1")
			if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 || scope(r) != -1 {
				t.Errorf("reply %v", r)
			}
		})
	}
	t.Run("two ECS options: FORMERR", func(t *testing.T) {
		q := question("download.example.org.", dns.TypeA, ecs("81.1.0.0/24"), ecs("106.3.0.0/24"))
		if r := f.ask(t, q, "127.0.0.1"); r.Rcode != dns.RcodeFormatError {
			t.Errorf("reply %v", r)
		}
	})
}

func TestTruncation(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name string
		q    *dns.Msg
		tr   Transport
		tc   bool
	}{
		{"UDP without EDNS: 512 bytes", question("big.example.org.", dns.TypeTXT), UDP, true},
		{"UDP with EDNS 4096: capped at 1232", question("big.example.org.", dns.TypeTXT, edns(4096)), UDP, true},
		{"TCP: the whole answer", question("big.example.org.", dns.TypeTXT), TCP, false},
		{"UDP, small answer: fits", question("mail.example.org.", dns.TypeA), UDP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.askOver(t, tc.q, "127.0.0.1", tc.tr)
			if r.Truncated != tc.tc || (tc.tc && len(r.Answer) != 0) || (!tc.tc && len(r.Answer) == 0) {
				t.Errorf("TC %v, %d answers", r.Truncated, len(r.Answer))
			}
			if tc.tc && tc.q.IsEdns0() != nil && r.IsEdns0() == nil {
				t.Error("the truncated reply lost its OPT")
			}
			out, _ := r.Pack()
			limit := map[bool]int{false: 512, true: 1232}[tc.q.IsEdns0() != nil]
			if tc.tr == UDP && len(out) > limit {
				t.Errorf("UDP reply of %d bytes", len(out))
			}
		})
	}
}

func TestMalformedQueries(t *testing.T) {
	f := newFixture(t, nil)
	good, _ := question("mail.example.org.", dns.TypeA).Pack()
	drop := func(name string, b []byte) {
		if out := f.h.Serve(f.s, nil, b, netip.MustParseAddr("127.0.0.1"), UDP); out != nil {
			t.Errorf("%s: got a reply % x", name, out)
		}
	}
	drop("short header", good[:11])
	resp := append([]byte(nil), good...)
	resp[2] |= 0x80
	drop("a response", resp)
	for _, tc := range []struct {
		name  string
		msg   []byte
		rcode int
	}{
		{"truncated question", good[:len(good)-3], dns.RcodeFormatError},
		{"two questions", func() []byte { b := append([]byte(nil), good...); binary.BigEndian.PutUint16(b[4:], 2); return b }(), dns.RcodeFormatError},
		{"no question", func() []byte { b := append([]byte(nil), good[:12]...); binary.BigEndian.PutUint16(b[4:], 0); return b }(), dns.RcodeFormatError},
		{"an additional record that runs past the end", func() []byte { b := append([]byte(nil), good...); binary.BigEndian.PutUint16(b[10:], 1); return b }(), dns.RcodeFormatError},
		{"opcode NOTIFY", func() []byte { b := append([]byte(nil), good...); b[2] |= 4 << 3; return b }(), dns.RcodeNotImplemented},
		// Records dnsd steps over must still be well-formed: their owner
		// names are checked as a decoder would.
		{"a record owner that points past the end", withRecord(zoneName(30), func(int) []byte { return []byte{0xc0, 0xff} }), dns.RcodeFormatError},
		{"a record owner in a pointer loop", withRecord(zoneName(30), func(at int) []byte { return []byte{1, 'x', 0xc0, byte(at)} }), dns.RcodeFormatError},
		{"a record owner of 256 octets through a pointer", withRecord(zoneName(254), func(int) []byte { return []byte{1, 'x', 0xc0, 12} }), dns.RcodeFormatError},
		{"a record owner of 255 octets through a pointer", withRecord(zoneName(253), func(int) []byte { return []byte{1, 'x', 0xc0, 12} }), dns.RcodeNameError},
		{"a record owner with a reserved label type", withRecord(zoneName(30), func(int) []byte { return []byte{0x41, 0} }), dns.RcodeFormatError},
	} {
		out := f.h.Serve(f.s, nil, tc.msg, netip.MustParseAddr("127.0.0.1"), UDP)
		if len(out) < 12 || int(out[3]&0xf) != tc.rcode || out[0] != tc.msg[0] || out[1] != tc.msg[1] || out[2]&0x80 == 0 {
			t.Errorf("%s: reply % x, want rcode %d with the query's ID", tc.name, out, tc.rcode)
		}
	}
}

func TestPreferenceNames(t *testing.T) {
	tests := []struct {
		name, qname, ecs string
		edit             func(string, *state.Endpoint)
		want             string
		scope            int
	}{
		{"first listed when healthy, whoever asks", "de2-fr.download.example.org.", "106.3.0.0/24", nil, "de2.example.net.", 0},
		{"the next when the first is down", "de2-fr.download.example.org.", "106.3.0.0/24", down("de2.example.net"), "fr.example.net.", 0},
		{"a private mirror for its own network", "tk-fr.download.example.org.", "81.1.2.128/25", nil, "mirror.isp.example.de.", 25},
		{"but not for others, and the scope says the answer depends on them", "tk-fr.download.example.org.", "106.3.0.0/24", nil, "fr.example.net.", 24},
		{"none healthy: the normal choice", "de2.download.example.org.", "106.3.0.0/24", down("de2.example.net"), "jp.example.net.", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			r := f.ask(t, question(tt.qname, dns.TypeA, ecs(tt.ecs)), "127.0.0.1")
			if got := target(r); got != tt.want || scope(r) != tt.scope {
				t.Errorf("%s scope %d, want %s scope %d", got, scope(r), tt.want, tt.scope)
			}
		})
	}
}

func TestFallbackWhenNoMirrorIsHealthy(t *testing.T) {
	f := newFixture(t, down("fr.example.net"))
	r := f.ask(t, question("pub.example.org.", dns.TypeA, ecs("81.1.0.0/24")), "127.0.0.1")
	if got := target(r); got != "origin.example.org." || scope(r) != 0 {
		t.Errorf("%s scope %d, want the origin, scope 0", got, scope(r))
	}
	if n := f.h.metrics.name("pub").fallback.Load(); n != 1 {
		t.Errorf("fallback counted %d times", n)
	}
}

// Only mirrors healthy over the asker's family are offered: an IPv6
// client in Japan does not get jp when its IPv6 endpoint is down.
func TestFamily(t *testing.T) {
	f := newFixture(t, func(m string, e *state.Endpoint) {
		if m == "jp.example.net" && e.Family == state.IPv6 {
			e.Healthy = false
		}
	})
	if got := target(f.ask(t, question("download.example.org.", dns.TypeA, ecs("2001:db8:81::/48")), "::1")); got == "jp.example.net." {
		t.Errorf("IPv6 asker got %s, whose IPv6 endpoint is down", got)
	}
	if got := target(f.ask(t, question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "::1")); got != "jp.example.net." {
		t.Errorf("IPv4 asker got %s, want jp", got)
	}
}

// Askers with the same key get the same mirror; over many keys each
// mirror comes first in proportion to its weight among equals. Addresses
// the GeoIP database does not know make every public mirror equal.
func TestWeightedStableAnswers(t *testing.T) {
	f := newFixture(t, nil)
	counts := map[string]int{}
	const n = 10000
	for i := range n {
		net24 := netip.AddrFrom4([4]byte{11, byte(i >> 8), byte(i), 0})
		host := netip.AddrFrom4([4]byte{11, byte(i >> 8), byte(i), byte(i*7 + 1)})
		r := f.ask(t, question("download.example.org.", dns.TypeA, ecs(netip.PrefixFrom(host, 32).String())), "127.0.0.1")
		again := f.ask(t, question("download.example.org.", dns.TypeA, ecs(netip.PrefixFrom(net24, 24).String())), "127.0.0.1")
		if target(r) != target(again) {
			t.Fatalf("%s and its /24 got %s and %s", host, target(r), target(again))
		}
		counts[target(r)]++
	}
	// Public mirrors: de2 weighs 300, the six others 100.
	for m, c := range counts {
		want := 100.0 / 900
		if m == "de2.example.net." {
			want = 300.0 / 900
		}
		if got := float64(c) / n; math.Abs(got-want) > 0.05*want+0.005 {
			t.Errorf("%s came first for %.3f of the askers, want %.3f (%v)", m, got, want, counts)
		}
	}
	if len(counts) != 7 {
		t.Errorf("answers %v, want the 7 public mirrors", counts)
	}
}

// A message with an opcode other than QUERY gets NOTIMP with the opcode
// copied (RFC 1035 section 4.1.1), the question echoed, and an OPT when
// it had one (RFC 6891 section 6.1.1), whatever its sections hold.
func TestNotImplementedOpcodes(t *testing.T) {
	f := newFixture(t, nil)
	notify := func() *dns.Msg { return new(dns.Msg).SetNotify("example.org.") }
	update := func() *dns.Msg {
		m := new(dns.Msg).SetUpdate("example.org.")
		rr, _ := dns.NewRR("new.example.org. 60 IN A 192.0.2.9")
		m.Insert([]dns.RR{rr})
		return m
	}
	withOpcode := func(op int) func() *dns.Msg {
		return func() *dns.Msg { m := question("example.org.", dns.TypeSOA); m.Opcode = op; return m }
	}
	noQuestion := func() *dns.Msg { // an inverse query (RFC 1035 section 6.4): an answer, no question
		m := new(dns.Msg)
		m.Id, m.Opcode = dns.Id(), dns.OpcodeIQuery
		rr, _ := dns.NewRR("example.org. 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		return m
	}
	for _, tc := range []struct {
		name string
		op   int
		msg  func() *dns.Msg
	}{
		{"IQUERY", dns.OpcodeIQuery, withOpcode(dns.OpcodeIQuery)},
		{"IQUERY without a question", dns.OpcodeIQuery, noQuestion},
		{"STATUS", dns.OpcodeStatus, withOpcode(dns.OpcodeStatus)},
		{"NOTIFY", dns.OpcodeNotify, notify},
		{"UPDATE with an update section", dns.OpcodeUpdate, update},
		{"opcode 15", 15, withOpcode(15)},
	} {
		for _, withEDNS := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s EDNS %v", tc.name, withEDNS), func(t *testing.T) {
				m := tc.msg()
				if withEDNS {
					m.SetEdns0(1232, true)
				}
				r := f.ask(t, m, "127.0.0.1")
				if r.Rcode != dns.RcodeNotImplemented || r.Opcode != tc.op || r.Id != m.Id || !r.Response {
					t.Errorf("rcode %s opcode %d id %d, want NOTIMP, opcode %d, id %d:\n%v", dns.RcodeToString[r.Rcode], r.Opcode, r.Id, tc.op, m.Id, r)
				}
				if !slices.Equal(r.Question, m.Question) {
					t.Errorf("question %v, want %v", r.Question, m.Question)
				}
				if o := r.IsEdns0(); (o != nil) != withEDNS || (o != nil && (!o.Do() || o.UDPSize() != MaxUDP || len(o.Option) != 0)) {
					t.Errorf("OPT %v; the query had one: %v (want DO echoed, payload %d, no options)", o, withEDNS, MaxUDP)
				}
				if len(r.Answer)+len(r.Ns) != 0 || len(r.Extra) != map[bool]int{false: 0, true: 1}[withEDNS] {
					t.Errorf("records beside the OPT:\n%v", r)
				}
			})
		}
	}
}

// zoneName is a name in example.org of n octets in wire form.
func zoneName(n int) string {
	n -= len("\x07example\x03org\x00")
	var labels []string
	for n > 0 {
		l := min(n, 64)
		if n-l == 1 { // no room for a label of one octet
			l--
		}
		labels = append(labels, strings.Repeat("x", l-1))
		n -= l
	}
	return strings.Join(append(labels, "example.org."), ".")
}

// withRecord is a query for name (uncompressed, at offset 12) with one
// answer record of type A whose owner (wire form, compression pointers
// allowed) owner returns, given the offset it starts at.
func withRecord(name string, owner func(at int) []byte) []byte {
	b, err := question(name, dns.TypeA).Pack()
	if err != nil {
		panic(err)
	}
	binary.BigEndian.PutUint16(b[6:], 1)
	b = append(b, owner(len(b))...)
	return append(b, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
}

// TestServeBatch: a batch is answered byte for byte as Serve answers each
// of its queries alone, whatever the mix (steered names from IPv4 and
// IPv6 subnets and sources, static names, errors, what is not a query)
// and however large the batch.
func TestServeBatch(t *testing.T) {
	f := newFixture(t, nil)
	f.h.clock = func() time.Time { return time.Unix(1_800_000_000, 0) }
	kinds := []*dns.Msg{
		question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")),
		question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/48")),
		question("download.example.org.", dns.TypeA, edns(1232)),
		question("download.example.org.", dns.TypeA, ecs("10.1.0.0/16")), // not global: the source
		question("de2-fr.download.example.org.", dns.TypeA, ecs("81.1.2.0/24")),
		question("mail.example.org.", dns.TypeA, edns(1232)),
		question("nope.example.org.", dns.TypeA),
		question("www.example.net.", dns.TypeA),
		question("example.org.", dns.TypeSOA, withCookie("2464c4abcf10c957")),
	}
	var msgs [][]byte
	for _, m := range kinds {
		msgs = append(msgs, mustPack(t, m))
	}
	reply := mustPack(t, question("download.example.org.", dns.TypeA))
	reply[2] |= 0x80 // a response: dropped
	msgs = append(msgs, reply, []byte{1, 2, 3})
	srcs := []netip.Addr{netip.MustParseAddr("81.1.200.7"), netip.MustParseAddr("2001:db8:82::7"), netip.MustParseAddr("127.0.0.1")}
	for _, n := range []int{1, 7, 64, 100} {
		batch, from := make([][]byte, n), make([]netip.Addr, n)
		for i := range n {
			batch[i], from[i] = msgs[(i*5+n)%len(msgs)], srcs[(i+n)%len(srcs)]
		}
		replies := make([][]byte, n)
		s := NewScratch()
		for round := range 2 { // the Scratch reused
			f.h.ServeBatch(s, replies, batch, from, UDP)
			for i := range n {
				want := f.h.Serve(NewScratch(), nil, batch[i], from[i], UDP)
				if !bytes.Equal(replies[i], want) {
					t.Fatalf("batch of %d, round %d, query %d from %v: ServeBatch replied\n% x\nServe\n% x", n, round, i, from[i], replies[i], want)
				}
			}
		}
	}
}

// A reader remembers its last answers by asker; a new zone, in which the
// remembered mirror is down, must not get the old answer.
func TestServeBatchAnswersFromTheNewZone(t *testing.T) {
	f := newFixture(t, nil)
	s := NewScratch()
	msg := mustPack(t, question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")))
	ask := func() *dns.Msg {
		t.Helper()
		replies := make([][]byte, 2)
		f.h.ServeBatch(s, replies, [][]byte{msg, msg}, []netip.Addr{netip.MustParseAddr("81.1.200.7"), netip.MustParseAddr("81.1.200.8")}, UDP)
		if !bytes.Equal(replies[0], replies[1]) {
			t.Fatalf("one asker, two replies:\n% x\n% x", replies[0], replies[1])
		}
		r := new(dns.Msg)
		if err := r.Unpack(replies[0]); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := target(ask())
	if before == "" {
		t.Fatal("no answer")
	}
	after := newFixture(t, down(strings.TrimSuffix(before, ".")))
	f.h.Swap(after.h.Zone())
	if got, want := target(ask()), target(after.ask(t, question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), "81.1.200.7")); got != want || got == before {
		t.Errorf("after %s went down: answered %s, want %s", before, got, want)
	}
}

// An answer's scope never straddles the edge of a mirror's subnet: no
// edge lies inside it but at its first address. Askers are drawn around
// every edge and in /16s with no subnet, for every prefix length.
func TestScopeStopsAtSubnetEdges(t *testing.T) {
	f := newFixture(t, nil)
	z := f.h.Zone()
	rng := rand.New(rand.NewPCG(7, 9))
	for _, g := range z.names {
		for fam, keys := range g.edges {
			if len(keys) == 0 {
				continue
			}
			var edges []netip.Addr
			for _, k := range keys {
				edges = append(edges, k.addr(fam == 0))
			}
			var around []netip.Addr
			for _, e := range edges {
				around = append(around, e, e.Prev(), e.Next())
				for range 20 {
					b := e.AsSlice()
					b[len(b)-1-rng.IntN(3)] = byte(rng.Uint32())
					a, _ := netip.AddrFromSlice(b)
					around = append(around, a)
				}
			}
			if fam == 0 { // IPv4: /16s far from every subnet too
				for range 200 {
					around = append(around, netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}))
				}
			}
			for _, x := range around {
				if !x.IsValid() {
					continue
				}
				for bits := 8; bits <= x.BitLen(); bits++ {
					p0, _ := x.Prefix(bits)
					a := asker{addr: p0.Addr(), bits: bits, family: inventory.FamilyOf(x), ecs: true}
					info, _ := z.in.GeoIndex.Where(a.addr)
					p := z.scope(g, &a, info)
					if !p.Contains(a.addr) {
						t.Fatalf("%s: scope %s of %s/%d does not hold it", g.label, p, a.addr, bits)
					}
					for _, e := range edges {
						if p.Contains(e) && e != p.Masked().Addr() {
							t.Fatalf("%s: scope %s of %s/%d straddles the subnet edge %s", g.label, p, a.addr, bits, e)
						}
					}
				}
			}
		}
	}
}
