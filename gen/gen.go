package gen

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Inputs, when set, describes everything the other options were made
	// from, and is recorded with the tree so that a rerun from the same
	// inputs can leave it as it is (see Unchanged). Ignored with an
	// OriginDir.
	Inputs *Inputs
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
//
// The files are rendered and written on every CPU at once: the lists of
// each variant and family, the site, and the rest are separate jobs, and
// the answers behind the lists are computed in parallel first. The bytes
// written do not depend on the order.
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
	// Most variants have the same healthy set (every mirror carries every
	// arch), so their lists differ only in the path: compute the answers
	// of each distinct set once (policy.NewSets gives them one Set).
	// Memory grows with distinct sets, not with variants.
	wants := make([]policy.Want, len(variants))
	for i := range variants {
		wants[i] = policy.Want{Variant: &variants[i]}
	}
	var seen []*answers
	of := make([]*answers, len(variants)) // each variant's answers
	for i, set := range policy.NewSets(inv, o.Snapshot, wants) {
		k := slices.IndexFunc(seen, func(a *answers) bool { return a.set == set })
		if k < 0 {
			seen, k = append(seen, &answers{set: set}), len(seen)
		}
		of[i] = seen[k]
	}
	for _, a := range seen {
		// Where every mirror is as healthy over IPv6 as over IPv4 (no
		// snapshot, or a network without IPv6 trouble), a client's lists
		// over both are the same: rank them once.
		fams := inventory.Families
		if a.set.SameFamilies() {
			fams = fams[:1]
		}
		for _, fam := range fams {
			a.lists[fam] = make([][]policy.Choice, len(keys))
			a.bases[fam] = make([][]string, len(keys))
		}
		parallel(len(keys), func(j int) error {
			for _, fam := range fams {
				l := a.set.Select(keys[j].Client(fam))
				a.lists[fam][j] = l
				// Each entry's base URL, once for every variant that
				// has these answers (Choice.URL is a map lookup).
				bases := make([]string, len(l))
				for i := range l {
					bases[i] = l[i].URL()
				}
				a.bases[fam][j] = bases
			}
			return nil
		})
		if len(fams) == 1 {
			a.lists[inventory.IPv6] = a.lists[inventory.IPv4]
			a.bases[inventory.IPv6] = a.bases[inventory.IPv4]
		}
	}

	var st Stats
	var mu sync.Mutex // guards st in the jobs
	// The longest job, the site, goes first so that it is not the last
	// one running.
	jobs := []func() error{
		func() error { return writeSite(w, o, keys, seen, of) },
		func() error {
			other, err := writeOther(w, o, keys)
			mu.Lock()
			defer mu.Unlock()
			st.Meta4, st.Hashed, st.Reused = other.Meta4, other.Hashed, other.Reused
			st.Warnings = append(st.Warnings, other.Warnings...)
			return err
		},
	}
	for i := range variants {
		v := &variants[i]
		var rmd *repomd // read by the variant's first job
		var rmdOnce sync.Once
		var rmdErr error
		for _, fam := range []inventory.Family{inventory.IPv4, inventory.IPv6} {
			jobs = append(jobs, func() error {
				if o.OriginDir != "" && v.Repo.Format == inventory.FormatRPM {
					rmdOnce.Do(func() { rmd, rmdErr = readRepomd(o.OriginDir, v, o.Snapshot, inv.Network.MaxLag) })
					if rmdErr != nil {
						return rmdErr
					}
				}
				lists, metalinks, err := writeLists(w, inv, v, fam, keys, of[i], rmd, taken(o.Snapshot))
				mu.Lock()
				st.Lists += lists
				st.Metalinks += metalinks
				mu.Unlock()
				if bar != nil {
					bar.Add(1)
				}
				return err
			})
		}
	}
	if err := parallel(len(jobs), func(i int) error { return jobs[i]() }); err != nil {
		return st, err
	}
	if bar != nil {
		bar.Finish()
	}
	// What the tree is made from, for a rerun to tell that it would
	// write the same (Unchanged). Not with an origin copy: its files are
	// not among the inputs.
	if o.Inputs != nil && o.OriginDir == "" && programID() != "" {
		w.SetNote(o.Inputs.note(programID(), &st))
	}
	st.Stats, err = w.Commit()
	return st, err
}

// writeLists writes the lists of one variant and family from a, and
// their dnf metalinks when rmd is set, and counts them.
func writeLists(w *tree.Writer, inv *inventory.Inventory, v *inventory.Variant, fam inventory.Family, keys []layout.Key, a *answers, rmd *repomd, taken time.Time) (lists, metalinks int, err error) {
	bp := listBufs.Get().(*[]byte)
	defer listBufs.Put(bp)
	buf := *bp
	defer func() { *bp = buf }()
	path := v.Path()
	for j, k := range keys {
		l := list{inv: inv, v: v, path: path, family: fam, who: k.Describe(), choices: a.lists[fam][j], bases: a.bases[fam][j]}
		buf = formats[v.Repo.Format](buf[:0], &l)
		if err := w.WriteFile(layout.ListPath(v, fam, k), buf); err != nil {
			return lists, metalinks, err
		}
		lists++
		if rmd != nil {
			buf = appendMetalink(buf[:0], &l, rmd, taken)
			if err := w.WriteFile(layout.MetalinkPath(v, fam, k), buf); err != nil {
				return lists, metalinks, err
			}
			metalinks++
		}
	}
	return lists, metalinks, nil
}

// listBufs holds the buffers lists are rendered into, grown to the
// largest list (the global one), for the next job.
var listBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeOther writes what is neither a list nor the site: the RFC 5854
// metalinks (with an origin copy), the edge snippets, the JSON documents
// and the signature of api/state.json. The Stats it returns count only the metalinks and hashes.
func writeOther(w *tree.Writer, o Options, keys []layout.Key) (Stats, error) {
	inv := o.Inventory
	var st Stats
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
	return st, nil
}

// parallel calls f(0)…f(n-1) on one goroutine per CPU and returns the
// first error; after an error no further call starts.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for first.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
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
	bases [2][][]string // each entry's Choice.URL
}
