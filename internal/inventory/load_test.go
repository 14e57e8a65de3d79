package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// base is the smallest inventory that uses every table. Each case below
// changes it in one place; the mistake is the only thing wrong.
const base = `[network]
name = "Test Linux"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "12h"

[policy]
min = 2
max = 4

[policy.neighbours]
NZ = ["AU"]

[dns]
zone = "example.org."
ns = { ns1 = ["192.0.2.53"] }
names = { download = "https" }

[[repo]]
name = "baseos"
path = "{release}/BaseOS/{arch}/os/"
releases = ["9"]
archs = ["x86_64"]
format = "rpm"

[[mirror]]
name = "a.example.net"
country = "DE"
https = "https://a.example.net/pub/"
dns = ["download"]
`

// edit returns base with old, which must occur exactly once, replaced.
func edit(old, new string) string {
	if n := strings.Count(base, old); n != 1 {
		panic(fmt.Sprintf("edit: %q occurs %d times in base", old, n))
	}
	return strings.Replace(base, old, new, 1)
}

// cut returns doc without the lines from the one starting with from up to
// the one starting with to.
func cut(doc, from, to string) string {
	i, j := strings.Index(doc, "\n"+from), strings.Index(doc, "\n"+to)
	if i < 0 || j < i {
		panic(fmt.Sprintf("cut: no %q before %q", from, to))
	}
	return doc[:i+1] + doc[j+1:]
}

// add returns base with text appended.
func add(text string) string { return base + text }

// mirrorB is a second, valid mirror for the cases that need two.
const mirrorB = `
[[mirror]]
name = "b.example.net"
country = "FR"
https = "https://b.example.net/pub/"
`

// position returns the 1-based line and column where at, which must occur
// exactly once, starts in doc.
func position(t *testing.T, doc, at string) (line, col int) {
	t.Helper()
	if n := strings.Count(doc, at); n != 1 {
		t.Fatalf("marker %q occurs %d times in the document", at, n)
	}
	i := strings.Index(doc, at)
	line = 1 + strings.Count(doc[:i], "\n")
	col = i - strings.LastIndexByte(doc[:i], '\n')
	return line, col
}

func parse(t *testing.T, doc string) (*Inventory, error) {
	t.Helper()
	return Parse("mirrors.toml", []byte(doc), t.TempDir())
}

func TestParseBase(t *testing.T) {
	inv, err := parse(t, base)
	if err != nil {
		t.Fatalf("the base document must load:\n%v", err)
	}
	if len(inv.Mirrors) != 1 || len(inv.Repos) != 1 {
		t.Fatalf("got %d mirrors and %d repos, want 1 and 1", len(inv.Mirrors), len(inv.Repos))
	}
}

// TestParseErrors checks that each mistake is reported once, at the
// file:line:column of the key or value that is wrong, with what to change.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		at   string   // where the error points: the first byte of this text; "" for no position
		want []string // parts of the message
	}{
		// Unknown keys.
		{"unknown key in [network] suggests the known one",
			edit(`max_lag = "12h"`, "max_lag = \"12h\"\nmaxlag = \"1h\""), `maxlag =`,
			[]string{`[network]: unknown key "maxlag" (did you mean "max_lag"?)`}},
		{"unknown key in [[mirror]] names the mirror and suggests the known key",
			add("wieght = 200\n"), `wieght`,
			[]string{`[[mirror]] "a.example.net": unknown key "wieght" (did you mean "weight"?)`}},
		{"unknown key in the second [[mirror]] names that mirror",
			add(mirrorB + "pubic = false\n"), `pubic`,
			[]string{`[[mirror]] "b.example.net": unknown key "pubic" (did you mean "public"?)`}},
		{"unknown key in [policy]",
			edit("max = 4\n", "max = 4\nmni = 1\n"), `mni`,
			[]string{`[policy]: unknown key "mni" (did you mean "min"?)`}},
		{"unknown key in [dns]",
			edit(`zone = "example.org."`, "zone = \"example.org.\"\ntll = 30"), `tll`,
			[]string{`[dns]: unknown key "tll" (did you mean "ttl"?)`}},
		{"unknown key in [[repo]]",
			edit(`format = "rpm"`, "format = \"rpm\"\narch = [\"x86_64\"]"), `arch = [`,
			[]string{`[[repo]] "baseos": unknown key "arch" (did you mean "archs"?)`}},
		{"unknown table at top level",
			add("[netwrk]\nname = \"x\"\n"), `netwrk]`,
			[]string{`top level: unknown key "netwrk" (did you mean "network"?)`}},
		{"key in the wrong case in [[mirror]]",
			add("Weight = 5\n"), `Weight`,
			[]string{`[[mirror]] "a.example.net": unknown key "Weight" (did you mean "weight"? keys are case-sensitive)`}},
		{"key in the wrong case overriding the right one",
			edit(`country = "DE"`, "country = \"DE\"\nCountry = \"FR\""), `Country`,
			[]string{`unknown key "Country" (did you mean "country"?`}},
		{"table in the wrong case",
			edit("[dns]", "[DNS]"), `DNS]`,
			[]string{`top level: unknown key "DNS" (did you mean "dns"?`}},
		{"array table in the wrong case is reported once",
			add(strings.Replace(mirrorB, "[[mirror]]", "[[Mirror]]", 1) + strings.Replace(strings.Replace(mirrorB, "[[mirror]]", "[[Mirror]]", 1), "b.example", "c.example", 2)), `Mirror]]
name = "b`,
			[]string{`top level: unknown key "Mirror" (did you mean "mirror"?`}},
		{"unknown dotted key is reported by its first unknown part",
			add("location.city = \"Berlin\"\n"), `location.city`,
			[]string{`[[mirror]] "a.example.net": unknown key "location"`, "README.md"}},
		{"unknown key far from any known key points at the reference",
			add("colour = \"red\"\n"), `colour`,
			[]string{`unknown key "colour"; see the mirrors.toml reference`}},

		// Wrong types.
		{"wrong type: weight is a string",
			add("weight = \"heavy\"\n"), `"heavy"`,
			[]string{`[[mirror]] "a.example.net": weight must be an integer, not a string`}},
		{"wrong type: max_lag is a number",
			edit(`max_lag = "12h"`, `max_lag = 12`), `12`,
			[]string{`[network]: max_lag must be a string in quotes, not an integer`}},
		{"wrong type: subnets is a string",
			add("subnets = \"192.0.2.0/24\"\n"), `"192.0.2.0/24"`,
			[]string{`subnets must be an array of strings`, "not a string"}},
		{"wrong type: an element of subnets is a number",
			add("subnets = [24]\n"), `24]`,
			[]string{`each element of subnets must be a string in quotes, not an integer`}},
		{"wrong type: a value of [dns] names is a number",
			edit(`names = { download = "https" }`, `names = { download = 443 }`), `443`,
			[]string{`[dns]: each value of names must be a string in quotes, not an integer`}},
		{"wrong type: public is a string",
			add("public = \"no\"\n"), `"no"`,
			[]string{`public must be true or false`}},
		{"wrong type: [network] written as an array table",
			edit("[network]", "[[network]]"), `network]]`,
			[]string{"network is a single table: write [network], not [[network]]"}},
		{"key defined twice",
			edit("format = \"rpm\"\n", "format = \"rpm\"\nname = \"again\"\n"), `name = "again"`,
			[]string{"already defined"}},
		{"syntax error",
			add("weight = ?\n"), "?",
			[]string{"?"}},

		// [network].
		{"network name missing", edit("name = \"Test Linux\"\n", ""), `network]`,
			[]string{`[network] name is missing; add name =`}},
		{"network origin missing", edit("origin = \"https://origin.example.org/pub/\"\n", ""), `network]`,
			[]string{`[network] origin is missing; add origin =`}},
		{"network stamp missing", edit("stamp = \"TIME\"\n", ""), `network]`,
			[]string{`[network] stamp is missing`, `stamp = "TIME"`}},
		{"network max_lag missing", edit("max_lag = \"12h\"\n", ""), `network]`,
			[]string{`[network] max_lag is missing; add e.g. max_lag = "12h"`}},
		{"network max_lag not a duration", edit(`max_lag = "12h"`, `max_lag = "12 hours"`), `max_lag`,
			[]string{`max_lag "12 hours" is not a positive duration; write e.g. "12h"`}},
		{"network max_lag negative", edit(`max_lag = "12h"`, `max_lag = "-1h"`), `max_lag`,
			[]string{`not a positive duration`}},
		{"network origin without trailing slash suggests the fixed URL",
			edit(`origin = "https://origin.example.org/pub/"`, `origin = "https://origin.example.org/pub"`), `origin =`,
			[]string{`must end with "/"`, `write "https://origin.example.org/pub/"`}},
		{"network origin not http", edit(`origin = "https://origin.example.org/pub/"`, `origin = "ftp://origin.example.org/pub/"`), `origin =`,
			[]string{`must start with http:// or https://`}},
		{"network stamp escaping", edit(`stamp = "TIME"`, `stamp = "../TIME"`), `stamp`,
			[]string{`must be a relative file path without ".."`}},

		// [policy].
		{"policy max below min", edit("max = 4", "max = 1"), `max = 1`,
			[]string{`max = 1 must be at least min (2)`}},
		{"policy min out of range", edit("min = 2", "min = 0"), `min = 0`,
			[]string{`min = 0 is out of range; use 1 to 1000`}},
		{"policy band_km negative", edit("max = 4\n", "max = 4\nband_km = -1\n"), `band_km`,
			[]string{`band_km = -1 is out of range`}},
		{"policy asn_max_km too large", edit("max = 4\n", "max = 4\nasn_max_km = 40000\n"), `asn_max_km`,
			[]string{`asn_max_km = 40000 is out of range`}},
		{"neighbours: bad code", edit(`NZ = ["AU"]`, `NZ = ["AU", "XX"]`), `"XX"`,
			[]string{`[policy] neighbours of NZ: unknown country code "XX"`}},
		{"neighbours: the country itself", edit(`NZ = ["AU"]`, `NZ = ["AU", "NZ"]`), `"NZ"`,
			[]string{`neighbours of NZ: NZ is listed twice or is the country itself; remove it`}},
		{"neighbours: listed twice", edit(`NZ = ["AU"]`, `NZ = ["AU", "SG", "AU"]`), `"AU"]`,
			[]string{`neighbours of NZ: AU is listed twice`}},
		{"neighbours: bad key", edit(`NZ = ["AU"]`, "NZ = [\"AU\"]\nUK = [\"IE\"]"), `UK`,
			[]string{`[policy] neighbours: unknown country code "UK"`, `did you mean "GB"?`}},
		{"neighbours: same key in another case", edit(`NZ = ["AU"]`, "NZ = [\"AU\"]\nnz = [\"SG\"]"), `nz`,
			[]string{`neighbours: NZ is listed twice`, "merge the lists"}},

		// [dns].
		{"dns zone with an empty label", edit(`zone = "example.org."`, `zone = "example..org."`), `zone`,
			[]string{`[dns] zone "example..org." is not a domain name`}},
		{"dns zone with a space", edit(`zone = "example.org."`, `zone = "exa mple.org"`), `zone`,
			[]string{`[dns] zone "exa mple.org" is not a domain name`}},
		{"dns ttl out of range", edit(`zone = "example.org."`, "zone = \"example.org.\"\nttl = 0"), `ttl`,
			[]string{`[dns] ttl = 0 is out of range; use 1 to 86400`}},
		{"dns ns not a host name", edit(`ns1 = [`, `"ns 1" = [`), `"ns 1"`,
			[]string{`[dns] ns "ns 1" is not a host name`}},
		{"dns ns in the zone without glue", edit(`ns1 = ["192.0.2.53"]`, `ns1 = []`), `ns1`,
			[]string{`[dns] ns "ns1" is inside the zone and needs its addresses (glue)`}},
		{"dns ns address not an IP", edit(`"192.0.2.53"`, `"192.0.2.300"`), `"192.0.2.300"`,
			[]string{`[dns] ns "ns1": "192.0.2.300" is not an IP address`}},
		{"dns ns twice in another case", edit(`ns1 = ["192.0.2.53"]`, `ns1 = ["192.0.2.53"], NS1 = ["192.0.2.54"]`), `NS1`,
			[]string{`[dns] ns "NS1" is listed twice`}},
		{"dns name not a label", edit(`download = "https" }`, `download = "https", "dl.x" = "https" }`), `"dl.x"`,
			[]string{`[dns] names: "dl.x" is not a DNS label`}},
		{"dns name with a bad protocol", edit(`download = "https" }`, `download = "https", dl = "gopher" }`), `dl =`,
			[]string{`[dns] names: dl = "gopher" is not a protocol; use "http", "https", "ftp" or "rsync"`}},
		{"dns name twice in another case", edit(`download = "https" }`, `download = "https", Download = "http" }`), `Download`,
			[]string{`[dns] names: "Download" is listed twice`}},

		// [[repo]].
		{"repo missing", cut(base, "[[repo]]", "[[mirror]]"), "",
			[]string{`no [[repo]] is defined; add at least one`}},
		{"repo name escaping out/", edit(`name = "baseos"`, `name = "../baseos"`), `name = "../baseos"`,
			[]string{`[[repo]] name "../baseos" would not be a safe file name under out/`}},
		{"repo name twice", add("\n[[repo]]\nname = \"baseos\"\npath = \"iso/\"\nformat = \"files\"\n"), "name = \"baseos\"\npath = \"iso/\"",
			[]string{`[[repo]] "baseos" is defined twice`}},
		{"release with a slash", edit(`releases = ["9"]`, `releases = ["9/x"]`), `"9/x"`,
			[]string{`[[repo]] "baseos" release "9/x" would not be a safe file name under out/`}},
		{"arch with a slash", edit(`archs = ["x86_64"]`, `archs = ["x86/64"]`), `"x86/64"`,
			[]string{`[[repo]] "baseos" arch "x86/64" would not be a safe file name`}},
		{"release listed twice", edit(`releases = ["9"]`, `releases = ["9", "9"]`), `"9"]`,
			[]string{`release "9" is listed twice`}},
		{"repo path with ..", edit(`path = "{release}/BaseOS/{arch}/os/"`, `path = "{release}/../{arch}/os/"`), `path`,
			[]string{`path "{release}/../{arch}/os/" must be relative to the base URLs and have no ".."`}},
		{"repo path absolute", edit(`path = "{release}/BaseOS/{arch}/os/"`, `path = "/{release}/BaseOS/{arch}/os/"`), `path`,
			[]string{`must be relative to the base URLs`}},
		{"repo path with an unknown placeholder", edit(`path = "{release}/BaseOS/{arch}/os/"`, `path = "{release}/BaseOS/{basearch}/os/"`), `path`,
			[]string{`has a placeholder other than {release} and {arch}`}},
		{"repo path without trailing slash", edit(`path = "{release}/BaseOS/{arch}/os/"`, `path = "{release}/BaseOS/{arch}/os"`), `path`,
			[]string{`must end with "/"`}},
		{"repo path uses {release} without releases", edit("releases = [\"9\"]\n", ""), `path`,
			[]string{`path uses {release} but releases is empty; list them`}},
		{"repo path uses {arch} without archs", edit("archs = [\"x86_64\"]\n", ""), `path`,
			[]string{`path uses {arch} but archs is empty; list them`}},
		{"repo format unknown", edit(`format = "rpm"`, `format = "yum"`), `format`,
			[]string{`format "yum" is not one of "rpm", "deb", "arch", "files"`}},
		{"repo path missing", edit("path = \"{release}/BaseOS/{arch}/os/\"\n", ""), "repo]]",
			[]string{`[[repo]] "baseos": path is missing`}},

		// [[mirror]]: names and places.
		{"mirror name missing", edit("name = \"a.example.net\"\n", ""), "mirror]]",
			[]string{`[[mirror]] name is missing; add name =`}},
		{"mirror name with a slash", edit(`name = "a.example.net"`, `name = "a.example.net/x"`), `name = "a`,
			[]string{`[[mirror]] name "a.example.net/x" would not be a safe file name under out/`}},
		{"mirror name with ..", edit(`name = "a.example.net"`, `name = "a..example.net"`), `name = "a`,
			[]string{`"a..example.net" would not be a safe file name`}},
		{"mirror name starting with a dot", edit(`name = "a.example.net"`, `name = ".a.example.net"`), `name = ".a`,
			[]string{`".a.example.net" would not be a safe file name`, "starting with a letter or digit"}},
		{"mirror name twice", add(strings.Replace(mirrorB, "b.example.net\"", "a.example.net\"", 1)), "name = \"a.example.net\"\ncountry = \"FR\"",
			[]string{`[[mirror]] "a.example.net" is defined twice; mirror names must be unique`}},
		{"mirror country written out", edit(`country = "DE"`, `country = "Germany"`), `country`,
			[]string{`[[mirror]] "a.example.net": invalid country code "Germany"`, `did you mean "DE"?`}},
		{"mirror country not assigned", edit(`country = "DE"`, `country = "UK"`), `country`,
			[]string{`unknown country code "UK"`, `did you mean "GB"?`}},
		{"mirror lat without lon", add("lat = 52.5\n"), `lat`,
			[]string{`lat without lon; give both lat and lon, or neither`}},
		{"mirror lon without lat", add("lon = 13.4\n"), `lon`,
			[]string{`lon without lat; give both`}},
		{"mirror lat out of range", add("lat = 95.0\nlon = 13.4\n"), `lat`,
			[]string{`lat/lon 95,13.4 is not a coordinate; lat is -90..90`}},

		// [[mirror]]: networks.
		{"subnet not a CIDR prefix", add("subnets = [\"192.0.2.0/24\", \"192.0.2.0/33\"]\n"), `"192.0.2.0/33"`,
			[]string{`subnet "192.0.2.0/33" is not a CIDR prefix; write e.g. "192.0.2.0/24"`}},
		{"subnet with host bits suggests the masked prefix", add("subnets = [\"192.0.2.1/24\"]\n"), `"192.0.2.1/24"`,
			[]string{`subnet "192.0.2.1/24" has host bits set; write "192.0.2.0/24"`}},
		{"IPv6 subnet with host bits", add("subnets = [\"2001:db8::1/32\"]\n"), `"2001:db8::1/32"`,
			[]string{`write "2001:db8::/32"`}},
		{"subnet file missing", add("subnet_files = [\"ranges.txt\"]\n"), `"ranges.txt"`,
			[]string{`subnet_files: cannot read`, "ranges.txt", "no such file"}},
		{"subnet file name empty", add("subnet_files = [\"\"]\n"), `""]`,
			[]string{`subnet_files "" is not a file name`}},
		{"asn zero", add("asn = 0\n"), `asn`, []string{`asn 0 is not an AS number; write asn = 3320`}},
		{"asn negative", add("asn = -1\n"), `asn`, []string{`asn -1 is not an AS number`}},
		{"asn 23456 (AS_TRANS)", add("asn = 23456\n"), `asn`, []string{`asn 23456 is not an AS number`, "not 23456"}},
		{"asn beyond 32 bits", add("asn = 4294967296\n"), `asn`, []string{`asn 4294967296 is not an AS number`}},
		{"asn string not a number", add("asn = \"ASX\"\n"), `asn`, []string{`asn "ASX" is not an AS number`}},
		{"asn float", add("asn = 3320.0\n"), `asn`, []string{`asn 3320.0 is not an AS number`}},
		{"asn bad element of a list", add("asn = [3320, 0]\n"), `0]`, []string{`asn 0 is not an AS number`}},
		{"asn listed twice", add("asn = [3320, 3209, 3320]\n"), `3320]`, []string{`asn 3320 is listed twice`}},
		{"asn listed twice in two forms", add("asn = [\"AS3320\", 3320]\n"), `3320]`, []string{`asn 3320 is listed twice`}},

		// [[mirror]]: URLs.
		{"mirror without any URL", edit("https = \"https://a.example.net/pub/\"\n", ""), "mirror]]",
			[]string{`no base URL; add at least one of http, https, ftp, rsync`}},
		{"base URL without trailing slash suggests the fixed URL", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net/pub"`), `https =`,
			[]string{`https "https://a.example.net/pub" must end with "/"`, `write "https://a.example.net/pub/"`}},
		{"base URL of a host alone suggests the fixed URL", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net"`), `https =`,
			[]string{`write "https://a.example.net/"`}},
		{"URL scheme does not match its key", edit(`https = "https://a.example.net/pub/"`, `https = "http://a.example.net/pub/"`), `https =`,
			[]string{`https "http://a.example.net/pub/" must start with https://`}},
		{"rsync URL under ftp", add("ftp = \"rsync://a.example.net/pub/\"\n"), `ftp =`,
			[]string{`must start with ftp://`}},
		{"URL with credentials", edit(`https = "https://a.example.net/pub/"`, `https = "https://user:secret@a.example.net/pub/"`), `https =`,
			[]string{`carries credentials; list only public URLs`}},
		{"URL with a query", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net/pub/?x=1"`), `https =`,
			[]string{`has a query or fragment; give the plain base URL`}},
		{"URL with a fragment", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net/pub/#top"`), `https =`,
			[]string{`has a query or fragment`}},
		{"URL without host", edit(`https = "https://a.example.net/pub/"`, `https = "https:///pub/"`), `https =`,
			[]string{`has no host`}},
		{"URL with .. segment", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net/pub/../"`), `https =`,
			[]string{`has . or .. segments`}},
		{"URL that does not parse", edit(`https = "https://a.example.net/pub/"`, `https = "https://a.example.net:port/pub/"`), `https =`,
			[]string{`is not a URL`}},
		{"URL of another mirror, in another case", add(strings.Replace(mirrorB, `"https://b.example.net/pub/"`, `"HTTPS://A.Example.NET/pub/"`, 1)), `https = "HTTPS`,
			[]string{`[[mirror]] "b.example.net": https URL HTTPS://A.Example.NET/pub/ is already the URL of mirror "a.example.net"`}},
		{"sponsor_url not http", add("sponsor_url = \"ftp://sponsor.example/\"\n"), `sponsor_url`,
			[]string{`sponsor_url "ftp://sponsor.example/" must start with http:// or https://`}},

		// [[mirror]]: the rest.
		{"weight zero", add("weight = 0\n"), `weight`, []string{`weight = 0 is out of range; use 1 to 1000000`}},
		{"weight too large", add("weight = 1000001\n"), `weight`, []string{`weight = 1000001 is out of range`}},
		{"mirror max_lag not a duration", add("max_lag = \"soon\"\n"), `max_lag = "soon"`,
			[]string{`[[mirror]] "a.example.net": max_lag "soon" is not a positive duration`}},
		{"mirror dns label not in [dns] names", edit(`dns = ["download"]`, `dns = ["download", "dl"]`), `"dl"`,
			[]string{`dns name "dl" is not in [dns] names`}},
		{"mirror dns without [dns]", cut(base, "[dns]", "[[repo]]"), `"download"]`,
			[]string{`dns = ["download"] but there is no [dns] table`}},
		{"mirror dns over a protocol it lacks", edit(`https = "https://a.example.net/pub/"`, `http = "http://a.example.net/pub/"`), `"download"]`,
			[]string{`dns name "download" is served over https but the mirror has no https URL`}},
		{"mirror dns listed twice", edit(`dns = ["download"]`, `dns = ["download", "Download"]`), `"Download"`,
			[]string{`dns name "Download" is listed twice`}},
		{"mirror repos names an unknown repo", add("repos = [\"baseos\", \"appstream\"]\n"), `"appstream"`,
			[]string{`repos lists "appstream", which no [[repo]] defines`}},
		{"mirror archs names an unknown arch", add("archs = [\"ppc64le\"]\n"), `"ppc64le"`,
			[]string{`archs lists "ppc64le", which no [[repo]] has`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc)
			if err == nil {
				t.Fatal("no error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is a %T, want Errors", err)
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			got := err.Error()
			prefix := "mirrors.toml: "
			if tt.at != "" {
				line, col := position(t, tt.doc, tt.at)
				prefix = fmt.Sprintf("mirrors.toml:%d:%d: ", line, col)
			}
			if !strings.HasPrefix(got, prefix) {
				t.Errorf("error does not start with %q:\n%s", prefix, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("error does not contain %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestParseAccepts checks forms that are valid and what they load as.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*testing.T, *Inventory)
	}{
		{"lower-case country is upper-cased", edit(`country = "DE"`, `country = "de"`), func(t *testing.T, inv *Inventory) {
			if got := inv.Mirrors[0].Country; got != "DE" {
				t.Errorf("country = %q, want DE", got)
			}
		}},
		{"lower-case neighbours are upper-cased", edit(`NZ = ["AU"]`, `nz = ["au", "sg"]`), func(t *testing.T, inv *Inventory) {
			if got := inv.Policy.Neighbours["NZ"]; !slices.Equal(got, []country.Code{"AU", "SG"}) {
				t.Errorf("neighbours of NZ = %v, want [AU SG]", got)
			}
		}},
		{"asn as an integer", add("asn = 3320\n"), wantASNs(3320)},
		{"asn as a list", add("asn = [3320, 3209]\n"), wantASNs(3209, 3320)},
		{"asn as an AS string", add("asn = \"AS3320\"\n"), wantASNs(3320)},
		{"asn as strings and integers mixed", add("asn = [\"as3320\", 680, \"3209\"]\n"), wantASNs(680, 3209, 3320)},
		{"asn at the top of the range", add("asn = 4294967295\n"), wantASNs(4294967295)},
		{"empty asn list", add("asn = []\n"), wantASNs()},
		{"subnets are sorted and deduplicated", add("subnets = [\"2001:db8::/32\", \"192.0.2.0/24\", \"192.0.2.0/24\"]\n"), func(t *testing.T, inv *Inventory) {
			var got []string
			for _, p := range inv.Mirrors[0].Subnets {
				got = append(got, p.String())
			}
			if want := []string{"192.0.2.0/24", "2001:db8::/32"}; !slices.Equal(got, want) {
				t.Errorf("subnets = %v, want %v", got, want)
			}
		}},
		{"lat and lon", add("lat = -33.87\nlon = 151.21\n"), func(t *testing.T, inv *Inventory) {
			m := inv.Mirrors[0]
			if !m.HasCoord || m.Coord.Lat != -33.87 || m.Coord.Lon != 151.21 {
				t.Errorf("coord = %v (declared %v), want -33.87,151.21", m.Coord, m.HasCoord)
			}
		}},
		{"no lat/lon: the country's point", base, func(t *testing.T, inv *Inventory) {
			m := inv.Mirrors[0]
			want, _ := country.Code("DE").Coord()
			if m.HasCoord || m.Coord != want {
				t.Errorf("coord = %v (declared %v), want DE's %v", m.Coord, m.HasCoord, want)
			}
		}},
		{"zone without the final dot", edit(`zone = "example.org."`, `zone = "Example.ORG"`), func(t *testing.T, inv *Inventory) {
			if inv.DNS.Zone != "example.org." {
				t.Errorf("zone = %q, want example.org.", inv.DNS.Zone)
			}
		}},
		{"no [dns] table", strings.Replace(cut(base, "[dns]", "[[repo]]"), "dns = [\"download\"]\n", "", 1), func(t *testing.T, inv *Inventory) {
			if inv.DNS != nil {
				t.Errorf("DNS = %+v, want nil", inv.DNS)
			}
		}},
		{"no [policy] table: defaults", cut(base, "[policy]", "[dns]"), func(t *testing.T, inv *Inventory) {
			p := inv.Policy
			if p.Min != DefaultMin || p.Max != DefaultMax || p.BandKm != DefaultBandKm || p.ASNMaxKm != DefaultASNMaxKm || len(p.Neighbours) != 0 {
				t.Errorf("policy = %+v, want the defaults", p)
			}
		}},
		{"arch format keeps pacman's variables", edit("format = \"rpm\"\n", "format = \"rpm\"\n\n[[repo]]\nname = \"arch\"\npath = \"archlinux/$repo/os/$arch\"\narchs = [\"x86_64\"]\nformat = \"arch\"\n"), func(t *testing.T, inv *Inventory) {
			if r := inv.Repo("arch"); r == nil || r.Path != "archlinux/$repo/os/$arch" {
				t.Errorf("repo arch = %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := parse(t, tt.doc)
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			if tt.check != nil {
				tt.check(t, inv)
			}
		})
	}
}

func wantASNs(want ...uint32) func(*testing.T, *Inventory) {
	return func(t *testing.T, inv *Inventory) {
		t.Helper()
		if got := inv.Mirrors[0].ASNs; !slices.Equal(got, want) {
			t.Errorf("ASNs = %v, want %v", got, want)
		}
	}
}

func TestParseReportsEveryError(t *testing.T) {
	doc := edit(`max_lag = "12h"`, `max_lag = "soon"`)
	doc = strings.Replace(doc, `NZ = ["AU"]`, `NZ = ["XX"]`, 1)
	doc = strings.Replace(doc, `format = "rpm"`, `format = "yum"`, 1)
	doc += "wieght = 1\nsubnets = [\"192.0.2.1/24\"]\n" + strings.Replace(mirrorB, `country = "FR"`, `country = "Germany"`, 1)
	_, err := parse(t, doc)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error = %v, want Errors", err)
	}
	want := []string{`max_lag "soon"`, `"XX"`, `format "yum"`, `unknown key "wieght"`, `subnet "192.0.2.1/24"`, `"Germany"`}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if i > 0 && e.Line <= errs[i-1].Line {
			t.Errorf("error %d is on line %d, after line %d: not sorted by line", i, e.Line, errs[i-1].Line)
		}
		if !strings.Contains(e.Msg, want[i]) {
			t.Errorf("error %d = %q, want it to mention %s", i, e.Msg, want[i])
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(errs) {
		t.Errorf("Error() has %d lines for %d errors", len(lines), len(errs))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "mirrors.toml:") {
			t.Errorf("line does not start with the file name: %q", l)
		}
	}
}

func TestErrorsIsAnError(t *testing.T) {
	var err error = Errors{
		{File: "mirrors.toml", Line: 3, Column: 1, Msg: "first"},
		{File: "mirrors.toml", Msg: "second"},
	}
	if got, want := err.Error(), "mirrors.toml:3:1: first\nmirrors.toml: second"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(path, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if inv.File != path {
		t.Errorf("File = %q, want %q", inv.File, path)
	}

	missing := filepath.Join(dir, "nothing.toml")
	_, err = Load(missing)
	if err == nil || !strings.HasPrefix(err.Error(), missing+": cannot read the inventory: ") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}
