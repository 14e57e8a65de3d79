package site

import (
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// page is what the layout needs on every page.
type page struct {
	Title    string
	Root     string // the tree's root relative to the page: "" or "../"
	Current  string // the navigation entry of this page
	Network  string
	Origin   string
	MaxLag   string
	Verified bool
	Taken    string
	TakenISO string
	Stamp    string
	StampISO string
	// Answers links the answers page (gen --stats).
	Answers bool
}

// Layout is what the layout template renders from, and what a page's
// frame is rendered from (see framer). It has page's fields as fields of
// its own: a template finds a field of a struct embedded in the page's
// only by a search that allocates, where a method is found at once.
func (p page) Layout() page { return p }

func (v *view) page(title, root, current string) page {
	return page{
		Title: title, Root: root, Current: current,
		Network: v.inv.Network.Name, Origin: v.inv.Network.Origin, MaxLag: fmtDuration(v.inv.Network.MaxLag),
		Verified: v.verified, Taken: v.taken, TakenISO: v.takenISO, Stamp: v.stamp, StampISO: v.stampISO,
		Answers: v.answers != nil,
	}
}

type statusCount struct {
	Status Status
	Text   string
	N      int
}

type indexPage struct {
	page
	Mirrors   []*mirrorView
	Totals    []statusCount
	Protocols []protoRow
	Land      string
	MapTop    int
	MapHeight int
	Public    int
	Private   int
	Countries int
	Vantages  []vantageView
	// Rows and Dots are the table's rows and the map's dots (fragments.go).
	Rows, Dots template.HTML
}

func (v *view) index() *indexPage {
	p := &indexPage{
		page:    v.page("Mirror status", "", "index"),
		Mirrors: v.mirrors, Protocols: v.protocols, Land: strings.TrimSpace(worldPath),
		MapTop: mapTop, MapHeight: mapBottom - mapTop,
		Countries: len(v.perCC), Vantages: v.vantages(),
	}
	p.Rows, p.Dots = indexRows(v.mirrors)
	for _, s := range statusOrder {
		if n := v.totals[s]; n > 0 || s != StatusUnknown {
			p.Totals = append(p.Totals, statusCount{Status: s, Text: statusText[s], N: n})
		}
	}
	for _, m := range v.mirrors {
		if m.Public {
			p.Public++
		} else {
			p.Private++
		}
	}
	return p
}

var continentNames = map[country.Continent]string{
	country.Africa:       "Africa",
	country.Antarctica:   "Antarctica",
	country.Asia:         "Asia",
	country.Europe:       "Europe",
	country.NorthAmerica: "North America",
	country.Oceania:      "Oceania",
	country.SouthAmerica: "South America",
}

type countriesPage struct {
	page
	Continents []continentView
}

type continentView struct {
	Name      string
	Countries []countryLink
}

type countryLink struct {
	Code    country.Code
	Name    string
	Href    string
	Mirrors int
	First   string // the first mirror of its first list, if any
}

func (v *view) countries() *countriesPage {
	p := &countriesPage{page: v.page("Which mirror will I get?", "", "countries")}
	all := country.All()
	for _, k := range country.Continents() {
		cv := continentView{Name: continentNames[k]}
		for _, info := range all {
			if info.Continent != k {
				continue
			}
			l := countryLink{Code: info.Code, Name: info.Name, Href: layout.CountryPage(info.Code), Mirrors: v.perCC[info.Code]}
			if len(v.lists) > 0 {
				if ls := v.lists[0].Lists[v.served(info.Code)][inventory.IPv4]; len(ls) > 0 {
					l.First = ls[0].Mirror.Name
				}
			}
			cv.Countries = append(cv.Countries, l)
		}
		p.Continents = append(p.Continents, cv)
	}
	return p
}

type mirrorPage struct {
	page
	M           *mirrorView
	URLs        []urlView
	ASNs        []string
	Subnets     []string
	Where       string
	LagLimit    string
	Carries     string
	HasSnapshot bool
	InSnapshot  bool
	CountryHref string
	Vantages    []vantageView
	// Answers are dnsd's answers with this mirror (gen --stats).
	Answers *mirrorAnswers
	// Head is the page down to the networks, EndpointRows the rows of
	// the table of endpoints (fragments.go).
	Head, EndpointRows template.HTML
}

type urlView struct {
	Protocol inventory.Protocol
	URL      string
	Link     bool // http(s): a link; ftp and rsync are shown as text
}

func (v *view) mirrorPage(m *mirrorView) *mirrorPage {
	p := &mirrorPage{page: v.page(m.Name, "../", ""), M: m, HasSnapshot: v.snap != nil, CountryHref: layout.CountryPage(m.Country), Vantages: v.vantages()}
	if v.snap != nil {
		p.InSnapshot = v.snap.Mirrors[m.Name] != nil
	}
	if m.Public {
		for _, pr := range inventory.Protocols {
			if u := m.URL(pr); u != "" {
				p.URLs = append(p.URLs, urlView{Protocol: pr, URL: u, Link: pr == inventory.HTTP || pr == inventory.HTTPS})
			}
		}
		for _, s := range m.Subnets {
			p.Subnets = append(p.Subnets, s.String())
		}
	}
	for _, a := range m.ASNs {
		p.ASNs = append(p.ASNs, "AS"+strconv.FormatUint(uint64(a), 10))
	}
	p.Where = where(m.Mirror)
	p.Answers = v.answers.forMirror(m.Name)
	p.LagLimit = fmtDuration(v.inv.LagLimit(m.Mirror))
	p.Carries = m.carries
	p.Head, p.EndpointRows = mirrorHead(p), endpointRows(m.Endpoints)
	return p
}

type countryPage struct {
	page
	Code       country.Code
	Name       string
	Continent  string
	Here       []*mirrorView
	HereLinks  template.HTML // links to Here (fragments.go)
	Neighbours []countryLink
	Groups     []groupView
	HowTo      []howTo
	LowerCode  string
}

type groupView struct {
	Title    string
	Families []listView
}

type listView struct {
	Family  string
	Files   []fileLink // the first variant's files
	Entries []entryView
	Items   template.HTML // Entries as list items (fragments.go)
	Origin  string        // set when the list is empty: it holds the origin only
}

type fileLink struct {
	Text, Href string
}

type entryView struct {
	Rank     int
	Name     string
	Href     string
	Country  country.Code
	Reason   string
	Distance string
	URL      string
}

type howTo struct {
	Client string
	Repo   string
	Lines  []howToLine
	Note   string
}

// howToLine is one line of a configuration example: text before this
// site's address, then the path after it. Path empty means a plain line.
type howToLine struct {
	Before, Path, After string
}

func (v *view) countryPage(info country.Info) *countryPage {
	cc := info.Code
	p := &countryPage{
		page: v.page(string(cc)+": which mirror will I get?", "../", "countries"),
		Code: cc, Name: info.Name, Continent: continentNames[info.Continent], LowerCode: strings.ToLower(string(cc)),
	}
	for _, m := range v.mirrors {
		if m.Country == cc {
			p.Here = append(p.Here, m)
		}
	}
	p.HereLinks = hereLinks(p.Here)
	for _, n := range v.inv.Policy.Neighbours[cc] {
		ni, _ := country.Lookup(n)
		p.Neighbours = append(p.Neighbours, countryLink{Code: n, Name: ni.Name, Href: layout.CountryPage(n), Mirrors: v.perCC[n]})
	}
	key := v.served(cc)
	// Groups of variants whose lists for this country are the same are
	// shown once, and so is an IPv6 list that equals the IPv4 one.
	var files [][]ListFiles
	var entries [][2][]entryView
	for _, ls := range v.lists {
		if len(ls.Files) == 0 {
			continue
		}
		var e [2][]entryView
		for _, fam := range []inventory.Family{inventory.IPv4, inventory.IPv6} {
			e[fam] = v.entries(ls.Lists[key][fam])
		}
		k := slices.IndexFunc(entries, func(o [2][]entryView) bool {
			return slices.Equal(o[0], e[0]) && slices.Equal(o[1], e[1])
		})
		if k < 0 {
			files, entries = append(files, nil), append(entries, e)
			k = len(files) - 1
		}
		files[k] = append(files[k], ls.Files...)
	}
	for k, fs := range files {
		var vs []inventory.Variant
		for _, f := range fs {
			vs = append(vs, f.Variant)
		}
		g := groupView{Title: variantsTitle(v.inv, vs)}
		v4 := fileLink{Text: "IPv4 list", Href: "../" + layout.ListPath(&fs[0].Variant, inventory.IPv4, key)}
		v6 := fileLink{Text: "IPv6 list", Href: "../" + layout.ListPath(&fs[0].Variant, inventory.IPv6, key)}
		if slices.Equal(entries[k][0], entries[k][1]) {
			g.Families = []listView{{Family: "IPv4 and IPv6", Files: []fileLink{v4, v6}, Entries: entries[k][0]}}
		} else {
			g.Families = []listView{
				{Family: "IPv4", Files: []fileLink{v4}, Entries: entries[k][0]},
				{Family: "IPv6", Files: []fileLink{v6}, Entries: entries[k][1]},
			}
		}
		for i := range g.Families {
			g.Families[i].Items = entryItems(g.Families[i].Entries)
			if len(g.Families[i].Entries) == 0 {
				g.Families[i].Origin = v.inv.Network.Origin
			}
		}
		p.Groups = append(p.Groups, g)
	}
	p.HowTo = v.howTo(cc, key)
	return p
}

// served is the key of the list an edge serves a client known by its
// country cc alone: what a country's page shows.
func (v *view) served(cc country.Code) layout.Key {
	return layout.Served(func(k layout.Key) bool {
		_, ok := v.lists[0].Lists[k]
		return ok
	}, 0, cc, "")
}

// entries is one list as the page shows it.
func (v *view) entries(list []policy.Choice) []entryView {
	var out []entryView
	for i, c := range list {
		e := entryView{
			Rank: i + 1, Name: c.Mirror.Name, Href: "../" + layout.MirrorPage(c.Mirror.Name),
			Country: c.Mirror.Country, Reason: reasonText(c.Reason), Distance: "unknown",
		}
		if c.DistanceKm >= 0 {
			e.Distance = strconv.FormatFloat(c.DistanceKm, 'f', 0, 64) + " km"
		}
		if c.Mirror.Public {
			e.URL = c.URL()
		}
		out = append(out, e)
	}
	return out
}

var reasonTexts = map[policy.Reason]string{
	policy.Subnet:    "your network",
	policy.ASN:       "your provider",
	policy.Country:   "same country",
	policy.Neighbour: "neighbour country",
	policy.Continent: "same continent",
	policy.World:     "elsewhere",
	policy.Weight:    "by weight",
}

func reasonText(r policy.Reason) string {
	if s, ok := reasonTexts[r]; ok {
		return s
	}
	return r.String()
}

// variantsTitle names variants compactly: a repository all of whose
// variants are there is named alone, one whose releases × archs are all
// there as "baseos 9/10 x86_64".
func variantsTitle(inv *inventory.Inventory, vs []inventory.Variant) string {
	var parts []string
	for _, r := range inv.Repos {
		var in []inventory.Variant
		var rels, archs []string
		for _, vr := range vs {
			if vr.Repo != r {
				continue
			}
			in = append(in, vr)
			if !slices.Contains(rels, vr.Release) {
				rels = append(rels, vr.Release)
			}
			if !slices.Contains(archs, vr.Arch) {
				archs = append(archs, vr.Arch)
			}
		}
		switch {
		case len(in) == 0:
		case len(in) == len(r.Variants()):
			parts = append(parts, r.Name)
		case len(in) == len(rels)*len(archs):
			parts = append(parts, strings.TrimSpace(r.Name+" "+strings.Join(rels, "/")+" "+strings.Join(archs, "/")))
		default:
			for _, vr := range in {
				parts = append(parts, vr.String())
			}
		}
	}
	return strings.Join(parts, ", ")
}

// howTo returns, per repository, how to point its client at the list of
// key k, which a client in country cc gets.
func (v *view) howTo(cc country.Code, k layout.Key) []howTo {
	var out []howTo
	for _, r := range v.inv.Repos {
		f, ok := v.firstFiles(r)
		if !ok {
			continue
		}
		vr := f.Variant
		list := layout.ListPath(&vr, inventory.IPv4, k)
		switch r.Format {
		case inventory.FormatRPM:
			// The variant as dnf spells it, with its own variables for
			// the release and arch where the repository has them.
			dv := vr
			if dv.Release != "" {
				dv.Release = "$releasever"
			}
			if dv.Arch != "" {
				dv.Arch = "$basearch"
			}
			list, list6 := layout.ListPath(&dv, inventory.IPv4, k), layout.ListPath(&dv, inventory.IPv6, k)
			h := howTo{Client: "dnf / yum", Repo: r.Name, Lines: []howToLine{
				{Before: "[" + r.Name + "]"},
				{Before: "name=" + v.inv.Network.Name + " " + r.Name},
				{Before: "mirrorlist=", Path: list},
			}, Note: "in /etc/yum.repos.d/; IPv6-only hosts use " + list6 + ". dnf fills in $releasever and $basearch."}
			if f.Metalink {
				h.Lines[2] = howToLine{Before: "metalink=", Path: layout.MetalinkPath(&dv, inventory.IPv4, k)}
				h.Note = "in /etc/yum.repos.d/; the metalink carries repomd.xml's hashes, so dnf refuses a mirror that is out of date. " +
					"The plain list is " + list + ". dnf fills in $releasever and $basearch."
			}
			out = append(out, h)
		case inventory.FormatDeb:
			suite := vr.Release
			if suite == "" {
				suite = "stable"
			}
			out = append(out, howTo{Client: "apt", Repo: r.Name, Lines: []howToLine{
				{Before: "deb mirror+", Path: list, After: " " + suite + " main"},
			}, Note: "in /etc/apt/sources.list.d/" + r.Name + ".list (apt 1.6 or later has the mirror method; install apt-transport-mirror on older ones). Use the list of your release and architecture."})
		case inventory.FormatArch:
			out = append(out, howTo{Client: "pacman", Repo: r.Name, Lines: []howToLine{
				{Before: "curl -fsSo /etc/pacman.d/mirrorlist ", Path: list},
			}, Note: "the Server lines keep pacman's $repo and $arch, which pacman expands per repository."})
		case inventory.FormatFiles:
			lines := []howToLine{
				{Before: "aria2c $(curl -fsS ", Path: list, After: " | sed 's|$|FILE|')"},
			}
			note := "replace FILE with the file's name under " + vr.Path() + "; aria2c fetches pieces from several mirrors at once."
			if v.meta4 {
				lines = append(lines, howToLine{Before: "aria2c --metalink-location=" + strings.ToLower(string(cc)) + " -M ", Path: layout.Meta4Path(vr.Path() + "FILE")})
				note += " The metalink (-M) also checks the file's SHA-256 and prefers mirrors in your country."
			}
			out = append(out, howTo{Client: "aria2c", Repo: r.Name, Lines: lines, Note: note})
		}
	}
	return out
}

// firstFiles returns the files of the first variant of r that has lists.
func (v *view) firstFiles(r *inventory.Repo) (ListFiles, bool) {
	var best ListFiles
	bestIdx := -1
	vars := r.Variants()
	for _, ls := range v.lists {
		for _, f := range ls.Files {
			if f.Variant.Repo != r {
				continue
			}
			for i, vr := range vars {
				if vr == f.Variant && (bestIdx < 0 || i < bestIdx) {
					best, bestIdx = f, i
				}
			}
		}
	}
	return best, bestIdx >= 0
}

// where says where a mirror stands and who says so: mirrors.toml, the
// GeoIP record of its address (placement; a private mirror's address is
// not shown), or its country's midpoint.
func where(m *inventory.Mirror) string {
	if !m.Placed() {
		return "unknown: mirrors.toml gives no country or lat/lon, and no address of it placed it (gen --geoip-city with a probe snapshot places it from the address probe connected to)"
	}
	s := strconv.FormatFloat(m.Coord.Lat, 'f', 2, 64) + ", " + strconv.FormatFloat(m.Coord.Lon, 'f', 2, 64)
	switch {
	case m.PlacedBy.IsValid() && m.Public:
		what := "placed"
		if m.HasCoord {
			what = "country placed" // the file gives lat/lon, GeoIP the country
		}
		return s + " (" + what + " from address " + m.PlacedBy.String() + " (GeoIP))"
	case m.PlacedBy.IsValid():
		return s + " (placed from its address (GeoIP))"
	case m.HasCoord:
		return s + " (from mirrors.toml)"
	}
	return s + " (its country's midpoint: mirrors.toml gives no lat/lon)"
}
