package gen

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/filehash"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
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

// formatDir is the top-level directory of each format's lists, named for
// the client that reads them.
var formatDir = map[inventory.Format]string{
	inventory.FormatRPM:   "mirrorlist",
	inventory.FormatDeb:   "apt",
	inventory.FormatArch:  "pacman",
	inventory.FormatFiles: "urls",
}

// familyDir is where a family's lists sit inside a list directory.
var familyDir = [...]string{inventory.IPv4: "", inventory.IPv6: "v6"}

// Run writes the tree. On any error the previous tree is left as it was.
func Run(o Options) (Stats, error) {
	inv := o.Inventory
	w, err := tree.Begin(o.Out)
	if err != nil {
		return Stats{}, err
	}
	defer w.Abort()

	clients := listClients(inv)
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
				ans.lists[fam] = make([][]policy.Choice, len(clients))
				for j, lc := range clients {
					c := lc.client
					c.Family = fam
					ans.lists[fam][j] = set.Select(c)
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
			dir := path.Join(formatDir[v.Repo.Format], v.Dir(), familyDir[fam])
			mdir := path.Join("metalink", v.Dir(), familyDir[fam])
			for j, lc := range clients {
				l := list{inv: inv, v: v, family: fam, who: lc.who, choices: ans.lists[fam][j]}
				buf = formats[v.Repo.Format](buf[:0], &l)
				if err := w.WriteFile(dir+"/"+lc.file+".txt", buf); err != nil {
					return st, err
				}
				st.Lists++
				if rmd != nil {
					buf = appendMetalink(buf[:0], &l, rmd, taken(o.Snapshot))
					if err := w.WriteFile(mdir+"/"+lc.file+".xml", buf); err != nil {
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
		if st.Meta4, warnings, err = writeMeta4(w, inv, o.Snapshot, o.OriginDir, cache); err != nil {
			return st, err
		}
		st.Warnings = append(st.Warnings, warnings...)
		st.Hashed, st.Reused = cache.Hashed, cache.Reused
		if err := cache.Save(); err != nil {
			return st, err
		}
	}
	if err := writeEdge(w, inv, o.Edge); err != nil {
		return st, err
	}
	for _, f := range []struct {
		name string
		data func() ([]byte, error)
	}{
		{"index.json", func() ([]byte, error) { return indexJSON(inv, o.Snapshot, clients) }},
		{"api/mirrors.json", func() ([]byte, error) { return mirrorsJSON(inv) }},
		{"api/state.json", func() ([]byte, error) { return stateJSON(inv, o.Snapshot) }},
	} {
		data, err := f.data()
		if err != nil {
			return st, fmt.Errorf("gen: %s: %w", f.name, err)
		}
		if err := w.WriteFile(f.name, data); err != nil {
			return st, err
		}
	}
	if err := writeSite(w, inv, o.Snapshot, clients, seen, o.OriginDir != ""); err != nil {
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
// client.
type answers struct {
	set   *policy.Set
	lists [2][][]policy.Choice
}

// listClient is one list file per variant and family: who it is for and
// what the policy knows of them.
type listClient struct {
	file    string       // file name without .txt
	who     string       // for the comment line
	country country.Code // the country of a country's list; "" for global and ASN lists
	client  policy.Client
}

// listClients returns the clients every variant gets a list for: everyone
// (global), each country of the table, and each ASN some mirror declares
// in each country where one of those mirrors stands. An ASN list is per
// country because the policy only honours an ASN match near the client,
// and a client known by its country alone (what an edge knows) is near
// the mirrors of its own country; an edge knows the ASN and the country.
func listClients(inv *inventory.Inventory) []listClient {
	out := []listClient{{file: "global", who: "everyone (location unknown)", client: policy.Client{Key: policy.KeyString("global")}}}
	for _, info := range country.All() {
		cc := info.Code
		out = append(out, listClient{
			file:    string(cc),
			who:     "country " + string(cc),
			country: cc,
			client:  policy.Client{Country: cc, Key: policy.KeyString(string(cc))},
		})
	}
	for _, ak := range asnCountries(inv) {
		key := ASNListName(ak.asn, ak.country)
		out = append(out, listClient{
			file:   key,
			who:    fmt.Sprintf("AS%d in country %s", ak.asn, ak.country),
			client: policy.Client{ASN: ak.asn, Country: ak.country, Key: policy.KeyString(key)},
		})
	}
	return out
}

// ASNListName is the name of the static list for clients of AS asn in
// country cc: AS3320-DE. lookup --asn N --country CC keys its client by it,
// so it shows that list's order.
func ASNListName(asn uint32, cc country.Code) string {
	return "AS" + strconv.FormatUint(uint64(asn), 10) + "-" + string(cc)
}

type asnCountry struct {
	asn     uint32
	country country.Code
}

// asnCountries returns the (ASN, country) pairs that get a list: each ASN
// a mirror declares, with each country where such a mirror stands,
// ordered by ASN then country.
func asnCountries(inv *inventory.Inventory) []asnCountry {
	var out []asnCountry
	for _, asn := range inv.ASNs() {
		var ccs []country.Code
		for _, m := range inv.Mirrors {
			if slices.Contains(m.ASNs, asn) && !slices.Contains(ccs, m.Country) {
				ccs = append(ccs, m.Country)
			}
		}
		slices.Sort(ccs)
		for _, cc := range ccs {
			out = append(out, asnCountry{asn, cc})
		}
	}
	return out
}
