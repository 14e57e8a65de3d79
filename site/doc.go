// Package site renders the static status pages of a mirror network into
// the tree gen writes: what operators and users look at to see whether the
// mirrors work and which one they get.
//
// Inputs: the inventory (mirrors.toml), the health snapshot (state.json
// from probe; nil means nothing is verified, and every page says so) and
// the lists gen computed, so the pages show exactly what the list files
// say. Output, through a callback that writes one file at a time:
//
//	index.html              health at a glance, a world map with one dot per mirror, the mirrors by country (sortable)
//	countries.html          every country, by continent, with a link to its page
//	country/<CC>.html       "which mirror will I get": the country's lists per family, and how to use them with dnf, apt, pacman, aria2c
//	mirror/<name>.html      one mirror: addresses, networks it serves first, every endpoint's state, lag and errors, and with a merged snapshot what each vantage saw
//	assets/site.css, site.js, favicon.svg
//
// The pages are html/template output with everything from the inventory
// and the snapshot escaped, with templates and assets embedded: no
// external fonts, scripts or CDNs, a Content-Security-Policy that allows
// only the site's own files, and usable without JavaScript (the script
// only makes tables sortable and fills in the site's address in
// examples). The map is drawn at gen time from Natural Earth outlines
// (world.path, made once by tools/mkworld; see README.md).
//
// Private mirrors appear with their country, ASNs and overall state but
// without URLs, subnets or endpoint details, as in api/mirrors.json. The
// only time on the pages is the snapshot's: the same input gives the same
// bytes.
//
// Example (gen calls it for every run; this is what it does):
//
//	err := site.Render(site.Data{Inventory: inv, Snapshot: snap, Lists: lists}, w.WriteFile)
package site
