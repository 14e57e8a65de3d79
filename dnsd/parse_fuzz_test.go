package dnsd

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParse is a differential test of dnsd's hand-written wire parser
// against miekg/dns: on the same bytes, query.parse and dns.Msg.Unpack
// must agree whether a message is well-formed, and on its question, its
// EDNS header, its Client Subnet option and its COOKIE option. dnsd differs from miekg/dns
// only where reference below says, each time for a reason it names:
// it is stricter where an RFC asks a server to be, and it does not look
// inside what it never uses. testdata/fuzz/FuzzParse keeps the inputs
// the fuzzer found; run it with
//
//	go test -run '^$' -fuzz '^FuzzParse$' ./dnsd/
func FuzzParse(f *testing.F) {
	for _, m := range parseSeeds() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var q query
		st := q.parse(msg)
		want := reference(msg)
		got := verdictOf(st)
		if got != want.verdict {
			t.Fatalf("dnsd says %s, miekg/dns and the rules say %s (%s)\n% x", got, want.verdict, want.why, msg)
		}
		if !want.compare {
			return
		}
		if q.hasQ != (want.question != nil) {
			t.Fatalf("%s: dnsd read a question: %v, want %v\n% x", got, q.hasQ, want.question != nil, msg)
		}
		if want.question != nil {
			wire := packName(t, want.question.Name)
			if !bytes.Equal(q.qname, wire) || !bytes.Equal(q.name(), asciiLower(wire)) || q.qtype != want.question.Qtype || q.qclass != want.question.Qclass {
				t.Fatalf("%s: question %q (%q) %d %d, miekg/dns %v\n% x", got, q.qname, q.name(), q.qtype, q.qclass, want.question, msg)
			}
			for i := range q.nlabels {
				if !bytes.Equal(q.suffix(i), asciiLower(wire[labelOffset(wire, i):])) {
					t.Fatalf("%s: label %d of %q at the wrong offset", got, i, wire)
				}
			}
		}
		if q.edns != (want.opt != nil) {
			t.Fatalf("%s: dnsd read an OPT: %v, want %v\n% x", got, q.edns, want.opt != nil, msg)
		}
		if o := want.opt; o != nil && (q.udpSize != o.UDPSize() || q.do != o.Do()) {
			t.Fatalf("%s: EDNS payload %d DO %v, miekg/dns %d %v\n% x", got, q.udpSize, q.do, o.UDPSize(), o.Do(), msg)
		}
		if got != verdictOK {
			return
		}
		if q.ecs != (want.ecs != nil) {
			t.Fatalf("dnsd read an ECS option: %v, want %v\n% x", q.ecs, want.ecs != nil, msg)
		}
		if e := want.ecs; e != nil {
			addr, _ := netip.AddrFromSlice(e.Address)
			if e.Family == 1 {
				addr = addr.Unmap()
			}
			if q.ecsFamily != e.Family || q.ecsSource != e.SourceNetmask || q.ecsAddr != addr || !bytes.Equal(q.ecsRaw, want.ecsRaw) {
				t.Fatalf("ECS %d %s/%d % x, miekg/dns %d %s/%d % x\n% x", q.ecsFamily, q.ecsAddr, q.ecsSource, q.ecsRaw, e.Family, addr, e.SourceNetmask, want.ecsRaw, msg)
			}
		}
		if q.cookie != (want.cookie != nil) {
			t.Fatalf("dnsd read a COOKIE option: %v, want %v\n% x", q.cookie, want.cookie != nil, msg)
		}
		if c := want.cookie; c != nil {
			if got := hex.EncodeToString(q.clientCookie[:]) + hex.EncodeToString(q.serverCookie); got != c.Cookie {
				t.Fatalf("COOKIE %s, miekg/dns %s\n% x", got, c.Cookie, msg)
			}
		}
		// And dns.Msg.Unpack on the very bytes, when it takes them.
		var m dns.Msg
		if m.Unpack(msg) != nil {
			return
		}
		if len(m.Question) != 1 || m.Question[0] != *want.question {
			t.Fatalf("dns.Msg.Unpack: question %v, the reference %v\n% x", m.Question, want.question, msg)
		}
		if e := subnetOf(m.IsEdns0()); (e != nil) != q.ecs || (e != nil && (e.Family != q.ecsFamily || e.SourceNetmask != q.ecsSource)) {
			t.Fatalf("dns.Msg.Unpack: ECS %v, dnsd %v %s/%d\n% x", e, q.ecs, q.ecsAddr, q.ecsSource, msg)
		}
	})
}

type verdict uint8

const (
	verdictDrop    verdict = iota // no reply
	verdictOK                     // a query to answer
	verdictFormErr                // FORMERR
	verdictNotImp                 // NOTIMP
	verdictBadVers                // BADVERS
)

func (v verdict) String() string {
	return [...]string{"drop", "ok", "FORMERR", "NOTIMP", "BADVERS"}[v]
}

func verdictOf(st parseStatus) verdict {
	switch st {
	case parsedOK:
		return verdictOK
	case parseDrop:
		return verdictDrop
	case parseNotImp:
		return verdictNotImp
	case parseBadVers:
		return verdictBadVers
	}
	return verdictFormErr // parseFormErr, parseBadECSOp
}

// expected is what dnsd must make of a message.
type expected struct {
	verdict verdict
	why     string
	// compare says that question, opt and ecs are known: the message
	// was read to its end.
	compare  bool
	question *dns.Question
	opt      *dns.OPT
	ecs      *dns.EDNS0_SUBNET
	ecsRaw   []byte            // the ECS address as sent
	cookie   *dns.EDNS0_COOKIE // the first COOKIE option
}

// rrAt is where a resource record is in a message.
type rrAt struct {
	start, typ, end int // owner, type field, end of rdata
	additional      bool
}

// reference decodes msg with miekg/dns and applies dnsd's rules:
//
//   - a message shorter than a header, or a response, gets no reply;
//   - an opcode other than QUERY is NOTIMP; its question and OPT are
//     echoed when the whole message decodes;
//   - a query has exactly one question (RFC 9619), with its type and
//     class, whose name has no compression pointer (RFC 1035 section
//     4.1.4: a pointer refers to a prior occurrence of a name, and no
//     name precedes the question);
//   - at most one OPT, in the additional section, whose owner is the
//     root, one zero octet (RFC 6891 section 6.1.1);
//   - an OPT of a version other than 0 is BADVERS, and its options are
//     not read (RFC 6891 section 6.1.3);
//   - a Client Subnet option has family 1 or 2, a source prefix no
//     longer than the family's addresses, scope 0, exactly the address
//     octets the prefix needs and no bit set beyond it, and comes once
//     (RFC 7871 sections 6 and 7.1.1);
//   - the first COOKIE option has a client cookie of 8 octets and a
//     server cookie of 8 to 32 or none, and later ones are ignored
//     (RFC 7873 section 5.2: only the first counts; 5.2.2: a wrong
//     length is FORMERR);
//   - dnsd reads no record but the OPT and no option but ECS and COOKIE, so it
//     needs their framing (names, lengths) to be right, not their
//     contents: miekg/dns decodes those parts here as opaque data.
func reference(msg []byte) expected {
	bad := func(why string, args ...any) expected {
		return expected{verdict: verdictFormErr, why: fmt.Sprintf(why, args...)}
	}
	if len(msg) < headerLen {
		return expected{verdict: verdictDrop, why: "shorter than a header"}
	}
	var hdr dns.Msg
	_ = hdr.Unpack(msg[:headerLen]) // reads the header whatever the counts say
	if hdr.Response {
		return expected{verdict: verdictDrop, why: "a response"}
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	an, ns, ar := int(binary.BigEndian.Uint16(msg[6:])), int(binary.BigEndian.Uint16(msg[8:])), int(binary.BigEndian.Uint16(msg[10:]))
	if hdr.Opcode != dns.OpcodeQuery {
		bad = func(why string, args ...any) expected {
			return expected{verdict: verdictNotImp, why: "opcode " + fmt.Sprint(hdr.Opcode) + ", and " + fmt.Sprintf(why, args...)}
		}
	} else if qd != 1 {
		return bad("%d questions", qd)
	}

	// The framing, with miekg/dns's name decoder.
	off := headerLen
	compressed := false
	for range qd {
		name, end, err := dns.UnpackDomainName(msg, off)
		if err != nil {
			return bad("question name: %v", err)
		}
		compressed = compressed || end-off != len(packName(nil, name))
		if end+4 > len(msg) {
			return bad("a question without its type and class")
		}
		off = end + 4
	}
	if qd == 1 && compressed {
		return bad("a compressed question name")
	}
	var rrs []rrAt
	for i := range an + ns + ar {
		_, end, err := dns.UnpackDomainName(msg, off)
		if err != nil {
			return bad("record %d: owner: %v", i, err)
		}
		if end+10 > len(msg) {
			return bad("record %d: truncated", i)
		}
		next := end + 10 + int(binary.BigEndian.Uint16(msg[end+8:]))
		if next > len(msg) {
			return bad("record %d: rdata runs past the end", i)
		}
		rrs = append(rrs, rrAt{start: off, typ: end, end: next, additional: i >= an+ns})
		off = next
	}

	// miekg/dns decodes a copy in which what dnsd does not read is
	// opaque: every record but the OPT is of a private type, and every
	// option but the ECS and COOKIE of a query of a local one.
	opaque := bytes.Clone(msg)
	var opt *rrAt
	version := 0
	for i := range rrs {
		r := &rrs[i]
		if !r.additional || binary.BigEndian.Uint16(msg[r.typ:]) != dns.TypeOPT {
			binary.BigEndian.PutUint16(opaque[r.typ:], 0xff00)
			continue
		}
		if opt != nil {
			return bad("a second OPT")
		}
		if msg[r.start] != 0 {
			return bad("an OPT whose owner is not the root")
		}
		opt = r
		if version = int(msg[r.typ+5]); version != 0 {
			binary.BigEndian.PutUint16(opaque[r.typ:], 0xff00)
			continue
		}
		for o := r.typ + 10; o < r.end; {
			if o+4 > r.end || o+4+int(binary.BigEndian.Uint16(msg[o+2:])) > r.end {
				return bad("an EDNS option runs past the OPT")
			}
			if code := binary.BigEndian.Uint16(msg[o:]); code != dns.EDNS0SUBNET && code != dns.EDNS0COOKIE || hdr.Opcode != dns.OpcodeQuery {
				binary.BigEndian.PutUint16(opaque[o:], 65001)
			}
			o += 4 + int(binary.BigEndian.Uint16(msg[o+2:]))
		}
	}
	var m dns.Msg
	if err := m.Unpack(opaque); err != nil {
		if hdr.Opcode == dns.OpcodeQuery && opt != nil && version == 0 {
			// The framing is right, so only the ECS option can fail.
			return bad("miekg/dns: %v", err)
		}
		panic(fmt.Sprintf("miekg/dns cannot decode a message whose parts dnsd does not read are opaque: %v\n% x", err, opaque))
	}
	e := expected{verdict: verdictOK, compare: true, opt: m.IsEdns0()}
	if qd == 1 && !compressed {
		e.question = &m.Question[0]
	}
	if opt != nil && e.opt == nil { // a version other than 0: opaque to miekg/dns
		e.opt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: binary.BigEndian.Uint16(msg[opt.typ+2:]), Ttl: binary.BigEndian.Uint32(msg[opt.typ+4:])}}
	}
	switch {
	case hdr.Opcode != dns.OpcodeQuery:
		if qd == 1 && compressed {
			e.question, e.opt = nil, nil // dnsd stops at the question
		}
		e.verdict, e.why = verdictNotImp, "opcode "+fmt.Sprint(hdr.Opcode)
		return e
	case version != 0:
		e.verdict, e.why = verdictBadVers, fmt.Sprintf("EDNS version %d", version)
		return e
	}
	var subnets []*dns.EDNS0_SUBNET
	var raw []byte
	if e.opt != nil {
		for _, o := range e.opt.Option {
			switch o := o.(type) {
			case *dns.EDNS0_SUBNET:
				subnets = append(subnets, o)
			case *dns.EDNS0_COOKIE:
				if e.cookie == nil {
					e.cookie = o
				}
			}
		}
		for o := opt.typ + 10; o < opt.end; o += 4 + int(binary.BigEndian.Uint16(msg[o+2:])) {
			if binary.BigEndian.Uint16(msg[o:]) == dns.EDNS0SUBNET {
				raw = msg[o+8 : o+4+int(binary.BigEndian.Uint16(msg[o+2:]))]
				break
			}
		}
	}
	if c := e.cookie; c != nil {
		if n := len(c.Cookie) / 2; n != 8 && (n < 16 || n > 40) {
			return bad("a COOKIE option of %d octets", n)
		}
	}
	switch {
	case len(subnets) == 0:
		return e
	case len(subnets) > 1:
		return bad("%d ECS options", len(subnets))
	}
	s := subnets[0]
	maxBits := map[uint16]int{1: 32, 2: 128}[s.Family]
	switch {
	case maxBits == 0:
		return bad("ECS family %d", s.Family)
	case int(s.SourceNetmask) > maxBits:
		return bad("ECS source prefix /%d", s.SourceNetmask)
	case s.SourceScope != 0:
		return bad("ECS scope %d in a query", s.SourceScope)
	case len(raw) != (int(s.SourceNetmask)+7)/8:
		return bad("ECS address of %d octets for /%d", len(raw), s.SourceNetmask)
	}
	a, _ := netip.AddrFromSlice(s.Address)
	if s.Family == 1 {
		a = a.Unmap()
	}
	if p := netip.PrefixFrom(a, int(s.SourceNetmask)); p.Masked().Addr() != a {
		return bad("ECS address %s has bits set beyond /%d", a, s.SourceNetmask)
	}
	e.ecs, e.ecsRaw = s, raw
	return e
}

// packName is the uncompressed wire form of a name miekg/dns decoded.
func packName(t testing.TB, name string) []byte {
	b := make([]byte, 256)
	n, err := dns.PackDomainName(name, b, 0, nil, false)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatalf("packing %q: %v", name, err)
	}
	return b[:n]
}

func asciiLower(b []byte) []byte {
	out := bytes.Clone(b)
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}

// labelOffset is where label i of a wire name starts.
func labelOffset(wire []byte, i int) int {
	off := 0
	for range i {
		off += 1 + int(wire[off])
	}
	return off
}

func subnetOf(o *dns.OPT) *dns.EDNS0_SUBNET {
	if o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				return s
			}
		}
	}
	return nil
}

// parseSeeds are messages of each kind reference distinguishes.
func parseSeeds() [][]byte {
	var seeds [][]byte
	add := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	subnet := func(family uint16, source, scope uint8, addr string) opt {
		return func(m *dns.Msg) {
			o := m.IsEdns0()
			if o == nil {
				m.SetEdns0(1232, false)
				o = m.IsEdns0()
			}
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, SourceScope: scope, Address: net.ParseIP(addr)})
		}
	}
	cookieOf := func(hexes ...string) opt {
		return func(m *dns.Msg) {
			if m.IsEdns0() == nil {
				m.SetEdns0(4096, true)
			}
			for _, h := range hexes {
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: h})
			}
		}
	}
	cookie := cookieOf("0102030405060708")
	add(question("download.example.org.", dns.TypeA))
	add(question("Download.Example.ORG.", dns.TypeAAAA, ecs("106.3.0.0/24")))
	add(question("download.example.org.", dns.TypeA, ecs("2001:db8:82::/56")))
	add(question("download.example.org.", dns.TypeA, subnet(1, 24, 8, "106.3.0.0")))
	add(question("download.example.org.", dns.TypeA, subnet(0, 0, 0, "0.0.0.0")))
	add(question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24"), ecs("81.1.0.0/16")))
	add(question("example.org.", dns.TypeSOA, cookie, ecs("81.1.2.128/25")))
	// COOKIE: with a server cookie of RFC 9018's size, and of the
	// shortest and longest allowed; a client cookie too short, one
	// with a server cookie too short and too long; a second, malformed
	// one, ignored.
	add(question("example.org.", dns.TypeSOA, cookieOf("2464c4abcf10c957010000005cf79f111f8130c3eee29480")))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c957"+strings.Repeat("ab", 8))))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c957"+strings.Repeat("ab", 32))))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c9")))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c957"+strings.Repeat("ab", 7))))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c957"+strings.Repeat("ab", 33))))
	add(question("example.org.", dns.TypeA, cookieOf("2464c4abcf10c957", "01")))
	add(question("example.org.", dns.TypeNS, func(m *dns.Msg) { m.SetEdns0(512, false); m.IsEdns0().SetVersion(1) }))
	add(question("example.org.", dns.TypeNS, edns(1232), edns(4096)))
	add(new(dns.Msg).SetNotify("example.org."))
	up := new(dns.Msg).SetUpdate("example.org.")
	rr, _ := dns.NewRR("new.example.org. 60 IN A 192.0.2.9")
	up.Insert([]dns.RR{rr})
	up.SetEdns0(1232, false)
	add(up)
	withAnswer := question("mail.example.org.", dns.TypeMX, edns(1232))
	withAnswer.Answer = []dns.RR{rr}
	add(withAnswer)
	// Names of 255 octets, the most there may be: the question, and the
	// owner of a record dnsd steps over; and an owner that points to
	// the question.
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "."
	add(question(long, dns.TypeA))
	longOwner := question("mail.example.org.", dns.TypeA)
	rr2, _ := dns.NewRR(long + " 60 IN A 192.0.2.1")
	longOwner.Answer = []dns.RR{rr2}
	add(longOwner)
	pointer := question("mail.example.org.", dns.TypeA)
	rr3, _ := dns.NewRR("mail.example.org. 60 IN A 192.0.2.1")
	pointer.Ns = []dns.RR{rr3}
	pointer.Compress = true
	add(pointer)
	longPointer := question(long[1:], dns.TypeA) // 254 octets: a label more is over
	longPointer.Answer = []dns.RR{rr2}
	longPointer.Answer[0].Header().Name = longPointer.Question[0].Name
	longPointer.Compress = true
	add(longPointer)
	// A question name that points into the header (at qdcount's zero
	// octet: the root).
	seeds = append(seeds, []byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 4, 0, 2, 0, 1})
	return seeds
}
