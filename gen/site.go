package gen

import (
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
	"github.com/mirrorsteer/mirrorsteer/site"
)

// writeSite renders the status site (package site) into the tree beside
// the lists. Its "which mirror will I get" pages show the answers the list
// files were written from, not a second computation: each variant is
// matched to the distinct set of answers Run computed for it. origin
// reports that metalinks were written (gen had --origin-dir).
func writeSite(w *tree.Writer, o Options, keys []layout.Key, seen []*answers) error {
	inv, snap, origin := o.Inventory, o.Snapshot, o.OriginDir != ""
	groups := make([]site.Lists, len(seen))
	for i, a := range seen {
		groups[i].Lists = make(map[layout.Key][2][]policy.Choice, len(keys))
		for j, k := range keys {
			groups[i].Lists[k] = [2][]policy.Choice{a.lists[inventory.IPv4][j], a.lists[inventory.IPv6][j]}
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
			groups[k].Files = append(groups[k].Files, site.ListFiles{Variant: *v, Metalink: origin && v.Repo.Format == inventory.FormatRPM})
			break
		}
	}
	return site.Render(site.Data{Inventory: inv, Snapshot: snap, Lists: groups, Meta4: origin, Answers: o.Answers, AnswersNote: o.AnswersNote}, w.WriteFile)
}
