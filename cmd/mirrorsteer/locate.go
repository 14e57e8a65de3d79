package main

import (
	"fmt"
	"io"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/placement"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// locateMirrors places the mirrors mirrors.toml leaves without a country
// or lat/lon at the GeoIP City location of their addresses (package
// placement), and says on stderr what it placed and what stays
// unplaced. gen, lookup and dnsd all call it, so they rank alike.
func locateMirrors(inv *inventory.Inventory, snap *state.Snapshot, cityPath string, stderr io.Writer) error {
	if cityPath != "" {
		db, err := geo.Open(cityPath, "")
		if err != nil {
			return err
		}
		defer db.Close()
		placed := placement.Place(inv, snap, db)
		if len(placed) > 0 {
			fmt.Fprintf(stderr, "%s: placed %d mirror(s) without a country or lat/lon at their GeoIP location:\n", cityPath, len(placed))
			for _, p := range placed {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
		}
	}
	var unplaced []string
	for _, m := range inv.Mirrors {
		if !m.Placed() {
			unplaced = append(unplaced, m.Name)
		}
	}
	if len(unplaced) > 0 {
		how := "give --geoip-city and a state.json from probe to place them from their addresses"
		if cityPath != "" {
			how = "no address of theirs in state.json or their URLs has a GeoIP record with a country; add country = \"CC\" to mirrors.toml"
		}
		fmt.Fprintf(stderr, "%d mirror(s) are unplaced (no country, no lat/lon), in no country's list and behind every placed mirror: %s; %s\n", len(unplaced), quoteList(unplaced, 5), how)
	}
	return nil
}

// quoteList quotes the first n names and says how many more there are.
func quoteList(names []string, n int) string {
	s := ""
	for i, name := range names {
		if i == n {
			return s + fmt.Sprintf(" and %d more", len(names)-n)
		}
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", name)
	}
	return s
}
