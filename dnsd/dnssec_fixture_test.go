package dnsd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// The key pairs of testdata/keys, as dnssec-keygen wrote them.
const (
	ksk13  = "keys/Kexample.org.+013+10676" // KSK, ECDSAP256SHA256
	zsk13  = "keys/Kexample.org.+013+18081" // ZSK
	zsk13b = "keys/Kexample.org.+013+52474" // ZSK, for rollovers
	ksk13b = "keys/Kexample.org.+013+57393" // KSK, for rollovers
	ksk15  = "keys/Kexample.org.+015+40578" // KSK, ED25519
	zsk15  = "keys/Kexample.org.+015+06950" // ZSK
)

// signedDir writes testdata's mirrors.toml and zone file into a
// directory with a [dns.dnssec] table of the given keys and extra lines,
// and returns mirrors.toml's path. Keys of testdata/keys ("keys/K...")
// are copied beside it and named relative to it, as an operator would;
// absolute paths are named as they are.
func signedDir(t testing.TB, sign, publish []string, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	list := func(ps []string) string {
		var q []string
		for _, p := range ps {
			if !filepath.IsAbs(p) {
				for _, ext := range []string{".key", ".private"} {
					b, err := os.ReadFile(filepath.Join("testdata", p+ext))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, p+ext), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			q = append(q, fmt.Sprintf("%q", p))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, f := range []string{"mirrors.toml", "example.org.zone"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "mirrors.toml" {
			b = fmt.Appendf(b, "\n[dns.dnssec]\nkeys = %s\npublish = %s\n%s", list(sign), list(publish), extra)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "mirrors.toml")
}

// signedInputs loads a signed variant of testdata/mirrors.toml, its zone
// file and keys, as the Loader does.
func signedInputs(t testing.TB, sign, publish []string) Inputs {
	t.Helper()
	var in Inputs
	inv, err := inventory.Load(signedDir(t, sign, publish, ""), func(inv *inventory.Inventory) inventory.Errors {
		var errs, kerrs inventory.Errors
		in.Records, errs = ReadZoneFile(inv)
		in.Keys, kerrs = ReadKeys(inv)
		return append(errs, kerrs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Inventory = inv
	return in
}

// signedAt is when the signed fixtures are signed.
var signedAt = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// newSignedFixture is newFixture with the zone signed at signedAt by
// the given keys (ksk13 and zsk13 when none).
func newSignedFixture(t testing.TB, sign ...string) *fixture {
	t.Helper()
	if len(sign) == 0 {
		sign = []string{ksk13, zsk13}
	}
	in := signedInputs(t, sign, nil)
	city, asn, err := geotest.Write(t.TempDir(), geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	snap := statetest.Healthy(in.Inventory, nil)
	in.Snapshot, in.GeoIP, in.HasCity, in.HasASN, in.Serial, in.Now = snap, db, true, true, 2026112301, signedAt
	z, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: NewHandler(z, nil), inv: in.Inventory, snap: snap, db: db, s: NewScratch()}
}

// do sets the DO bit (adding an OPT of 1232 when there is none).
func do(m *dns.Msg) {
	o := m.IsEdns0()
	if o == nil {
		m.SetEdns0(1232, true)
		return
	}
	o.SetDo()
}

// co sets DO and the Compact Answers OK flag (RFC 9824 4).
func co(m *dns.Msg) {
	do(m)
	m.IsEdns0().Hdr.Ttl |= 0x4000
}

// rrsetKey names an RRset of a section.
type rrsetKey struct {
	section string
	name    string
	rtype   uint16
}

// verifySigned checks that every RRset of r but the OPT has, beside it
// in its section, one RRSIG by each key that signs it (the KSKs for the
// DNSKEY set, the ZSKs for the rest) that verifies with the key and is
// valid at now, with the RRset's TTL and an original TTL at least as
// long, and no other RRSIG. It returns the RRsets it checked.
func verifySigned(t testing.TB, r *dns.Msg, ks *Keys, now time.Time) []rrsetKey {
	t.Helper()
	sets := map[rrsetKey][]dns.RR{}
	sigs := map[rrsetKey][]*dns.RRSIG{}
	var order []rrsetKey
	for _, sec := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", r.Answer}, {"authority", r.Ns}, {"additional", r.Extra}} {
		for _, rr := range sec.rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			k := rrsetKey{sec.name, strings.ToLower(h.Name), h.Rrtype}
			if s, ok := rr.(*dns.RRSIG); ok {
				k.rtype = s.TypeCovered
				sigs[k] = append(sigs[k], s)
				continue
			}
			if sets[k] == nil {
				order = append(order, k)
			}
			sets[k] = append(sets[k], rr)
		}
	}
	for k := range sigs {
		if sets[k] == nil {
			t.Errorf("%s: an RRSIG of %s %s without its RRset", k.section, k.name, dns.TypeToString[k.rtype])
		}
	}
	for _, k := range order {
		set := sets[k]
		want := ks.data
		if k.rtype == dns.TypeDNSKEY {
			want = ks.apex
		}
		got := sigs[k]
		if len(got) != len(want) {
			t.Errorf("%s %s %s: %d RRSIGs, want %d (one per key that signs it):\n%v", k.section, k.name, dns.TypeToString[k.rtype], len(got), len(want), r)
			continue
		}
		for _, key := range want {
			i := slices.IndexFunc(got, func(s *dns.RRSIG) bool { return s.KeyTag == key.Tag() })
			if i < 0 {
				t.Errorf("%s %s %s: no RRSIG by key %d", k.section, k.name, dns.TypeToString[k.rtype], key.Tag())
				continue
			}
			s := got[i]
			if err := s.Verify(key.DNSKEY, set); err != nil {
				t.Errorf("%s %s %s: the RRSIG by key %d does not verify: %v\n%v", k.section, k.name, dns.TypeToString[k.rtype], key.Tag(), err, r)
			}
			if !s.ValidityPeriod(now) {
				t.Errorf("%s %s %s: the RRSIG by key %d is not valid at %s: %v", k.section, k.name, dns.TypeToString[k.rtype], key.Tag(), now, s)
			}
			if s.Hdr.Ttl != set[0].Header().Ttl || s.OrigTtl < set[0].Header().Ttl {
				t.Errorf("%s %s %s: RRSIG TTL %d, original %d, RRset TTL %d", k.section, k.name, dns.TypeToString[k.rtype], s.Hdr.Ttl, s.OrigTtl, set[0].Header().Ttl)
			}
		}
	}
	return order
}
