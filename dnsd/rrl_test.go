package dnsd

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testClock is the handler's clock in tests: it moves when told to.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// clock gives the fixture's handler a clock of the test's.
func (f *fixture) clock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	f.h.clock = c.now
	f.h.epoch = c.now()
	return c
}

// limited is a fixture whose handler limits to rate a second with slip,
// exempting nobody, on a clock of the test's.
func limited(t testing.TB, rate, slip int) (*fixture, *testClock) {
	f := newFixture(t, nil)
	clk := f.clock()
	f.h.Defend(Defences{RateLimit: NewRateLimiter(rate, slip, nil)})
	return f, clk
}

// serveRaw is Serve on a packed query: nil when nothing is sent.
func (f *fixture) serveRaw(t testing.TB, m *dns.Msg, src string, tr Transport) *dns.Msg {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := f.h.Serve(f.s, make([]byte, 0, 512), wire, netip.MustParseAddr(src), tr)
	if out == nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not parse: %v\n% x", err, out)
	}
	return r
}

// outcome names what became of a query: "answer" (records), "reply"
// (no records, not truncated: NXDOMAIN, NODATA, an error), "TC",
// "BADCOOKIE" or "none".
func outcome(r *dns.Msg) string {
	switch {
	case r == nil:
		return "none"
	case r.Rcode == dns.RcodeBadCookie:
		return "BADCOOKIE"
	case r.Truncated:
		return "TC"
	case len(r.Answer) > 0:
		return "answer"
	}
	return "reply"
}

func count(outcomes []string) map[string]int {
	n := map[string]int{}
	for _, o := range outcomes {
		n[o]++
	}
	return n
}

func TestRateLimiterBucket(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.7")
	rl := NewRateLimiter(5, 2, nil)
	var now int64
	take := func(n int) []rrlAction {
		var got []rrlAction
		for range n {
			got = append(got, rl.take(src, kindAnswer, now))
		}
		return got
	}
	want := func(step string, got []rrlAction, want ...rrlAction) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", step, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", step, got, want)
			}
		}
	}
	S, D, L := rrlSend, rrlDrop, rrlSlip
	want("a burst of rate, then every second one over it slipped", take(9), S, S, S, S, S, D, L, D, L)
	now += int64(200 * time.Millisecond)
	want("a token every 1/rate", take(3), S, D, L)
	now += int64(100 * time.Millisecond)
	want("half a token is none", take(1), D)
	now += int64(10 * time.Second)
	want("full again after a quiet while, and no more than full", take(7), S, S, S, S, S, L, D)

	rl = NewRateLimiter(2, 0, nil)
	now = 0
	want("slip 0: everything over the limit dropped", take(5), S, S, D, D, D)
	rl = NewRateLimiter(2, 1, nil)
	want("slip 1: everything over the limit slipped", take(4), S, S, L, L)
}

// Who shares a bucket: the /24 of an IPv4 address, the /56 of an IPv6
// one, per kind of response.
func TestRateLimiterNetworks(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		ka, kb rrlKind
		shared bool
	}{
		{"the same /24", "192.0.2.7", "192.0.2.200", kindAnswer, kindAnswer, true},
		{"another /24", "192.0.2.7", "192.0.3.7", kindAnswer, kindAnswer, false},
		{"an IPv4-mapped address is its IPv4 address", "::ffff:192.0.2.9", "192.0.2.7", kindAnswer, kindAnswer, true},
		{"the same /56", "2001:db8:1:ff00::1", "2001:db8:1:ffff:1::9", kindAnswer, kindAnswer, true},
		{"another /56", "2001:db8:1:ff00::1", "2001:db8:1:fe00::1", kindAnswer, kindAnswer, false},
		{"IPv4 and IPv6 of the same bits", "192.0.2.7", "c000:200::", kindAnswer, kindAnswer, false},
		{"answers and NXDOMAIN/NODATA", "192.0.2.7", "192.0.2.7", kindAnswer, kindNegative, false},
		{"answers and errors", "192.0.2.7", "192.0.2.7", kindAnswer, kindError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := NewRateLimiter(3, 0, nil)
			for range 3 {
				rl.take(netip.MustParseAddr(tt.a), tt.ka, 0)
			}
			got := rl.take(netip.MustParseAddr(tt.b), tt.kb, 0)
			if (got == rrlDrop) != tt.shared {
				t.Errorf("after a's burst, b gets %v; shared bucket: want %v", got, tt.shared)
			}
		})
	}
}

// A flood from a million spoofed random sources, all at one instant,
// neither grows the table (its size is fixed) nor frees the victim of
// a reflection attack from its limit, nor stops a new source from
// being answered; and it allocates nothing.
func TestRateLimiterRandomFlood(t *testing.T) {
	rl := NewRateLimiter(20, 2, nil)
	victim := netip.MustParseAddr("198.51.100.9")
	for range 100 {
		rl.take(victim, kindAnswer, 0)
	}
	if rl.take(victim, kindAnswer, 0) == rrlSend {
		t.Fatal("the victim is not limited")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func() netip.Addr {
		if rnd.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), 1})
		}
		var a [16]byte
		for i := range 8 {
			a[i] = byte(rnd.Uint32())
		}
		return netip.AddrFrom16(a)
	}
	sources := make([]netip.Addr, 1<<20)
	for i := range sources {
		sources[i] = random()
	}
	i := 0
	allocs := testing.AllocsPerRun(len(sources)-1, func() {
		rl.take(sources[i], rrlKind(i%3), 0)
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations a response", allocs)
	}
	if len(rl.sets)*rrlWays != rrlEntries {
		t.Errorf("the table has %d entries, want %d", len(rl.sets)*rrlWays, rrlEntries)
	}
	if got := rl.take(victim, kindAnswer, 0); got == rrlSend {
		t.Error("the flood of random sources freed the victim")
	}
	if got := rl.take(netip.MustParseAddr("203.0.113.1"), kindAnswer, 0); got != rrlSend {
		t.Errorf("a new source during the flood: %v, want it answered", got)
	}
}

// The handler, end to end on its clock: a source over its limit gets
// nothing or, every second time, TC; another source is answered; a
// valid server cookie is never limited; TCP is never limited.
func TestServeRateLimited(t *testing.T) {
	f, clk := limited(t, 3, 2)
	a := func(src string, opts ...opt) string {
		return outcome(f.serveRaw(t, question("download.example.org.", dns.TypeA, opts...), src, UDP))
	}
	var got []string
	for range 9 {
		got = append(got, a("192.0.2.7"))
	}
	if want := []string{"answer", "answer", "answer", "none", "TC", "none", "TC", "none", "TC"}; !equal(got, want) {
		t.Errorf("a flood: %v, want %v", got, want)
	}
	if o := a("192.0.2.99", edns(1232)); o != "none" {
		t.Errorf("the same /24 shares the limit: %s", o)
	}
	if o := a("192.0.3.7"); o != "answer" {
		t.Errorf("another /24 during the flood: %s, want an answer", o)
	}
	// A slipped reply is the question with TC and an OPT, nothing else.
	var tc *dns.Msg
	for tc == nil {
		tc = f.serveRaw(t, question("download.example.org.", dns.TypeA, edns(1232), ecs("81.1.0.0/24")), "192.0.2.7", UDP)
	}
	if !tc.Truncated || tc.Authoritative || len(tc.Answer)+len(tc.Ns) != 0 || len(tc.Extra) != 1 || tc.IsEdns0() == nil || len(tc.Question) != 1 {
		t.Errorf("the slipped reply:\n%v", tc)
	}
	// TCP is not limited.
	if r := f.serveRaw(t, question("download.example.org.", dns.TypeA), "192.0.2.7", TCP); outcome(r) != "answer" {
		t.Errorf("over TCP: %s", outcome(r))
	}
	// NXDOMAIN and errors have buckets of their own.
	if o := outcome(f.serveRaw(t, question("nope.example.org.", dns.TypeA), "192.0.2.7", UDP)); o != "reply" {
		t.Errorf("NXDOMAIN while answers are limited: %s", o)
	}
	if o := outcome(f.serveRaw(t, question("www.example.net.", dns.TypeA), "192.0.2.7", UDP)); o != "reply" {
		t.Errorf("REFUSED while answers are limited: %s", o)
	}
	// A token a third of a second later.
	clk.advance(time.Second / 3)
	if o := a("192.0.2.7"); o != "answer" {
		t.Errorf("after 1/rate: %s, want an answer", o)
	}
	m := f.h.Metrics()
	if d, s := m.rrl[kindAnswer][rrlDrop].Load(), m.rrl[kindAnswer][rrlSlip].Load(); d != 4 || s != 4 {
		t.Errorf("counted %d dropped and %d slipped answers, want 4 and 4", d, s)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A limited query with a client cookie slips as BADCOOKIE with a new
// server cookie (RFC 7873 section 5.2.3, as BIND does): the client asks
// again with it at once, is answered, and is then never limited; a
// spoofer never sees the cookie, which is bound to the address.
func TestServeRateLimitedCookies(t *testing.T) {
	f, _ := limited(t, 2, 1)
	const client = "2464c4abcf10c957"
	src := "192.0.2.7"
	ask := func(src, cookie string) *dns.Msg {
		return f.serveRaw(t, question("download.example.org.", dns.TypeA, withCookie(cookie)), src, UDP)
	}
	var got []string
	var bad *dns.Msg
	for range 4 {
		r := ask(src, client)
		got = append(got, outcome(r))
		if outcome(r) == "BADCOOKIE" {
			bad = r
		}
	}
	if want := []string{"answer", "answer", "BADCOOKIE", "BADCOOKIE"}; !equal(got, want) {
		t.Fatalf("a client cookie over the limit: %v, want %v", got, want)
	}
	c := cookieOf(bad)
	if len(c) != 48 || c[:16] != client || bad.Truncated || len(bad.Answer) != 0 {
		t.Fatalf("BADCOOKIE must carry the client cookie and a new server cookie:\n%v", bad)
	}
	for i := range 50 {
		if r := ask(src, c); outcome(r) != "answer" {
			t.Fatalf("query %d with the valid server cookie: %s, want an answer", i, outcome(r))
		}
	}
	// The same cookie from another address of the /24 (a spoofer who
	// guessed it) proves nothing.
	if o := outcome(ask("192.0.2.8", c)); o != "BADCOOKIE" {
		t.Errorf("the cookie from another address: %s, want it limited", o)
	}
}

// Exempt sources (loopback by default in mirrorsteer dnsd) are never
// limited.
func TestServeRateLimitExempt(t *testing.T) {
	f := newFixture(t, nil)
	f.clock()
	f.h.Defend(Defences{RateLimit: NewRateLimiter(1, 2, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})})
	for _, src := range []string{"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"} {
		for i := range 10 {
			if r := f.serveRaw(t, question("download.example.org.", dns.TypeA), src, UDP); outcome(r) != "answer" {
				t.Fatalf("%s, query %d: %s", src, i, outcome(r))
			}
		}
	}
	if o := outcome(f.serveRaw(t, question("download.example.org.", dns.TypeA), "192.0.2.1", UDP)); o != "answer" {
		t.Fatalf("first query of another source: %s", o)
	}
	if o := outcome(f.serveRaw(t, question("download.example.org.", dns.TypeA), "192.0.2.1", UDP)); o == "answer" {
		t.Fatalf("another source is limited: %s", o)
	}
}

// Readers on several cores share the table: at one instant, a burst of
// exactly rate answers leaves, however the queries interleave.
func TestServeRateLimitedConcurrent(t *testing.T) {
	const rate, readers, each = 50, 4, 500
	f, _ := limited(t, rate, 0)
	wire, err := question("download.example.org.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := NewScratch()
			src := netip.AddrFrom4([4]byte{198, 51, 100, byte(r)})
			for range each {
				if f.h.Serve(s, nil, wire, src, UDP) != nil {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if sent.Load() != rate {
		t.Errorf("%d answers left, want the burst of %d", sent.Load(), rate)
	}
}

// Answering stays free of allocations with cookies and rate limits.
func TestServeDefencesAllocateNothing(t *testing.T) {
	f, _ := limited(t, 5, 2)
	client := question("download.example.org.", dns.TypeA, withCookie("2464c4abcf10c957"))
	r := f.serveRaw(t, client, "192.0.2.7", UDP)
	valid := question("download.example.org.", dns.TypeA, withCookie(cookieOf(r)))
	for _, c := range []struct {
		name string
		m    *dns.Msg
	}{
		{"a client cookie, limited", client},
		{"a valid server cookie", valid},
		{"no cookie, limited", question("download.example.org.", dns.TypeA)},
	} {
		wire, err := c.m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		s, dst, src := NewScratch(), make([]byte, 0, 512), netip.MustParseAddr("192.0.2.7")
		if n := testing.AllocsPerRun(200, func() { f.h.Serve(s, dst, wire, src, UDP) }); n != 0 {
			t.Errorf("%s: %v allocations a query", c.name, n)
		}
	}
}
