package dnsd

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

func TestSignedAnswers(t *testing.T) {
	f := newSignedFixture(t)
	ks := f.h.Zone().keys
	now := signedAt.Add(time.Hour)
	tests := []struct {
		name   string
		q      *dns.Msg
		rcode  int
		answer []string // "name TYPE" of the answer's RRsets, in order
		auth   []string // and of the authority's
		extra  []string // and of the additional's
		check  func(t *testing.T, r *dns.Msg)
	}{
		{"steered name, ECS: the CNAME to the chosen mirror, signed ahead", question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24"), do), 0,
			[]string{"download.example.org. CNAME"}, nil, nil, wantTarget("jp.example.net.")},
		{"steered name, source address", question("download.example.org.", dns.TypeAAAA, do), 0,
			[]string{"download.example.org. CNAME"}, nil, nil, nil},
		{"steered name, no healthy mirror: the fallback, signed ahead", question("pub.example.org.", dns.TypeA, ecs("81.1.0.0/24"), do), 0,
			[]string{"pub.example.org. CNAME"}, nil, nil, nil},
		{"preference name: its CNAME signed when asked", question("de2-fr.download.example.org.", dns.TypeA, do), 0,
			[]string{"de2-fr.download.example.org. CNAME"}, nil, nil, wantTarget("de2.example.net.")},
		{"static record", question("mail.example.org.", dns.TypeA, do), 0, []string{"mail.example.org. A"}, nil, nil, nil},
		{"zone file CNAME", question("www.example.org.", dns.TypeA, do), 0, []string{"www.example.org. CNAME"}, nil, nil, nil},
		{"SOA", question("example.org.", dns.TypeSOA, do), 0, []string{"example.org. SOA"}, nil, nil, nil},
		{"NS with the name servers' addresses, each RRset signed", question("example.org.", dns.TypeNS, do), 0,
			[]string{"example.org. NS"}, nil, []string{"ns1.example.org. A", "ns1.example.org. AAAA"}, nil},
		{"DNSKEY, signed by the KSK", question("example.org.", dns.TypeDNSKEY, do), 0, []string{"example.org. DNSKEY"}, nil, nil, func(t *testing.T, r *dns.Msg) {
			if len(r.Answer) != 3 { // two keys, one RRSIG
				t.Errorf("DNSKEY answer %v", r.Answer)
			}
		}},
		{"NODATA: the name's NSEC lists its types (RFC 9824 3.2)", question("mail.example.org.", dns.TypeTXT, do), 0, nil,
			[]string{"example.org. SOA", "mail.example.org. NSEC"}, nil, wantNSEC("mail.example.org.", "\\000.mail.example.org.", dns.TypeA, dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC)},
		{"NODATA at the apex for DS", question("example.org.", dns.TypeDS, do), 0, nil,
			[]string{"example.org. SOA", "example.org. NSEC"}, nil, wantNSEC("example.org.", "\\000.example.org.", dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY)},
		{"empty non-terminal: an NSEC of RRSIG and NSEC only (RFC 9824 3.3)", question("deep.example.org.", dns.TypeA, do), 0, nil,
			[]string{"example.org. SOA", "deep.example.org. NSEC"}, nil, wantNSEC("deep.example.org.", "\\000.deep.example.org.", dns.TypeRRSIG, dns.TypeNSEC)},
		{"no such name: compact denial, NOERROR with NXNAME (RFC 9824 3.1)", question("nope.example.org.", dns.TypeA, do), 0, nil,
			[]string{"example.org. SOA", "nope.example.org. NSEC"}, nil, wantNSEC("nope.example.org.", "\\000.nope.example.org.", dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME)},
		{"no such name, asked in capitals: the NSEC is the name's, in lower case", question("NoPe.Example.ORG.", dns.TypeA, do), 0, nil,
			[]string{"example.org. SOA", "nope.example.org. NSEC"}, nil, nil},
		{"no such name with CO: NXDOMAIN, and CO in the reply (RFC 9824 4)", question("nope.example.org.", dns.TypeA, co), dns.RcodeNameError, nil,
			[]string{"example.org. SOA", "nope.example.org. NSEC"}, nil, func(t *testing.T, r *dns.Msg) {
				if r.IsEdns0().Hdr.Ttl&0x4000 == 0 {
					t.Errorf("no CO in the reply's OPT: %v", r.IsEdns0())
				}
			}},
		{"a preference name with an unknown label does not exist", question("de2-xx.download.example.org.", dns.TypeA, do), 0, nil,
			[]string{"example.org. SOA", "de2-xx.download.example.org. NSEC"}, nil, nil},
		{"NSEC asked for", question("mail.example.org.", dns.TypeNSEC, do), 0, []string{"mail.example.org. NSEC"}, nil, nil, nil},
		{"_whoami TXT, signed when asked", question("_whoami.example.org.", dns.TypeTXT, do), 0, []string{"_whoami.example.org. TXT"}, nil, nil, nil},
		{"ANY: one RRset and its signature", question("mail.example.org.", dns.TypeANY, do), 0, []string{"mail.example.org. A"}, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.ask(t, tt.q, "127.0.0.1")
			if r.Rcode != tt.rcode || !r.Authoritative {
				t.Fatalf("rcode %s AA %v, want %s:\n%v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], r)
			}
			got := map[string][]string{}
			for _, k := range verifySigned(t, r, ks, now) {
				got[k.section] = append(got[k.section], k.name+" "+dns.TypeToString[k.rtype])
			}
			for _, s := range []struct {
				name string
				want []string
			}{{"answer", tt.answer}, {"authority", tt.auth}, {"additional", tt.extra}} {
				if !slices.Equal(got[s.name], s.want) {
					t.Errorf("%s: RRsets %q, want %q:\n%v", s.name, got[s.name], s.want, r)
				}
			}
			if o := r.IsEdns0(); o == nil || !o.Do() {
				t.Errorf("DO not echoed: %v", o)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			// Without DO the same question is answered as by an
			// unsigned zone: no RRSIG, no NSEC, NXDOMAIN for no name.
			q := tt.q.Copy()
			q.IsEdns0().Hdr.Ttl = 0
			u := f.ask(t, q, "127.0.0.1")
			for _, rr := range slices.Concat(u.Answer, u.Ns, u.Extra) {
				if ty := rr.Header().Rrtype; ty == dns.TypeRRSIG || ty == dns.TypeNSEC && tt.q.Question[0].Qtype != dns.TypeNSEC {
					t.Errorf("without DO: %s", rr)
				}
			}
			if strings.HasPrefix(tt.name, "no such name") || strings.HasPrefix(tt.name, "a preference name with") {
				if u.Rcode != dns.RcodeNameError {
					t.Errorf("without DO: rcode %s, want NXDOMAIN", dns.RcodeToString[u.Rcode])
				}
			}
		})
	}
}

func wantTarget(host string) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		if got := target(r); got != host {
			t.Errorf("CNAME target %s, want %s", got, host)
		}
	}
}

// wantNSEC checks the reply's NSEC: owner, next name and types.
func wantNSEC(owner, next string, types ...uint16) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		for _, rr := range r.Ns {
			if n, ok := rr.(*dns.NSEC); ok {
				if n.Hdr.Name != owner || n.NextDomain != next || !slices.Equal(n.TypeBitMap, types) || n.Hdr.Ttl != 300 {
					t.Errorf("NSEC %s, want %s %s %v with TTL 300", n, owner, next, types)
				}
				return
			}
		}
		t.Errorf("no NSEC in %v", r.Ns)
	}
}

func TestNXNAMEQueryIsFormErr(t *testing.T) {
	// RFC 9824 3.5: NXNAME is a meta type, never asked for.
	for _, f := range []*fixture{newFixture(t, nil), newSignedFixture(t)} {
		if r := f.ask(t, question("example.org.", dns.TypeNXNAME, do), "127.0.0.1"); r.Rcode != dns.RcodeFormatError {
			t.Errorf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
		}
	}
}

func TestSignedWithEveryAlgorithmAndRole(t *testing.T) {
	tests := []struct {
		name       string
		sign       []string
		dnskeyTags []uint16 // keys that sign the DNSKEY set
		dataTags   []uint16 // and the rest
	}{
		{"KSK and ZSK, ECDSA P-256", []string{ksk13, zsk13}, []uint16{10676}, []uint16{18081}},
		{"KSK and ZSK, Ed25519", []string{ksk15, zsk15}, []uint16{40578}, []uint16{6950}},
		{"a CSK alone signs everything", []string{ksk15}, []uint16{40578}, []uint16{40578}},
		{"a ZSK alone signs everything", []string{zsk13}, []uint16{18081}, []uint16{18081}},
		{"two algorithms: each signs every RRset (an algorithm rollover)", []string{ksk13, zsk13, ksk15, zsk15}, []uint16{10676, 40578}, []uint16{18081, 6950}},
		{"two KSKs: both sign the DNSKEY set (a KSK rollover)", []string{ksk13, ksk13b, zsk13}, []uint16{10676, 57393}, []uint16{18081}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSignedFixture(t, tt.sign...)
			ks := f.h.Zone().keys
			tags := func(keys []*Key) []uint16 {
				var out []uint16
				for _, k := range keys {
					out = append(out, k.Tag())
				}
				return out
			}
			if !slices.Equal(tags(ks.apex), tt.dnskeyTags) || !slices.Equal(tags(ks.data), tt.dataTags) {
				t.Fatalf("DNSKEY signed by %v, the rest by %v; want %v and %v", tags(ks.apex), tags(ks.data), tt.dnskeyTags, tt.dataTags)
			}
			for _, q := range []*dns.Msg{
				question("example.org.", dns.TypeDNSKEY, do),
				question("download.example.org.", dns.TypeA, ecs("177.4.1.0/24"), do),
				question("nope.example.org.", dns.TypeA, do),
				question("example.org.", dns.TypeNS, do),
			} {
				verifySigned(t, f.ask(t, q, "127.0.0.1"), ks, signedAt)
			}
		})
	}
}

// keyDir writes key pairs made by miekg/dns, as dnssec-keygen would, for
// the cases dnssec-keygen refuses to make (a key of another zone, one
// with the REVOKE flag, one of an algorithm dnsd does not sign with).
func keyPair(t *testing.T, dir, zone string, flags uint16, alg uint8, bits int) string {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: flags, Protocol: 3, Algorithm: alg}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, alg, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
	return base
}

func TestReadKeysErrors(t *testing.T) {
	dir := t.TempDir()
	testdata, _ := filepath.Abs("testdata")
	good := filepath.Join(testdata, ksk13)
	other := keyPair(t, dir, "example.net.", 257, dns.ECDSAP256SHA256, 256)
	rsa := keyPair(t, dir, "example.org.", 257, dns.RSASHA256, 2048)
	revoked := keyPair(t, dir, "example.org.", 257|dns.REVOKE, dns.ECDSAP256SHA256, 256)
	// The public key of one pair with the private key of another.
	mixed := filepath.Join(dir, "Kmixed")
	copyFile(t, good+".key", mixed+".key")
	copyFile(t, filepath.Join(testdata, ksk13b)+".private", mixed+".private")
	noPrivate := filepath.Join(dir, "Knoprivate")
	copyFile(t, good+".key", noPrivate+".key")
	twoKeys := filepath.Join(dir, "Ktwo")
	os.WriteFile(twoKeys+".key", slices.Concat(readFile(t, good+".key"), readFile(t, filepath.Join(testdata, zsk13)+".key")), 0o644)
	copyFile(t, good+".private", twoKeys+".private")
	notKey := filepath.Join(dir, "Knotkey")
	os.WriteFile(notKey+".key", []byte("example.org. IN A 192.0.2.1\n"), 0o644)
	copyFile(t, good+".private", notKey+".private")
	sameKey := filepath.Join(dir, "Ksame")
	copyFile(t, good+".key", sameKey+".key")
	copyFile(t, good+".private", sameKey+".private")

	tests := []struct {
		name          string
		sign, publish []string
		line          int // of [dns.dnssec]: 0 its header, 1 keys, 2 publish
		want          string
	}{
		{"the files must exist", []string{filepath.Join(dir, "Knothere")}, nil, 1, "cannot read " + filepath.Join(dir, "Knothere") + ".key: no such file or directory"},
		{"the private key must be beside the public one", []string{noPrivate}, nil, 1, "dnsd needs the private key beside"},
		{"a key of another zone", []string{other}, nil, 1, "is a key of example.net., not of the zone example.org."},
		{"algorithms other than 13 and 15 are refused", []string{rsa}, nil, 1, "algorithm 8 (RSASHA256) is not one dnsd signs with; use 13 (ECDSAP256SHA256) or 15 (ED25519)"},
		{"a revoked key", []string{good, revoked}, nil, 1, "has the REVOKE flag"},
		{"the private key must be the public key's", []string{mixed}, nil, 1, "is not the private key of"},
		{"one DNSKEY a file", []string{twoKeys}, nil, 1, "want one DNSKEY record"},
		{"a file without a DNSKEY", []string{notKey}, nil, 1, "want one DNSKEY record, as dnssec-keygen writes, found example.org."},
		{"the same key twice", []string{good, sameKey}, nil, 1, "is the same key as"},
		{"some key must sign", nil, []string{good}, 0, "keys is missing"},
		{"every algorithm of the DNSKEY set signs (RFC 4035 2.2)", []string{good, filepath.Join(testdata, zsk13)}, []string{filepath.Join(testdata, zsk15)}, 0, "the DNSKEY set has algorithms 13 (ECDSAP256SHA256), 15 (ED25519) but the DNSKEY set (keys with the KSK flag, 257) would be signed with 13 (ECDSAP256SHA256) only"},
		{"a KSK of each algorithm is not enough", []string{good, filepath.Join(testdata, ksk15), filepath.Join(testdata, zsk13)}, nil, 0, "but the zone's other records (keys without the KSK flag, 256) would be signed with 13 (ECDSAP256SHA256) only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sign, publish []string
			for _, p := range tt.sign {
				sign = append(sign, strings.TrimPrefix(p, testdata+"/"))
			}
			for _, p := range tt.publish {
				publish = append(publish, strings.TrimPrefix(p, testdata+"/"))
			}
			path := signedDir(t, sign, publish, "")
			header := bytes.Count(readFile(t, filepath.Join("testdata", "mirrors.toml")), []byte("\n")) + 2
			_, err := inventory.Load(path, CheckKeys)
			es, ok := err.(inventory.Errors)
			if !ok || len(es) != 1 || !strings.Contains(es[0].Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if es[0].Line != header+tt.line {
				t.Errorf("at line %d, want %d (the key's in mirrors.toml): %v", es[0].Line, header+tt.line, es[0])
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDS(t *testing.T) {
	in := signedInputs(t, []string{ksk13, ksk13b, zsk13}, []string{zsk13b})
	var got []string
	for _, ds := range in.Keys.DS() {
		got = append(got, ds.String())
	}
	// Both KSKs sign the DNSKEY set, so both DS go to the parent.
	want := []string{dsOf(t, ksk13), dsOf(t, ksk13b)}
	if !slices.Equal(got, want) {
		t.Errorf("DS\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// dsOf is the DS record of a key of testdata/keys as dnssec-dsfromkey
// -2 wrote it beside the key (K....ds), with the TTL dnsd gives it.
func dsOf(t *testing.T, key string) string {
	f := strings.Fields(string(readFile(t, filepath.Join("testdata", key)+".ds")))
	return strings.Join([]string{f[0], "3600", f[1], f[2], strings.Join(f[3:], " ")}, "\t")
}

func TestSignatureSchedule(t *testing.T) {
	in := signedInputs(t, []string{ksk13, zsk13}, nil)
	in.Now = signedAt
	z, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	v := in.Keys.Validity
	if v != inventory.DefaultValidity {
		t.Fatalf("validity %s, want the default", v)
	}
	check := func(z *Zone, at time.Time) {
		t.Helper()
		var earliest uint32 = 1<<32 - 1
		exps := map[uint32]bool{}
		for id, sigs := range z.sigs.sets {
			for _, b := range sigs {
				rr, _, err := dns.UnpackRR(append(slices.Clone(z.zone), b...), 0)
				if err != nil {
					t.Fatal(err)
				}
				s := rr.(*dns.RRSIG)
				if s.Inception != uint32(at.Add(-time.Hour).Unix()) {
					t.Errorf("RRset %d: inception %d, want an hour before %s", id, s.Inception, at)
				}
				lo, hi := uint32(at.Add(v-v/10).Unix()), uint32(at.Add(v).Unix())
				if s.Expiration < lo || s.Expiration > hi {
					t.Errorf("RRset %d: expiration %s, want between %s and %s", id, time.Unix(int64(s.Expiration), 0), time.Unix(int64(lo), 0), time.Unix(int64(hi), 0))
				}
				exps[s.Expiration] = true
				earliest = min(earliest, s.Expiration)
			}
		}
		// Jitter: the expirations are spread, not one instant.
		if len(exps) < len(z.sigs.sets)/2 {
			t.Errorf("%d distinct expirations for %d RRsets: no jitter", len(exps), len(z.sigs.sets))
		}
		if got := z.Expires(); got.Unix() != int64(earliest) {
			t.Errorf("Expires %s, want the earliest expiration %s", got, time.Unix(int64(earliest), 0))
		}
		if got, want := z.ResignAt(), z.Expires().Add(-v/2); !got.Equal(want) {
			t.Errorf("ResignAt %s, want half the validity before the earliest expiry, %s", got, want)
		}
	}
	check(z, signedAt)
	later := z.ResignAt().Add(time.Minute)
	nz, err := z.Resign(later)
	if err != nil {
		t.Fatal(err)
	}
	check(nz, later)
	check(z, signedAt) // the zone being served is not changed
	if !nz.ResignAt().After(z.ResignAt()) {
		t.Errorf("re-signed zone due at %s, not after %s", nz.ResignAt(), z.ResignAt())
	}
}

func TestValidityFromConfig(t *testing.T) {
	var keys *Keys
	_, err := inventory.Load(signedDir(t, []string{ksk13, zsk13}, nil, `validity = "2h"`+"\n"), func(inv *inventory.Inventory) inventory.Errors {
		var errs inventory.Errors
		keys, errs = ReadKeys(inv)
		return errs
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys.Validity != 2*time.Hour {
		t.Errorf("validity %s, want 2h", keys.Validity)
	}
}

// The loader re-signs the zone it serves when it is due, and not
// before; the time is the loader's clock.
func TestLoaderResigns(t *testing.T) {
	path := signedDir(t, []string{ksk13, zsk13}, nil, `validity = "24h"`+"\n")
	var log bytes.Buffer
	l := NewLoader(Sources{Config: path}, slog.New(slog.NewTextHandler(&log, nil)), nil)
	now := signedAt
	l.clock = func() time.Time { return now }
	h, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	first := h.Zone()
	due := first.ResignAt()
	if d := due.Sub(signedAt); d < 24*time.Hour*4/10 || d > 24*time.Hour/2 {
		t.Fatalf("due after %s, want between 0.4 and 0.5 of the validity", d)
	}
	now = due.Add(-time.Second)
	if did, err := l.ResignIfDue(); did || err != nil || h.Zone() != first {
		t.Fatalf("re-signed a second early (%v, %v)", did, err)
	}
	now = due
	if did, err := l.ResignIfDue(); !did || err != nil {
		t.Fatalf("not re-signed when due (%v, %v)", did, err)
	}
	z := h.Zone()
	if z == first || !z.ResignAt().After(due) {
		t.Fatalf("served zone %p due %s after re-signing, was %p due %s", z, z.ResignAt(), first, due)
	}
	// An answer signed after the first signatures expired still
	// validates: the re-signed zone carries it.
	f := &fixture{h: h, s: NewScratch()}
	verifySigned(t, f.ask(t, question("mail.example.org.", dns.TypeA, do), "127.0.0.1"), z.keys, first.Expires().Add(time.Hour))
	if !strings.Contains(log.String(), "msg=re-signed") {
		t.Errorf("log:\n%s", log.String())
	}
}

// A reload reads the key files again: a rollover is a change of files
// and mirrors.toml, then a reload.
func TestReloadTakesNewKeys(t *testing.T) {
	path := signedDir(t, []string{ksk13, zsk13}, nil, "")
	l := NewLoader(Sources{Config: path}, slog.New(slog.DiscardHandler), nil)
	h, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	tags := func() []uint16 {
		var out []uint16
		for _, k := range h.Zone().keys.All {
			out = append(out, k.Tag())
		}
		return out
	}
	if got := tags(); !slices.Equal(got, []uint16{10676, 18081}) {
		t.Fatalf("keys %v", got)
	}
	// ZSK pre-publication: the new ZSK in publish.
	dir := filepath.Dir(path)
	for _, ext := range []string{".key", ".private"} {
		copyFile(t, filepath.Join("testdata", zsk13b+ext), filepath.Join(dir, zsk13b+ext))
	}
	b := bytes.Replace(readFile(t, path), []byte("publish = []"), fmt.Appendf(nil, "publish = [%q]", zsk13b), 1)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := tags(); !slices.Equal(got, []uint16{10676, 18081, 52474}) {
		t.Fatalf("keys after the reload %v", got)
	}
	f := &fixture{h: h, s: NewScratch()}
	r := f.ask(t, question("example.org.", dns.TypeDNSKEY, do), "127.0.0.1")
	verifySigned(t, r, h.Zone().keys, time.Now())
	if len(r.Answer) != 4 {
		t.Errorf("DNSKEY answer %v, want three keys and a signature", r.Answer)
	}
	// A key file that goes bad is a failed reload: the zone stays.
	served := h.Zone()
	copyFile(t, filepath.Join(dir, zsk13+".private"), filepath.Join(dir, zsk13b+".private"))
	if err := l.Reload(); err == nil || !strings.Contains(err.Error(), "is not the private key of") || h.Zone() != served {
		t.Errorf("reload with a wrong private key: %v", err)
	}
}

func TestSuccessor(t *testing.T) {
	apex, _ := wire("example.org.")
	long := func(first string, total int) []byte {
		// first, then 63-octet labels down to example.org., total octets.
		w := []byte{byte(len(first))}
		w = append(w, first...)
		rest := slices.Clone(apex)
		for len(w)+len(rest) < total {
			n := min(63, total-len(w)-len(rest)-1)
			rest = append(append([]byte{byte(n)}, bytes.Repeat([]byte("x"), n)...), rest...)
		}
		return append(w, rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want []byte // nil: only check that it sorts after in
	}{
		{"a short name: \\000 in front", []byte("\x04nope\x07example\x03org\x00"), []byte("\x01\x00\x04nope\x07example\x03org\x00")},
		{"254 octets: \\000 added to the first label", long("ab", 254), nil},
		{"255 octets: the last octet of the first label incremented", long("ab", 255), nil},
		{"255 octets ending in \\255: the octet before incremented, the rest dropped", long("a\xff", 255), nil},
		{"an @ goes to [: upper case sorts as lower case", long("a@", 255), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.in) != 0 && len(tt.in) > maxName {
				t.Fatalf("test name of %d octets", len(tt.in))
			}
			got := successor(tt.in, apex)
			if tt.want != nil && !bytes.Equal(got, tt.want) {
				t.Errorf("successor %q, want %q", got, tt.want)
			}
			if len(got) > maxName {
				t.Errorf("successor of %d octets", len(got))
			}
			a, b := nameString(tt.in), nameString(got)
			if canonicalLess(b, a) || a == b {
				t.Errorf("successor %s does not sort after %s", b, a)
			}
			// It is a name miekg/dns packs into an NSEC.
			nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: a, Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: b, TypeBitMap: []uint16{dns.TypeNSEC}}
			if _, err := blob(nsec); err != nil {
				t.Errorf("NSEC: %v", err)
			}
		})
	}
	if got := successor(long(strings.Repeat("\xff", 63), 255), apex); !bytes.Equal(got, apex) {
		t.Errorf("successor of the last name under a parent: %q, want the apex", got)
	}
}

// canonicalLess compares names in the canonical order of RFC 4034 6.1.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i := 1; i <= min(len(la), len(lb)); i++ {
		x, y := unescape(la[len(la)-i]), unescape(lb[len(lb)-i])
		if c := bytes.Compare(x, y); c != 0 {
			return c < 0
		}
	}
	return len(la) < len(lb)
}

func unescape(label string) []byte {
	w := make([]byte, 256)
	n, err := dns.PackDomainName(label+".", w, 0, nil, false)
	if err != nil || n < 2 {
		return []byte(label)
	}
	return w[1 : 1+int(w[0])]
}

// Positive answers of a signed zone cost no signing and no allocation:
// their signatures are copied as the records are.
func TestSignedAnswersDoNotAllocate(t *testing.T) {
	f := newSignedFixture(t)
	for _, q := range []*dns.Msg{
		question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24"), do),
		question("download.example.org.", dns.TypeA, do),
		question("mail.example.org.", dns.TypeA, do),
		question("example.org.", dns.TypeNS, do),
		question("example.org.", dns.TypeDNSKEY, do),
		question("mail.example.org.", dns.TypeTXT, do), // NODATA
	} {
		wire := mustPack(t, q)
		s, dst := NewScratch(), make([]byte, 0, 1500)
		src := netip.MustParseAddr("127.0.0.1")
		if n := testing.AllocsPerRun(100, func() { f.h.Serve(s, dst, wire, src, UDP) }); n != 0 {
			t.Errorf("%s %s: %v allocations a query", q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], n)
		}
	}
}

func TestDNSSECMetrics(t *testing.T) {
	collect := func(h *Handler) map[string]float64 {
		ch := make(chan prometheus.Metric, 10)
		h.DNSSECCollector().Collect(ch)
		close(ch)
		out := map[string]float64{}
		for m := range ch {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			name := m.Desc().String()
			name = name[strings.Index(name, `"`)+1:]
			out[name[:strings.Index(name, `"`)]] = d.GetGauge().GetValue()
		}
		return out
	}
	if got := collect(newFixture(t, nil).h); len(got) != 0 {
		t.Errorf("unsigned zone: %v, want no metric", got)
	}
	f := newSignedFixture(t)
	z := f.h.Zone()
	want := map[string]float64{
		"dnsd_dnssec_expiry_timestamp_seconds": float64(z.Expires().Unix()),
		"dnsd_dnssec_resign_timestamp_seconds": float64(z.ResignAt().Unix()),
	}
	if got := collect(f.h); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}
