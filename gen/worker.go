package gen

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// workerJS is the Cloudflare worker; gen puts what it knows of the tree
// in place of treeMarker.
//
//go:embed worker.js
var workerJS string

const treeMarker = "/*@TREE@*/ null"

// WorkerCompatibilityDate is the Workers compatibility date in
// edge/wrangler-assets.toml: the runtime behaviour the worker is tested with
// (workerd through miniflare, pinned in .ci/run).
const WorkerCompatibilityDate = "2026-04-01"

// workerVars are the names the worker knows values of, per request, for
// layout's templates: where the files are (dir, family, ext) and what
// Cloudflare knows of the client (see facts in worker.js). A key spelled
// with any other name cannot be served by the worker, and gen says so.
var workerVars = []string{"dir", "family", "ext", "asn", "country", "continent", "region"}

// workerTree is what the worker knows of the tree, written into it as
// JSON (a JavaScript expression).
type workerTree struct {
	Network string `json:"network"`
	// Keys are the names of the lists gen wrote (layout.Keys).
	Keys []string `json:"keys"`
	// Names and Tries are layout.EdgeNames and layout.EdgeTries as
	// templates, in the order an edge tries them: even parts text, odd
	// parts the name of a workerVar.
	Names [][]string `json:"names"`
	Tries [][]string `json:"tries"`
	// Dirs are the list and metalink directories of each repository,
	// release and arch ("" where it has none).
	Dirs      []workerDir       `json:"dirs"`
	Endpoints []workerEndpoint  `json:"endpoints"`
	Families  map[string]string `json:"families"`
	Cache     workerCache       `json:"cache"`
}

type workerDir struct {
	Repo      string  `json:"repo"`
	Release   string  `json:"release"`
	Arch      string  `json:"arch"`
	Lists     string  `json:"lists"`
	Metalinks *string `json:"metalinks"`
}

type workerEndpoint struct {
	Path string `json:"path"`
	Dir  string `json:"dir"` // the workerDir field: "lists" or "metalinks"
	Ext  string `json:"ext"`
	Type string `json:"type"`
}

type workerCache struct {
	Answer   string            `json:"answer"`
	Default  string            `json:"default"`
	Exact    map[string]string `json:"exact"`
	Prefixes []cachePrefix     `json:"prefixes"`
}

// template splits a name layout spelled with placeholder(v) for each
// workerVar v into text and variable names, and checks that it uses no
// other.
func template(spelled string) ([]string, error) {
	parts := strings.Split(spelled, "\x00")
	if len(parts)%2 == 0 {
		return nil, fmt.Errorf("gen: worker: unbalanced placeholder in %q", spelled)
	}
	for i := 1; i < len(parts); i += 2 {
		if !slices.Contains(workerVars, parts[i]) {
			return nil, fmt.Errorf("gen: worker: layout spells a list with %q, which the worker does not know; add it to workerVars and facts in worker.js", parts[i])
		}
	}
	return parts, nil
}

func placeholder(v string) string { return "\x00" + v + "\x00" }

// workerSource returns edge/cloudflare-worker.js for inv.
func workerSource(inv *inventory.Inventory, cache cachePolicy) ([]byte, error) {
	t := workerTree{
		Network:  inv.Network.Name,
		Families: map[string]string{},
		Cache: workerCache{Answer: CacheAnswer, Default: cache.fallback,
			Exact: cache.exact, Prefixes: cache.prefixes},
	}
	for _, k := range layout.Keys(inv) {
		t.Keys = append(t.Keys, k.String())
	}
	// The subdivision's key is always spelled: KEYS holds it only when gen
	// writes subdivision lists.
	names := layout.EdgeNames(placeholder("asn"), placeholder("country"), placeholder("region"))
	tries := layout.EdgeTries(placeholder("dir"), placeholder("family"), placeholder("asn"), placeholder("country"), placeholder("region"), placeholder("ext"))
	if len(names) != len(tries) {
		return nil, fmt.Errorf("gen: worker: layout gives %d names and %d files to try", len(names), len(tries))
	}
	for i := range names {
		n, err := template(names[i])
		if err != nil {
			return nil, err
		}
		f, err := template(tries[i])
		if err != nil {
			return nil, err
		}
		t.Names, t.Tries = append(t.Names, n), append(t.Tries, f)
	}
	for _, v := range inv.Variants() {
		d := workerDir{Repo: v.Repo.Name, Release: v.Release, Arch: v.Arch, Lists: layout.ListDir(&v)}
		if v.Repo.Format == inventory.FormatRPM {
			m := layout.MetalinkDir(&v)
			d.Metalinks = &m
		}
		t.Dirs = append(t.Dirs, d)
	}
	for _, ep := range edgeEndpoints {
		dir := "lists"
		if ep.Metalinks {
			dir = "metalinks"
		}
		t.Endpoints = append(t.Endpoints, workerEndpoint{ep.Path, dir, ep.Ext, ep.Type})
	}
	for _, fam := range inventory.Families {
		t.Families[fam.String()] = layout.FamilyPrefix(fam)
	}
	// encoding/json escapes <, >, &, U+2028 and U+2029: the text is a
	// JavaScript expression whatever the inventory's strings hold.
	data, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("gen: worker: %w", err)
	}
	if strings.Count(workerJS, treeMarker) != 1 {
		return nil, fmt.Errorf("gen: worker.js must hold %q once", treeMarker)
	}
	return []byte(strings.Replace(workerJS, treeMarker, string(data), 1)), nil
}

// writeWorker writes edge/cloudflare-worker.js and edge/wrangler-assets.toml,
// which deploys it with the tree as its static assets: both files are in
// edge/, so the tree is "..", and the worker is named by its base name.
func writeWorker(w *tree.Writer, inv *inventory.Inventory, cache cachePolicy) error {
	src, err := workerSource(inv, cache)
	if err != nil {
		return err
	}
	if err := w.WriteFile(layout.EdgeWorker, src); err != nil {
		return err
	}
	conf := fmt.Sprintf(`# Cloudflare Workers configuration of the mirrorsteer edge, written by
# mirrorsteer gen (do not edit: gen rewrites it). Deploy the worker with
# the tree as its static assets:
#   npx wrangler deploy -c out/edge/wrangler-assets.toml --name <your worker>
# The worker runs first for every request, so that each file gets the
# Cache-Control of its kind. For a tree elsewhere (object storage, a web
# server), deploy cloudflare-worker.js alone with an ORIGIN variable
# (its first lines say how).
name = "mirrorsteer"
main = %q
compatibility_date = %q

[assets]
directory = ".."
binding = "ASSETS"
run_worker_first = true
`, path.Base(layout.EdgeWorker), WorkerCompatibilityDate)
	return w.WriteFile(layout.EdgeWrangler, []byte(conf))
}
