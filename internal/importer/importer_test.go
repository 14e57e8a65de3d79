package importer

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to write it, then read it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s", path, got)
	}
}

func notesText(r *Result) string {
	var b strings.Builder
	notes := slices.Clone(r.Notes)
	slices.SortStableFunc(notes, func(a, b Note) int { return strings.Compare(a.Source, b.Source) })
	for _, n := range notes {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

// TestAlmaLinuxFixture imports a mirrors.d written from AlmaLinux's
// documented format with every quirk of the real one, and checks the
// whole output and report against golden files, and that the output
// loads.
func TestAlmaLinuxFixture(t *testing.T) {
	r, err := ReadAlmaLinux([]string{"testdata/almalinux/mirrors.d"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.TOML(AlmaLinuxHead, "mirrors.toml", ".")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("mirrors.toml", data, ".")
	if err != nil {
		t.Fatalf("the output does not load:\n%v", err)
	}
	if len(inv.Mirrors) != len(r.Mirrors) || len(inv.Mirrors) == 0 {
		t.Errorf("%d mirrors loaded, %d imported", len(inv.Mirrors), len(r.Mirrors))
	}
	golden(t, "almalinux/want.toml", string(data))
	golden(t, "almalinux/want.notes", notesText(r))
}

func TestMirrorZFixture(t *testing.T) {
	head, err := os.ReadFile("testdata/mirrorz-head.toml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadMirrorZ([]string{"testdata/mirrorz"}, MirrorZ{Cname: "almalinux", Country: "CN"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.TOML(Head{Name: "testdata/mirrorz-head.toml", Text: string(head)}, "mirrors.toml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.Parse("mirrors.toml", data, "."); err != nil {
		t.Fatalf("the output does not load:\n%v", err)
	}
	golden(t, "mirrorz-want.toml", string(data))
	golden(t, "mirrorz-want.notes", notesText(r))
}

// almaMirror imports one AlmaLinux file and returns the mirror it wrote
// (nil if left out) and the notes.
func almaMirror(t *testing.T, yml string) (*Mirror, string) {
	t.Helper()
	r := &Result{Format: "almalinux"}
	r.ParseAlmaLinux("mirrors.d/m.yml", []byte(yml))
	if _, err := r.TOML(AlmaLinuxHead, "mirrors.toml", "."); err != nil && len(r.Mirrors) > 0 {
		t.Fatalf("TOML: %v", err)
	}
	var m *Mirror
	if len(r.Mirrors) == 1 {
		m = r.Mirrors[0]
	}
	return m, notesText(r)
}

const almaBase = "name: m.example.org\naddress:\n  https: https://m.example.org/alma/\ngeolocation:\n  country: DE\nsponsor: S\nsponsor_url: https://s.example.org/\n"

func TestAlmaLinuxRepairs(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want map[inventory.Protocol]string // nil: left out
		note string
	}{
		{"https URL under http moves to https",
			"name: m.example.org\naddress:\n  http: https://m.example.org/alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, "mirrors.d/m.yml: https URL under http moved to https"},
		{"https URL under ftp moves to https",
			"name: m.example.org\naddress:\n  ftp: https://m.example.org/alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, "https URL under ftp moved to https"},
		{"a misfiled URL never replaces the one filed under its own scheme",
			"name: m.example.org\naddress:\n  http: https://m.example.org/other/\n  https: https://m.example.org/alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, "but its https URL is https://m.example.org/alma/ already; removed"},
		{"rsync host::module is written as a URL",
			"name: m.example.org\naddress:\n  rsync: rsync://m.example.org::alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"rsync": "rsync://m.example.org/alma/"}, "in rsync's host::module syntax written as rsync://m.example.org/alma/"},
		{"rsync's anonymous user and empty port go",
			"name: m.example.org\naddress:\n  rsync: rsync://rsync@m.example.org:/alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"rsync": "rsync://m.example.org/alma/"}, `user "rsync" removed`},
		{"a password takes the URL out",
			"name: m.example.org\naddress:\n  http: http://u:p@m.example.org/alma/\n  https: https://m.example.org/alma/\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, "carries a password; removed"},
		{"a base URL gets its slash",
			"name: m.example.org\naddress:\n  https: https://m.example.org/alma\ngeolocation:\n  country: DE\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, `"/" added at the end`},
		{"UK is GB", strings.Replace(almaBase, "country: DE", "country: UK", 1),
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, `country "UK" is not an ISO 3166-1 code; wrote GB`},
		{"a country name becomes its code", strings.Replace(almaBase, "country: DE", "country: Germany", 1),
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, `country "Germany" is a country name, not a code; wrote DE`},
		{"an unknown country is reported, not guessed: the mirror is kept for placement", strings.Replace(almaBase, "country: DE", "country: Deutschlandia", 1),
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, `country "Deutschlandia" is neither an ISO 3166-1 code nor a country name this importer knows; kept without one`},
		{"a private mirror nobody can reach is left out", almaBase + "private: true\ncloud_type: aws\ncloud_regions: [eu-west-1]\n",
			nil, "left out: private with no asn or subnets, so nobody could ever be sent to it (AlmaLinux matches it by cloud_type aws, cloud_regions [eu-west-1])"},
		{"a private mirror with a subnet stays", almaBase + "private: true\nsubnets: [192.0.2.0/24]\n",
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, ""},
		{"a name that is no file name falls back to the URL's host", strings.Replace(almaBase, "name: m.example.org", "name: \"My Mirror\"", 1),
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, `name "My Mirror" is not a safe file name (letters, digits and . _ + - only); named after its https host "m.example.org"`},
		{"control characters leave the sponsor", strings.Replace(almaBase, "sponsor: S", "sponsor: \"S\\x1b[31m\"", 1),
			map[inventory.Protocol]string{"https": "https://m.example.org/alma/"}, "control characters or extra spaces removed"},
		{"a file without a URL is left out", "name: m.example.org\naddress: {}\ngeolocation: {country: DE}\n", nil, "left out: no usable URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, notes := almaMirror(t, tt.yml)
			if tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("notes lack %q:\n%s", tt.note, notes)
			}
			switch {
			case tt.want == nil && m != nil:
				t.Errorf("mirror kept with URLs %v, want it left out", m.URLs)
			case tt.want != nil && m == nil:
				t.Fatalf("mirror left out, want URLs %v; notes:\n%s", tt.want, notes)
			case tt.want != nil && !mapsEqual(m.URLs, tt.want):
				t.Errorf("URLs %v, want %v", m.URLs, tt.want)
			}
			if m != nil && strings.ContainsFunc(m.Sponsor, func(r rune) bool { return r < 0x20 }) {
				t.Errorf("sponsor %q keeps control characters", m.Sponsor)
			}
		})
	}
}

func mapsEqual(a, b map[inventory.Protocol]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestOneURLTwoMirrors: the URL goes to the mirror on its host, and when
// no single mirror is, to none.
func TestOneURLTwoMirrors(t *testing.T) {
	r := &Result{Format: "almalinux"}
	r.ParseAlmaLinux("mirrors.d/down.yml", []byte("name: down.example.org\naddress:\n  https: https://down.example.org/a/\n  rsync: rsync://up.example.org/a/\ngeolocation: {country: DE}\n"))
	r.ParseAlmaLinux("mirrors.d/up.yml", []byte("name: up.example.org\naddress:\n  rsync: rsync://up.example.org/a/\n  http: http://up.example.org/a/\ngeolocation: {country: DE}\n"))
	r.ParseAlmaLinux("mirrors.d/x.yml", []byte("name: x.example.org\naddress:\n  https: https://shared.example.org/a/\ngeolocation: {country: DE}\n"))
	r.ParseAlmaLinux("mirrors.d/y.yml", []byte("name: y.example.org\naddress:\n  https: https://shared.example.org/a/\n  http: http://y.example.org/a/\ngeolocation: {country: DE}\n"))
	if _, err := r.TOML(AlmaLinuxHead, "mirrors.toml", "."); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[inventory.Protocol]string{}
	for _, m := range r.Mirrors {
		got[m.Name] = m.URLs
	}
	if u := got["up.example.org"][inventory.Rsync]; u != "rsync://up.example.org/a/" {
		t.Errorf("up keeps rsync %q, want its own URL", u)
	}
	if u, ok := got["down.example.org"][inventory.Rsync]; ok {
		t.Errorf("down keeps up's rsync URL %q", u)
	}
	if _, ok := got["x.example.org"]; ok {
		t.Errorf("x, left with no URL of its own, is kept: %v", got["x.example.org"])
	}
	if u, ok := got["y.example.org"][inventory.HTTPS]; ok {
		t.Errorf("y keeps the shared URL %q that is on no one's host", u)
	}
	notes := notesText(r)
	for _, want := range []string{
		`mirrors.d/down.yml: rsync URL rsync://up.example.org/a/ is "up.example.org"'s (on its host up.example.org); removed here`,
		`mirrors.d/x.yml: https URL https://shared.example.org/a/ is listed by "y.example.org" (mirrors.d/y.yml) too, and no single one of them is on host shared.example.org; removed from all`,
		"mirrors.d/x.yml: left out: no URL left that is not another mirror's",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// TestCountrylessFollowsTheInventory: a mirror without a country is kept
// (with a warning) exactly when mirrors.toml can express it.
func TestCountrylessFollowsTheInventory(t *testing.T) {
	m, notes := almaMirror(t, "name: m.example.org\naddress:\n  https: https://m.example.org/a/\n")
	if inventoryAcceptsNoCountry() {
		if m == nil || !strings.Contains(notes, "no country; kept without one") {
			t.Errorf("the inventory accepts mirrors without a country, but the mirror is not kept with a warning:\n%s", notes)
		}
	} else if m != nil || !strings.Contains(notes, "left out: no country, and mirrors.toml needs one") {
		t.Errorf("the inventory needs a country, but the mirror is not left out with a reason:\n%s", notes)
	}
}

// TestRefusedMirrorIsLeftOut: whatever the inventory refuses that the
// import did not foresee costs that mirror, not the file.
func TestRefusedMirrorIsLeftOut(t *testing.T) {
	r := &Result{Format: "test", Mirrors: []*Mirror{
		{Source: "a.yml", Name: "a.example.org", CountryText: "DE", Public: true, Label: "bad-label", URLs: map[inventory.Protocol]string{"https": "https://a.example.org/"}},
		{Source: "b.yml", Name: "b.example.org", CountryText: "DE", Public: true, URLs: map[inventory.Protocol]string{"https": "https://b.example.org/"}},
	}}
	data, err := r.TOML(AlmaLinuxHead, "mirrors.toml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "a.example.org") || !strings.Contains(string(data), "b.example.org") {
		t.Errorf("want a left out and b kept:\n%s", data)
	}
	if notes := notesText(r); !strings.Contains(notes, `a.yml: left out: mirrors.toml refuses it: [[mirror]] "a.example.org": label "bad-label" is not a mirror label`) {
		t.Errorf("notes:\n%s", notes)
	}
}

func TestBadHeadIsAnError(t *testing.T) {
	r := &Result{Format: "test"}
	for _, head := range []Head{
		{Name: "head.toml", Text: "[network]\nname = \"x\"\n"},
		{Name: "head.toml", Text: AlmaLinuxHead.Text + "\n[[mirror]]\nname = \"x\"\n"},
	} {
		if _, err := r.TOML(head, "mirrors.toml", "."); err == nil || !strings.Contains(err.Error(), "head.toml") {
			t.Errorf("head %q: error %v, want one naming head.toml", head.Text, err)
		}
	}
}

// TestOutputIsDeterministic: the same source gives the same bytes, in
// whatever order its files are named.
func TestOutputIsDeterministic(t *testing.T) {
	dir := "testdata/almalinux/mirrors.d"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yml") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	run := func(paths []string) string {
		r, err := ReadAlmaLinux(paths)
		if err != nil {
			t.Fatal(err)
		}
		data, err := r.TOML(AlmaLinuxHead, "mirrors.toml", ".")
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := strings.Cut(string(data), "[network]") // the header names the inputs
		return body
	}
	first := run(files)
	slices.Reverse(files)
	if second := run(files); second != first {
		t.Errorf("reversed file order gives another file:\n%s\n---\n%s", first, second)
	}
}

func TestResolveCountry(t *testing.T) {
	tests := []struct {
		in   string
		want country.Code
		ok   bool
	}{
		{"DE", "DE", true},
		{"de", "DE", true},
		{"UK", "GB", true},
		{"United Kingdom", "GB", true},
		{"england", "GB", true},
		{"Germany", "DE", true},
		{" australia ", "AU", true},
		{"United  States", "US", true},
		{"USA", "US", true},
		{"Czech Republic", "CZ", true},
		{"Türkiye", "TR", true},
		{"Turkey", "TR", true},
		{"XX", "", false},
		{"Atlantis", "", false},
		{"Europe", "", false},
	}
	for _, tt := range tests {
		got, _, ok := resolveCountry(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("resolveCountry(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:     `"plain"`,
		`a"b\c`:     `"a\"b\\c"`,
		"tab\tnl\n": `"tab\u0009nl\u000A"`,
		"ümlaut":    `"ümlaut"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}
