package gen

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/filehash"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
	"github.com/schollz/progressbar/v3"
)

// Options says what to generate and where.
type Options struct {
	Inventory *inventory.Inventory
	// Snapshot is the health to list by; nil means nothing is verified.
	Snapshot *state.Snapshot
	// Out is where the tree goes: a symbolic link to its current
	// generation, replaced atomically by each run (see package tree).
	Out string
	// Progress, when set, receives a progress bar (for a terminal).
	Progress io.Writer
	// OriginDir is a local copy of the origin tree. With it gen writes dnf
	// metalinks (hashes of each rpm repository's repomd.xml) and RFC 5854
	// metalinks for the large files; without it, neither.
	OriginDir string
	// HashCache is the file that remembers the origin files' hashes
	// between runs; empty means Out + ".hashes" beside the tree.
	HashCache string
	// Edge configures the nginx snippets under edge/.
	Edge Edge
	// SignKey, when set, signs api/state.json: api/state.json.sig.
	SignKey ed25519.PrivateKey
	// Answers are dnsd's answer statistics for the site (gen --stats);
	// AnswersNote says why there are none when they were asked for.
	Answers     *answerstats.Summary
	AnswersNote string
}

// Stats reports what a run did.
type Stats struct {
	tree.Stats
	// Lists is the number of mirror list files in the tree.
	Lists int
	// Metalinks and Meta4 count dnf metalinks and RFC 5854 metalinks.
	Metalinks, Meta4 int
	// Hashed and Reused count origin files read and answered from the
	// hash cache.
	Hashed, Reused int
	// Warnings are problems gen worked around, for the operator.
	Warnings []string
}

// Run writes the tree. On any error the previous tree is left as it was.
func Run(o Options) (Stats, error) {
	inv := o.Inventory
	w, err := tree.Begin(o.Out)
	if err != nil {
		return Stats{}, err
	}
	defer w.Abort()

	keys := layout.Keys(inv)
	variants := inv.Variants()
	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(len(variants)*2,
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("gen: lists"),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
	}
	var st Stats
	var buf []byte
	// Most variants have the same healthy set (every mirror carries every
	// arch), so their lists differ only in the path: compute the answers
	// of each distinct set once. Memory grows with distinct sets, not
	// with variants.
	var seen []*answers
	for i := range variants {
		v := &variants[i]
		set := policy.NewSet(inv, o.Snapshot, policy.Want{Variant: v})
		var ans *answers
		for _, a := range seen {
			if a.set.Same(set) {
				ans = a
				break
			}
		}
		if ans == nil {
			ans = &answers{set: set}
			for _, fam := range []inventory.Family{inventory.IPv4, inventory.IPv6} {
				ans.lists[fam] = make([][]policy.Choice, len(keys))
				for j, k := range keys {
					ans.lists[fam][j] = set.Select(k.Client(fam))
				}
			}
			seen = append(seen, ans)
		}
		var rmd *repomd
		if o.OriginDir != "" && v.Repo.Format == inventory.FormatRPM {
			if rmd, err = readRepomd(o.OriginDir, v, o.Snapshot, inv.Network.MaxLag); err != nil {
				return st, err
			}
		}
		for _, fam := range []inventory.Family{inventory.IPv4, inventory.IPv6} {
			for j, k := range keys {
				l := list{inv: inv, v: v, family: fam, who: k.Describe(), choices: ans.lists[fam][j]}
				buf = formats[v.Repo.Format](buf[:0], &l)
				if err := w.WriteFile(layout.ListPath(v, fam, k), buf); err != nil {
					return st, err
				}
				st.Lists++
				if rmd != nil {
					buf = appendMetalink(buf[:0], &l, rmd, taken(o.Snapshot))
					if err := w.WriteFile(layout.MetalinkPath(v, fam, k), buf); err != nil {
						return st, err
					}
					st.Metalinks++
				}
			}
			if bar != nil {
				bar.Add(1)
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	var meta4 []string
	if o.OriginDir != "" {
		cachePath := o.HashCache
		if cachePath == "" {
			cachePath = strings.TrimSuffix(o.Out, "/") + ".hashes"
		}
		cache, err := filehash.Open(cachePath)
		if err != nil {
			st.Warnings = append(st.Warnings, err.Error())
		}
		var warnings []string
		if meta4, warnings, err = writeMeta4(w, inv, o.Snapshot, o.OriginDir, cache); err != nil {
			return st, err
		}
		st.Meta4 = len(meta4)
		st.Warnings = append(st.Warnings, warnings...)
		st.Hashed, st.Reused = cache.Hashed, cache.Reused
		if err := cache.Save(); err != nil {
			return st, err
		}
	}
	if err := writeEdge(w, inv, o.Edge, meta4); err != nil {
		return st, err
	}
	for _, f := range []struct {
		name string
		data func() ([]byte, error)
	}{
		{layout.IndexJSON, func() ([]byte, error) { return indexJSON(inv, o.Snapshot, keys) }},
		{layout.MirrorsJSON, func() ([]byte, error) { return mirrorsJSON(inv) }},
		{layout.StateJSON, func() ([]byte, error) { return stateJSON(inv, o.Snapshot) }},
	} {
		data, err := f.data()
		if err != nil {
			return st, fmt.Errorf("gen: %s: %w", f.name, err)
		}
		if err := w.WriteFile(f.name, data); err != nil {
			return st, err
		}
	}
	if err := writeStateSignature(w, inv, o.Snapshot, o.SignKey); err != nil {
		return st, err
	}
	if err := writeSite(w, o, keys, seen); err != nil {
		return st, err
	}
	st.Stats, err = w.Commit()
	return st, err
}

// taken is the snapshot's time, or zero: the only time gen writes.
func taken(snap *state.Snapshot) time.Time {
	if snap == nil {
		return time.Time{}
	}
	return snap.Taken
}

// answers holds every list of one distinct healthy set, per family and
// key (in the order of layout.Keys).
type answers struct {
	set   *policy.Set
	lists [2][][]policy.Choice
}
