package dnsd

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzServe feeds the handler arbitrary messages. Whatever comes in, it
// must not panic, and what it sends back must be a DNS response miekg/dns
// decodes, with the query's ID, that fits the transport; so must the
// reply slipped over the rate limit (TC, or BADCOOKIE), and the reply of
// a signed zone, whose RRSIGs must verify with its keys. The seeds are
// the tests' kinds of query, with and without DO; testdata/fuzz/FuzzServe
// keeps the corpus found by
//
//	go test -run '^$' -fuzz FuzzServe ./dnsd/
func FuzzServe(f *testing.F) {
	fx := newFixture(f, nil)
	// Every UDP reply of this one is over the limit, and slipped.
	slipping := newFixture(f, nil)
	slipping.h.Defend(Defences{RateLimit: NewRateLimiter(1, 1, nil)})
	slipping.h.Serve(NewScratch(), nil, mustPack(f, question("nope.example.org.", dns.TypeA)), netip.MustParseAddr("127.0.0.1"), UDP)
	slipping.h.Serve(NewScratch(), nil, mustPack(f, question("download.example.org.", dns.TypeA)), netip.MustParseAddr("127.0.0.1"), UDP)
	slipping.h.Serve(NewScratch(), nil, mustPack(f, question("www.example.net.", dns.TypeA)), netip.MustParseAddr("127.0.0.1"), UDP)
	signed := newSignedFixture(f)
	for _, m := range []*dns.Msg{
		question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")),
		question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/56")),
		question("de2-tk.download.example.org.", dns.TypeA, ecs("81.1.2.128/25")),
		question("big.example.org.", dns.TypeTXT, edns(4096)),
		question("nope.example.org.", dns.TypeA),
		question("_whoami.example.org.", dns.TypeTXT, ecs("81.1.0.0/16")),
		question("example.org.", dns.TypeNS),
		question("example.org.", dns.TypeANY, edns(512)),
		question("example.org.", dns.TypeSOA, withCookie("2464c4abcf10c957")),
		question("example.org.", dns.TypeSOA, withCookie("2464c4abcf10c957010000005cf79f111f8130c3eee29480")),
		question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24"), do),
		question("de2-fr.download.example.org.", dns.TypeAAAA, do),
		question("nope.example.org.", dns.TypeA, co),
		question("mail.example.org.", dns.TypeTXT, do),
		question("example.org.", dns.TypeDNSKEY, do),
		question("example.org.", dns.TypeNS, do),
		question("b.deep.example.org.", dns.TypeRRSIG, do),
		question("mail.example.org.", dns.TypeNSEC, do),
		question("_whoami.example.org.", dns.TypeTXT, do),
		question("big.example.org.", dns.TypeTXT, edns(512), do),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	// A batch answers the input as Serve does, among other queries.
	fx.h.clock = func() time.Time { return signedAt }
	var around [][]byte
	for _, m := range []*dns.Msg{question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")), question("download.example.org.", dns.TypeAAAA, ecs("2001:db8:82::/56"))} {
		around = append(around, mustPack(f, m))
	}
	f.Fuzz(func(t *testing.T, msg []byte, tcp bool) {
		tr := UDP
		if tcp {
			tr = TCP
		}
		for _, h := range []*Handler{fx.h, slipping.h} {
			check(t, h.Serve(NewScratch(), nil, msg, netip.MustParseAddr("127.0.0.1"), tr), msg, tr)
		}
		batch := [][]byte{around[0], msg, around[1]}
		srcs := []netip.Addr{netip.MustParseAddr("81.1.200.7"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
		replies, s := make([][]byte, len(batch)), NewScratch()
		for round := range 2 { // the second from the reader's memo
			fx.h.ServeBatch(s, replies, batch, srcs, tr)
			for i, m := range batch {
				if want := fx.h.Serve(NewScratch(), nil, m, srcs[i], tr); !bytes.Equal(replies[i], want) {
					t.Fatalf("ServeBatch's reply %d (round %d) differs from Serve's:\n% x\nwant\n% x", i, round, replies[i], want)
				}
			}
		}
		out := signed.h.Serve(NewScratch(), nil, msg, netip.MustParseAddr("127.0.0.1"), tr)
		// Every RRset of a reply with DO comes with its signatures, but
		// the RRSIGs asked for themselves.
		r := check(t, out, msg, tr)
		if r != nil && r.Rcode == dns.RcodeSuccess && !r.Truncated && r.IsEdns0() != nil && r.IsEdns0().Do() && len(r.Question) == 1 && r.Question[0].Qtype != dns.TypeRRSIG {
			verifySigned(t, r, signed.h.Zone().keys, signedAt)
		}
	})
}

func mustPack(t testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// check is what every reply must be: none only for what is not a
// query, else a response with its ID that decodes and fits. It returns
// the reply decoded.
func check(t *testing.T, out, msg []byte, tr Transport) *dns.Msg {
	t.Helper()
	if out == nil {
		if len(msg) >= 12 && msg[2]&0x80 == 0 {
			t.Fatalf("no reply to a query: % x", msg)
		}
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not decode: %v\nquery % x\nreply % x", err, msg, out)
	}
	if !r.Response || binary.BigEndian.Uint16(msg) != r.Id {
		t.Fatalf("not a response to the query: %v", r)
	}
	if tr == UDP && len(out) > MaxUDP {
		t.Fatalf("UDP reply of %d bytes", len(out))
	}
	return r
}
