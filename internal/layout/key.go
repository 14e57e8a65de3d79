package layout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// Kind is what a key's clients are known by.
type Kind uint8

// The kinds of key, from the least to the most specific. A new kind (a
// region inside a country, say) is a new constant here, a case in name,
// ParseKey and Keys, and a place in edgeKinds.
const (
	KindGlobal  Kind = iota // everyone: nothing is known of the client
	KindCountry             // clients in one country
	KindASN                 // clients of one AS in one country
)

// Key names one static list: whom it is for. Its String is the list's file
// name without the extension ("global", "DE", "AS3320-DE"). The zero Key is
// Global. Keys are comparable and may be map keys.
type Key struct {
	kind Kind
	asn  uint32
	cc   country.Code
}

// Global is the key of the list for clients nothing is known of.
var Global = Key{}

// CountryKey is the key of country cc's list.
func CountryKey(cc country.Code) Key { return Key{kind: KindCountry, cc: cc} }

// ASNKey is the key of the list for clients of AS asn in country cc. An
// ASN list is per country because the policy honours an ASN match only
// near the client, and a client known by its country alone is near the
// mirrors of its own country.
func ASNKey(asn uint32, cc country.Code) Key { return Key{kind: KindASN, asn: asn, cc: cc} }

// Kind returns what k's clients are known by.
func (k Key) Kind() Kind { return k.kind }

// Country returns the country of a country or ASN key, else "".
func (k Key) Country() country.Code { return k.cc }

// ASN returns the AS number of an ASN key, else 0.
func (k Key) ASN() uint32 { return k.asn }

// String returns the key as the list's file name spells it without the
// extension: "global", "DE", "AS3320-DE".
func (k Key) String() string {
	return name(k.kind, strconv.FormatUint(uint64(k.asn), 10), string(k.cc))
}

// name is the one spelling of each kind of key, with asn and cc the
// client's AS number and country: the values of a key, or the variables
// an edge holds them in.
func name(kind Kind, asn, cc string) string {
	switch kind {
	case KindCountry:
		return cc
	case KindASN:
		return "AS" + asn + "-" + cc
	}
	return "global"
}

// Describe says whom k's list is for, in the words of a list's comment
// line: "everyone (location unknown)", "country DE", "AS3320 in country DE".
func (k Key) Describe() string {
	switch k.kind {
	case KindCountry:
		return "country " + string(k.cc)
	case KindASN:
		return fmt.Sprintf("AS%d in country %s", k.asn, k.cc)
	}
	return "everyone (location unknown)"
}

// Client returns the client gen writes k's list for, over family fam:
// what the policy knows of such a client, keyed by the list's name so the
// spread among equals is the list's own. gen and lookup both call it, so
// the same key gives the same order in both.
func (k Key) Client(fam inventory.Family) policy.Client {
	return policy.Client{Family: fam, ASN: k.asn, Country: k.cc, Key: policy.KeyString(k.String())}
}

// ParseKey parses a key as the list files spell it: "global", a country
// code ("DE"), or "AS<number>-<country>" ("AS3320-DE"). Letters may be in
// either case; the number must be written as the files write it (no sign,
// no leading zero). "AS" alone is American Samoa.
func ParseKey(s string) (Key, error) {
	if strings.EqualFold(s, "global") {
		return Global, nil
	}
	if len(s) > 2 && strings.EqualFold(s[:2], "AS") && '0' <= s[2] && s[2] <= '9' {
		num, ccs, ok := strings.Cut(s[2:], "-")
		n, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || n == 0 || strconv.FormatUint(n, 10) != num {
			return Key{}, fmt.Errorf("list key %q: an ASN list is AS<number>-<country>, e.g. AS3320-DE", s)
		}
		cc, err := parseCountry(ccs)
		if err != nil {
			return Key{}, fmt.Errorf("list key %q: %w", s, err)
		}
		return ASNKey(uint32(n), cc), nil
	}
	cc, err := parseCountry(s)
	if err != nil {
		return Key{}, fmt.Errorf("list key %q is not global, a country (DE) or AS<number>-<country> (AS3320-DE): %w", s, err)
	}
	return CountryKey(cc), nil
}

// parseCountry accepts a country code as a file name spells it: two
// letters, nothing around them.
func parseCountry(s string) (country.Code, error) {
	if len(s) != 2 {
		return "", fmt.Errorf("invalid country code %q (ISO 3166-1 alpha-2: two letters, e.g. \"DE\")", s)
	}
	return country.Parse(s)
}

// Keys returns the key of every list gen writes for inv, for every
// variant and family, in the order gen writes them: global, each country
// of the table, then each ASN some mirror declares in each country where
// one of those mirrors stands (by ASN, then country).
func Keys(inv *inventory.Inventory) []Key {
	all := country.All()
	out := make([]Key, 0, 1+len(all))
	out = append(out, Global)
	for _, info := range all {
		out = append(out, CountryKey(info.Code))
	}
	for _, asn := range inv.ASNs() {
		var ccs []country.Code
		for _, m := range inv.Mirrors {
			// An unplaced mirror stands in no country: no list is its.
			if m.Country != "" && slices.Contains(m.ASNs, asn) && !slices.Contains(ccs, m.Country) {
				ccs = append(ccs, m.Country)
			}
		}
		slices.Sort(ccs)
		for _, cc := range ccs {
			out = append(out, ASNKey(asn, cc))
		}
	}
	return out
}

// Exists reports whether gen writes a list under k for inv: whether k is
// one of Keys(inv), without making them all.
func Exists(inv *inventory.Inventory, k Key) bool {
	switch k.kind {
	case KindGlobal:
		return k == Global
	case KindCountry:
		return k.asn == 0 && k.cc.Valid()
	case KindASN:
		for _, m := range inv.Mirrors {
			if m.Country != "" && m.Country == k.cc && slices.Contains(m.ASNs, k.asn) {
				return true
			}
		}
	}
	return false
}

// edgeKinds is the order in which an edge tries a client's lists: the most
// specific first, global last, which always exists.
var edgeKinds = [...]Kind{KindASN, KindCountry, KindGlobal}

// EdgeOrder returns the keys an edge tries for a client of AS asn (0 when
// unknown) in country cc ("" when unknown), in order: AS<asn>-<cc>, <cc>,
// global. Kinds the client cannot have (no country known) are left out.
func EdgeOrder(asn uint32, cc country.Code) []Key {
	out := make([]Key, 0, len(edgeKinds))
	for _, kind := range edgeKinds {
		switch {
		case kind == KindASN && asn != 0 && cc != "":
			out = append(out, ASNKey(asn, cc))
		case kind == KindCountry && cc != "":
			out = append(out, CountryKey(cc))
		case kind == KindGlobal:
			out = append(out, Global)
		}
	}
	return out
}

// Served returns the key of the list an edge serves a client of AS asn in
// country cc: the first key of EdgeOrder(asn, cc) that has reports gen
// writes. Global always exists.
func Served(has func(Key) bool, asn uint32, cc country.Code) Key {
	for _, k := range EdgeOrder(asn, cc) {
		if has(k) {
			return k
		}
	}
	return Global
}

// EdgeNames returns the list names an edge tries, in EdgeOrder's order,
// spelled with asn and cc standing for the client's AS number and country
// (an nginx snippet's variables): "AS"+asn+"-"+cc, cc, "global".
func EdgeNames(asn, cc string) []string {
	out := make([]string, 0, len(edgeKinds))
	for _, kind := range edgeKinds {
		out = append(out, name(kind, asn, cc))
	}
	return out
}
