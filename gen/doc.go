// Package gen turns the inventory and a state snapshot into the static tree
// that clients, edges and CDNs serve: per-country, per-ASN, per-family
// and (when asked) per-subdivision mirror lists in each client's own format, a JSON API, an index for edges
// and a manifest.
//
// Inputs: a loaded inventory (mirrors.toml) and, optionally, a state
// snapshot (state.json from probe). Without a snapshot nothing is verified
// and every declared mirror is listed; gen says so loudly. Optionally too,
// dnsd's answer statistics (Options.Answers, from dnsd --stats-file),
// which the status site shows beside each mirror's weight.
//
// Output, under the directory given (see README.md for the full layout):
//
//	mirrorlist/<repo>/<release>/<arch>/[v6/]{global,CC,AS<n>-<CC>}.txt  rpm: dnf/yum mirrorlist
//	apt/<repo>/<release>/<arch>/[v6/]...                                       deb: apt mirror+http list
//	pacman/<repo>/<release>/<arch>/[v6/]...                                    arch: pacman Server = lines
//	urls/<repo>/<release>/<arch>/[v6/]...                                      files: plain URLs
//	metalink/<repo>/<release>/<arch>/[v6/]<key>.xml                            dnf metalink (with an origin copy)
//	meta4/<path>.meta4                                                         RFC 5854 metalink (with an origin copy)
//	edge/nginx-http.conf, edge/nginx.conf                                      nginx geoip2 snippets
//	edge/nginx-http-headers.conf                                               nginx, location from a CDN's headers
//	edge/cloudflare-worker.js, edge/wrangler-assets.toml                              Cloudflare worker
//	edge/cache-control.txt                                                     every file's Cache-Control
//	api/mirrors.json, api/state.json, index.json, manifest.json
//	api/state.json.sig                                                         its Ed25519 signature (with --sign-key)
//
// Where each file goes, the keys lists are written for (global, CC,
// AS<n>-<CC>, and CC-S for the subdivisions [lists] subdivisions asks
// for) and the client each key stands for come from package
// layout, which lookup, the site and the edge snippets ask too; every
// list comes from package policy, the same function lookup and dnsd use,
// and each mirror's URL from policy.Choice.URL (https where it is healthy,
// else http). The tree is written with package tree: deterministic, and
// unchanged files are not rewritten. The output directory is a symbolic
// link to the current generation, kept with the ones before it in a store
// beside it (out -> .out.trees/42), and each run points it at a new
// generation in one rename. Anything that resolves the link once reads
// one whole generation: a web server per request, rsync from "out/", a
// CDN sync given "$(readlink -f out)". A slow sync holds a shared flock
// on the generation it reads; internal/tree/README.md shows how.
//
// A run is recorded with what it was made from (Options.Inputs: the
// program's build ID, the command line, the SHA-256 of every file read
// through fileio and the identity of the GeoIP database). Unchanged tells
// the next run, before it reads the inventory, that all of these and the
// published tree are as they were: then it writes nothing, not even a new
// generation, and says again what the first run said. Anything gen's
// output depends on must be among the Inputs; a run with an origin copy
// (whose files are not) is never skipped.
//
// # Edges
//
// Every edge answers /mirrorlist?repo=R&release=V&arch=A and /metalink?...
// with the first of the client's lists that exists, in layout.EdgeOrder,
// and serves every other file with the Cache-Control of its kind
// (CacheTree, CacheManifest, CacheMeta4, CacheInPlace; edge_cache.go says
// why each). nginx locates the client with the geoip2 module
// (edge/nginx-http.conf) or from a CDN's headers, believed only from the
// networks of --edge-trust (edge/nginx-http-headers.conf); the Cloudflare
// worker from request.cf, reading the tree from its static assets
// (edge/wrangler-assets.toml) or from an ORIGIN URL. The worker knows the
// repositories, releases, archs and list names gen wrote, and nothing
// from a request reaches a path unless it is one of them.
//
// For object storage behind a CDN, edge/cache-control.txt gives each
// file's Cache-Control (first matching rule wins). With the AWS CLI:
//
//	cd "$(readlink -f out)"    # one whole generation
//	aws s3 sync . s3://BUCKET/ --delete --exclude 'meta4/*' --exclude manifest.json --cache-control 'public, max-age=300'
//	aws s3 sync meta4 s3://BUCKET/meta4/ --delete --cache-control 'public, max-age=3600'
//	grep -v '^#' edge/cache-control.txt | grep -v '\*' | while IFS="$(printf '\t')" read -r p cc; do
//		aws s3 cp ".$p" "s3://BUCKET$p" --cache-control "$cc"
//	done
//
// Example:
//
//	mirrorsteer gen -c mirrors.toml -s state.json -o out/ --origin-dir /srv/origin
package gen
