package gen_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

const header = `[network]
name = "Test Linux"
origin = "https://origin.test/pub/"
stamp = "TIME"
max_lag = "6h"

[policy]
min = 2
max = 4
band_km = 0
neighbours = { NZ = ["AU"] }

[[repo]]
name = "os"
path = "{release}/os/{arch}/"
releases = ["1"]
archs = ["x86_64"]
format = "rpm"

[[repo]]
name = "deb"
path = "debian/"
releases = ["stable"]
format = "deb"

[[repo]]
name = "pac"
path = "arch/$repo/os/$arch"
archs = ["x86_64"]
format = "arch"

[[repo]]
name = "iso"
path = "iso/"
format = "files"
`

const mirrors = `
[[mirror]]
name = "de1"
country = "DE"
lat = 53.55
lon = 9.99
https = "https://de1.test/pub/"
http = "http://de1.test/pub/"
asn = 3320

[[mirror]]
name = "de2"
country = "DE"
lat = 48.14
lon = 11.58
https = "https://de2.test/pub/"

[[mirror]]
name = "au1"
country = "AU"
http = "http://au1.test/pub/"

[[mirror]]
name = "us1"
country = "US"
https = "https://us1.test/pub/"
`

func load(t testing.TB, doc string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("mirrors.toml", []byte(doc), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func run(t testing.TB, o gen.Options) gen.Stats {
	t.Helper()
	st, err := gen.Run(o)
	if err != nil {
		t.Fatalf("gen: %v", err)
	}
	return st
}

func read(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFormats(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	run(t, gen.Options{Inventory: inv, Snapshot: statetest.Healthy(inv, nil), Out: out})
	tests := []struct {
		file, want string
	}{
		{"mirrorlist/os/1/x86_64/DE.txt", "# mirrorlist repo=os release=1 arch=x86_64 family=ipv4 for country DE (Test Linux)\n" +
			"https://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n"},
		{"mirrorlist/os/1/x86_64/NZ.txt", "# mirrorlist repo=os release=1 arch=x86_64 family=ipv4 for country NZ (Test Linux)\n" +
			"http://au1.test/pub/1/os/x86_64/\nhttps://us1.test/pub/1/os/x86_64/\n"},
		{"apt/deb/stable/DE.txt", "# apt mirror list repo=deb release=stable family=ipv4 for country DE (Test Linux)\n" +
			"https://de1.test/pub/debian/\tpriority:1\nhttps://de2.test/pub/debian/\tpriority:2\n"},
		{"pacman/pac/x86_64/v6/AU.txt", "## pacman mirrorlist repo=pac arch=x86_64 family=ipv6 for country AU (Test Linux)\n" +
			"Server = http://au1.test/pub/arch/$repo/os/$arch\nServer = https://us1.test/pub/arch/$repo/os/$arch\n"},
		{"urls/iso/AS3320-DE.txt", "https://de1.test/pub/iso/\nhttps://de2.test/pub/iso/\n"},
	}
	for _, tt := range tests {
		if got := read(t, out, tt.file); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s:\n%s\nwant it to start with:\n%s", tt.file, got, tt.want)
		}
	}
}

func TestEveryCountryHasAList(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	run(t, gen.Options{Inventory: inv, Out: out})
	for _, dir := range []string{"mirrorlist/os/1/x86_64", "mirrorlist/os/1/x86_64/v6", "apt/deb/stable", "pacman/pac/x86_64/v6", "urls/iso"} {
		for _, c := range country.All() {
			if _, err := os.Stat(filepath.Join(out, dir, string(c.Code)+".txt")); err != nil {
				t.Errorf("%s: no list for %s: %v", dir, c.Code, err)
			}
		}
		for _, f := range []string{"global.txt", "AS3320-DE.txt"} {
			if _, err := os.Stat(filepath.Join(out, dir, f)); err != nil {
				t.Errorf("%s: %v", dir, err)
			}
		}
	}
}

func TestHealthDecidesTheLists(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		switch {
		case m == "de1" && e.Family == state.IPv6:
			e.Healthy = false // IPv4 only
		case m == "de2" && e.Protocol == state.HTTPS:
			for i := range e.Repos {
				e.Repos[i].Fresh = e.Repos[i].Repo != "os" // stale os metadata
			}
		}
	})
	delete(snap.Mirrors, "us1") // not probed yet
	run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out})
	tests := []struct {
		file string
		want []string // URLs, in order
	}{
		{"mirrorlist/os/1/x86_64/DE.txt", []string{"https://de1.test/pub/1/os/x86_64/", "http://au1.test/pub/1/os/x86_64/"}},
		{"mirrorlist/os/1/x86_64/v6/DE.txt", []string{"http://au1.test/pub/1/os/x86_64/"}},
		{"apt/deb/stable/v6/DE.txt", []string{"https://de2.test/pub/debian/", "http://au1.test/pub/debian/"}},
		{"urls/iso/global.txt", []string{"https://de1.test/pub/iso/", "https://de2.test/pub/iso/", "http://au1.test/pub/iso/"}},
	}
	for _, tt := range tests {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(read(t, out, tt.file)), "\n") {
			if !strings.HasPrefix(line, "#") {
				got = append(got, strings.Split(line, "\t")[0])
			}
		}
		if tt.file == "urls/iso/global.txt" {
			slices.Sort(got)
			slices.Sort(tt.want)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.file, got, tt.want)
		}
	}
}

func TestNoHealthyMirrorListsTheOrigin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) { e.Healthy = false })
	run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out})
	got := read(t, out, "mirrorlist/os/1/x86_64/FR.txt")
	if !strings.HasSuffix(got, "\nhttps://origin.test/pub/1/os/x86_64/\n") || !strings.Contains(got, "no healthy mirror") {
		t.Errorf("FR.txt with nothing healthy:\n%s", got)
	}
}

func TestDeterministic(t *testing.T) {
	inv := load(t, header+mirrors)
	snap := statetest.Healthy(inv, nil)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: a})
	run(t, gen.Options{Inventory: load(t, header+mirrors), Snapshot: snap, Out: b})
	ma, mb := read(t, a, "manifest.json"), read(t, b, "manifest.json")
	if ma != mb {
		t.Fatal("two runs on the same input wrote different manifests")
	}
	m, err := tree.ReadManifest(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Files {
		if read(t, a, e.Path) != read(t, b, e.Path) {
			t.Errorf("%s differs between runs", e.Path)
		}
	}
	if len(m.Files) < 1000 {
		t.Errorf("only %d files in the manifest", len(m.Files))
	}
}

func TestIncremental(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	first := run(t, gen.Options{Inventory: inv, Out: out})
	if first.Written != first.Files || first.Unchanged != 0 {
		t.Fatalf("first run: %+v", first)
	}
	probe := filepath.Join(out, "mirrorlist/os/1/x86_64/DE.txt")
	before, _ := os.Stat(probe)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(probe, old, old)
	second := run(t, gen.Options{Inventory: inv, Out: out})
	if second.Written != 0 || second.Unchanged != first.Files || second.Removed != 0 {
		t.Errorf("second run on the same input: %+v, want 0 written", second)
	}
	after, _ := os.Stat(probe)
	if !after.ModTime().Equal(old) || after.Sys().(*syscall.Stat_t).Ino != before.Sys().(*syscall.Stat_t).Ino {
		t.Errorf("an unchanged file was rewritten: mtime %v (want %v)", after.ModTime(), old)
	}

	// Drop a mirror: only the lists that held it (and the manifest,
	// index and API) change.
	third := run(t, gen.Options{Inventory: load(t, header+strings.Replace(mirrors, `name = "us1"`, `name = "us2"`, 1)), Out: out})
	if third.Written == 0 || third.Written >= first.Files || third.Unchanged == 0 {
		t.Errorf("renaming one mirror: %+v", third)
	}
}

func TestRefusesAForeignDirectory(t *testing.T) {
	out := t.TempDir()
	keep := filepath.Join(out, "precious.txt")
	os.WriteFile(keep, []byte("do not lose me"), 0o644)
	inv := load(t, header+mirrors)
	if _, err := gen.Run(gen.Options{Inventory: inv, Out: out}); err == nil {
		t.Fatal("gen wrote over a directory it did not make")
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "do not lose me" {
		t.Errorf("the foreign file was touched: %q %v", b, err)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	inv := load(t, header+mirrors)
	run(t, gen.Options{Inventory: inv, Out: filepath.Join(t.TempDir(), "out"), Progress: &buf})
	if !strings.Contains(buf.String(), "gen: lists") {
		t.Errorf("no progress bar on the Progress writer: %q", buf.String())
	}
}

func TestAPI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	doc := header + mirrors + `
[[mirror]]
name = "corp"
country = "US"
http = "http://10.1.2.3/pub/"
asn = 16509
public = false
`
	inv := load(t, doc)
	run(t, gen.Options{Inventory: inv, Snapshot: statetest.Healthy(inv, nil), Out: out})
	var mj struct {
		Mirrors []struct {
			Name   string            `json:"name"`
			Public bool              `json:"public"`
			URLs   map[string]string `json:"urls"`
		} `json:"mirrors"`
	}
	if err := json.Unmarshal([]byte(read(t, out, "api/mirrors.json")), &mj); err != nil {
		t.Fatal(err)
	}
	if len(mj.Mirrors) != 5 {
		t.Fatalf("api/mirrors.json has %d mirrors", len(mj.Mirrors))
	}
	for _, m := range mj.Mirrors {
		if m.Name == "corp" && (m.Public || len(m.URLs) != 0) {
			t.Errorf("private mirror published with its URLs: %+v", m)
		}
	}
	var ix struct {
		Verified  bool                `json:"verified"`
		ASN       map[string][]string `json:"asn"`
		Lists     []struct{ Dir string }
		Countries []string `json:"countries"`
	}
	if err := json.Unmarshal([]byte(read(t, out, "index.json")), &ix); err != nil {
		t.Fatal(err)
	}
	if !ix.Verified || !slices.Equal(ix.ASN["3320"], []string{"DE"}) || !slices.Equal(ix.ASN["16509"], []string{"US"}) || len(ix.Lists) != 4 {
		t.Errorf("index.json: %+v", ix)
	}
	// An ASN list is for clients in a country, but it is not that
	// country's list: each country is listed once.
	if once := slices.Compact(slices.Sorted(slices.Values(ix.Countries))); len(ix.Countries) != len(country.All()) || len(once) != len(ix.Countries) {
		t.Errorf("index.json lists %d countries, want each of the %d once: %v", len(ix.Countries), len(country.All()), ix.Countries)
	}
	if !strings.Contains(read(t, out, "api/state.json"), `"verified": true`) {
		t.Error("api/state.json does not say it was verified")
	}
}

// TestMemoryDoesNotGrowWithTheTree checks that gen streams: peak heap for
// four times the lists stays well under four times the peak for one.
func TestMemoryDoesNotGrowWithTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: samples the heap during two gen runs")
	}
	small := peakHeap(t, 1)
	large := peakHeap(t, 8)
	t.Logf("peak heap: %d KiB for 1 variant, %d KiB for 8", small>>10, large>>10)
	if large > 3*small {
		t.Errorf("peak heap grew from %d to %d KiB for 8x the lists: gen is holding output in memory", small>>10, large>>10)
	}
}

func peakHeap(t *testing.T, releases int) uint64 {
	var rels []string
	for i := range releases {
		rels = append(rels, fmt.Sprintf("%q", fmt.Sprint(i)))
	}
	doc := strings.Replace(header, `releases = ["1"]`, "releases = ["+strings.Join(rels, ", ")+"]", 1)
	var ms strings.Builder
	for i := range 300 {
		c := country.All()[i%len(country.All())].Code
		fmt.Fprintf(&ms, "\n[[mirror]]\nname = \"m%d\"\ncountry = %q\nhttps = \"https://m%d.test/%s/\"\n", i, c, i, strings.Repeat("p", 60))
	}
	inv := load(t, doc+ms.String())
	runtime.GC()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	run(t, gen.Options{Inventory: inv, Out: filepath.Join(t.TempDir(), "out")})
	close(done)
	<-stopped
	return peak
}
