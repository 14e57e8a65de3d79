package inventory

import (
	"fmt"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// Warnings returns what is legal but useless or surprising in the
// inventory, each with file:line:column where known, in file order.
func (inv *Inventory) Warnings() []string {
	type warning struct {
		line, col int
		text      string
	}
	var ws []warning
	add := func(path, format string, args ...any) {
		w := warning{text: fmt.Sprintf(format, args...)}
		loc := inv.File
		if p, ok := inv.pos.at(path); ok {
			w.line, w.col = p.Line, p.Column
			loc = fmt.Sprintf("%s:%d:%d", inv.File, p.Line, p.Column)
		}
		w.text = loc + ": " + w.text
		ws = append(ws, w)
	}
	// Positions are indexed by the mirror's place in the file, which is
	// its place in Mirrors: invalid mirrors never get this far.
	hasMirror := map[country.Code]bool{}
	for i, m := range inv.Mirrors {
		at := fmt.Sprintf("mirror.%d", i)
		if m.Public {
			hasMirror[m.Country] = true
		}
		switch {
		case m.Country == "" && !m.HasCoord:
			add(at, "[[mirror]] %q is unplaced (no country, no lat/lon): it is in no country's list and ranks behind every placed mirror until gen, lookup and dnsd place it from the address probe connected to (give them -s state.json and --geoip-city), or you add country = \"CC\"", m.Name)
		case m.Country == "":
			add(at, "[[mirror]] %q has no country: it is ranked by its lat/lon but in no country's list until gen, lookup and dnsd place it from the address probe connected to (give them -s state.json and --geoip-city), or you add country = \"CC\"", m.Name)
		}
		switch {
		case !m.Public && len(m.ASNs) == 0 && len(m.Subnets) == 0:
			add(at+".public", "[[mirror]] %q is private (public = false) but has no asn or subnets, so it can never be offered to anyone; add asn or subnets, or remove public = false", m.Name)
		case !m.Public && len(m.ASNs) == 0:
			add(at+".subnets", "[[mirror]] %q is private with subnets but no asn: static lists are per country and ASN, so only dnsd and lookup can offer it; add its asn to reach it from the lists too", m.Name)
		}
		carries := false
		for _, v := range inv.Variants() {
			if m.Carries(v) {
				carries = true
				break
			}
		}
		if !carries {
			add(at, "[[mirror]] %q carries nothing: no [[repo]] matches its repos = %v and archs = %v; fix those keys", m.Name, m.Repos, m.Archs)
		}
	}
	for ri, r := range inv.Repos {
		for _, v := range r.Variants() {
			n := 0
			for _, m := range inv.Mirrors {
				if m.Public && m.Carries(v) {
					n++
				}
			}
			if n == 0 {
				add(fmt.Sprintf("repo.%d", ri), "[[repo]] %q: no public mirror carries %s; its lists will hold the origin only", r.Name, v)
			}
		}
	}
	listed := map[country.Code]bool{}
	for _, s := range inv.SubdivisionLists() {
		listed[s.Country()] = true
	}
	for i, cc := range inv.Lists.Subdivisions {
		if listed[cc] {
			continue
		}
		at := fmt.Sprintf("lists.subdivisions.%d", i)
		if subs := inv.subdivisions(cc); len(subs) == 1 {
			add(at, "[lists] subdivisions: every public mirror of %s that declares its subdivision is in %s, so gen writes no subdivision lists for %s (they would repeat its list); give the others their subdivision, or remove %s", cc, subs[0], cc, cc)
		} else {
			add(at, "[lists] subdivisions: no public mirror of %s declares its subdivision, so gen writes no subdivision lists for it; give them subdivision = \"%s-...\" (ISO 3166-2), or remove %s", cc, cc, cc)
		}
	}
	for i, m := range inv.Mirrors {
		if m.Public && m.Subdivision == "" && listed[m.Country] {
			add(fmt.Sprintf("mirror.%d", i), "[[mirror]] %q has no subdivision, so the subdivision lists of %s give it after every subdivision's own mirrors; add subdivision = \"%s-...\" (ISO 3166-2)", m.Name, m.Country, m.Country)
		}
	}
	for _, from := range sortedCodes(inv.Policy.Neighbours) {
		for i, to := range inv.Policy.Neighbours[from] {
			if !hasMirror[to] {
				add(fmt.Sprintf("policy.neighbours.%s.%d", from, i), "[policy] neighbours of %s: %s has no public mirror, so listing it changes nothing", from, to)
			}
		}
	}
	if inv.DNS != nil {
		for _, n := range inv.DNS.Names {
			served := false
			for _, m := range inv.Mirrors {
				if slices.Contains(m.DNS, n.Label) {
					served = true
				}
			}
			if !served {
				add("dns.names."+n.Label, "[dns] name %q: no mirror lists it in its dns key, so dnsd can only answer the fallback", n.Label)
			}
		}
		// A preference name is at least <label>.<name>.<zone>: longer
		// than 255 octets, no query can carry it.
		for i, m := range inv.Mirrors {
			for _, name := range m.DNS {
				if msg := tooLong(m.Label + "." + name + "." + inv.DNS.Zone); m.Label != "" && msg != "" {
					add(fmt.Sprintf("mirror.%d.label", i), "[[mirror]] %q: its preference name %s, so no resolver can ask for it; shorten the label, the name or the zone", m.Name, msg)
				}
			}
		}
	}
	slices.SortStableFunc(ws, func(a, b warning) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return a.col - b.col
	})
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.text
	}
	return out
}

func sortedCodes(m map[country.Code][]country.Code) []country.Code {
	out := make([]country.Code, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
