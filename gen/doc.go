// Package gen turns the inventory and a state snapshot into the static tree
// that clients, edges and CDNs serve: per-country, per-ASN and per-family
// mirror lists in each client's own format, a JSON API, an index for edges
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
//	api/mirrors.json, api/state.json, index.json, manifest.json
//
// Where each file goes, the keys lists are written for (global, CC,
// AS<n>-<CC>) and the client each key stands for come from package
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
// Example:
//
//	mirrorsteer gen -c mirrors.toml -s state.json -o out/ --origin-dir /srv/origin
package gen
