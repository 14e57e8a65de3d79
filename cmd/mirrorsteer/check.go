package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// fileChecks are the components' checks of the parts of mirrors.toml
// they own: with them the inventory loader reports every error of the
// file, the components' among its own, sorted by position.
var fileChecks = []inventory.Check{probe.CheckFile, dnsd.CheckZoneFile, dnsd.CheckKeys}

func runCheck(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	inv, err := inventory.Load(*config, fileChecks...)
	if err != nil {
		return err
	}
	summarize(stdout, inv)
	ws := inv.Warnings()
	if len(ws) > 0 {
		fmt.Fprintf(stdout, "\n%d warning(s):\n", len(ws))
		for _, w := range ws {
			fmt.Fprintln(stdout, "  "+w)
		}
	}
	return nil
}

// summarize prints one screen about the network: what is there, where,
// over what, and what is missing.
func summarize(w io.Writer, inv *inventory.Inventory) {
	n := inv.Network
	fmt.Fprintf(w, "%s: %q, origin %s, max lag %v\n", inv.File, n.Name, n.Origin, n.MaxLag)
	public := 0
	byCountry := map[country.Code]int{}
	byContinent := map[country.Continent]int{}
	byProto := map[inventory.Protocol]int{}
	countryless := 0
	for _, m := range inv.Mirrors {
		if m.Public {
			public++
		}
		for p := range m.URLs {
			byProto[p]++
		}
		if m.Country == "" {
			countryless++
			continue
		}
		byCountry[m.Country]++
		byContinent[m.Continent()]++
	}
	fmt.Fprintf(w, "%d mirrors (%d public, %d private) in %d countries on %d continents\n",
		len(inv.Mirrors), public, len(inv.Mirrors)-public, len(byCountry), len(byContinent))
	var parts []string
	for _, k := range country.Continents() {
		parts = append(parts, fmt.Sprintf("%s %d", k, byContinent[k]))
	}
	fmt.Fprintf(w, "  by continent: %s\n", strings.Join(parts, ", "))
	codes := slices.Sorted(maps.Keys(byCountry))
	slices.SortStableFunc(codes, func(a, b country.Code) int { return byCountry[b] - byCountry[a] })
	parts = parts[:0]
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s %d", c, byCountry[c]))
	}
	fmt.Fprintf(w, "  by country:   %s\n", wrap(strings.Join(parts, ", "), 60, "                "))
	if countryless > 0 {
		fmt.Fprintf(w, "  no country:   %d (placed from their addresses by gen, lookup and dnsd with --geoip-city and a probe snapshot; see the warnings)\n", countryless)
	}
	parts = parts[:0]
	for _, p := range inventory.Protocols {
		parts = append(parts, fmt.Sprintf("%s %d", p, byProto[p]))
	}
	fmt.Fprintf(w, "  by protocol:  %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "repos:\n")
	for _, r := range inv.Repos {
		carried := 0
		for _, m := range inv.Mirrors {
			for _, v := range r.Variants() {
				if m.Carries(v) {
					carried++
					break
				}
			}
		}
		fmt.Fprintf(w, "  %-12s %-5s %d release(s) × %d arch(s), carried by %d mirrors\n", r.Name, r.Format, max(1, len(r.Releases)), max(1, len(r.Archs)), carried)
	}
	if d := inv.DNS; d != nil {
		parts = parts[:0]
		for _, name := range d.Names {
			served := 0
			for _, m := range inv.Mirrors {
				if slices.Contains(m.DNS, name.Label) {
					served++
				}
			}
			parts = append(parts, fmt.Sprintf("%s.%s (%s, %d mirrors)", name.Label, d.Zone, name.Protocol, served))
		}
		fmt.Fprintf(w, "dns: zone %s, ttl %d, %d name servers; %s\n", d.Zone, d.TTL, len(d.NS), strings.Join(parts, ", "))
	}
	var emptyContinents []string
	for _, k := range country.Continents() {
		if byContinent[k] == 0 {
			emptyContinents = append(emptyContinents, string(k))
		}
	}
	without := len(country.All()) - len(byCountry)
	fmt.Fprintf(w, "missing: %d of %d countries have no mirror (their lists come from neighbours, continent, world)", without, len(country.All()))
	if len(emptyContinents) > 0 {
		fmt.Fprintf(w, "; no mirror on %s", strings.Join(emptyContinents, ", "))
	}
	fmt.Fprintln(w)
}

// wrap breaks s at ", " boundaries so no line is longer than width.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, part := range strings.Split(s, ", ") {
		if i > 0 {
			if line+len(part)+2 > width {
				b.WriteString(",\n" + indent)
				line = 0
			} else {
				b.WriteString(", ")
				line += 2
			}
		}
		b.WriteString(part)
		line += len(part)
	}
	return b.String()
}
