package gen

import (
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
)

// How long caches may keep each kind of file of the tree. The nginx
// snippet and the Cloudflare worker send these, and object storage gets
// them at upload (see CacheControl); all three read this one table.
//
// The tree changes with every refresh (deploy/ runs probe and gen every
// five minutes), so a list, a metalink, the API and the status pages may
// be kept for one refresh: a mirror that went down leaves the lists
// clients see within about two refreshes. manifest.json is what syncs
// and monitors compare to see whether anything changed, and a stale one
// hides every change at once, so it expires first. A .meta4 goes by what
// it describes: the hashes of a file mirrors carry change only with the
// file (a new build is a new file) and a metalink client tries the next
// URL when a mirror fails, so an hour costs a retry at worst; a file
// that changes in place ([metalink] origin_only: signatures, checksums,
// repository databases) gets new hashes with every sync, and a stale
// .meta4 of it would fail verification, so it expires as fast as the
// manifest.
const (
	// CacheAnswer is for /mirrorlist and /metalink, whose answer depends on
	// the client: no shared cache may keep it.
	CacheAnswer   = "private, max-age=300"
	CacheTree     = "public, max-age=300"
	CacheManifest = "public, max-age=60"
	CacheMeta4    = "public, max-age=3600"
	CacheInPlace  = "public, max-age=60"
)

// cachePolicy says which Cache-Control a file of the tree is served with:
// the value of its exact path, else of the first prefix it has, else
// the default. Paths start with "/"; case matters.
type cachePolicy struct {
	exact    map[string]string
	prefixes []cachePrefix
	fallback string
}

type cachePrefix struct {
	Prefix string `json:"prefix"`
	Value  string `json:"value"`
}

// newCachePolicy returns the policy of a tree whose RFC 5854 metalinks
// describe the origin files meta4 (slash-separated, relative to the
// origin's root).
func newCachePolicy(inv *inventory.Inventory, meta4 []string) cachePolicy {
	p := cachePolicy{
		exact:    map[string]string{"/" + layout.Manifest: CacheManifest},
		prefixes: []cachePrefix{{"/" + path.Dir(layout.Meta4Path("x")) + "/", CacheMeta4}},
		fallback: CacheTree,
	}
	for _, rel := range meta4 {
		if inv.Metalink.IsOriginOnly(rel) {
			p.exact["/"+layout.Meta4Path(rel)] = CacheInPlace
		}
	}
	return p
}

// of returns the Cache-Control of the file at p ("/manifest.json").
func (c cachePolicy) of(p string) string {
	if v, ok := c.exact[p]; ok {
		return v
	}
	for _, pre := range c.prefixes {
		if strings.HasPrefix(p, pre.Prefix) {
			return pre.Value
		}
	}
	return c.fallback
}

// exactPaths returns the paths with a value of their own, sorted.
func (c cachePolicy) exactPaths() []string {
	out := make([]string, 0, len(c.exact))
	for p := range c.exact {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// nginxMap spells the prefixes and the default as an nginx map from $uri
// (its exact paths would need a map_hash_bucket_size to fit: see
// nginxLocations).
func (c cachePolicy) nginxMap(variable string) string {
	var b strings.Builder
	b.WriteString("map $uri " + variable + " {\n    default " + nginxQuote(c.fallback) + ";\n")
	for _, pre := range c.prefixes {
		b.WriteString("    " + nginxQuote("~^"+regexp.QuoteMeta(pre.Prefix)) + " " + nginxQuote(pre.Value) + ";\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// nginxLocations spells the exact paths as nginx locations, each with its
// Cache-Control.
func (c cachePolicy) nginxLocations() string {
	var b strings.Builder
	for _, p := range c.exactPaths() {
		b.WriteString("location = " + nginxQuote(p) + " {\n    add_header Cache-Control " + nginxQuote(c.exact[p]) + ";\n}\n")
	}
	return b.String()
}

// table spells the policy for uploads to object storage: one rule a line,
// a path or a prefix ending in "*", a tab, the value; the first rule that
// matches a file is its own. File names hold no tab or line break (the
// tree refuses control characters).
func (c cachePolicy) table() string {
	var b strings.Builder
	b.WriteString(`# Cache-Control of every file of this tree, as edge/nginx.conf and
# edge/cloudflare-worker.js send it, for uploads to object storage.
# One rule a line: a path, or a prefix ending in "*", a tab, the value.
# The first rule that matches a file is its own.
`)
	for _, p := range c.exactPaths() {
		b.WriteString(p + "\t" + c.exact[p] + "\n")
	}
	for _, pre := range c.prefixes {
		b.WriteString(pre.Prefix + "*\t" + pre.Value + "\n")
	}
	b.WriteString("/*\t" + c.fallback + "\n")
	return b.String()
}

// nginxQuote quotes s as one nginx configuration token: inside double
// quotes nginx reads \" and \\ as escapes and nothing else ends the
// token. It is for a location's or a map's literal strings, which nginx
// searches for no variables, and for values that hold no "$".
func nginxQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
