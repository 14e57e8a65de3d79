package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// FuzzParse checks that no input makes Parse panic, that every error is
// reported one a line, each line starting with the file name (so a command
// can print them as they are), and that an accepted file holds no mirror a
// later stage could trip on.
func FuzzParse(f *testing.F) {
	shipped, err := os.ReadFile("../../mirrors.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte(base))
	f.Add([]byte(add("wieght = 1\nasn = [\"AS3320\", 0]\nsubnets = [\"192.0.2.1/24\"]\n")))
	f.Add([]byte(edit(`country = "DE"`, `country = "Germany"`)))
	f.Add([]byte(edit("[network]", "[[network]]")))
	f.Add([]byte(edit(`NZ = ["AU"]`, `"n\nz" = ["AU", "NZ"]`)))
	f.Add([]byte(edit(`zone = "example.org."`, `zone = "exa mple..org"`)))
	f.Add([]byte(add("location.city = \"x\"\n[\"a\\nb\".c]\nd = 1\n")))
	f.Add([]byte("[[mirror]]\nname = \"a\"\nsubnet_files = [\"\"]\n"))
	f.Add([]byte(add("subdivision = \"de-by\"\n\n[lists]\nsubdivisions = [\"de\", \"US\"]\n")))
	f.Add([]byte(add("subdivision = \"US-../\"\n")))
	f.Add([]byte{})
	hostile, err := filepath.Glob("testdata/hostile/*.toml")
	if err != nil || len(hostile) == 0 {
		f.Fatalf("no fixtures in testdata/hostile: %v", err)
	}
	for _, name := range hostile {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}

	dir := f.TempDir()
	const file = "mirrors.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse(file, data, dir)
		if err != nil {
			msg := err.Error()
			if msg == "" {
				t.Fatal("empty error message")
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Fatalf("error line does not start with %q: %q\nwhole error: %q", file+":", line, msg)
				}
			}
			return
		}
		if inv == nil {
			t.Fatal("no error and no inventory")
		}
		for _, m := range inv.Mirrors {
			if !safeName.MatchString(m.Name) || strings.Contains(m.Name, "..") {
				t.Errorf("accepted unsafe mirror name %q", m.Name)
			}
			if len(m.URLs) == 0 {
				t.Errorf("accepted mirror %q without a URL", m.Name)
			}
			for p, u := range m.URLs {
				if !strings.HasPrefix(strings.ToLower(u), string(p)+"://") || !strings.HasSuffix(u, "/") {
					t.Errorf("accepted mirror %q with %s URL %q", m.Name, p, u)
				}
			}
			// A subdivision names a list file: ISO 3166-2, in the
			// mirror's country.
			if s := m.Subdivision; s != "" {
				if back, err := country.ParseSubdivision(string(s)); err != nil || back != s || s.Country() != m.Country || strings.ContainsAny(string(s), "/\\.") {
					t.Errorf("accepted mirror %q in %s with subdivision %q (%v)", m.Name, m.Country, s, err)
				}
			}
		}
		for _, s := range inv.SubdivisionLists() {
			if !slices.Contains(inv.Lists.Subdivisions, s.Country()) {
				t.Errorf("a list for %s, whose country [lists] subdivisions does not name", s)
			}
		}
		for _, v := range inv.Variants() {
			if d := v.Dir(); strings.Contains(d, "..") || strings.HasPrefix(d, "/") {
				t.Errorf("variant dir %q escapes out/", d)
			}
		}
		checkAccepted(t, inv)
	})
}

// checkAccepted fails t when an accepted inventory holds what issue 9
// items 2, 4 and 6 refuse: text no output can hold, a URL that needs
// escaping, a name dnsd cannot pack, names that differ only in case.
func checkAccepted(t *testing.T, inv *Inventory) {
	t.Helper()
	text := []string{inv.Network.Name, inv.Network.Origin, inv.Network.Stamp}
	urls := []string{inv.Network.Origin}
	folded := map[string]string{}
	twin := func(kind, s string) {
		if prev, ok := folded[kind+strings.ToLower(s)]; ok && prev != s {
			t.Errorf("accepted %s %q and %q, which differ only in case", kind, prev, s)
		}
		folded[kind+strings.ToLower(s)] = s
	}
	for _, r := range inv.Repos {
		text = append(append(append(text, r.Name, r.Path), r.Releases...), r.Archs...)
		twin("repo", r.Name)
		for _, rel := range r.Releases {
			twin("release of "+r.Name, rel)
		}
		for _, a := range r.Archs {
			twin("arch of "+r.Name, a)
		}
	}
	for _, m := range inv.Mirrors {
		text = append(text, m.Name, m.Sponsor, m.SponsorURL, m.Label)
		twin("mirror", m.Name)
		for _, u := range m.URLs {
			text, urls = append(text, u), append(urls, u)
		}
	}
	for _, s := range text {
		if what, _ := refusedText(s); what != "" {
			t.Errorf("accepted %q, which has %s", s, what)
		}
	}
	for _, u := range urls {
		if i := strings.IndexFunc(u, func(r rune) bool { return r > 0x7e || r <= ' ' || strings.ContainsRune("$\"<>\\^`{|}", r) }); i >= 0 {
			t.Errorf("accepted base URL %q, which needs escaping", u)
		}
	}
	if d := inv.DNS; d != nil {
		names := []string{d.Zone, "_whoami." + d.Zone, d.Hostmaster, d.Fallback}
		for _, n := range d.Names {
			names = append(names, n.Label+"."+d.Zone)
		}
		for _, ns := range d.NS {
			names = append(names, ns.Name)
		}
		for _, n := range names {
			if wireLen(n) > maxWire {
				t.Errorf("accepted %s, %d octets in DNS wire form", n, wireLen(n))
			}
		}
	}
}
