package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout/layouttest"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// lookupDoc is what lookup --json prints.
type lookupDoc struct {
	List    string   `json:"list"`
	Tried   []string `json:"tried"`
	File    string   `json:"file"`
	Mirrors []struct {
		Mirror string `json:"mirror"`
		URL    string `json:"url"`
	} `json:"mirrors"`
}

// lookupJSON runs mirrorsteer lookup ARGS --json.
func lookupJSON(args ...string) (lookupDoc, error) {
	var doc lookupDoc
	cmd := exec.Command(binary, append(append([]string{"lookup"}, args...), "--json")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return doc, fmt.Errorf("lookup %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return doc, fmt.Errorf("lookup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return doc, nil
}

// urls returns the URLs a list with doc's entries holds: the origin's when
// it has none.
func (doc lookupDoc) urls(origin string) []string {
	var out []string
	for _, m := range doc.Mirrors {
		out = append(out, m.URL)
	}
	if len(out) == 0 {
		out = []string{origin}
	}
	return out
}

// sample picks about n of lists, and at least the first of each kind of
// key in each top directory and family, so every format, family and kind
// of key is run.
func sample(lists []layouttest.List, n int) []layouttest.List {
	kind := func(key string) string {
		switch {
		case key == "global":
			return key
		case len(key) > 2 && key[2] == '-':
			return "subdivision"
		case len(key) > 2:
			return "asn"
		}
		return "country"
	}
	seen := map[string]bool{}
	step := max(1, len(lists)/n)
	var out []layouttest.List
	for i, l := range lists {
		top, _, _ := strings.Cut(l.Path, "/")
		group := fmt.Sprint(top, l.V6, kind(l.Key))
		if !seen[group] || i%step == 0 {
			seen[group] = true
			out = append(out, l)
		}
	}
	return out
}

// Issue 10, item 5, through the binary: `mirrorsteer lookup --list KEY
// --repo R --release V --arch A [--v6] --json` prints the mirrors of the
// list file gen wrote under KEY, in its order and by its URLs, and names
// the file. Every list is checked in-process by
// cmd/mirrorsteer.TestLookupListIsTheFile; this runs the real command
// line on a sample of each tree (every format, family and kind of key,
// dnf metalinks among them), with and without a snapshot.
func TestLookupListMatchesGenThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv, err := inventory.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	origin := filepath.Join(dir, "origin")
	if err := layouttest.WriteOrigin(origin, inv); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "state.json")
	if err := layouttest.Varied(inv).Write(statePath); err != nil {
		t.Fatal(err)
	}
	// Loading a snapshot is most of a lookup's time under the race
	// detector: fewer runs with one.
	for _, tc := range []struct {
		name   string
		snap   []string
		sample int
	}{
		{"without a snapshot", nil, 150},
		{"with a snapshot", []string{"-s", statePath}, 60},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if r := mirrorsteer(t, append([]string{"gen", "-c", example, "-o", out, "--origin-dir", origin}, tc.snap...)...); r.code != 0 {
			t.Fatalf("gen %s: %s", tc.name, r.stderr)
		}
		lists, err := layouttest.Read(out, inv)
		if err != nil {
			t.Fatal(err)
		}
		picked := sample(lists, tc.sample)
		// Two at a time: the machine has two cores.
		errs := make([]error, len(picked))
		var wg sync.WaitGroup
		next := make(chan int)
		for range 2 {
			wg.Go(func() {
				for i := range next {
					errs[i] = checkLookupList(inv, tc.snap, &picked[i])
				}
			})
		}
		for i := range picked {
			next <- i
		}
		close(next)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
		t.Logf("%s: %d of %d list files run through lookup", tc.name, len(picked), len(lists))
	}
}

func checkLookupList(inv *inventory.Inventory, snap []string, l *layouttest.List) error {
	args := append(append([]string{"-c", example}, snap...), l.Args()...)
	doc, err := lookupJSON(args...)
	if err != nil {
		return err
	}
	var path string
	if l.Metalink {
		path = "repodata/repomd.xml"
	} else if doc.File != l.Path {
		return fmt.Errorf("lookup %s names %s, not %s", strings.Join(l.Args(), " "), doc.File, l.Path)
	}
	got := doc.urls(inv.Network.Origin + l.Variant.Path())
	for i := range got {
		got[i] += path
	}
	if !slices.Equal(got, l.URLs) || doc.List != l.Key {
		return fmt.Errorf("lookup %s prints list %s\n\t%s\n%s holds\n\t%s", strings.Join(l.Args(), " "), doc.List, strings.Join(got, "\n\t"), l.Path, strings.Join(l.URLs, "\n\t"))
	}
	return nil
}

// Issue 10, item 5: lookup --asn N --country CC names the file an edge
// serves that client, and it is the file the generated nginx edge does
// serve: nginx locates each client with GeoIP and answers from its
// try_files, lookup is told the same ASN and country.
func TestLookupNamesTheFileTheNginxEdgeServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nets := []geotest.Net{
		{Prefix: netip.MustParsePrefix("81.1.0.0/16"), Country: "DE", Continent: "EU", ASN: 3320},       // an ASN list: AS3320-DE
		{Prefix: netip.MustParsePrefix("2001:db8:49::/48"), Country: "DE", Continent: "EU", ASN: 3320},  // v6/AS3320-DE
		{Prefix: netip.MustParsePrefix("81.2.0.0/16"), Country: "FR", Continent: "EU", ASN: 3320},       // no AS3320-FR: FR
		{Prefix: netip.MustParsePrefix("90.2.0.0/16"), Country: "FR", Continent: "EU", ASN: 16276},      // AS16276-FR
		{Prefix: netip.MustParsePrefix("2001:db8:34::/48"), Country: "US", Continent: "NA", ASN: 16509}, // a private mirror's network: v6/AS16509-US
		{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Country: "NZ", Continent: "OC", ASN: 64496},    // an ASN no mirror declares: NZ
		{Prefix: netip.MustParsePrefix("2001:db8:33::/48"), Country: "AS", Continent: "OC", ASN: 64496}, // American Samoa: v6/AS
		{Prefix: netip.MustParsePrefix("100.64.0.0/16"), Country: "XK", Continent: "EU"},                // no ASN known: XK
		{Prefix: netip.MustParsePrefix("100.65.0.0/16"), ASN: 3320},                                     // no country known: global
		{Prefix: netip.MustParsePrefix("2001:db8:ff00::/40")},                                           // nothing known: v6/global
	}
	city, asn, err := geotest.Write(dir, nets)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "state.json")
	if err := layouttest.Varied(inv).Write(statePath); err != nil {
		t.Fatal(err)
	}
	origin := filepath.Join(dir, "origin")
	if err := layouttest.WriteOrigin(origin, inv); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if r := mirrorsteer(t, "gen", "-c", example, "-s", statePath, "-o", out, "--origin-dir", origin,
		"--geoip-city", city, "--geoip-asn", asn, "--edge-source", "$http_x_client_ip"); r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	addr := fixtures.FreeAddr(t)
	startNginx(t, out, addr)
	hc := &http.Client{Timeout: 5 * time.Second}
	files := map[string]bool{}
	for _, n := range nets {
		client := n.Prefix.Addr().Next()
		for _, q := range []struct{ query, repo, release, arch string }{
			{"/mirrorlist?repo=baseos&release=9&arch=x86_64", "baseos", "9", "x86_64"},
			{"/mirrorlist?repo=arch&arch=x86_64", "arch", "", "x86_64"},
		} {
			args := []string{"-c", example, "-s", statePath, "--repo", q.repo, "--arch", q.arch}
			if q.release != "" {
				args = append(args, "--release", q.release)
			}
			if n.Country != "" {
				args = append(args, "--country", n.Country)
			}
			if n.ASN != 0 {
				args = append(args, "--asn", fmt.Sprint(n.ASN))
			}
			if client.Is6() {
				args = append(args, "--v6")
			}
			if n.Country == "" && n.ASN == 0 {
				args = append(args, "--list", "global")
			}
			doc, err := lookupJSON(args...)
			if err != nil {
				t.Error(err)
				continue
			}
			files[doc.File] = true
			req, _ := http.NewRequest("GET", "http://"+addr.String()+q.query, nil)
			req.Header.Set("X-Client-IP", client.String())
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if want := readFile(t, filepath.Join(out, doc.File)); resp.StatusCode != http.StatusOK || body != want {
				t.Errorf("client %s (AS%d in %q): lookup names %s (tried %v); nginx answered %d:\n%s", client, n.ASN, n.Country, doc.File, doc.Tried, resp.StatusCode, body)
			}
		}
	}
	for _, want := range []string{"mirrorlist/baseos/9/x86_64/AS3320-DE.txt", "mirrorlist/baseos/9/x86_64/FR.txt", "mirrorlist/baseos/9/x86_64/AS16276-FR.txt",
		"mirrorlist/baseos/9/x86_64/v6/AS16509-US.txt", "mirrorlist/baseos/9/x86_64/NZ.txt", "pacman/arch/x86_64/v6/AS.txt",
		"pacman/arch/x86_64/XK.txt", "mirrorlist/baseos/9/x86_64/global.txt", "pacman/arch/x86_64/v6/global.txt"} {
		if !files[want] {
			t.Errorf("no client was served %s: the test does not reach every case", want)
		}
	}
}

// Issue 10: lookup --asn N --country CC must show the list of the file an
// edge serves that client. It keyed its client AS<N>-<CC> whether gen
// wrote such a list or not, so for AS3320 in France (AS3320's mirrors
// are in Germany: gen writes no AS3320-FR) it ranked the mirrors near
// Paris in another order than FR.txt, the file an edge serves.
func TestLookupByASNAndCountryAgreesWithTheServedFile(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	if r := mirrorsteer(t, "gen", "-c", example, "-o", out); r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	inv, err := inventory.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := layouttest.Read(out, inv)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]string{}
	for _, l := range lists {
		byPath[l.Path] = l.URLs
	}
	tests := []struct {
		name string
		args []string
		file string // the file an edge serves
	}{
		{"the ASN's list where its mirrors stand", []string{"--asn", "3320", "--country", "DE"}, "AS3320-DE.txt"},
		{"the country's list where they do not", []string{"--asn", "3320", "--country", "FR"}, "FR.txt"},
		{"the country's list for an ASN without mirrors", []string{"--asn", "64496", "--country", "FR"}, "FR.txt"},
		{"the country's list for IPv6", []string{"--asn", "3320", "--country", "AT", "--v6"}, "v6/AT.txt"},
		{"global without a country", []string{"--asn", "3320"}, "global.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := lookupJSON(append([]string{"-c", example, "--repo", "baseos", "--release", "9", "--arch", "x86_64"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			want := byPath["mirrorlist/baseos/9/x86_64/"+tt.file]
			if got := doc.urls(inv.Network.Origin); !slices.Equal(got, want) {
				t.Errorf("lookup %s prints\n\t%s\n%s holds\n\t%s", strings.Join(tt.args, " "), strings.Join(got, "\n\t"), tt.file, strings.Join(want, "\n\t"))
			}
		})
	}
}

// A key gen writes no list under is a usage error that says what there
// is, never an empty list or another list.
func TestLookupListRefusesWhatGenDoesNotWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an ASN without its country", []string{"--list", "AS3320"}, "an ASN list is AS<number>-<country>, e.g. AS3320-DE"},
		{"an ASN list gen does not write", []string{"--list", "AS3320-FR"}, "gen writes no such list (an edge serves such clients FR); the lists of AS3320 are AS3320-DE"},
		{"an ASN no mirror declares", []string{"--list", "AS64496-DE"}, "gen writes no list for AS64496"},
		{"a name, not a code", []string{"--list", "Germany"}, `list key "Germany" is not global, a country (DE), AS<number>-<country> (AS3320-DE) or a subdivision (US-CA)`},
		{"a path", []string{"--list", "mirrorlist/baseos/9/x86_64/DE.txt"}, "is not global, a country"},
		{"--list with --country", []string{"--list", "DE", "--country", "DE"}, "leave out --country, --subdivision and --asn, or leave out --list"},
		{"--list with --name", []string{"--list", "DE", "--name", "download"}, "give one of them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mirrorsteer(t, append([]string{"lookup", "-c", example}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
	if r := mirrorsteer(t, "lookup", "-h"); !strings.Contains(r.stderr, "  -list key") {
		t.Errorf("lookup -h does not document --list:\n%s", r.stderr)
	}
}

// The table says which list it shows, why, and where the file is.
func TestLookupTableNamesTheListAndItsFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"the country's list when there is no ASN list", []string{"--asn", "3320", "--country", "FR", "--repo", "arch", "--v6"}, []string{
			"client: (ipv6) country FR continent EU AS3320\n",
			"list:   FR (gen writes no AS3320-FR; an edge tries AS3320-FR, FR, global)\n",
			"file:   pacman/arch/x86_64/v6/FR.txt\n",
		}},
		{"the ASN list", []string{"--asn", "AS3320", "--country", "de", "--repo", "arch"}, []string{
			"list:   AS3320-DE\n", "file:   pacman/arch/x86_64/AS3320-DE.txt\n",
		}},
		{"global without a country", []string{"--asn", "3320"}, []string{
			"list:   global (an edge that knows no country serves global; give --country)\n",
		}},
		{"a list by its key", []string{"--list", "as16276-th", "--repo", "isos", "--release", "10", "--arch", "aarch64"}, []string{
			"client: (ipv4) country TH continent AS AS16276\n", "list:   AS16276-TH\n", "file:   urls/isos/10/aarch64/AS16276-TH.txt\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mirrorsteer(t, append([]string{"lookup", "-c", example}, tt.args...)...)
			for _, want := range tt.want {
				if r.code != 0 || !strings.Contains(r.stdout, want) {
					t.Errorf("exit %d, output lacks %q:\n%s%s", r.code, want, r.stdout, r.stderr)
				}
			}
		})
	}
}
