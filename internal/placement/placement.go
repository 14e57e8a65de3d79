// Package placement places the mirrors mirrors.toml leaves without a
// country or lat/lon, from the GeoIP City records of their addresses.
//
// gen, lookup and dnsd call [Place] the same way on the same inputs, so
// the three rank a placed mirror alike. A mirror's addresses are, in this
// order: the hosts of its base URLs that are IP addresses (the
// operator's own word), then the addresses probe connected to
// (state.json's endpoint addr), the IPv4 ones first, each family in
// protocol order (http, https, ftp, rsync); each address counts once.
//
//   - A mirror without a country takes the country most of its addresses'
//     records name; a tie goes to the country named first. Its position
//     is the first record of that country with coordinates, else the
//     country's point (a lat/lon from the file is kept). An address whose
//     record names no country places nothing.
//   - A mirror with a country but no lat/lon takes the coordinates of the
//     first record that has them and names the same country. A record
//     that names another country is an anycast or CDN address, and the
//     country's point is the better guess.
//
// A mirror that nothing places keeps what the file gives; one with no
// country and no lat/lon stays unplaced ([inventory.Mirror.Placed]), and
// the policy offers it behind every placed mirror.
package placement

import (
	"fmt"
	"net/netip"
	"net/url"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Locator finds the GeoIP record of an address; *geo.DB is one.
type Locator interface {
	Lookup(a netip.Addr) geo.Info
}

// Placed says how Place placed one mirror.
type Placed struct {
	Mirror *inventory.Mirror
	// By is the address whose record placed it (also Mirror.PlacedBy).
	By netip.Addr
	// Country is true when the country came from By's record (the file
	// gives none), false when only the coordinates did.
	Country bool
}

// String says it as check and the logs do: `mirror "m": country DE and
// position 52.52,13.40 from 192.0.2.1 (GeoIP)`.
func (p Placed) String() string {
	m := p.Mirror
	what := "position"
	if p.Country {
		what = "country " + string(m.Country) + " and position"
	}
	return fmt.Sprintf("mirror %q: %s %.2f,%.2f from %s (GeoIP)", m.Name, what, m.Coord.Lat, m.Coord.Lon, p.By)
}

// Place places every mirror of inv that the file leaves without a
// country or lat/lon, from the records db gives its addresses (Addrs),
// and returns what it placed, in inventory order. It changes Country,
// Coord and PlacedBy of those mirrors only. snap may be nil: then only
// addresses written in base URLs count.
func Place(inv *inventory.Inventory, snap *state.Snapshot, db Locator) []Placed {
	var out []Placed
	for _, m := range inv.Mirrors {
		if m.Country != "" && m.HasCoord {
			continue
		}
		var p Placed
		var ok bool
		if m.Country == "" {
			p, ok = placeCountry(m, Addrs(m, snap), db)
		} else {
			p, ok = placeCoord(m, Addrs(m, snap), db)
		}
		if ok {
			m.PlacedBy = p.By
			out = append(out, p)
		}
	}
	return out
}

// placeCountry gives a mirror without a country the country most of
// its addresses' records name, and a position.
func placeCountry(m *inventory.Mirror, addrs []netip.Addr, db Locator) (Placed, bool) {
	infos := make([]geo.Info, len(addrs))
	votes := map[country.Code]int{}
	var order []country.Code
	for i, a := range addrs {
		infos[i] = db.Lookup(a)
		cc := infos[i].Country
		if !cc.Valid() {
			continue
		}
		if votes[cc] == 0 {
			order = append(order, cc)
		}
		votes[cc]++
	}
	if len(order) == 0 {
		return Placed{}, false
	}
	win := order[0]
	for _, cc := range order[1:] {
		if votes[cc] > votes[win] {
			win = cc
		}
	}
	first, withCoord := -1, -1
	for i := range addrs {
		if infos[i].Country != win {
			continue
		}
		if first < 0 {
			first = i
		}
		if infos[i].HasCoord && infos[i].Coord.Valid() {
			withCoord = i
			break
		}
	}
	m.Country = win
	by := addrs[first]
	if !m.HasCoord {
		if withCoord >= 0 {
			m.Coord, by = infos[withCoord].Coord, addrs[withCoord]
		} else {
			m.Coord, _ = win.Coord()
		}
	}
	return Placed{Mirror: m, By: by, Country: true}, true
}

// placeCoord gives a mirror with a country and no lat/lon the
// coordinates of the first record that has them and agrees.
func placeCoord(m *inventory.Mirror, addrs []netip.Addr, db Locator) (Placed, bool) {
	for _, a := range addrs {
		info := db.Lookup(a)
		if info.HasCoord && info.Coord.Valid() && info.Country == m.Country {
			m.Coord = info.Coord
			return Placed{Mirror: m, By: a}, true
		}
	}
	return Placed{}, false
}

// Addrs returns the addresses known for m in the order Place trusts
// them: literal hosts of its base URLs in protocol order, then the
// addresses probe connected to, IPv4 before IPv6, each in protocol
// order. Each address is listed once.
func Addrs(m *inventory.Mirror, snap *state.Snapshot) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if a.IsValid() {
			for _, b := range out {
				if b == a {
					return
				}
			}
			out = append(out, a)
		}
	}
	for _, p := range inventory.Protocols {
		u, err := url.Parse(m.URL(p))
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			add(a)
		}
	}
	if snap == nil || snap.Mirrors[m.Name] == nil {
		return out
	}
	for _, f := range inventory.Families {
		for _, p := range inventory.Protocols {
			if e := snap.Mirrors[m.Name].Endpoint(p, f); e != nil {
				add(e.Addr)
			}
		}
	}
	return out
}
