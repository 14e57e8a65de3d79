package site_test

import (
	"bytes"
	"html/template"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/site"
)

const example = "../mirrors.toml"

// hostile is a mirror whose sponsor fields try to become markup. Its name
// cannot: the inventory only accepts [A-Za-z0-9][A-Za-z0-9._+-]*.
const hostile = `
[[mirror]]
name        = "evil.example.net"
sponsor     = "<script>alert(1)</script>"
sponsor_url = "https://evil.example.net/\"><script>alert(1)</script>"
country     = "NL"
https       = "https://evil.example.net/example/"
`

func load(t *testing.T, extra string) *inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse(example, append(data, extra...), "..")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// lists groups the variants as gen does and asks the policy for the list
// of every key.
func lists(inv *inventory.Inventory, snap *state.Snapshot) []site.Lists {
	var out []site.Lists
	var sets []*policy.Set
	variants := inv.Variants()
	for i := range variants {
		v := &variants[i]
		set := policy.NewSet(inv, snap, policy.Want{Variant: v})
		k := slices.IndexFunc(sets, set.Same)
		if k < 0 {
			k = len(sets)
			sets = append(sets, set)
			ls := site.Lists{Lists: map[layout.Key][2][]policy.Choice{}}
			for _, k := range layout.Keys(inv) {
				var fams [2][]policy.Choice
				for _, f := range inventory.Families {
					fams[f] = set.Select(k.Client(f))
				}
				ls.Lists[k] = fams
			}
			out = append(out, ls)
		}
		out[k].Files = append(out[k].Files, site.ListFiles{Variant: *v})
	}
	return out
}

func render(t *testing.T, d site.Data) map[string]string {
	t.Helper()
	files := map[string]string{}
	var mu sync.Mutex // Render writes from several goroutines
	err := site.Render(d, func(p string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := files[p]; dup {
			t.Errorf("%s written twice", p)
		}
		files[p] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// snapshot has one mirror down, one stale, one half down (IPv6), and one
// whose error text tries to become markup.
func snapshot(inv *inventory.Inventory) *state.Snapshot {
	return statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		switch m {
		case "mirror.lon.example.co.uk":
			e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 4
			e.Class, e.Error = "timeout", "no answer within 10s <img src=x onerror=alert(1)>"
			e.LastGood = statetest.Taken.Add(-26 * time.Hour)
			e.Lag = state.Duration{}
		case "mirror.tyo.example.jp":
			e.Healthy, e.Class, e.Error = false, "stale", "TIME says 2026-11-22T10:00:00Z, 21h behind the origin"
			e.Lag = state.DurationOf(21 * time.Hour)
		case "mirror.paris.example.fr":
			if e.Family == state.IPv6 {
				e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 2
				e.Class, e.Error = "refused", "connect: connection refused"
			}
		}
	})
}

var (
	dotRE = regexp.MustCompile(`<circle class="dot st-(\w+)"`)
	rowRE = regexp.MustCompile(`<tr data-order="\d+">`)
)

func TestRenderExampleWithoutSnapshot(t *testing.T) {
	inv := load(t, "")
	files := render(t, site.Data{Inventory: inv, Lists: lists(inv, nil)})
	want := 2 + len(country.All()) + len(inv.Mirrors) + 3
	if len(files) != want {
		t.Errorf("%d files, want %d (index, countries, each country, each mirror, 3 assets)", len(files), want)
	}
	for p, body := range files {
		if strings.HasSuffix(p, ".html") && !strings.Contains(body, "<strong>Nothing is verified.</strong>") {
			t.Errorf("%s does not say that nothing is verified", p)
		}
	}
	index := files["index.html"]
	if n := len(dotRE.FindAllString(index, -1)); n != len(inv.Mirrors) {
		t.Errorf("%d dots on the map, want %d", n, len(inv.Mirrors))
	}
	if n := len(rowRE.FindAllString(index, -1)); n != len(inv.Mirrors) {
		t.Errorf("%d rows in the table, want %d", n, len(inv.Mirrors))
	}
	for _, m := range dotRE.FindAllStringSubmatch(index, -1) {
		if m[1] != "unknown" {
			t.Fatalf("a dot is %q without a snapshot", m[1])
		}
	}
}

func TestRenderWithSnapshot(t *testing.T) {
	inv := load(t, "")
	snap := snapshot(inv)
	files := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	index := files["index.html"]
	if strings.Contains(index, "Nothing is verified") {
		t.Error("a verified site says nothing is verified")
	}
	states := map[string]int{}
	for _, m := range dotRE.FindAllStringSubmatch(index, -1) {
		states[m[1]]++
	}
	if want := map[string]int{"up": len(inv.Mirrors) - 3, "partial": 1, "stale": 1, "down": 1}; !maps.Equal(states, want) {
		t.Errorf("dots by state %v, want %v", states, want)
	}
	for _, s := range []string{"Snapshot taken <time datetime=\"2026-11-23T08:00:00Z\">2026-11-23 08:00 UTC</time>", "1 down", "21h"} {
		if !strings.Contains(index, s) {
			t.Errorf("index.html lacks %q", s)
		}
	}
	lon := files[site.MirrorPath("mirror.lon.example.co.uk")]
	for _, s := range []string{
		"it did not answer in time: no answer within 10s &lt;img src=x onerror=alert(1)&gt;",
		"4 failed runs in a row",
		"2026-11-22 06:00 UTC (1d 2h before the snapshot)",
		"down: not offered",
	} {
		if !strings.Contains(lon, s) {
			t.Errorf("the page of a mirror that is down lacks %q", s)
		}
	}
	if strings.Contains(lon, "<img") {
		t.Error("an error message became markup")
	}
	if tyo := files[site.MirrorPath("mirror.tyo.example.jp")]; !strings.Contains(tyo, "stale: not offered") || !strings.Contains(tyo, "it is further behind the origin than allowed: TIME says") {
		t.Error("the page of a stale mirror does not say why it is stale")
	}
	// Japan's own mirror is stale: Japan's list must not start with it.
	if jp := files[layout.CountryPage("JP")]; strings.Contains(jp, `<li><a href="../mirror/mirror.tyo.example.jp.html">`) {
		t.Error("a stale mirror is listed on Japan's page")
	}
}

// TestEveryClassIsDescribed: a mirror's page explains an endpoint's
// failure in plain words before probe's own sentence, for every class a
// snapshot can hold (the site once showed nothing for unreachable,
// not-found and redirect).
func TestEveryClassIsDescribed(t *testing.T) {
	inv := load(t, "")
	var public []string
	for _, m := range inv.Mirrors {
		if m.Public {
			public = append(public, m.Name)
		}
	}
	if len(public) < len(state.Classes) {
		t.Fatalf("%d public mirrors for %d classes", len(public), len(state.Classes))
	}
	class := map[string]state.Class{}
	for i, c := range state.Classes {
		class[public[i]] = c
	}
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		if c, ok := class[m]; ok {
			e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 1
			e.Class, e.Error = c, "what probe says of "+string(c)
		}
	})
	files := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	for m, c := range class {
		d := c.Description()
		if d == "" {
			t.Errorf("class %s has no description", c)
			continue
		}
		want := `<p class="error">` + template.HTMLEscapeString(d) + ": what probe says of " + string(c) + "</p>"
		if page := files[site.MirrorPath(m)]; !strings.Contains(page, want) {
			t.Errorf("class %s: the page of %s lacks %q", c, m, want)
		}
	}
}

func TestEverythingFromTheInventoryIsEscaped(t *testing.T) {
	inv := load(t, hostile)
	snap := snapshot(inv)
	files := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	for p, body := range files {
		if strings.Contains(body, "<script>alert") || strings.Contains(body, `"><script`) {
			t.Errorf("%s: the sponsor became markup", p)
		}
	}
	for _, p := range []string{"index.html", site.MirrorPath("evil.example.net")} {
		if !strings.Contains(files[p], "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the sponsor as text", p)
		}
	}
	for _, p := range []string{"index.html", site.MirrorPath("evil.example.net")} {
		if strings.Count(files[p], "<script") != 1 {
			t.Errorf("%s has a script element besides the site's own", p)
		}
	}
}

func TestMirrorNamesCannotCarryMarkup(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data) + "\n[[mirror]]\nname = \"<script>alert(1)</script>\"\ncountry = \"NL\"\nhttps = \"https://x.example/\"\n"
	if _, err := inventory.Parse("mirrors.toml", []byte(doc), ".."); err == nil || !strings.Contains(err.Error(), "<script>alert(1)</script>") {
		t.Errorf("the inventory accepted a mirror named <script>: %v", err)
	}
	// The site does not rely on the inventory for its file names.
	inv := load(t, "")
	inv.Mirrors[0].Name = "../index"
	if err := site.Render(site.Data{Inventory: inv}, func(string, []byte) error { return nil }); err == nil {
		t.Error("Render accepted a mirror name that leaves its directory")
	}
}

func TestPrivateMirrorsPublishNoAddresses(t *testing.T) {
	inv := load(t, "")
	m := inv.Mirror("mirror.internal.example-cloud.net")
	if m == nil || m.Public {
		t.Fatal("the example has no private mirror mirror.internal.example-cloud.net")
	}
	snap := statetest.Healthy(inv, func(name string, e *state.Endpoint) {
		if name == m.Name {
			e.Addr = e.Addr.Next() // any address: it must not appear
			e.Error = "secret-error-text"
		}
	})
	files := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	var secrets []string
	for _, u := range m.URLs {
		secrets = append(secrets, u)
	}
	for _, s := range m.Subnets {
		secrets = append(secrets, s.String())
	}
	secrets = append(secrets, "secret-error-text")
	for p, body := range files {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s publishes %q of a private mirror", p, s)
			}
		}
	}
	page := files[site.MirrorPath(m.Name)]
	if !strings.Contains(page, "This mirror is private") || !strings.Contains(page, "AS16509") {
		t.Error("the private mirror's page does not say it is private or which network it serves")
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	inv := load(t, hostile)
	snap := snapshot(inv)
	a := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	b := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})
	if !maps.Equal(a, b) {
		for p := range a {
			if a[p] != b[p] {
				t.Errorf("%s differs between two renders", p)
			}
		}
	}
}

func TestCountryPageShowsTheListsAndHowToUseThem(t *testing.T) {
	inv := load(t, "")
	ls := lists(inv, nil)
	files := render(t, site.Data{Inventory: inv, Lists: ls})
	nz := files[layout.CountryPage("NZ")]
	first := ls[0].Lists[layout.CountryKey("NZ")][inventory.IPv4][0].Mirror.Name
	i := strings.Index(nz, "<ol>")
	if i < 0 || !strings.HasPrefix(nz[i:], "<ol>\n<li><a href=\"../mirror/"+first+".html\">") {
		t.Errorf("New Zealand's first list does not start with %s", first)
	}
	for _, s := range []string{
		"There is no mirror in New Zealand.",
		`<a class="file" href="../mirrorlist/baseos/9/x86_64/NZ.txt">IPv4 list</a>`,
		`<a class="file" href="../mirrorlist/baseos/9/x86_64/v6/NZ.txt">IPv6 list</a>`,
		"mirrorlist=<span class=\"site-base\">https://THIS-SITE/</span>mirrorlist/baseos/$releasever/$basearch/NZ.txt",
		"deb mirror&#43;<span class=\"site-base\">https://THIS-SITE/</span>apt/debian/stable/amd64/NZ.txt stable main",
		"curl -fsSo /etc/pacman.d/mirrorlist ",
		"aria2c $(curl -fsS ",
	} {
		if !strings.Contains(nz, s) {
			t.Errorf("NZ page lacks %q", s)
		}
	}
}

func TestAssetsHaveNoExternalReferences(t *testing.T) {
	inv := load(t, "")
	files := render(t, site.Data{Inventory: inv, Lists: lists(inv, nil)})
	ext := regexp.MustCompile(`(?i)(src|href)="(https?:)?//|@import|url\(`)
	for _, p := range []string{"index.html", "countries.html", "assets/site.css", "assets/site.js", layout.CountryPage("DE")} {
		for _, m := range ext.FindAllString(files[p], -1) {
			// Links to mirrors and sponsors are fine; resources are not.
			if strings.HasPrefix(m, "src") || strings.Contains(m, "url(") || strings.Contains(m, "@import") {
				t.Errorf("%s loads something from elsewhere: %q", p, m)
			}
		}
	}
	if !bytes.Contains([]byte(files["index.html"]), []byte(`<link rel="stylesheet" href="assets/site.css">`)) {
		t.Error("index.html does not use the embedded stylesheet")
	}
}

// TestMirrorPageShowsWhatEachVantageSees: with a merged snapshot, a
// mirror's page has a row per endpoint and a column per vantage, greys
// what did not count (a vantage cut off over IPv4), and the index names
// the vantages; a single probe's snapshot shows none of it.
func TestMirrorPageShowsWhatEachVantageSees(t *testing.T) {
	inv := load(t, "")
	const lon = "mirror.lon.example.co.uk"
	vantage := func(name string, edit func(m string, e *state.Endpoint)) state.Source {
		s := statetest.Healthy(inv, edit)
		s.Vantage = name
		return state.Source{File: name + ".json", Snapshot: s}
	}
	down := func(e *state.Endpoint) {
		e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 2
		e.Class, e.Error = state.ClassTimeout, "no answer within 30s"
	}
	snap, err := state.Merge([]state.Source{
		vantage("ams", func(m string, e *state.Endpoint) {
			if m == lon {
				down(e)
			}
		}),
		vantage("fra", func(m string, e *state.Endpoint) {
			if m == lon && e.Protocol == state.HTTP {
				down(e)
			}
		}),
		// sin lost its IPv4 route: everything is down from there.
		vantage("sin", func(m string, e *state.Endpoint) {
			if e.Family == state.IPv4 {
				down(e)
			}
		}),
	}, state.MergeOptions{Now: statetest.Taken})
	if err != nil {
		t.Fatal(err)
	}
	// A hand-edited state.json may say anything in a note.
	snap.Merged.Vantages[1].Note = "<script>alert(1)</script>"
	files := render(t, site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)})

	index := files["index.html"]
	if !strings.Contains(index, "Merged from the probes of 3 vantages: <strong>ams</strong>, <strong>fra</strong>, <strong>sin</strong> (cut off over IPv4).") {
		t.Errorf("index does not name the vantages:\n%s", index)
	}
	page := files[site.MirrorPath(lon)]
	head := `<thead><tr><th scope="col">Endpoint</th><th scope="col">ams</th><th scope="col">fra</th><th scope="col">sin</th><th scope="col">Verdict</th></tr></thead>`
	if !strings.Contains(page, head) {
		t.Fatalf("no vantage table on %s:\n%s", lon, page)
	}
	rows := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?s)<tr>\n<th scope="row">(\w+ IPv\d)</th>\n(.*?)</tr>`).FindAllStringSubmatch(page[strings.Index(page, head):], -1) {
		rows[m[1]] = regexp.MustCompile(`<td( class="discounted")?><span class="st st-(\w+)">`).FindAllString(m[2], -1)
	}
	cell := func(discounted bool, status string) string {
		if discounted {
			return `<td class="discounted"><span class="st st-` + status + `">`
		}
		return `<td><span class="st st-` + status + `">`
	}
	want := map[string][]string{
		// ams and fra say down; sin is cut off over IPv4: out.
		"http IPv4": {cell(false, "down"), cell(false, "down"), cell(true, "down"), `<td><span class="st st-down">`},
		// ams says down, fra up, sin does not count: a tie keeps it.
		"https IPv4": {cell(false, "down"), cell(false, "up"), cell(true, "down"), `<td><span class="st st-up">`},
		// sin's IPv6 counts.
		"http IPv6":  {cell(false, "down"), cell(false, "down"), cell(false, "up"), `<td><span class="st st-down">`},
		"https IPv6": {cell(false, "down"), cell(false, "up"), cell(false, "up"), `<td><span class="st st-up">`},
	}
	for row, cells := range want {
		if !slices.Equal(rows[row], cells) {
			t.Errorf("%s: cells\n%q\nwant\n%q", row, rows[row], cells)
		}
	}
	for _, s := range []string{
		"not counted: the vantage is cut off over IPv4",
		"it did not answer in time",
		"<li><strong>sin</strong>: snapshot taken",
		"cut off over IPv4: it saw ",
		"<li><strong>fra</strong>: snapshot taken <time datetime=\"2026-11-23T08:00:00Z\">2026-11-23 08:00 UTC</time>; &lt;script&gt;alert(1)&lt;/script&gt;.</li>",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("%s lacks %q", lon, s)
		}
	}

	one := statetest.Healthy(inv, nil)
	single := render(t, site.Data{Inventory: inv, Snapshot: one, Lists: lists(inv, one)})
	if p := single[site.MirrorPath(lon)]; strings.Contains(p, "What each vantage sees") || strings.Contains(single["index.html"], "vantages") {
		t.Error("a single probe's snapshot shows vantages")
	}
}
