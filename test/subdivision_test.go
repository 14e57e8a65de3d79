package test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout/layouttest"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// Issue 14, item 4: the example network asks for sub-country lists in
// the United States, Canada and Australia ([lists] subdivisions). A real
// nginx with the geoip2 module and gen's edge snippets serves a client
// its subdivision's list (GeoIP City's subdivisions.0.iso_code) before
// its country's, after an ASN list of its country, and falls through to
// the country's where its subdivision has no list; and each time it is
// the file `lookup --country CC --subdivision CC-S --asn N` names.
func TestNginxEdgeServesSubdivisionLists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nets := []struct {
		geotest.Net
		want string // the file nginx serves for baseos 9 x86_64
	}{
		{geotest.Net{Prefix: netip.MustParsePrefix("73.2.0.0/16"), Country: "US", Subdivisions: []string{"CA", "075"}, Continent: "NA"}, "US-CA.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("2600:db8:2::/48"), Country: "US", Subdivisions: []string{"NY"}, Continent: "NA"}, "v6/US-NY.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.3.0.0/16"), Country: "US", Subdivisions: []string{"WA"}, Continent: "NA", ASN: 7922}, "AS7922-US.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.4.0.0/16"), Country: "US", Subdivisions: []string{"TX"}, Continent: "NA", ASN: 3320}, "US-TX.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.5.0.0/16"), Country: "US", Subdivisions: []string{"OR"}, Continent: "NA"}, "US.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.6.0.0/16"), Country: "US", Subdivisions: []string{"VA"}, Continent: "NA"}, "US.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.7.0.0/16"), Country: "US", Continent: "NA"}, "US.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("24.48.0.0/16"), Country: "CA", Subdivisions: []string{"ON"}, Continent: "NA"}, "CA-ON.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("2001:db8:84::/48"), Country: "AU", Subdivisions: []string{"NSW"}, Continent: "OC"}, "v6/AU-NSW.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("81.1.0.0/16"), Country: "DE", Subdivisions: []string{"BE"}, Continent: "EU"}, "DE.txt"},
		// Codes that are no ISO 3166-2 code name no file gen writes,
		// so the edge falls through to the country's (and lookup takes
		// them for none): a path, and a lower-case code (GeoIP writes
		// upper case; file names are case-sensitive).
		{geotest.Net{Prefix: netip.MustParsePrefix("73.8.0.0/16"), Country: "US", Subdivisions: []string{"CA/../../../../../../../etc/passwd"}, Continent: "NA"}, "US.txt"},
		{geotest.Net{Prefix: netip.MustParsePrefix("73.9.0.0/16"), Country: "US", Subdivisions: []string{"ca"}, Continent: "NA"}, "US.txt"},
	}
	var gnets []geotest.Net
	for _, n := range nets {
		gnets = append(gnets, n.Net)
	}
	city, asn, err := geotest.Write(dir, gnets)
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
	const listDir = "mirrorlist/baseos/9/x86_64/"
	seen := map[string]string{}
	for _, n := range nets {
		client := n.Prefix.Addr().Next()
		args := []string{"-c", example, "-s", statePath, "--repo", "baseos", "--release", "9", "--arch", "x86_64", "--country", n.Country}
		if len(n.Subdivisions) > 0 && !strings.ContainsAny(n.Subdivisions[0], "/abcdefghijklmnopqrstuvwxyz") {
			args = append(args, "--subdivision", n.Country+"-"+n.Subdivisions[0])
		}
		if n.ASN != 0 {
			args = append(args, "--asn", fmt.Sprint(n.ASN))
		}
		if client.Is6() {
			args = append(args, "--v6")
		}
		doc, err := lookupJSON(args...)
		if err != nil {
			t.Fatal(err)
		}
		if doc.File != listDir+n.want {
			t.Errorf("lookup %s names %s (tried %v), want %s", strings.Join(args[2:], " "), doc.File, doc.Tried, listDir+n.want)
		}
		req, _ := http.NewRequest("GET", "http://"+addr.String()+"/mirrorlist?repo=baseos&release=9&arch=x86_64", nil)
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
		want := readFile(t, filepath.Join(out, listDir+n.want))
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Errorf("client %s (%s %v AS%d): nginx answered %d:\n%s\nwant %s:\n%s", client, n.Country, n.Subdivisions, n.ASN, resp.StatusCode, b, n.want, want)
		}
		if other, ok := seen[want]; ok && other != n.want {
			t.Fatalf("%s and %s hold the same list: the test cannot tell them apart", other, n.want)
		}
		seen[want] = n.want
	}
	// dnf's metalinks are tried in the same order.
	req, _ := http.NewRequest("GET", "http://"+addr.String()+"/metalink?repo=baseos&release=9&arch=x86_64", nil)
	req.Header.Set("X-Client-IP", "24.48.1.1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := readFile(t, filepath.Join(out, "metalink/baseos/9/x86_64/CA-ON.xml")); resp.StatusCode != http.StatusOK || string(b) != want {
		t.Errorf("metalink for a client in CA-ON: %d\n%s\nwant CA-ON.xml:\n%s", resp.StatusCode, b, want)
	}
}

// What lookup says of subdivisions: the list and file it shows and why,
// and a clear usage error for what gen does not write or the flags
// cannot mean.
func TestLookupSubdivision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stdout (code 0) or stderr
	}{
		{"a subdivision's list", []string{"--subdivision", "us-ca", "--repo", "arch"}, 0, []string{
			"client: (ipv4) country US subdivision US-CA continent NA\n",
			"list:   US-CA\n",
			"file:   pacman/arch/x86_64/US-CA.txt\n",
			"1  mirror.sfo.example.edu  US  country",
		}},
		{"the country's where the subdivision has no list", []string{"--country", "US", "--subdivision", "US-OR", "--repo", "arch", "--v6"}, 0, []string{
			"list:   US (gen writes no US-OR; an edge tries US-OR, US, global)\n",
			"file:   pacman/arch/x86_64/v6/US.txt\n",
		}},
		{"an ASN list first", []string{"--subdivision", "US-WA", "--asn", "7922", "--repo", "arch"}, 0, []string{
			"list:   AS7922-US\n", "file:   pacman/arch/x86_64/AS7922-US.txt\n",
		}},
		{"a list by a subdivision's key", []string{"--list", "ca-bc", "--repo", "isos", "--release", "10", "--arch", "aarch64"}, 0, []string{
			"client: (ipv4) country CA subdivision CA-BC continent NA\n", "list:   CA-BC\n", "file:   urls/isos/10/aarch64/CA-BC.txt\n",
			"\n1   mirror.yvr.example.ca ",
		}},
		{"a located client's subdivision, as GeoIP City gives it", []string{"--ip", "73.2.3.4", "--geoip-city", "@city"}, 0, []string{
			"client: 73.2.3.4 (ipv4) country US subdivision US-CA continent NA at 37.77,-122.42\n",
		}},
		{"no list where no public mirror stands", []string{"--list", "US-VA"}, 2, []string{
			"--list US-VA: gen writes no such list: no public mirror of ../mirrors.toml stands in US-VA (an edge serves such clients US); the subdivision lists of US are US-CA, US-IL, US-NY, US-TX, US-WA",
		}},
		{"no lists for a country [lists] does not name", []string{"--list", "DE-BY"}, 2, []string{
			"--list DE-BY: gen writes no subdivision lists for DE: ../mirrors.toml does not name it in [lists] subdivisions; an edge serves its clients DE",
		}},
		{"not a subdivision code", []string{"--subdivision", "California"}, 2, []string{`--subdivision: invalid subdivision code "California"`}},
		{"a subdivision of another country", []string{"--country", "CA", "--subdivision", "US-CA"}, 2, []string{"--subdivision US-CA is not in --country CA"}},
		{"dnsd does not steer by subdivision", []string{"--subdivision", "US-CA", "--name", "download"}, 2, []string{"--subdivision picks a static list"}},
		{"--list names the list", []string{"--list", "US-CA", "--subdivision", "US-CA"}, 2, []string{"leave out --country, --subdivision and --asn, or leave out --list"}},
		{"--ip locates the client", []string{"--ip", "73.2.3.4", "--subdivision", "US-CA"}, 2, []string{"leave out --country, --subdivision, --asn and --list"}},
	}
	city, _, err := geotest.Write(t.TempDir(), geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			if i := slices.Index(args, "@city"); i >= 0 {
				args[i] = city
			}
			r := mirrorsteer(t, append([]string{"lookup", "-c", example}, args...)...)
			got := r.stdout
			if tt.code != 0 {
				got = r.stderr
			}
			for _, want := range tt.want {
				if r.code != tt.code || !strings.Contains(got, want) {
					t.Errorf("exit %d, want %d and %q in:\n%s%s", r.code, tt.code, want, r.stdout, r.stderr)
				}
			}
		})
	}
}
