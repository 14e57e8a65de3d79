package gen_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/layout/layouttest"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// subdivided has mirrors in two US states and one US mirror without a
// subdivision, two Canadian mirrors in one province, and two Australian
// mirrors in two states.
const subdivided = `
[[mirror]]
name = "us-ny"
country = "US"
subdivision = "US-NY"
lat = 40.71
lon = -74.01
https = "https://us-ny.test/pub/"

[[mirror]]
name = "us-ca"
country = "US"
subdivision = "us-ca"
lat = 37.77
lon = -122.42
https = "https://us-ca.test/pub/"

[[mirror]]
name = "us-kc"
country = "US"
lat = 39.10
lon = -94.58
https = "https://us-kc.test/pub/"

[[mirror]]
name = "ca-tor"
country = "CA"
subdivision = "CA-ON"
https = "https://ca-tor.test/pub/"

[[mirror]]
name = "ca-ott"
country = "CA"
subdivision = "CA-ON"
https = "https://ca-ott.test/pub/"

[[mirror]]
name = "au-syd"
country = "AU"
subdivision = "AU-NSW"
https = "https://au-syd.test/pub/"

[[mirror]]
name = "au-mel"
country = "AU"
subdivision = "AU-VIC"
https = "https://au-mel.test/pub/"
`

// subdivisionFile matches the path of a subdivision's list or metalink.
var subdivisionFile = regexp.MustCompile(`/[A-Z]{2}-[A-Z0-9]{1,3}\.(txt|xml)$`)

// Issue 14, item 4: gen writes sub-country lists only when [lists]
// subdivisions asks, only for the countries named there whose public
// mirrors stand in two or more subdivisions, for every variant, family
// and format, with the subdivision's mirrors first; index.json names
// them and the nginx edge looks the subdivision up and tries it only
// then.
func TestSubdivisionLists(t *testing.T) {
	tests := []struct {
		name  string
		lists string
		want  []string // the subdivision keys written
	}{
		{"off unless configured", "", nil},
		{"only the countries configured, only where two or more subdivisions have mirrors",
			"\n[lists]\nsubdivisions = [\"US\", \"CA\"]\n", []string{"US-CA", "US-NY"}},
		{"every country configured that qualifies",
			"\n[lists]\nsubdivisions = [\"AU\", \"CA\", \"US\"]\n", []string{"AU-NSW", "AU-VIC", "US-CA", "US-NY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			inv := load(t, header+tt.lists+subdivided)
			origin := filepath.Join(dir, "origin")
			if err := layouttest.WriteOrigin(origin, inv); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			run(t, gen.Options{Inventory: inv, Snapshot: statetest.Healthy(inv, nil), Out: out, OriginDir: origin})

			m, err := tree.ReadManifest(out)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, f := range m.Files {
				if subdivisionFile.MatchString(f.Path) {
					base := filepath.Base(f.Path)
					got[strings.TrimSuffix(base, filepath.Ext(base))]++
				}
			}
			var keys []string
			for k, n := range got {
				keys = append(keys, k)
				// Per key: 4 variants' lists (os, deb, pac, iso) and
				// the rpm variant's metalink, over IPv4 and IPv6.
				if n != 2*5 {
					t.Errorf("%s: %d files, want 10 (every variant, family and the metalink)", k, n)
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.want) {
				t.Errorf("subdivision lists %v, want %v", keys, tt.want)
			}

			var ix struct {
				Subdivisions []string `json:"subdivisions"`
			}
			if err := json.Unmarshal([]byte(read(t, out, "index.json")), &ix); err != nil {
				t.Fatal(err)
			}
			if ix.Subdivisions == nil || !slices.Equal(ix.Subdivisions, tt.want) { // [] when off, not null
				t.Errorf("index.json subdivisions %v, want %v", ix.Subdivisions, tt.want)
			}
			httpConf, serverConf := read(t, out, "edge/nginx-http.conf"), read(t, out, "edge/nginx.conf")
			looksUp := strings.Contains(httpConf, "$mirrorsteer_subdivision source=$remote_addr subdivisions 0 iso_code;")
			tries := strings.Contains(serverConf, "try_files /$mirrorsteer_lists/$arg_repo/$mirrorsteer_release/$mirrorsteer_arch/${mirrorsteer_family}AS${mirrorsteer_asn}-${mirrorsteer_country}.txt\n"+
				"              /$mirrorsteer_lists/$arg_repo/$mirrorsteer_release/$mirrorsteer_arch/${mirrorsteer_family}${mirrorsteer_country}-${mirrorsteer_subdivision}.txt\n"+
				"              /$mirrorsteer_lists/$arg_repo/$mirrorsteer_release/$mirrorsteer_arch/${mirrorsteer_family}${mirrorsteer_country}.txt")
			if on := len(tt.want) > 0; looksUp != on || tries != on || strings.Contains(httpConf+serverConf, "subdivision") != on {
				t.Errorf("the edge looks the subdivision up: %v, tries it after the ASN's and before the country's: %v; want %v\n%s\n%s", looksUp, tries, on, httpConf, serverConf)
			}
		})
	}
}

// A subdivision's list is its subdivision's mirrors, then the rest of its
// country, then what the country's list goes on with; its comment says
// whom it is for.
func TestSubdivisionListContent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, strings.Replace(header, "min = 2\n", "min = 4\n", 1)+"\n[lists]\nsubdivisions = [\"US\"]\n"+subdivided)
	run(t, gen.Options{Inventory: inv, Snapshot: statetest.Healthy(inv, nil), Out: out})
	tests := []struct {
		file string
		want []string // hosts in order
	}{
		// The United States' point is in Illinois: us-kc is nearest.
		{"urls/iso/US.txt", []string{"us-kc", "us-ny", "us-ca", "ca-ott"}},
		{"urls/iso/US-CA.txt", []string{"us-ca", "us-kc", "us-ny", "ca-ott"}},
		{"urls/iso/US-NY.txt", []string{"us-ny", "us-kc", "us-ca", "ca-ott"}},
	}
	for _, tt := range tests {
		var hosts []string
		for _, line := range strings.Split(strings.TrimSpace(read(t, out, tt.file)), "\n") {
			hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(line, "https://"), ".test/pub/iso/"))
		}
		// The two Canadian mirrors are equally far from Illinois (no
		// coordinates: Canada's point); which comes first is the spread.
		if len(hosts) == 4 && strings.HasPrefix(hosts[3], "ca-") {
			hosts[3] = "ca-ott"
		}
		if !slices.Equal(hosts, tt.want) {
			t.Errorf("%s: %v, want %v", tt.file, hosts, tt.want)
		}
	}
	if head := strings.SplitN(read(t, out, "mirrorlist/os/1/x86_64/US-CA.txt"), "\n", 2)[0]; !strings.Contains(head, "for subdivision US-CA") {
		t.Errorf("the list's comment says %q", head)
	}
	if !strings.Contains(read(t, out, "api/mirrors.json"), `"subdivision": "US-CA"`) {
		t.Error("api/mirrors.json does not give a mirror's subdivision")
	}
}
