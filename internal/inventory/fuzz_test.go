package inventory

import (
	"os"
	"strings"
	"testing"
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
	f.Add([]byte{})

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
		}
		for _, v := range inv.Variants() {
			if d := v.Dir(); strings.Contains(d, "..") || strings.HasPrefix(d, "/") {
				t.Errorf("variant dir %q escapes out/", d)
			}
		}
	})
}
