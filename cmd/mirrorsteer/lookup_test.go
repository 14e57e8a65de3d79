package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout/layouttest"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

const exampleConfig = "../../mirrors.toml"

// exampleTree is the tree gen writes for the example network, with dnf
// metalinks: made once per snapshot for the tests that read it.
type exampleTree struct {
	once  sync.Once
	inv   *inventory.Inventory
	snap  *state.Snapshot
	lists []layouttest.List
	err   error
}

var (
	scratch string
	trees   [2]exampleTree // without a snapshot, with layouttest.Varied
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mirrorsteer-lookup")
	if err != nil {
		panic(err)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// example returns the example network, a snapshot (nil, or
// layouttest.Varied when varied) and the lists gen wrote for them.
func example(t *testing.T, varied bool) (*inventory.Inventory, *state.Snapshot, []layouttest.List) {
	t.Helper()
	i := 0
	if varied {
		i = 1
	}
	e := &trees[i]
	e.once.Do(func() {
		if e.inv, e.err = inventory.Load(exampleConfig); e.err != nil {
			return
		}
		if varied {
			e.snap = layouttest.Varied(e.inv)
		}
		dir := filepath.Join(scratch, strconv.Itoa(i))
		origin := filepath.Join(dir, "origin")
		if e.err = layouttest.WriteOrigin(origin, e.inv); e.err != nil {
			return
		}
		out := filepath.Join(dir, "out")
		if _, e.err = gen.Run(gen.Options{Inventory: e.inv, Snapshot: e.snap, Out: out, OriginDir: origin}); e.err != nil {
			return
		}
		e.lists, e.err = layouttest.Read(out, e.inv)
	})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.inv, e.snap, e.lists
}

// Issue 10, item 5: lookup --list KEY with a list's repo, release, arch and
// family prints exactly the list gen wrote under that key: the same
// mirrors, in the same order, by the same URLs (so the same protocol),
// for every list and dnf metalink of every format, variant, family and
// key of the example network, with and without a snapshot. The binary's
// flags are checked on a sample in test/lookup_test.go.
func TestLookupListIsTheFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		varied bool
	}{
		{"without a snapshot", false},
		{"with a varied snapshot", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv, snap, lists := example(t, tc.varied)
			// Every key of every variant and family: global, each
			// country, each ASN in each country where a mirror of it
			// stands, each subdivision where a public mirror of a
			// [lists] subdivisions country stands (when they are two or
			// more); twice (IPv4, IPv6) for each variant, and again for
			// the dnf metalinks of each rpm variant.
			pairs := map[string]bool{}
			subs := map[country.Code]map[country.Subdivision]bool{}
			for _, m := range inv.Mirrors {
				for _, asn := range m.ASNs {
					pairs[fmt.Sprintf("AS%d-%s", asn, m.Country)] = true
				}
				if m.Public && m.Subdivision != "" && slices.Contains(inv.Lists.Subdivisions, m.Country) {
					if subs[m.Country] == nil {
						subs[m.Country] = map[country.Subdivision]bool{}
					}
					subs[m.Country][m.Subdivision] = true
				}
			}
			for _, in := range subs {
				if len(in) >= 2 {
					for s := range in {
						pairs[string(s)] = true
					}
				}
			}
			files := len(inv.Variants())
			for _, v := range inv.Variants() {
				if v.Repo.Format == inventory.FormatRPM {
					files++
				}
			}
			if want := 2 * files * (1 + len(country.All()) + len(pairs)); len(lists) != want {
				t.Fatalf("%d list files, want %d", len(lists), want)
			}
			var originOnly, http int
			kinds := map[string]int{}
			for _, l := range lists {
				kinds[keyKind(l.Key)]++
				got, err := lookupURLs(inv, snap, &l)
				if err != nil {
					t.Fatalf("%s: %v", l.Path, err)
				}
				if !slices.Equal(got, l.URLs) {
					t.Fatalf("lookup %s prints\n\t%s\n%s holds\n\t%s", strings.Join(l.Args(), " "), strings.Join(got, "\n\t"), l.Path, strings.Join(l.URLs, "\n\t"))
				}
				for i, u := range l.URLs {
					if strings.HasPrefix(u, "http:") {
						http++
					}
					if l.Metalink && !strings.HasPrefix(u, l.Protocols[i]+":") {
						t.Fatalf("%s: %s has protocol=%q", l.Path, u, l.Protocols[i])
					}
				}
				if len(l.URLs) == 1 && strings.HasPrefix(l.URLs[0], inv.Network.Origin) {
					originOnly++
				}
			}
			// The walk must have met what makes lists differ, and
			// every kind of key.
			if snap != nil && (originOnly == 0 || http == 0) {
				t.Errorf("the varied snapshot gave %d origin-only lists and %d http URLs; want some of each", originOnly, http)
			}
			for _, k := range []string{"global", "country", "asn", "subdivision"} {
				if kinds[k] == 0 {
					t.Errorf("the walk met no %s list: %v", k, kinds)
				}
			}
		})
	}
}

// keyKind names the kind of a list's key from its spelling alone: global,
// a country (DE), an ASN in a country (AS3320-DE), a subdivision (US-CA).
func keyKind(key string) string {
	switch {
	case key == "global":
		return "global"
	case len(key) == 2:
		return "country"
	case len(key) > 2 && key[2] == '-':
		return "subdivision"
	case strings.HasPrefix(key, "AS"):
		return "asn"
	}
	return "unknown " + key
}

// lookupURLs runs lookup for the list l names, as `lookup --list KEY
// --repo R --release V --arch A [--v6]` does after parsing its flags, and
// returns the URLs it prints: for a metalink, those of its repomd.xml.
func lookupURLs(inv *inventory.Inventory, snap *state.Snapshot, l *layouttest.List) ([]string, error) {
	res, err := lookup(inv, snap, lookupQuery{list: l.Key, v6: l.V6, repo: l.Variant.Repo.Name, release: l.Variant.Release, arch: l.Variant.Arch})
	if err != nil {
		return nil, err
	}
	if l.Metalink {
		if res.file == "" || !strings.HasPrefix(l.Path, "metalink/") {
			return nil, fmt.Errorf("lookup names no list file for a metalink")
		}
	} else if res.file != l.Path {
		return nil, fmt.Errorf("lookup says the list is %s", res.file)
	}
	var urls []string
	for _, r := range res.rows {
		urls = append(urls, r.URL)
	}
	if len(urls) == 0 {
		urls = []string{res.origin}
	}
	if l.Metalink {
		for i := range urls {
			urls[i] += "repodata/repomd.xml"
		}
	}
	return urls, nil
}

// Issue 10, item 5: lookup --asn N --country CC shows the list an edge
// serves that client (the first that exists of AS<N>-<CC>, <CC>, global,
// in the family's lists) and names its file: for every ASN a mirror
// declares and one none does, with and without a country, for every
// country, family and repository. Issue 14, item 4: and with
// --subdivision S, AS<N>-<CC>, S, <CC>, global, for every subdivision a
// mirror declares and one none does. Before, --asn 3320 --country FR keyed
// its client AS3320-FR, a list gen does not write, and ranked the French
// mirrors' neighbours in another order than FR.txt, the file an edge
// serves.
func TestLookupByASNAndCountryIsTheServedFile(t *testing.T) {
	inv, snap, lists := example(t, true)
	byPath := map[string]*layouttest.List{}
	for i := range lists {
		byPath[lists[i].Path] = &lists[i]
	}
	ccs := []country.Code{""}
	for _, info := range country.All() {
		ccs = append(ccs, info.Code)
	}
	asns := append([]uint32{0, 64496}, inv.ASNs()...)
	// Each subdivision a mirror declares (the private mirror's has no
	// list), and one in each of their countries that none does.
	subs := map[country.Code][]country.Subdivision{}
	for _, m := range inv.Mirrors {
		if m.Subdivision == "" {
			continue
		}
		if subs[m.Country] == nil {
			subs[m.Country] = []country.Subdivision{country.Subdivision(m.Country + "-ZZ9")}
		}
		if !slices.Contains(subs[m.Country], m.Subdivision) {
			subs[m.Country] = append(subs[m.Country], m.Subdivision)
		}
	}
	var viaASN, viaSub int
	for _, r := range inv.Repos {
		v := r.Variants()[0]
		for _, v6 := range []bool{false, true} {
			dir := map[inventory.Format]string{inventory.FormatRPM: "mirrorlist", inventory.FormatDeb: "apt", inventory.FormatArch: "pacman", inventory.FormatFiles: "urls"}[r.Format] + "/" + v.Dir() + "/"
			if v6 {
				dir += "v6/"
			}
			for _, asn := range asns {
				for _, cc := range ccs {
					if asn == 0 && cc == "" {
						continue // lookup needs one of them
					}
					for _, sub := range append([]country.Subdivision{""}, subs[cc]...) {
						var want string
						names := []string{fmt.Sprintf("AS%d-%s", asn, cc), string(sub), string(cc), "global"}
						if sub == "" {
							names = slices.Delete(names, 1, 2)
						}
						for _, name := range names {
							if byPath[dir+name+".txt"] != nil {
								want = dir + name + ".txt"
								break
							}
						}
						switch {
						case strings.Contains(want, "/AS"):
							viaASN++
						case sub != "" && strings.HasSuffix(want, "/"+string(sub)+".txt"):
							viaSub++
						}
						q := lookupQuery{asn: asn, country: cc, subdivision: sub, v6: v6, repo: r.Name, release: v.Release, arch: v.Arch}
						res, err := lookup(inv, snap, q)
						if err != nil {
							t.Fatalf("AS%d in %q %q: %v", asn, cc, sub, err)
						}
						if res.file != want {
							t.Fatalf("AS%d in %q %q, %s v6=%v: lookup names %s, an edge serves %s", asn, cc, sub, v, v6, res.file, want)
						}
						var got []string
						for _, row := range res.rows {
							got = append(got, row.URL)
						}
						if len(got) == 0 {
							got = []string{res.origin}
						}
						if l := byPath[want]; !slices.Equal(got, l.URLs) {
							t.Fatalf("AS%d in %q %q: lookup prints\n\t%s\n%s holds\n\t%s", asn, cc, sub, strings.Join(got, "\n\t"), want, strings.Join(l.URLs, "\n\t"))
						}
					}
				}
			}
		}
	}
	if viaASN == 0 || viaSub == 0 {
		t.Errorf("%d clients were served an ASN list, %d a subdivision's; want some of each", viaASN, viaSub)
	}
}
