// Package layouttest reads the lists of a tree gen wrote, for tests that
// check other views of them (lookup, the site) against the files. It
// parses paths and contents on its own, from the layout as README.md
// documents it, not with package layout: a test that asked layout where
// the files are would agree with itself whatever the files say.
package layouttest

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// Varied returns a snapshot of inv under which lists differ by protocol,
// family and freshness: every third mirror's https fails over IPv4 (its
// IPv4 lists give http), every fourth mirror fails over IPv6, every fifth
// is stale for the first variant, nobody is fresh for the last variant
// (its lists hold the origin only), and the last mirror is not in the
// snapshot at all.
func Varied(inv *inventory.Inventory) *state.Snapshot {
	index := map[string]int{}
	for i, m := range inv.Mirrors {
		index[m.Name] = i
	}
	vs := inv.Variants()
	first, last := vs[0], vs[len(vs)-1]
	snap := statetest.Healthy(inv, func(name string, e *state.Endpoint) {
		i := index[name]
		if (i%3 == 0 && e.Protocol == inventory.HTTPS && e.Family == inventory.IPv4) || (i%4 == 1 && e.Family == inventory.IPv6) {
			e.Up, e.Healthy = false, false
		}
		for j := range e.Repos {
			r := &e.Repos[j]
			for _, v := range []inventory.Variant{first, last} {
				if r.Repo == v.Repo.Name && r.Release == v.Release && r.Arch == v.Arch && (v == last || i%5 == 2) {
					r.Fresh = false
				}
			}
		}
	})
	delete(snap.Mirrors, inv.Mirrors[len(inv.Mirrors)-1].Name)
	return snap
}

// WriteOrigin writes an origin tree under dir with a repodata/repomd.xml
// for every variant of every rpm repository of inv, so that gen
// --origin-dir writes a dnf metalink beside each of their lists.
func WriteOrigin(dir string, inv *inventory.Inventory) error {
	for _, v := range inv.Variants() {
		if v.Repo.Format != inventory.FormatRPM {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(v.Path()), "repodata", "repomd.xml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte("<repomd>"+v.String()+"</repomd>\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// List is one list file of a tree: whom and what it is for, as its path
// says, and the URLs it holds, in order.
type List struct {
	// Path is the file's path in the tree.
	Path    string
	Variant inventory.Variant
	V6      bool
	// Key is the list's key as its file name spells it: global, DE,
	// AS3320-DE.
	Key string
	// Metalink reports a dnf metalink (metalink/.../KEY.xml); URLs are
	// then those of repomd.xml.
	Metalink bool
	// URLs are the file's URLs in order: repository base URLs for a list
	// (an empty list holds the origin), repomd.xml's for a metalink.
	URLs []string
	// Protocols are a metalink's protocol attributes, one per URL.
	Protocols []string
}

// Args returns the lookup flags that name l: --list KEY --repo R, and
// --release, --arch and --v6 where l has them.
func (l *List) Args() []string {
	a := []string{"--list", l.Key, "--repo", l.Variant.Repo.Name}
	if l.Variant.Release != "" {
		a = append(a, "--release", l.Variant.Release)
	}
	if l.Variant.Arch != "" {
		a = append(a, "--arch", l.Variant.Arch)
	}
	if l.V6 {
		a = append(a, "--v6")
	}
	return a
}

// tops are the top directories of the lists of each format, and of dnf
// metalinks.
var tops = map[string]inventory.Format{
	"mirrorlist": inventory.FormatRPM,
	"apt":        inventory.FormatDeb,
	"pacman":     inventory.FormatArch,
	"urls":       inventory.FormatFiles,
	"metalink":   inventory.FormatRPM,
}

// Read returns every list and dnf metalink in the manifest of the tree at
// out, written for inv, in manifest order. A file under a list's top
// directory whose path names no variant, family and key of inv is an
// error.
func Read(out string, inv *inventory.Inventory) ([]List, error) {
	m, err := tree.ReadManifest(out)
	if err != nil {
		return nil, err
	}
	var lists []List
	for _, e := range m.Files {
		top, _, _ := strings.Cut(e.Path, "/")
		if _, ok := tops[top]; !ok {
			continue
		}
		l, err := parsePath(inv, e.Path)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(e.Path)))
		if err != nil {
			return nil, err
		}
		if l.Metalink {
			for _, m := range metalinkURL.FindAllStringSubmatch(string(data), -1) {
				l.Protocols = append(l.Protocols, m[1])
				l.URLs = append(l.URLs, html.UnescapeString(m[2]))
			}
		} else {
			l.URLs = listURLs(l.Variant.Repo.Format, string(data))
		}
		if len(l.URLs) == 0 {
			return nil, fmt.Errorf("%s: no URL in it", e.Path)
		}
		lists = append(lists, l)
	}
	return lists, nil
}

// parsePath reads a list's path: top/repo[/release][/arch][/v6]/KEY.ext,
// with a release and an arch where the repository has them.
func parsePath(inv *inventory.Inventory, p string) (List, error) {
	bad := func(why string) (List, error) { return List{}, fmt.Errorf("list path %s: %s", p, why) }
	parts := strings.Split(p, "/")
	l := List{Path: p, Metalink: parts[0] == "metalink"}
	if len(parts) < 3 {
		return bad("too short")
	}
	r := inv.Repo(parts[1])
	if r == nil {
		return bad("no such repository")
	}
	if r.Format != tops[parts[0]] {
		return bad(fmt.Sprintf("a %s repository under %s/", r.Format, parts[0]))
	}
	l.Variant.Repo = r
	i := 2
	if len(r.Releases) > 0 {
		l.Variant.Release, i = parts[i], i+1
	}
	if len(r.Archs) > 0 && i < len(parts) {
		l.Variant.Arch, i = parts[i], i+1
	}
	if i < len(parts) && parts[i] == "v6" {
		l.V6, i = true, i+1
	}
	if i != len(parts)-1 {
		return bad("not repo[/release][/arch][/v6]/KEY")
	}
	ext := ".txt"
	if l.Metalink {
		ext = ".xml"
	}
	key, ok := strings.CutSuffix(parts[i], ext)
	if !ok || key == "" {
		return bad("the file name is not KEY" + ext)
	}
	l.Key = key
	return l, nil
}

// metalinkURL matches a dnf metalink's url element: its protocol and URL.
var metalinkURL = regexp.MustCompile(`<url protocol="([a-z]+)"[^>]*>([^<]*)</url>`)

// listURLs returns the URLs of a list in format f, in order.
func listURLs(f inventory.Format, data string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		switch {
		case f == inventory.FormatArch:
			if u, ok := strings.CutPrefix(line, "Server = "); ok {
				out = append(out, u)
			}
		case strings.HasPrefix(line, "#"):
		case f == inventory.FormatDeb:
			u, _, _ := strings.Cut(line, "\t")
			out = append(out, u)
		default:
			out = append(out, line)
		}
	}
	return out
}
