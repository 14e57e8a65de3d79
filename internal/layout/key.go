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

// The kinds of key. A new kind is a new constant here, a case in name,
// Describe, ParseKey, Client, Keys and Exists, and a place in edgeKinds.
const (
	KindGlobal      Kind = iota // everyone: nothing is known of the client
	KindCountry                 // clients in one country
	KindASN                     // clients of one AS in one country
	KindSubdivision             // clients in one subdivision of a country (US-CA)
)

// Key names one static list: whom it is for. Its String is the list's file
// name without the extension ("global", "DE", "AS3320-DE", "US-CA"). The
// zero Key is Global. Keys are comparable and may be map keys.
type Key struct {
	kind Kind
	asn  uint32
	cc   country.Code
	sub  string // a subdivision's code after the country's hyphen: "CA"
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

// SubdivisionKey is the key of the list for clients in subdivision s (of
// s's country): "US-CA". It cannot be mistaken for an ASN key: those have
// a digit after "AS", a subdivision a hyphen after its country.
func SubdivisionKey(s country.Subdivision) Key {
	return Key{kind: KindSubdivision, cc: s.Country(), sub: s.Code()}
}

// Kind returns what k's clients are known by.
func (k Key) Kind() Kind { return k.kind }

// Country returns the country of a country, ASN or subdivision key, else
// "".
func (k Key) Country() country.Code { return k.cc }

// Subdivision returns the subdivision of a subdivision key, else "".
func (k Key) Subdivision() country.Subdivision {
	if k.kind != KindSubdivision {
		return ""
	}
	return country.Subdivision(string(k.cc) + "-" + k.sub)
}

// ASN returns the AS number of an ASN key, else 0.
func (k Key) ASN() uint32 { return k.asn }

// String returns the key as the list's file name spells it without the
// extension: "global", "DE", "AS3320-DE", "US-CA".
func (k Key) String() string {
	return name(k.kind, strconv.FormatUint(uint64(k.asn), 10), string(k.cc), k.sub)
}

// name is the one spelling of each kind of key, with asn, cc and sub the
// client's AS number, country and subdivision (its code after the
// country's hyphen, as GeoIP spells it): the values of a key, or the
// variables an edge holds them in.
func name(kind Kind, asn, cc, sub string) string {
	switch kind {
	case KindCountry:
		return cc
	case KindASN:
		return "AS" + asn + "-" + cc
	case KindSubdivision:
		return cc + "-" + sub
	}
	return "global"
}

// Describe says whom k's list is for, in the words of a list's comment
// line: "everyone (location unknown)", "country DE", "AS3320 in country
// DE", "subdivision US-CA".
func (k Key) Describe() string {
	switch k.kind {
	case KindCountry:
		return "country " + string(k.cc)
	case KindASN:
		return fmt.Sprintf("AS%d in country %s", k.asn, k.cc)
	case KindSubdivision:
		return "subdivision " + string(k.Subdivision())
	}
	return "everyone (location unknown)"
}

// Client returns the client gen writes k's list for, over family fam:
// what the policy knows of such a client, keyed by the list's name so the
// spread among equals is the list's own. gen and lookup both call it, so
// the same key gives the same order in both.
func (k Key) Client(fam inventory.Family) policy.Client {
	return policy.Client{Family: fam, ASN: k.asn, Country: k.cc, Subdivision: k.Subdivision(), Key: policy.KeyString(k.String())}
}

// ParseKey parses a key as the list files spell it: "global", a country
// code ("DE"), "AS<number>-<country>" ("AS3320-DE") or a subdivision's
// ISO 3166-2 code ("US-CA"). Letters may be in either case; the number
// must be written as the files write it (no sign, no leading zero). "AS"
// alone is American Samoa, "AS-..." one of its subdivisions.
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
	if len(s) > 2 && s[2] == '-' {
		sub, err := country.ParseSubdivision(s)
		if err != nil {
			return Key{}, fmt.Errorf("list key %q: %w", s, err)
		}
		return SubdivisionKey(sub), nil
	}
	cc, err := parseCountry(s)
	if err != nil {
		return Key{}, fmt.Errorf("list key %q is not global, a country (DE), AS<number>-<country> (AS3320-DE) or a subdivision (US-CA): %w", s, err)
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
// of the table, each ASN some mirror declares in each country where one
// of those mirrors stands (by ASN, then country), then each subdivision
// of inv.SubdivisionLists (none unless [lists] subdivisions asks).
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
	for _, s := range inv.SubdivisionLists() {
		out = append(out, SubdivisionKey(s))
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
	case KindSubdivision:
		return slices.Contains(inv.SubdivisionLists(), k.Subdivision())
	}
	return false
}

// edgeKinds is the order in which an edge tries a client's lists: the most
// specific first, global last, which always exists. A network match comes
// before the subdivision, as the policy's ASN tier comes before its
// country tier, of which a subdivision's list is a finer order.
var edgeKinds = [...]Kind{KindASN, KindSubdivision, KindCountry, KindGlobal}

// EdgeOrder returns the keys an edge tries for a client of AS asn (0 when
// unknown) in country cc ("" when unknown) and subdivision sub ("" when
// unknown, or when the edge does not look it up), in order: AS<asn>-<cc>,
// <sub>, <cc>, global. Kinds the client cannot have (no country known, a
// subdivision of another country) are left out.
func EdgeOrder(asn uint32, cc country.Code, sub country.Subdivision) []Key {
	out := make([]Key, 0, len(edgeKinds))
	for _, kind := range edgeKinds {
		switch {
		case kind == KindASN && asn != 0 && cc != "":
			out = append(out, ASNKey(asn, cc))
		case kind == KindSubdivision && sub != "" && sub.Country() == cc:
			out = append(out, SubdivisionKey(sub))
		case kind == KindCountry && cc != "":
			out = append(out, CountryKey(cc))
		case kind == KindGlobal:
			out = append(out, Global)
		}
	}
	return out
}

// Served returns the key of the list an edge serves a client of AS asn in
// country cc and subdivision sub: the first key of EdgeOrder(asn, cc, sub)
// that has reports gen writes. Global always exists.
func Served(has func(Key) bool, asn uint32, cc country.Code, sub country.Subdivision) Key {
	for _, k := range EdgeOrder(asn, cc, sub) {
		if has(k) {
			return k
		}
	}
	return Global
}

// EdgeNames returns the list names an edge tries, in EdgeOrder's order,
// spelled with asn, cc and sub standing for the client's AS number,
// country and subdivision code (an nginx snippet's variables; sub as
// GeoIP's subdivisions.0.iso_code gives it, "CA"): "AS"+asn+"-"+cc,
// cc+"-"+sub, cc, "global". sub "" leaves the subdivision's name out, for
// an edge that does not look it up because gen writes no subdivision lists.
func EdgeNames(asn, cc, sub string) []string {
	out := make([]string, 0, len(edgeKinds))
	for _, kind := range edgeKinds {
		if kind == KindSubdivision && sub == "" {
			continue
		}
		out = append(out, name(kind, asn, cc, sub))
	}
	return out
}
