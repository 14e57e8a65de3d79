package geotest_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

func TestWriteIsDeterministic(t *testing.T) {
	read := func() (city, asn []byte) {
		c, a, err := geotest.Write(t.TempDir(), geotest.Demo())
		if err != nil {
			t.Fatal(err)
		}
		city, err = os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		asn, err = os.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		return city, asn
	}
	c1, a1 := read()
	c2, a2 := read()
	if !bytes.Equal(c1, c2) || !bytes.Equal(a1, a2) {
		t.Error("two Writes of Demo() differ")
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		nets []geotest.Net
		want string
	}{
		{"invalid prefix", t.TempDir(), []geotest.Net{{Country: "DE"}}, "invalid prefix"},
		{"missing directory", t.TempDir() + "/nope", geotest.Demo(), "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := geotest.Write(tt.dir, tt.nets)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestWriteReplaces: a database is replaced as every file mirrorsteer
// writes: through a symbolic link (kept), whole, with mode 0644 and
// nothing left beside it.
func TestWriteReplaces(t *testing.T) {
	dir, store := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(store, geotest.CityFile), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, geotest.CityFile), filepath.Join(dir, geotest.CityFile)); err != nil {
		t.Fatal(err)
	}
	city, _, err := geotest.Write(dir, geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(city); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link %s was replaced by a file (%v)", city, err)
	}
	fi, err := os.Stat(city)
	if err != nil || fi.Mode().Perm() != 0o644 || fi.Size() < 1000 {
		t.Errorf("the link's target: %v, %v; want a database with mode 0644", fi, err)
	}
	for d, want := range map[string]int{dir: 2, store: 1} { // the link and ASN; the city
		if ents, _ := os.ReadDir(d); len(ents) != want {
			t.Errorf("%s holds %d entries, want %d", d, len(ents), want)
		}
	}
}

// TestDemo checks the promises Demo's documentation makes.
func TestDemo(t *testing.T) {
	seen := map[netip.Prefix]bool{}
	continents := map[string]map[string]bool{}
	var v4, v6 int
	for _, n := range geotest.Demo() {
		if !n.Prefix.IsValid() || n.Prefix != n.Prefix.Masked() {
			t.Errorf("%v: not a valid, masked prefix", n.Prefix)
		}
		if seen[n.Prefix] {
			t.Errorf("%v: listed twice", n.Prefix)
		}
		seen[n.Prefix] = true
		if n.Prefix.Addr().Is4() {
			v4++
		} else {
			v6++
		}
		if n.Continent != "" && n.Country != "" {
			if continents[n.Continent] == nil {
				continents[n.Continent] = map[string]bool{}
			}
			continents[n.Continent][n.Country] = true
		}
	}
	for _, k := range []string{"AF", "AS", "EU", "NA", "OC", "SA"} {
		if len(continents[k]) < 2 {
			t.Errorf("continent %s has %d countries, want at least 2", k, len(continents[k]))
		}
	}
	if len(continents["AN"]) == 0 {
		t.Error("no network in Antarctica")
	}
	if v4 == 0 || v6 == 0 {
		t.Errorf("%d IPv4 and %d IPv6 networks, want both", v4, v6)
	}
	for _, p := range []string{"127.0.0.0/8", "::1/128"} {
		if !seen[netip.MustParsePrefix(p)] {
			t.Errorf("loopback %s is missing", p)
		}
	}
}
