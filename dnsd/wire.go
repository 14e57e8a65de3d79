package dnsd

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
)

const (
	// headerLen is the size of a DNS message header.
	headerLen = 12
	// MaxUDP is the largest UDP answer dnsd sends, whatever the client
	// offers: the DNS Flag Day 2020 size, which avoids IP fragmentation.
	MaxUDP = 1232
)

// Header flag bits.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagCD = 1 << 4
	// flagOpcode are the opcode's four bits; QUERY is 0.
	flagOpcode = 0xf << 11
)

// parseStatus says what the handler can do with a packet.
type parseStatus uint8

const (
	parsedOK       parseStatus = iota
	parseDrop                  // too short to answer, or a response: no reply at all
	parseFormErr               // malformed: FORMERR (with the question when it was read)
	parseNotImp                // an opcode other than QUERY
	parseBadVers               // EDNS version above 0
	parseBadECSOp              // a malformed Client Subnet option: FORMERR, OPT without ECS
	parseBadCookie             // a malformed COOKIE option: FORMERR, OPT without a cookie
)

// query is a decoded question with what EDNS says about the asker. It
// refers into the packet and into its own fixed arrays: decoding does not
// allocate.
type query struct {
	id    uint16
	flags uint16
	// qname is the name as sent (its case is echoed), lname the same in
	// lower case; labels holds the offset in it of each label, and
	// nlabels how many there are (the root is not counted).
	qname   []byte
	lname   [255]byte
	nlen    int
	labels  [128]uint8
	nlabels int
	qtype   uint16
	qclass  uint16
	hasQ    bool // the question was read (for error replies)

	edns    bool
	udpSize uint16
	do      bool
	co      bool // Compact Answers OK (RFC 9824 4)

	ecs       bool
	ecsFamily uint16
	ecsSource uint8
	ecsAddr   netip.Addr // masked to ecsSource bits
	ecsRaw    []byte     // the address bytes as sent

	// cookie says a COOKIE option (RFC 7873) was read: its client
	// cookie, and its server cookie as sent (8 to 32 octets, or none).
	cookie       bool
	clientCookie [8]byte
	serverCookie []byte
	// Set by the handler from the secrets: the server cookie was
	// valid (the source address is proven), and what the reply sends.
	cookieValid bool
	sendCookie  bool
	replyCookie [16]byte
	// replyCO: the reply sets CO (the zone is signed and q set DO and
	// CO).
	replyCO bool
}

// name returns the lower-case wire form of the question name.
func (q *query) name() []byte { return q.lname[:q.nlen] }

// suffix returns the name from label i on (lower-case wire form).
func (q *query) suffix(i int) []byte { return q.lname[q.labels[i]:q.nlen] }

// parse decodes msg into q.
//
// A message with another opcode than QUERY is NOTIMP whatever it holds,
// but its question and OPT are read where they can be, so that the reply
// echoes them: the opcode and question (RFC 1035 section 4.1.1), an OPT
// for an OPT (RFC 6891 section 6.1.1).
func (q *query) parse(msg []byte) parseStatus {
	*q = query{}
	if len(msg) < headerLen {
		return parseDrop
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.flags = binary.BigEndian.Uint16(msg[2:])
	if q.flags&flagQR != 0 {
		return parseDrop
	}
	qd := binary.BigEndian.Uint16(msg[4:])
	an := binary.BigEndian.Uint16(msg[6:])
	ns := binary.BigEndian.Uint16(msg[8:])
	ar := binary.BigEndian.Uint16(msg[10:])
	notImp := q.flags&flagOpcode != 0
	bad := parseFormErr // what a malformed message gets
	if notImp {
		bad = parseNotImp
	}
	off := headerLen
	switch {
	case qd == 1:
		var ok bool
		if off, ok = q.question(msg); !ok {
			return bad
		}
	case !notImp:
		return parseFormErr
	default:
		// Not a query: step over however many questions it has.
		for range qd {
			var ok bool
			if off, ok = skipName(msg, off); !ok || off+4 > len(msg) {
				return bad
			}
			off += 4
		}
	}
	// Skip answer and authority records (a query has none, but it is not
	// an error to send them), then look for the OPT among the additional.
	for range int(an) + int(ns) {
		var ok bool
		if off, _, ok = skipRR(msg, off); !ok {
			return bad
		}
	}
	status := parsedOK
	if notImp {
		status = parseNotImp
	}
	for range ar {
		start := off
		var ok bool
		var rtype uint16
		if off, rtype, ok = skipRR(msg, off); !ok {
			return bad
		}
		if rtype != dns.TypeOPT {
			continue
		}
		if q.edns || msg[start] != 0 { // a second OPT, or one not at the root
			return bad
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(msg[start+3:])
		ttl := msg[start+5 : start+9]
		version := ttl[1]
		q.do = ttl[2]&0x80 != 0
		q.co = ttl[2]&flagCO != 0
		if notImp {
			continue // NOTIMP whatever the version and options
		}
		if version != 0 {
			status = parseBadVers
			continue
		}
		rdlen := int(binary.BigEndian.Uint16(msg[start+9:]))
		if st := q.options(msg[start+11 : start+11+rdlen]); st != parsedOK {
			status = st
		}
	}
	return status
}

// question reads the question of a message with one, and returns the
// offset after it. Its name is plain labels: there is nothing before it
// that a compression pointer could refer to (RFC 1035 section 4.1.4: a
// prior occurrence of the name).
func (q *query) question(msg []byte) (int, bool) {
	off := headerLen
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || q.nlabels == len(q.labels) {
			return 0, false
		}
		if q.nlen+1+l+1 > 255 || off+1+l > len(msg) {
			return 0, false
		}
		q.labels[q.nlabels] = uint8(q.nlen)
		q.nlabels++
		q.lname[q.nlen] = byte(l)
		for i, c := range msg[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.lname[q.nlen+1+i] = c
		}
		q.nlen += 1 + l
		off += 1 + l
	}
	q.lname[q.nlen] = 0
	q.nlen++
	q.qname = msg[headerLen:off]
	if off+4 > len(msg) {
		return 0, false
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	q.hasQ = true
	return off + 4, true
}

// options reads the EDNS options of an OPT record: Client Subnet (RFC
// 7871) and COOKIE (RFC 7873); others are ignored.
func (q *query) options(rd []byte) parseStatus {
	for len(rd) > 0 {
		if len(rd) < 4 {
			return parseFormErr
		}
		code := binary.BigEndian.Uint16(rd)
		n := int(binary.BigEndian.Uint16(rd[2:]))
		if 4+n > len(rd) {
			return parseFormErr
		}
		data := rd[4 : 4+n]
		rd = rd[4+n:]
		if code == dns.EDNS0COOKIE {
			if q.cookie {
				continue // RFC 7873 section 5.2: only the first counts
			}
			// A client cookie of 8 octets, and a server cookie of 8 to
			// 32 or none; else FORMERR (RFC 7873 section 5.2.2).
			if n != 8 && (n < 16 || n > 40) {
				return parseBadCookie
			}
			q.cookie = true
			copy(q.clientCookie[:], data)
			if n > 8 {
				q.serverCookie = data[8:]
			}
			continue
		}
		if code != dns.EDNS0SUBNET {
			continue
		}
		if q.ecs || !q.clientSubnet(data) {
			q.ecs = false
			return parseBadECSOp
		}
	}
	return parsedOK
}

// clientSubnet decodes an ECS option; false when it is malformed (RFC
// 7871 section 6: unknown family, prefix longer than the family, scope
// set in a query, address longer than the prefix needs, or bits set
// beyond the prefix).
func (q *query) clientSubnet(d []byte) bool {
	if len(d) < 4 {
		return false
	}
	fam := binary.BigEndian.Uint16(d)
	source, scope := d[2], d[3]
	addr := d[4:]
	var maxBits int
	switch fam {
	case 1:
		maxBits = 32
	case 2:
		maxBits = 128
	default:
		return false
	}
	if int(source) > maxBits || scope != 0 || len(addr) != (int(source)+7)/8 {
		return false
	}
	if source%8 != 0 && addr[len(addr)-1]&(0xff>>(source%8)) != 0 {
		return false
	}
	var b [16]byte
	copy(b[:], addr)
	var a netip.Addr
	if fam == 1 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16(b)
	}
	q.ecs, q.ecsFamily, q.ecsSource, q.ecsAddr, q.ecsRaw = true, fam, source, a, addr
	return true
}

// skipRR steps over one resource record at off and returns the offset
// after it and its type.
func skipRR(msg []byte, off int) (int, uint16, bool) {
	off, ok := skipName(msg, off)
	if !ok || off+10 > len(msg) {
		return 0, 0, false
	}
	t := binary.BigEndian.Uint16(msg[off:])
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10 + rdlen
	if off > len(msg) {
		return 0, 0, false
	}
	return off, t, true
}

// maxPointers is how many compression pointers a name may follow:
// miekg/dns's bound, enough for any name of at most 255 octets and
// short of a loop.
const maxPointers = 126

// skipName steps over a possibly compressed name and returns the offset
// after it. It checks the name as decoding it would: every pointer
// inside the message and not in a loop, labels of at most 63 octets, at
// most 255 octets in all.
func skipName(msg []byte, off int) (int, bool) {
	end, n, ptrs := -1, 0, 0
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return end, true
		case l&0xc0 == 0xc0:
			if off+2 > len(msg) {
				return 0, false
			}
			if end < 0 {
				end = off + 2
			}
			if ptrs++; ptrs > maxPointers {
				return 0, false
			}
			off = (l&0x3f)<<8 | int(msg[off+1])
		case l > 63:
			return 0, false
		default:
			if n += 1 + l; n+1 > 255 {
				return 0, false
			}
			off += 1 + l
		}
	}
}

// msgWriter appends a reply. Owner names are written as pointers into
// the question where they are a suffix of it; other names are written
// whole.
type msgWriter struct {
	b          []byte
	q          *query
	an, ns, ar uint16
	records    int // where the answer section starts
}

// start starts a reply to q in dst: the header (counts filled in by
// finish; the opcode, RD and CD copied) and the question as it was
// asked.
func (w *msgWriter) start(dst []byte, q *query, rcode int, flags uint16) {
	w.b = append(dst[:0], make([]byte, headerLen)...)
	w.q = q
	w.an, w.ns, w.ar = 0, 0, 0
	f := flagQR | flags | q.flags&(flagOpcode|flagRD|flagCD) | uint16(rcode&0xf)
	binary.BigEndian.PutUint16(w.b, q.id)
	binary.BigEndian.PutUint16(w.b[2:], f)
	if q.hasQ {
		w.b = append(w.b, q.qname...)
		w.b = binary.BigEndian.AppendUint16(w.b, q.qtype)
		w.b = binary.BigEndian.AppendUint16(w.b, q.qclass)
		binary.BigEndian.PutUint16(w.b[4:], 1)
	}
	w.records = len(w.b)
}

// owner writes name (lower-case wire form): a pointer to the question
// when the name is the question name or one of its parents, else whole.
func (w *msgWriter) owner(name []byte) {
	q := w.q
	if q.hasQ {
		for i := 0; i <= q.nlabels; i++ {
			var off int
			if i < q.nlabels {
				off = int(q.labels[i])
			} else {
				off = q.nlen - 1
			}
			if q.nlen-off == len(name) && string(q.lname[off:q.nlen]) == string(name) {
				if i == q.nlabels { // the root: one byte, no pointer needed
					break
				}
				w.b = append(w.b, 0xc0|byte((headerLen+off)>>8), byte(headerLen+off))
				return
			}
		}
	}
	w.b = append(w.b, name...)
}

// rr appends one record: owner and a precomputed type..rdata blob.
func (w *msgWriter) rr(owner, blob []byte) {
	w.owner(owner)
	w.b = append(w.b, blob...)
}

// opt appends the OPT record of a reply to an EDNS query: our payload
// size, the extended rcode, DO echoed, the Client Subnet option with
// scope when the query had one and ecs says so, and the client cookie
// with the server cookie the handler chose when the query had a cookie.
func (w *msgWriter) opt(rcode int, ecs bool, scope uint8) {
	q := w.q
	w.b = append(w.b, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), MaxUDP>>8, MaxUDP&0xff, byte(rcode>>4), 0)
	var flags byte
	if q.do {
		flags |= 0x80
	}
	if q.replyCO {
		flags |= flagCO
	}
	w.b = append(w.b, flags, 0)
	rdlen := len(w.b)
	w.b = append(w.b, 0, 0)
	if ecs {
		w.b = binary.BigEndian.AppendUint16(w.b, dns.EDNS0SUBNET)
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(4+len(q.ecsRaw)))
		w.b = binary.BigEndian.AppendUint16(w.b, q.ecsFamily)
		w.b = append(w.b, q.ecsSource, scope)
		w.b = append(w.b, q.ecsRaw...)
	}
	if q.sendCookie {
		w.b = binary.BigEndian.AppendUint16(w.b, dns.EDNS0COOKIE)
		w.b = binary.BigEndian.AppendUint16(w.b, 8+16)
		w.b = append(w.b, q.clientCookie[:]...)
		w.b = append(w.b, q.replyCookie[:]...)
	}
	binary.BigEndian.PutUint16(w.b[rdlen:], uint16(len(w.b)-rdlen-2))
	w.ar++
}

// optLen is the size of the OPT record opt writes for q with the Client
// Subnet option.
func (q *query) optLen() int {
	if !q.edns {
		return 0
	}
	n := 11
	if q.ecs {
		n += 8 + len(q.ecsRaw)
	}
	if q.sendCookie {
		n += 4 + 8 + 16
	}
	return n
}

// truncate drops every record: the reply did not fit.
func (w *msgWriter) truncate() {
	w.b = w.b[:w.records]
	w.an, w.ns, w.ar = 0, 0, 0
	w.b[2] |= flagTC >> 8
}

// finish writes the section counts.
func (w *msgWriter) finish() []byte {
	binary.BigEndian.PutUint16(w.b[6:], w.an)
	binary.BigEndian.PutUint16(w.b[8:], w.ns)
	binary.BigEndian.PutUint16(w.b[10:], w.ar)
	return w.b
}
