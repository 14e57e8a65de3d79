package site

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// worldPath is the SVG path data of the land outlines on the 720×360
// equirectangular canvas, made once by tools/mkworld from Natural Earth
// (see README.md).
//
//go:embed world.path
var worldPath string

// Data is what the site is rendered from.
type Data struct {
	Inventory *inventory.Inventory
	// Snapshot is the health the lists were made from; nil means nothing
	// is verified, and every page says so.
	Snapshot *state.Snapshot
	// Lists are the static lists gen wrote, one entry per distinct set of
	// answers, so the "which mirror will I get" pages show exactly what
	// the files say.
	Lists []Lists
	// Meta4 reports that gen wrote RFC 5854 metalinks under meta4/ (it
	// had a copy of the origin tree).
	Meta4 bool
	// Answers are dnsd's answer statistics (gen --stats); nil when gen
	// was given none. AnswersNote says why there are none when they were
	// asked for (the file does not exist yet). Either makes an answers
	// page (answers.go).
	Answers     *answerstats.Summary
	AnswersNote string
}

// Lists is one set of lists that several variants share: every variant
// whose healthy mirrors are the same gets the same answers.
type Lists struct {
	// Files are the repositories, releases and archs these lists are
	// written for, in inventory order.
	Files []ListFiles
	// Lists holds the list of every key gen wrote, indexed by
	// inventory.Family: [inventory.IPv4] and [inventory.IPv6]. A
	// country's page shows the one an edge serves a client known by
	// that country alone (layout.Served).
	Lists map[layout.Key][2][]policy.Choice
}

// ListFiles is one variant whose lists are in the tree, where package
// layout places them.
type ListFiles struct {
	Variant inventory.Variant
	// Metalink reports that gen wrote its dnf metalinks too.
	Metalink bool
}

// MirrorPath is the page of the mirror called name (layout.MirrorPage).
func MirrorPath(name string) string { return layout.MirrorPage(name) }

// Render renders every page and asset and hands each to write with its
// path relative to the tree's root. The pages are rendered on every CPU at
// once, so write is called from several goroutines, in no fixed order,
// and must be safe for that; the bytes depend only on d: the only time on
// the pages is the snapshot's.
func Render(d Data, write func(path string, data []byte) error) error {
	if d.Inventory == nil {
		return fmt.Errorf("site: no inventory")
	}
	for _, m := range d.Inventory.Mirrors {
		if !safeName(m.Name) {
			return fmt.Errorf("site: mirror name %q cannot be a file name", m.Name)
		}
	}
	t, err := parse()
	if err != nil {
		return err
	}
	v := build(d)
	// A page is a template and the function that makes its data; the
	// functions only read v.
	type job struct {
		name, path string
		data       func() interface{ Layout() page }
	}
	pages := []job{
		{"index", layout.IndexPage, func() interface{ Layout() page } { return v.index() }},
		{"countries", layout.CountriesPage, func() interface{ Layout() page } { return v.countries() }},
	}
	for _, m := range v.mirrors {
		pages = append(pages, job{"mirror", MirrorPath(m.Name), func() interface{ Layout() page } { return v.mirrorPage(m) }})
	}
	for _, info := range country.All() {
		pages = append(pages, job{"country", layout.CountryPage(info.Code), func() interface{ Layout() page } { return v.countryPage(info) }})
	}
	if v.answers != nil {
		pages = append(pages, job{"answers", layout.AnswersPage, func() interface{ Layout() page } { return v.answersPage() }})
	}
	f := &framer{t: t, frames: map[page]*frame{}}
	// The templates are what the site costs, not the writes: one
	// goroutine a CPU, each with its buffer, takes the next page.
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(len(pages), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			var buf bytes.Buffer
			for first.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(pages) {
					return
				}
				p := pages[i]
				buf.Reset()
				err := f.render(&buf, p.name, p.data())
				if err != nil {
					err = fmt.Errorf("site: %s: %w", p.path, err)
				} else {
					err = write(p.path, buf.Bytes())
				}
				if err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return fs.WalkDir(assetFS, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		return write(p, b)
	})
}

// safeName reports whether a mirror name is a plain file name; the
// inventory already enforces it, the site does not rely on that.
func safeName(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '-' || s[0] == '_' || s[0] == '+' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._+-", c) >= 0) {
			return false
		}
	}
	return true
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"base": path.Base,
}

// parse returns one template set per page: the layout plus the page's
// "content".
func parse() (map[string]*template.Template, error) {
	layout, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	frame, err := template.Must(layout.Clone()).Parse(frameContent)
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{"frame": frame}
	for _, name := range []string{"index", "countries", "mirror", "country", "answers"} {
		files := []string{"templates/" + name + ".html"}
		if name == "mirror" {
			files = append(files, "templates/mirror-answers.html")
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, files...)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}
