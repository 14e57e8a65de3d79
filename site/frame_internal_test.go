package site

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// TestFramedPagesAreTheLayoutsPages checks that every page rendered in a
// frame is byte for byte the page the layout renders around it, with and
// without a snapshot, for names that need escaping.
func TestFramedPagesAreTheLayoutsPages(t *testing.T) {
	data, err := os.ReadFile("../mirrors.toml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), `name    = "Example Linux"`, `name    = "Example <Linux> & 'Friends' \"+\""`, 1)
	doc += "\n[[mirror]]\nname = \"a+b_c.example.net\"\ncountry = \"CI\"\nhttps = \"https://a.example.net/x/\"\n"
	inv, err := inventory.Parse("mirrors.toml", []byte(doc), "..")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inv.Network.Name, "<") {
		t.Fatal("the example's network name was not replaced")
	}
	for _, snap := range []*state.Snapshot{nil, statetest.Healthy(inv, nil)} {
		tmpl, err := parse()
		if err != nil {
			t.Fatal(err)
		}
		v := build(Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
		f := &framer{t: tmpl, frames: map[page]*frame{}}
		type named struct {
			name string
			data interface{ Layout() page }
		}
		pages := []named{{"index", v.index()}, {"countries", v.countries()}}
		for _, m := range v.mirrors {
			pages = append(pages, named{"mirror", v.mirrorPage(m)})
		}
		for _, info := range country.All() {
			pages = append(pages, named{"country", v.countryPage(info)})
		}
		for _, p := range pages {
			var framed, whole bytes.Buffer
			if err := f.render(&framed, p.name, p.data); err != nil {
				t.Fatal(err)
			}
			if err := tmpl[p.name].ExecuteTemplate(&whole, "layout", p.data); err != nil {
				t.Fatal(err)
			}
			if framed.String() != whole.String() {
				t.Fatalf("%s %q (snapshot %v): framed\n%s\nwhole\n%s", p.name, p.data.Layout().Title, snap != nil, framed.String(), whole.String())
			}
		}
		if len(f.frames) < 4 {
			t.Errorf("%d frames for %d pages: the frames are not shared", len(f.frames), len(pages))
		}
	}
}

// lists asks the policy for every key's list, one group per distinct set
// of variants, as gen does.
func lists(inv *inventory.Inventory, snap *state.Snapshot) []Lists {
	var out []Lists
	var sets []*policy.Set
	variants := inv.Variants()
	for i := range variants {
		set := policy.NewSet(inv, snap, policy.Want{Variant: &variants[i]})
		k := slices.IndexFunc(sets, set.Same)
		if k < 0 {
			k = len(sets)
			sets = append(sets, set)
			ls := Lists{Lists: map[layout.Key][2][]policy.Choice{}}
			for _, key := range layout.Keys(inv) {
				var fams [2][]policy.Choice
				for _, fam := range inventory.Families {
					fams[fam] = set.Select(key.Client(fam))
				}
				ls.Lists[key] = fams
			}
			out = append(out, ls)
		}
		out[k].Files = append(out[k].Files, ListFiles{Variant: variants[i]})
	}
	return out
}
