// Package layout is the layout of the tree gen writes: the name and path
// of every mirror list, dnf metalink, RFC 5854 metalink, API file, edge
// snippet and status page, the keys lists are written for, and the order
// in which an edge tries them. gen, the edge configuration, index.json,
// the status site and lookup all ask it; none builds a path itself.
//
// It computes names only: it reads and writes no file, and it knows
// nothing of which mirrors are in a list (package policy decides that).
//
//	<format>/<repo>[/<release>][/<arch>][/v6]/<key>.txt    a list in the repo's client format
//	metalink/<repo>[/<release>][/<arch>][/v6]/<key>.xml    a dnf metalink (rpm repositories)
//	meta4/<path>.meta4                                     an RFC 5854 metalink of an origin file
//	index.json, api/mirrors.json, api/state.json           the JSON API
//	edge/nginx-http.conf, edge/nginx.conf                  the nginx snippets
//	edge/cloudflare-worker.js, edge/wrangler-assets.toml           the Cloudflare worker
//	index.html, countries.html, country/<CC>.html, mirror/<name>.html
//
// <format> is mirrorlist (rpm), apt (deb), pacman (arch) or urls (files);
// <key> is global, a country (DE), an ASN in a country (AS3320-DE) or a
// subdivision of a country (US-CA).
package layout

import (
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// Files at fixed places in the tree.
const (
	// IndexJSON is what an edge or a CDN worker reads to pick a file
	// without listing directories.
	IndexJSON   = "index.json"
	MirrorsJSON = "api/mirrors.json"
	StateJSON   = "api/state.json"
	// EdgeHTTP goes in nginx's http {} block, EdgeServer in the server {}
	// whose root is the tree. EdgeHTTPHeaders replaces EdgeHTTP where a
	// CDN or proxy passes the client's location in headers.
	EdgeHTTP        = "edge/nginx-http.conf"
	EdgeHTTPHeaders = "edge/nginx-http-headers.conf"
	EdgeServer      = "edge/nginx.conf"
	// EdgeWorker is the Cloudflare worker, EdgeWrangler its wrangler
	// configuration with the tree as static assets: not named
	// wrangler.toml, so that wrangler deploying the worker alone (with
	// ORIGIN) does not find it beside the worker and upload the tree.
	EdgeWorker   = "edge/cloudflare-worker.js"
	EdgeWrangler = "edge/wrangler-assets.toml"
	// EdgeCache is the Cache-Control of every file, as a table for
	// uploads to object storage.
	EdgeCache = "edge/cache-control.txt"
	// Manifest lists every file of the tree; package tree writes it.
	Manifest = tree.ManifestName

	IndexPage     = "index.html"
	CountriesPage = "countries.html"
	// AnswersPage shows dnsd's answer statistics (gen --stats).
	AnswersPage = "answers.html"
)

// Extensions of the files per key.
const (
	ListExt     = ".txt"
	MetalinkExt = ".xml"
)

// MetalinkTop is the top directory of the dnf metalinks.
const MetalinkTop = "metalink"

// formatTop is the top directory of each format's lists, named for the
// client that reads them.
var formatTop = map[inventory.Format]string{
	inventory.FormatRPM:   "mirrorlist",
	inventory.FormatDeb:   "apt",
	inventory.FormatArch:  "pacman",
	inventory.FormatFiles: "urls",
}

// FormatTop returns the top directory of format f's lists: mirrorlist,
// apt, pacman or urls.
func FormatTop(f inventory.Format) string { return formatTop[f] }

// FamilyPrefix returns what goes between a list directory and a key for
// clients of family fam: "" for IPv4, "v6/" for IPv6, whose lists hold the
// mirrors that passed the IPv6 probe.
func FamilyPrefix(fam inventory.Family) string {
	if fam == inventory.IPv6 {
		return "v6/"
	}
	return ""
}

// file is the one way a per-key file is placed: its directory, the
// family's prefix, the key's name and the extension. Each part may be a
// value or an edge's variable.
func file(dir, family, name, ext string) string {
	return dir + "/" + family + name + ext
}

// ListDir returns the directory of v's lists for IPv4 clients:
// mirrorlist/baseos/9/x86_64.
func ListDir(v *inventory.Variant) string { return FormatTop(v.Repo.Format) + "/" + v.Dir() }

// MetalinkDir returns the directory of v's dnf metalinks for IPv4
// clients: metalink/baseos/9/x86_64.
func MetalinkDir(v *inventory.Variant) string { return MetalinkTop + "/" + v.Dir() }

// ListPath returns the path of v's list for key k and family fam:
// mirrorlist/baseos/9/x86_64/v6/AS3320-DE.txt.
func ListPath(v *inventory.Variant, fam inventory.Family, k Key) string {
	return file(ListDir(v), FamilyPrefix(fam), k.String(), ListExt)
}

// MetalinkPath returns the path of v's dnf metalink for key k and family
// fam: metalink/baseos/9/x86_64/DE.xml.
func MetalinkPath(v *inventory.Variant, fam inventory.Family, k Key) string {
	return file(MetalinkDir(v), FamilyPrefix(fam), k.String(), MetalinkExt)
}

// EdgeDir spells a list directory with an edge's variables for its
// parts, as ListDir places it: top (FormatTop or MetalinkTop), repo,
// release and arch. An empty release or arch leaves an empty path segment,
// which file systems ignore.
func EdgeDir(top, repo, release, arch string) string {
	return "/" + top + "/" + repo + "/" + release + "/" + arch
}

// EdgeTries returns the files an edge tries for one request, in
// EdgeOrder's order, spelled with the edge's own names for what it learns
// per request: dir for the list directory (EdgeDir), family for FamilyPrefix's
// value, asn, cc and sub for the client's AS number, country and
// subdivision code (sub "" for an edge that does not look it up: see
// EdgeNames); ext is ListExt or MetalinkExt.
func EdgeTries(dir, family, asn, cc, sub, ext string) []string {
	names := EdgeNames(asn, cc, sub)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = file(dir, family, n, ext)
	}
	return out
}

// Meta4Path returns the path of the RFC 5854 metalink of the origin file
// at rel (slash-separated, relative to the origin's root).
func Meta4Path(rel string) string { return "meta4/" + rel + ".meta4" }

// MirrorPage returns the status page of the mirror called name. The
// inventory restricts mirror names to [A-Za-z0-9][A-Za-z0-9._+-]*, so they
// are safe file names.
func MirrorPage(name string) string { return "mirror/" + name + ".html" }

// CountryPage returns the "which mirror will I get" page of country cc.
func CountryPage(cc country.Code) string { return "country/" + string(cc) + ".html" }
