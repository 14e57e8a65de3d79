package gen

import (
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
	"github.com/mirrorsteer/mirrorsteer/site"
)

// writeSite renders the status site (package site) into the tree beside
// the lists. Its "which mirror will I get" pages show the answers the list
// files were written from, not a second computation: seen are the
// distinct sets of answers Run computed, and of[i] is variant i's.
// origin reports that metalinks were written (gen had --origin-dir).
func writeSite(w *tree.Writer, o Options, keys []layout.Key, seen, of []*answers) error {
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
		k := slices.Index(seen, of[i])
		groups[k].Files = append(groups[k].Files, site.ListFiles{Variant: variants[i], Metalink: origin && variants[i].Repo.Format == inventory.FormatRPM})
	}
	return site.Render(site.Data{Inventory: inv, Snapshot: snap, Lists: groups, Meta4: origin, Answers: o.Answers, AnswersNote: o.AnswersNote}, w.WriteFile)
}
