package main

import (
	"fmt"
	"io"
	"net/netip"
	"net/url"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// locateMirrors places the mirrors without lat/lon at the GeoIP City
// location of their address: the host of a base URL that is an address,
// or an address probe recorded. GeoIP is only believed where it agrees
// with the declared country; a disagreeing answer is an anycast or CDN
// address, and the country's point is the better guess.
func locateMirrors(inv *inventory.Inventory, snap *state.Snapshot, cityPath string, stderr io.Writer) error {
	if cityPath == "" {
		return nil
	}
	db, err := geo.Open(cityPath, "")
	if err != nil {
		return err
	}
	defer db.Close()
	n := inv.Locate(func(m *inventory.Mirror) (country.Coord, bool) {
		for _, a := range mirrorAddrs(m, snap) {
			info := db.Lookup(a)
			if info.HasCoord && info.Country == m.Country {
				return info.Coord, true
			}
		}
		return country.Coord{}, false
	})
	if n > 0 {
		fmt.Fprintf(stderr, "%s: placed %d mirror(s) without lat/lon at their GeoIP location\n", cityPath, n)
	}
	return nil
}

// mirrorAddrs returns the addresses known for m, in protocol order.
func mirrorAddrs(m *inventory.Mirror, snap *state.Snapshot) []netip.Addr {
	var out []netip.Addr
	for _, p := range inventory.Protocols {
		u, err := url.Parse(m.URL(p))
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			out = append(out, a.Unmap())
		}
	}
	if snap != nil && snap.Mirrors[m.Name] != nil {
		for _, e := range snap.Mirrors[m.Name].Endpoints {
			if e.Addr.IsValid() {
				out = append(out, e.Addr.Unmap())
			}
		}
	}
	return out
}
