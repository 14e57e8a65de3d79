package gen

import (
	"path"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
	"github.com/mirrorsteer/mirrorsteer/site"
)

// writeSite renders the status site (package site) into the tree beside
// the lists. Its "which mirror will I get" pages show the answers the list
// files were written from, not a second computation: each variant is
// matched to the distinct set of answers Run computed for it. origin
// reports that metalinks were written (gen had --origin-dir).
func writeSite(w *tree.Writer, inv *inventory.Inventory, snap *state.Snapshot, clients []listClient, seen []*answers, origin bool) error {
	groups := make([]site.Lists, len(seen))
	for i, a := range seen {
		groups[i].Countries = map[country.Code][2][]policy.Choice{}
		for j, lc := range clients {
			if cc := lc.country; cc != "" {
				groups[i].Countries[cc] = [2][]policy.Choice{a.lists[inventory.IPv4][j], a.lists[inventory.IPv6][j]}
			}
		}
	}
	variants := inv.Variants()
	for i := range variants {
		v := &variants[i]
		set := policy.NewSet(inv, snap, policy.Want{Variant: v})
		for k, a := range seen {
			if !a.set.Same(set) {
				continue
			}
			f := site.ListFiles{Variant: *v, Dir: path.Join(formatDir[v.Repo.Format], v.Dir())}
			if origin && v.Repo.Format == inventory.FormatRPM {
				f.Metalink = path.Join("metalink", v.Dir())
			}
			groups[k].Files = append(groups[k].Files, f)
			break
		}
	}
	return site.Render(site.Data{Inventory: inv, Snapshot: snap, Lists: groups, Meta4: origin}, w.WriteFile)
}
