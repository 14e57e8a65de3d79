package dnsd

import (
	"bytes"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Key is one DNSSEC key of the zone, read from the pair of files
// dnssec-keygen writes (Kzone.+alg+tag.key and .private).
type Key struct {
	// File is the pair's path without .key or .private.
	File string
	// DNSKEY is the public key, owned by the zone, with TTL InfraTTL.
	DNSKEY *dns.DNSKEY
	// Sign says the key signs; else it is only in the DNSKEY set.
	Sign   bool
	signer crypto.Signer
}

// Tag is the key's key tag (RFC 4034 appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// SEP reports whether the key has the Secure Entry Point flag (257, a
// KSK or a CSK): the keys that sign the DNSKEY set.
func (k *Key) SEP() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

func (k *Key) String() string {
	role := "ZSK"
	if k.SEP() {
		role = "KSK"
	}
	use := "signing"
	if !k.Sign {
		use = "published"
	}
	return fmt.Sprintf("%d/%s/%s/%s", k.Tag(), dns.AlgorithmToString[k.DNSKEY.Algorithm], role, use)
}

// Keys are the zone's keys as [dns.dnssec] lists them, read and checked,
// and how long a signature holds.
type Keys struct {
	// All is every key, those that sign first, in file order.
	All      []*Key
	Validity time.Duration
	// apex sign the DNSKEY set: the signing keys with the SEP flag, or
	// every signing key when none has it. data sign everything else:
	// the signing keys without it, or every signing key when all have
	// it (a CSK).
	apex, data []*Key
}

// The algorithms dnsd signs with: those RFC 8624 says to use, and which
// make signatures of 64 octets.
var keyAlgorithms = []uint8{dns.ECDSAP256SHA256, dns.ED25519}

// ReadKeys reads the key files of inv's [dns.dnssec] and checks that
// they can sign the zone: each a DNSKEY of the zone, of algorithm 13
// (ECDSAP256SHA256) or 15 (ED25519), with its private key; at least one
// signing; every algorithm of the DNSKEY set used by the keys that sign
// it and by those that sign the rest (RFC 4035 section 2.2). Every error
// is at the key's file:line:column in mirrors.toml and says what to
// change. Without [dns.dnssec] it returns nil: the zone is not signed.
func ReadKeys(inv *inventory.Inventory) (*Keys, inventory.Errors) {
	d := inv.DNS
	if d == nil || d.DNSSEC == nil || d.Zone == "" {
		return nil, nil
	}
	if !slices.ContainsFunc(d.DNSSEC.Keys, func(k inventory.DNSSECKey) bool { return k.Sign }) {
		return nil, nil // the inventory says that keys is missing
	}
	ks := &Keys{Validity: d.DNSSEC.Validity}
	var errs inventory.Errors
	tags := map[uint16]*Key{}
	for _, kf := range d.DNSSEC.Keys {
		k, err := readKey(kf.Path, d.Zone)
		if err != nil {
			errs = append(errs, inv.Errorf(kf.At, "[dns.dnssec] %s", err))
			continue
		}
		k.Sign = kf.Sign
		if prev := tags[k.Tag()]; prev != nil {
			if bytes.Equal([]byte(prev.DNSKEY.PublicKey), []byte(k.DNSKEY.PublicKey)) {
				errs = append(errs, inv.Errorf(kf.At, "[dns.dnssec] %s.key is the same key as %s.key; list it once", k.File, prev.File))
			} else {
				errs = append(errs, inv.Errorf(kf.At, "[dns.dnssec] %s.key has key tag %d, as %s.key has: resolvers could not tell their signatures apart; make another key (dnssec-keygen) and use it instead", k.File, k.Tag(), prev.File))
			}
			continue
		}
		tags[k.Tag()] = k
		ks.All = append(ks.All, k)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := ks.roles(); err != "" {
		return nil, inventory.Errors{inv.Errorf("dns.dnssec", "[dns.dnssec] %s", err)}
	}
	return ks, nil
}

// CheckKeys is ReadKeys as an inventory.Check: what mirrorsteer check
// runs, so that keys dnsd would refuse fail there too.
func CheckKeys(inv *inventory.Inventory) inventory.Errors {
	_, errs := ReadKeys(inv)
	return errs
}

// roles sorts the keys into those that sign the DNSKEY set and those
// that sign the rest, or says why the keys cannot sign the zone.
func (ks *Keys) roles() string {
	var sep, other []*Key
	for _, k := range ks.All {
		if !k.Sign {
			continue
		}
		if k.SEP() {
			sep = append(sep, k)
		} else {
			other = append(other, k)
		}
	}
	if len(sep)+len(other) == 0 {
		return "keys: no key signs the zone; list at least one in keys (publish only puts keys in the DNSKEY set)"
	}
	ks.apex, ks.data = sep, other
	if len(sep) == 0 {
		ks.apex = other
	}
	if len(other) == 0 {
		ks.data = sep
	}
	// RFC 4035 2.2 (and RFC 6840 5.11): every algorithm of the DNSKEY
	// set signs every RRset, or a validator may take the zone for
	// forged.
	algs := func(keys []*Key) []uint8 {
		var a []uint8
		for _, k := range keys {
			if !slices.Contains(a, k.DNSKEY.Algorithm) {
				a = append(a, k.DNSKEY.Algorithm)
			}
		}
		slices.Sort(a)
		return a
	}
	all := algs(ks.All)
	for _, role := range []struct {
		what string
		keys []*Key
	}{{"the DNSKEY set (keys with the KSK flag, 257)", ks.apex}, {"the zone's other records (keys without the KSK flag, 256)", ks.data}} {
		if got := algs(role.keys); !slices.Equal(got, all) {
			return fmt.Sprintf("the DNSKEY set has algorithms %s but %s would be signed with %s only: every algorithm of the DNSKEY set must sign every RRset (RFC 4035 2.2); sign with a key of each algorithm, or stop publishing the other", algNames(all), role.what, algNames(got))
		}
	}
	return ""
}

func algNames(algs []uint8) string {
	var s []string
	for _, a := range algs {
		s = append(s, fmt.Sprintf("%d (%s)", a, dns.AlgorithmToString[a]))
	}
	return strings.Join(s, ", ")
}

// readKey reads path.key and path.private and checks them.
func readKey(path, zone string) (*Key, error) {
	pub, err := fileio.ReadFile(path+".key", fileio.MaxSmall)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s.key: %v; give the path of a key pair dnssec-keygen wrote (relative to mirrors.toml), e.g. \"Kexample.org.+013+12345\"", path, reason(err))
	}
	var dnskey *dns.DNSKEY
	zp := dns.NewZoneParser(bytes.NewReader(pub), zone, path+".key")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey || dnskey != nil {
			return nil, fmt.Errorf("%s.key: want one DNSKEY record, as dnssec-keygen writes, found %s", path, rr)
		}
		dnskey = k
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%s.key: %v", path, err)
	}
	if dnskey == nil {
		return nil, fmt.Errorf("%s.key has no DNSKEY record; is it a key file dnssec-keygen wrote?", path)
	}
	h := &dnskey.Hdr
	switch {
	case !strings.EqualFold(h.Name, zone):
		return nil, fmt.Errorf("%s.key is a key of %s, not of the zone %s; make one with dnssec-keygen -a ECDSAP256SHA256 %s", path, h.Name, zone, strings.TrimSuffix(zone, "."))
	case h.Class != dns.ClassINET:
		return nil, fmt.Errorf("%s.key: class %s, want IN", path, dns.ClassToString[h.Class])
	case !slices.Contains(keyAlgorithms, dnskey.Algorithm):
		return nil, fmt.Errorf("%s.key: algorithm %d (%s) is not one dnsd signs with; use 13 (ECDSAP256SHA256) or 15 (ED25519): dnssec-keygen -a ECDSAP256SHA256 %s", path, dnskey.Algorithm, dns.AlgorithmToString[dnskey.Algorithm], strings.TrimSuffix(zone, "."))
	case dnskey.Protocol != 3:
		return nil, fmt.Errorf("%s.key: protocol %d, want 3 (RFC 4034 2.1.2)", path, dnskey.Protocol)
	case dnskey.Flags&dns.REVOKE != 0:
		return nil, fmt.Errorf("%s.key has the REVOKE flag (RFC 5011): a revoked key neither signs nor is published by dnsd; remove it", path)
	case dnskey.Flags != dns.ZONE && dnskey.Flags != dns.ZONE|dns.SEP:
		return nil, fmt.Errorf("%s.key: flags %d, want 256 (a ZSK) or 257 (a KSK or CSK)", path, dnskey.Flags)
	}
	h.Name, h.Ttl = zone, InfraTTL
	priv, err := fileio.ReadFile(path+".private", fileio.MaxSmall)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s.private: %v; dnsd needs the private key beside %s.key", path, reason(err), path)
	}
	p, err := dnskey.ReadPrivateKey(bytes.NewReader(priv), path+".private")
	if err != nil {
		return nil, fmt.Errorf("%s.private: %v; is it the file dnssec-keygen wrote with %s.key?", path, err, path)
	}
	signer, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s.private: not a private key dnsd can sign with", path)
	}
	k := &Key{File: path, DNSKEY: dnskey, signer: signer}
	// miekg/dns takes an ECDSA key's public half from the DNSKEY, and
	// an Ed25519 one from the private file: a signature that verifies
	// with the DNSKEY proves that the two files are one key pair.
	probe := &dns.TXT{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: []string{"mirrorsteer key check"}}
	sig := &dns.RRSIG{Algorithm: dnskey.Algorithm, KeyTag: k.Tag(), SignerName: zone, Inception: 0, Expiration: 1<<32 - 1}
	if err := sig.Sign(signer, []dns.RR{probe}); err != nil {
		return nil, fmt.Errorf("%s.private: cannot sign with it: %v", path, err)
	}
	if err := sig.Verify(dnskey, []dns.RR{probe}); err != nil {
		return nil, fmt.Errorf("%s.private is not the private key of %s.key (a signature made with it does not verify); give the pair dnssec-keygen wrote together", path, path)
	}
	return k, nil
}

// DS returns the DS records (SHA-256, RFC 8624) of the keys that sign
// the DNSKEY set: what the parent zone must publish. During a KSK
// rollover both keys sign it, and both DS are listed.
func (ks *Keys) DS() []*dns.DS {
	var out []*dns.DS
	for _, k := range ks.apex {
		out = append(out, k.DNSKEY.ToDS(dns.SHA256))
	}
	return out
}

// Describe lists the keys in one line, for logs.
func (ks *Keys) Describe() string {
	var s []string
	for _, k := range ks.All {
		s = append(s, k.String())
	}
	return strings.Join(s, " ")
}
