package gen

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

const edgeInventory = `[network]
name = %NAME%
origin = "https://origin.test/pub/"
stamp = "TIME"
max_lag = "6h"

[[repo]]
name = "os"
path = "{release}/os/{arch}/"
releases = ["1"]
archs = ["x86_64"]
format = "rpm"

[[repo]]
name = "pac"
path = "arch/$repo/os/$arch"
archs = ["x86_64"]
format = "arch"

[[mirror]]
name = "de1"
country = "DE"
https = "https://de1.test/pub/"
asn = 3320
`

func edgeInv(t *testing.T, name string) *inventory.Inventory {
	t.Helper()
	q, _ := json.Marshal(name)
	inv, err := inventory.Parse("mirrors.toml", []byte(strings.Replace(edgeInventory, "%NAME%", string(q), 1)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// treeOf returns what the worker source knows of the tree: the JSON it
// holds in place of the marker, which must be one JavaScript expression.
func treeOf(t *testing.T, src string) workerTree {
	t.Helper()
	head, rest, ok := strings.Cut(src, "const TREE = ")
	if !ok || strings.Contains(head, "const TREE") {
		t.Fatal("the worker has no const TREE")
	}
	data, _, ok := strings.Cut(rest, ";\n")
	if !ok {
		t.Fatal("const TREE does not end its line")
	}
	var tr workerTree
	if err := json.Unmarshal([]byte(data), &tr); err != nil {
		t.Fatalf("const TREE is not JSON: %v\n%s", err, data)
	}
	return tr
}

func TestWorkerKnowsTheTree(t *testing.T) {
	inv := edgeInv(t, "Test Linux")
	src, err := workerSource(inv, newCachePolicy(inv, []string{"1/os/x86_64/repodata/primary.xml.gz", "1/os/x86_64/x.iso"}))
	if err != nil {
		t.Fatal(err)
	}
	tr := treeOf(t, string(src))
	if got := strings.Join(tr.Names[0], "|"); got != "AS|asn|-|country|" {
		t.Errorf("the first name tried is %q, want the ASN list AS<asn>-<country>", got)
	}
	if got := strings.Join(tr.Tries[len(tr.Tries)-1], "|"); got != "|dir|/|family|global|ext|" {
		t.Errorf("the last file tried is %q, want the global list", got)
	}
	for _, k := range []string{"global", "DE", "AS3320-DE"} {
		if !strings.Contains(","+strings.Join(tr.Keys, ",")+",", ","+k+",") {
			t.Errorf("key %s is missing", k)
		}
	}
	dirs := map[string]workerDir{}
	for _, d := range tr.Dirs {
		dirs[d.Repo] = d
	}
	if d := dirs["os"]; d.Lists != "mirrorlist/os/1/x86_64" || d.Metalinks == nil || *d.Metalinks != "metalink/os/1/x86_64" {
		t.Errorf("os: %+v", d)
	}
	if d := dirs["pac"]; d.Lists != "pacman/pac/x86_64" || d.Release != "" || d.Metalinks != nil {
		t.Errorf("pac (no release, no metalinks): %+v", d)
	}
	if tr.Cache.Exact["/meta4/1/os/x86_64/repodata/primary.xml.gz.meta4"] != CacheInPlace {
		t.Errorf("the .meta4 of repodata is not in place: %v", tr.Cache.Exact)
	}
	if _, ok := tr.Cache.Exact["/meta4/1/os/x86_64/x.iso.meta4"]; ok {
		t.Error("the .meta4 of a mirrored file has an exact rule")
	}
}

// The inventory's strings reach the worker as JSON data only: a network
// name that would end a comment, a string, a template or a script stays
// one string.
func TestWorkerHoldsHostileNamesAsData(t *testing.T) {
	name := "*/ \"</script><script>\" \\ ${alert(1)} ` '"
	inv := edgeInv(t, name)
	src, err := workerSource(inv, newCachePolicy(inv, nil))
	if err != nil {
		t.Fatal(err)
	}
	if tr := treeOf(t, string(src)); tr.Network != name {
		t.Errorf("network %q, want %q", tr.Network, name)
	}
	if strings.Contains(string(src), "</script>") {
		t.Error("the worker holds </script> as it is")
	}
}

func TestTemplateRefusesNamesTheWorkerDoesNotKnow(t *testing.T) {
	tests := []struct {
		name, spelled, err string
	}{
		{"known names", placeholder("dir") + "/" + placeholder("family") + "AS" + placeholder("asn"), ""},
		{"a fact the worker cannot know", "x" + placeholder("city"), `"city"`},
		{"unbalanced", "x\x00asn", "unbalanced"},
	}
	for _, tt := range tests {
		_, err := template(tt.spelled)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestCacheControlOfEachKindOfFile(t *testing.T) {
	inv := edgeInv(t, "Test Linux")
	c := newCachePolicy(inv, []string{"1/os/x86_64/repodata/primary.xml.gz", "1/os/x86_64/x.iso", "1/SHA256SUMS"})
	tests := []struct{ name, path, want string }{
		{"manifest.json expires first", "/manifest.json", CacheManifest},
		{"a list", "/mirrorlist/os/1/x86_64/DE.txt", CacheTree},
		{"the API", "/api/state.json", CacheTree},
		{"the status site", "/index.html", CacheTree},
		{"a .meta4 of a mirrored file", "/meta4/1/os/x86_64/x.iso.meta4", CacheMeta4},
		{"a .meta4 of repodata", "/meta4/1/os/x86_64/repodata/primary.xml.gz.meta4", CacheInPlace},
		{"a .meta4 of a checksum file", "/meta4/1/SHA256SUMS.meta4", CacheInPlace},
		{"case matters", "/META4/1/SHA256SUMS.meta4", CacheTree},
	}
	for _, tt := range tests {
		if got := c.of(tt.path); got != tt.want {
			t.Errorf("%s: %s gets %q, want %q", tt.name, tt.path, got, tt.want)
		}
	}
}

func TestNginxQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/manifest.json", `"/manifest.json"`},
		{`/meta4/a "b".meta4`, `"/meta4/a \"b\".meta4"`},
		{`/meta4/a\nb;{}.meta4`, `"/meta4/a\\nb;{}.meta4"`},
	}
	for _, tt := range tests {
		if got := nginxQuote(tt.in); got != tt.want {
			t.Errorf("nginxQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestNginxHeadersRefusesAnInvalidTrust(t *testing.T) {
	var b strings.Builder
	if err := nginxHeaders(&b, "x", []netip.Prefix{{}}); err == nil {
		t.Error("an invalid prefix was written")
	}
	b.Reset()
	if err := nginxHeaders(&b, "x", []netip.Prefix{netip.MustParsePrefix("192.0.2.7/24")}); err != nil || !strings.Contains(b.String(), "    192.0.2.0/24 1;\n") {
		t.Errorf("error %v; want 192.0.2.0/24 trusted:\n%s", err, b.String())
	}
}

// worker.js tells how to deploy it with the compatibility date
// wrangler-assets.toml gives.
func TestWorkerDeployLineHasTheCompatibilityDate(t *testing.T) {
	if !strings.Contains(workerJS, "--compatibility-date "+WorkerCompatibilityDate+" ") {
		t.Errorf("worker.js does not deploy with --compatibility-date %s", WorkerCompatibilityDate)
	}
}
