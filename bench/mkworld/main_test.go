package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// TestWorld: the same seed writes the same bytes, the inventory loads with
// its 449 mirrors (23 private) and no coordinates, and the sample has
// clients in every country of the table, located by the databases.
func TestWorld(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := run(dir, 7, 3000, 600, 2, 2, 23, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"mirrors.toml", "state.json", "GeoIP2-City.mmdb", "GeoLite2-ASN.mmdb", "clients.txt"} {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed (%v, %v)", f, err1, err2)
		}
	}
	inv, err := inventory.Load(filepath.Join(a, "mirrors.toml"))
	if err != nil {
		t.Fatal(err)
	}
	private, countries := 0, map[country.Code]bool{}
	for _, m := range inv.Mirrors {
		if !m.Public {
			private++
		}
		if m.HasCoord {
			t.Errorf("%s has coordinates", m.Name)
		}
		countries[m.Country] = true
	}
	if len(inv.Mirrors) != 449 || private != 23 || len(countries) != 73 {
		t.Errorf("%d mirrors, %d private, in %d countries; want 449, 23, 73", len(inv.Mirrors), private, len(countries))
	}
	db, err := geo.Open(filepath.Join(a, "GeoIP2-City.mmdb"), filepath.Join(a, "GeoLite2-ASN.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data, err := os.ReadFile(filepath.Join(a, "clients.txt"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[country.Code]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "#" {
			continue
		}
		info := db.Lookup(mustAddr(t, f[0]))
		if string(info.Country) != f[2] || info.ASN == 0 {
			t.Errorf("%s: databases say %s AS%d, the sample says %s", f[0], info.Country, info.ASN, line)
		}
		seen[info.Country] = true
	}
	for _, in := range country.All() {
		if !seen[in.Code] {
			t.Errorf("no client in %s", in.Code)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
