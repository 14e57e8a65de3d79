package layout_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

func load(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load("../../mirrors.toml")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		name     string
		key      layout.Key
		want     string
		kind     layout.Kind
		describe string
	}{
		{"the zero key is global", layout.Key{}, "global", layout.KindGlobal, "everyone (location unknown)"},
		{"a country is its code", layout.CountryKey("DE"), "DE", layout.KindCountry, "country DE"},
		{"American Samoa is AS", layout.CountryKey("AS"), "AS", layout.KindCountry, "country AS"},
		{"an ASN is per country", layout.ASNKey(3320, "DE"), "AS3320-DE", layout.KindASN, "AS3320 in country DE"},
		{"the largest ASN", layout.ASNKey(4294967295, "US"), "AS4294967295-US", layout.KindASN, "AS4294967295 in country US"},
		{"a subdivision is its ISO 3166-2 code", layout.SubdivisionKey("US-CA"), "US-CA", layout.KindSubdivision, "subdivision US-CA"},
		{"a subdivision of American Samoa is no ASN", layout.SubdivisionKey("AS-1"), "AS-1", layout.KindSubdivision, "subdivision AS-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if tt.key.Kind() != tt.kind || tt.key.Describe() != tt.describe {
				t.Errorf("kind %d %q, want %d %q", tt.key.Kind(), tt.key.Describe(), tt.kind, tt.describe)
			}
			back, err := layout.ParseKey(tt.want)
			if err != nil || back != tt.key {
				t.Errorf("ParseKey(%q) = %v, %v; want the key back", tt.want, back, err)
			}
			if sub := tt.key.Subdivision(); (tt.kind == layout.KindSubdivision) != (sub != "") || (sub != "" && string(sub) != tt.want) {
				t.Errorf("Subdivision() = %q", sub)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		name, in string
		want     layout.Key
		err      string // part of the error; "" for none
	}{
		{"global in any case", "Global", layout.Global, ""},
		{"a country in lower case", "de", layout.CountryKey("DE"), ""},
		{"an ASN list in lower case", "as3320-de", layout.ASNKey(3320, "DE"), ""},
		{"AS alone is American Samoa", "AS", layout.CountryKey("AS"), ""},
		{"a subdivision in lower case", "us-ca", layout.SubdivisionKey("US-CA"), ""},
		{"a subdivision of three letters", "GB-ENG", layout.SubdivisionKey("GB-ENG"), ""},
		{"a subdivision of American Samoa", "as-1", layout.SubdivisionKey("AS-1"), ""},
		{"a subdivision's code is 1 to 3 characters", "US-CALI", layout.Key{}, "ISO 3166-2"},
		{"a subdivision needs its code", "US-", layout.Key{}, "ISO 3166-2"},
		{"a subdivision of an unknown country", "ZZ-AB", layout.Key{}, "unknown country code"},
		{"a subdivision is no path", "US-..", layout.Key{}, "ISO 3166-2"},
		{"an ASN needs its country", "AS3320", layout.Key{}, "AS<number>-<country>"},
		{"no leading zero", "AS03320-DE", layout.Key{}, "AS<number>-<country>"},
		{"no AS 0", "AS0-DE", layout.Key{}, "AS<number>-<country>"},
		{"no sign", "AS+3320-DE", layout.Key{}, "not global, a country"},
		{"32 bits", "AS4294967296-DE", layout.Key{}, "AS<number>-<country>"},
		{"an unknown country", "ZZ", layout.Key{}, "unknown country code"},
		{"an ASN in an unknown country", "AS3320-ZZ", layout.Key{}, "unknown country code"},
		{"a name is not a code", "Germany", layout.Key{}, "two letters"},
		{"spaces are not trimmed", " DE", layout.Key{}, "two letters"},
		{"no path", "../DE", layout.Key{}, "two letters"},
		{"no extension", "DE.txt", layout.Key{}, "two letters"},
		{"empty", "", layout.Key{}, "two letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := layout.ParseKey(tt.in)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("ParseKey(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseKey(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
		})
	}
}

// A list's client is what gen has always written it for: the key's ASN
// and country, keyed by the list's name.
func TestClient(t *testing.T) {
	tests := []struct {
		key  layout.Key
		fam  inventory.Family
		want policy.Client
	}{
		{layout.Global, inventory.IPv4, policy.Client{Key: policy.KeyString("global")}},
		{layout.CountryKey("NZ"), inventory.IPv6, policy.Client{Family: inventory.IPv6, Country: "NZ", Key: policy.KeyString("NZ")}},
		{layout.ASNKey(3320, "DE"), inventory.IPv4, policy.Client{ASN: 3320, Country: "DE", Key: policy.KeyString("AS3320-DE")}},
		{layout.SubdivisionKey("US-CA"), inventory.IPv6, policy.Client{Family: inventory.IPv6, Country: "US", Subdivision: "US-CA", Key: policy.KeyString("US-CA")}},
	}
	for _, tt := range tests {
		if got := tt.key.Client(tt.fam); got != tt.want {
			t.Errorf("%v.Client(%v) = %+v, want %+v", tt.key, tt.fam, got, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	inv := load(t)
	keys := layout.Keys(inv)
	if keys[0] != layout.Global {
		t.Errorf("the first key is %v, want global", keys[0])
	}
	all := country.All()
	for i, info := range all {
		if keys[1+i] != layout.CountryKey(info.Code) {
			t.Fatalf("key %d is %v, want country %s", 1+i, keys[1+i], info.Code)
		}
	}
	var asn, subs []string
	for _, k := range keys[1+len(all):] {
		switch k.Kind() {
		case layout.KindASN:
			if len(subs) > 0 {
				t.Fatalf("ASN key %v after a subdivision's", k)
			}
			asn = append(asn, k.String())
		case layout.KindSubdivision:
			subs = append(subs, k.String())
		default:
			t.Fatalf("key %v after the countries", k)
		}
	}
	// Each ASN some mirror declares, in each country where one of its
	// mirrors stands: the hosting company AS16276 in France and Thailand.
	want := []string{"AS680-DE", "AS1136-NL", "AS1221-AU", "AS2516-JP", "AS3209-DE", "AS3320-DE", "AS7922-US",
		"AS16276-FR", "AS16276-TH", "AS16509-SG", "AS16509-US", "AS28573-BR"}
	if !slices.Equal(asn, want) {
		t.Errorf("ASN keys %v, want %v", asn, want)
	}
	// Each subdivision where a public mirror of US, CA or AU stands
	// ([lists] subdivisions); not the private mirror's US-VA.
	if want := []string{"AU-NSW", "AU-VIC", "CA-BC", "CA-ON", "US-CA", "US-IL", "US-NY", "US-TX", "US-WA"}; !slices.Equal(subs, want) {
		t.Errorf("subdivision keys %v, want %v", subs, want)
	}
	for _, k := range keys {
		if !layout.Exists(inv, k) {
			t.Errorf("Exists(%v) is false for one of Keys", k)
		}
	}
	for _, k := range []layout.Key{layout.ASNKey(3320, "FR"), layout.ASNKey(64496, "DE"), layout.CountryKey("ZZ"), layout.ASNKey(3320, ""),
		layout.SubdivisionKey("US-VA"), layout.SubdivisionKey("US-OR"), layout.SubdivisionKey("DE-BY")} {
		if layout.Exists(inv, k) {
			t.Errorf("Exists(%v) is true; gen writes no such list", k)
		}
	}
}

func TestEdgeOrder(t *testing.T) {
	inv := load(t)
	exists := func(k layout.Key) bool { return layout.Exists(inv, k) }
	tests := []struct {
		name   string
		asn    uint32
		cc     country.Code
		sub    country.Subdivision
		tries  []string
		served string
	}{
		{"an ASN with mirrors in the country: its list", 3320, "DE", "", []string{"AS3320-DE", "DE", "global"}, "AS3320-DE"},
		{"an ASN whose mirrors are elsewhere: the country's", 3320, "FR", "", []string{"AS3320-FR", "FR", "global"}, "FR"},
		{"no ASN known: the country's", 0, "NZ", "", []string{"NZ", "global"}, "NZ"},
		{"no country known: global", 3320, "", "", []string{"global"}, "global"},
		{"nothing known: global", 0, "", "", []string{"global"}, "global"},
		{"American Samoa is a country", 64496, "AS", "", []string{"AS64496-AS", "AS", "global"}, "AS"},
		{"a subdivision with a list: its list", 0, "US", "US-CA", []string{"US-CA", "US", "global"}, "US-CA"},
		{"a subdivision without a list: the country's", 0, "US", "US-OR", []string{"US-OR", "US", "global"}, "US"},
		{"a private mirror's subdivision has no list", 0, "US", "US-VA", []string{"US-VA", "US", "global"}, "US"},
		{"an ASN list comes before the subdivision's", 7922, "US", "US-CA", []string{"AS7922-US", "US-CA", "US", "global"}, "AS7922-US"},
		{"an ASN without a list: the subdivision's", 3320, "US", "US-CA", []string{"AS3320-US", "US-CA", "US", "global"}, "US-CA"},
		{"a subdivision of another country is not tried", 0, "CA", "US-CA", []string{"CA", "global"}, "CA"},
		{"a subdivision without its country is not tried", 0, "", "US-CA", []string{"global"}, "global"},
		{"a country without subdivision lists", 0, "DE", "DE-BY", []string{"DE-BY", "DE", "global"}, "DE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tries []string
			for _, k := range layout.EdgeOrder(tt.asn, tt.cc, tt.sub) {
				tries = append(tries, k.String())
			}
			if !slices.Equal(tries, tt.tries) {
				t.Errorf("EdgeOrder = %v, want %v", tries, tt.tries)
			}
			if got := layout.Served(exists, tt.asn, tt.cc, tt.sub).String(); got != tt.served {
				t.Errorf("Served = %s, want %s", got, tt.served)
			}
		})
	}
	// An edge's spelling follows the same order and the same names; an
	// edge that does not look the subdivision up does not try it.
	if got, want := layout.EdgeNames("3320", "DE", "BY"), []string{"AS3320-DE", "DE-BY", "DE", "global"}; !slices.Equal(got, want) {
		t.Errorf("EdgeNames = %v, want %v", got, want)
	}
	if got, want := layout.EdgeNames("3320", "DE", ""), []string{"AS3320-DE", "DE", "global"}; !slices.Equal(got, want) {
		t.Errorf("EdgeNames without a subdivision = %v, want %v", got, want)
	}
	got := layout.EdgeTries(layout.EdgeDir("$top", "$repo", "$rel", "$arch"), "$fam", "$asn", "$cc", "$sub", layout.ListExt)
	want := []string{"/$top/$repo/$rel/$arch/$famAS$asn-$cc.txt", "/$top/$repo/$rel/$arch/$fam$cc-$sub.txt", "/$top/$repo/$rel/$arch/$fam$cc.txt", "/$top/$repo/$rel/$arch/$famglobal.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("EdgeTries = %v, want %v", got, want)
	}
}

func TestPaths(t *testing.T) {
	inv := load(t)
	variant := func(repo, release, arch string) *inventory.Variant {
		return &inventory.Variant{Repo: inv.Repo(repo), Release: release, Arch: arch}
	}
	de, as, ca := layout.CountryKey("DE"), layout.ASNKey(3320, "DE"), layout.SubdivisionKey("US-CA")
	tests := []struct {
		name, got, want string
	}{
		{"an rpm list", layout.ListPath(variant("baseos", "9", "x86_64"), inventory.IPv4, de), "mirrorlist/baseos/9/x86_64/DE.txt"},
		{"an IPv6 list", layout.ListPath(variant("baseos", "9", "x86_64"), inventory.IPv6, as), "mirrorlist/baseos/9/x86_64/v6/AS3320-DE.txt"},
		{"an apt list", layout.ListPath(variant("debian", "stable", "amd64"), inventory.IPv4, layout.Global), "apt/debian/stable/amd64/global.txt"},
		{"a repo without releases", layout.ListPath(variant("arch", "", "x86_64"), inventory.IPv6, de), "pacman/arch/x86_64/v6/DE.txt"},
		{"plain URLs", layout.ListPath(variant("isos", "10", "aarch64"), inventory.IPv4, de), "urls/isos/10/aarch64/DE.txt"},
		{"a list directory", layout.ListDir(variant("appstream", "10", "aarch64")), "mirrorlist/appstream/10/aarch64"},
		{"a metalink", layout.MetalinkPath(variant("baseos", "9", "x86_64"), inventory.IPv6, as), "metalink/baseos/9/x86_64/v6/AS3320-DE.xml"},
		{"a subdivision's list", layout.ListPath(variant("baseos", "9", "x86_64"), inventory.IPv6, ca), "mirrorlist/baseos/9/x86_64/v6/US-CA.txt"},
		{"a subdivision's metalink", layout.MetalinkPath(variant("baseos", "9", "x86_64"), inventory.IPv4, ca), "metalink/baseos/9/x86_64/US-CA.xml"},
		{"a metalink directory", layout.MetalinkDir(variant("baseos", "9", "x86_64")), "metalink/baseos/9/x86_64"},
		{"dnf's variables", layout.ListPath(variant("baseos", "$releasever", "$basearch"), inventory.IPv4, de), "mirrorlist/baseos/$releasever/$basearch/DE.txt"},
		{"a meta4", layout.Meta4Path("9/isos/x86_64/Example-9.iso"), "meta4/9/isos/x86_64/Example-9.iso.meta4"},
		{"a mirror's page", layout.MirrorPage("ftp.de.example.net"), "mirror/ftp.de.example.net.html"},
		{"a country's page", layout.CountryPage("NZ"), "country/NZ.html"},
		{"the IPv6 prefix", layout.FamilyPrefix(inventory.IPv6), "v6/"},
		{"no IPv4 prefix", layout.FamilyPrefix(inventory.IPv4), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// Every path layout gives a list of the example is one the tree writer
// accepts, and no two keys, variants or families share one.
func TestPathsAreDistinctAndValid(t *testing.T) {
	inv := load(t)
	seen := map[string]bool{}
	for _, v := range inv.Variants() {
		for _, fam := range inventory.Families {
			for _, k := range layout.Keys(inv) {
				for _, p := range []string{layout.ListPath(&v, fam, k), layout.MetalinkPath(&v, fam, k)} {
					if err := tree.CheckPath(p); err != nil {
						t.Fatal(err)
					}
					if seen[p] {
						t.Fatalf("%s is the path of two lists", p)
					}
					seen[p] = true
				}
			}
		}
	}
	for _, p := range []string{layout.IndexJSON, layout.MirrorsJSON, layout.StateJSON, layout.EdgeHTTP, layout.EdgeHTTPHeaders, layout.EdgeServer, layout.EdgeWorker, layout.EdgeWrangler, layout.EdgeCache, layout.IndexPage, layout.CountriesPage} {
		if seen[p] {
			t.Errorf("%s is also a list's path", p)
		}
		if err := tree.CheckPath(p); err != nil {
			t.Error(err)
		}
	}
}
