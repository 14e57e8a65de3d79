package gen

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// Edge says how the edge configurations under edge/ find the client.
type Edge struct {
	// City and ASN are the GeoIP databases' paths on the edge host.
	City, ASN string
	// Source is the nginx variable holding the client's address:
	// $remote_addr, or a header set by a trusted proxy
	// ($http_x_forwarded_for is not trustworthy unless you set it).
	Source string
	// Trust are the addresses of the CDN or proxies whose location
	// headers edge/nginx-http-headers.conf believes (HeaderCountry,
	// HeaderASN, HeaderAddress). A request from anywhere else is served
	// as if nothing were known of its client. None: no one is believed.
	Trust []netip.Prefix
}

// Defaults for Edge, Debian's geoipupdate paths.
const (
	DefaultEdgeCity   = "/var/lib/GeoIP/GeoLite2-City.mmdb"
	DefaultEdgeASN    = "/var/lib/GeoIP/GeoLite2-ASN.mmdb"
	DefaultEdgeSource = "$remote_addr"
)

// The headers edge/nginx-http-headers.conf reads the client's location
// from: CloudFront's names, since CloudFront cannot be told others
// (include them in the origin request policy). Fastly's VCL or a proxy
// sets them from its own variables. The country is ISO 3166-1 alpha-2
// in capitals, the ASN a number, the address the client's (a port after
// it is allowed: CloudFront sends "198.51.100.10:46532").
const (
	HeaderCountry = "CloudFront-Viewer-Country"
	HeaderASN     = "CloudFront-Viewer-ASN"
	HeaderRegion  = "CloudFront-Viewer-Country-Region"
	HeaderAddress = "CloudFront-Viewer-Address"
)

// edgeEndpoint is one URL an edge answers per client: the list directory
// it serves from (ListDir or MetalinkDir), the extension of its files and
// their media type.
type edgeEndpoint struct {
	Path string // "/mirrorlist"
	// Metalinks: the dnf metalinks (rpm repositories only), else the lists.
	Metalinks bool
	Ext, Type string
}

// edgeEndpoints are the CentOS-style URLs: /mirrorlist?repo=R&release=V&arch=A
// and /metalink?... .
var edgeEndpoints = []edgeEndpoint{
	{"/mirrorlist", false, layout.ListExt, "text/plain"},
	{"/metalink", true, layout.MetalinkExt, "application/metalink+xml"},
}

// writeEdge writes the edge configurations: for nginx, edge/nginx-http.conf
// (for the http block: GeoIP lookups and maps), or edge/nginx-http-headers.conf
// in its place (location from a CDN's headers), and edge/nginx.conf (for a
// server block whose root is this tree); for Cloudflare, edge/cloudflare-worker.js
// and edge/wrangler-assets.toml; for object storage, edge/cache-control.txt. Each answers /mirrorlist?repo=R&release=V&arch=A
// and /metalink?... from the first file of layout.EdgeOrder that exists
// (the client's ASN-and-country file, else its subdivision's when gen
// writes subdivision lists, else its country's, else global),
// in the IPv6 lists for IPv6 clients, and serves every other file with the
// Cache-Control of its kind. meta4 are the origin files that have a
// .meta4 in the tree.
func writeEdge(w *tree.Writer, inv *inventory.Inventory, e Edge, meta4 []string) error {
	if e.City == "" {
		e.City = DefaultEdgeCity
	}
	if e.ASN == "" {
		e.ASN = DefaultEdgeASN
	}
	if e.Source == "" {
		e.Source = DefaultEdgeSource
	}
	for _, v := range []string{e.City, e.ASN, e.Source} {
		if strings.ContainsAny(v, "\n;{}\"'") {
			return fmt.Errorf("gen: edge setting %q would break the nginx configuration; give a plain path or $variable", v)
		}
	}
	cache := newCachePolicy(inv, meta4)
	name := strings.ReplaceAll(inv.Network.Name, "\n", " ")
	common := nginxCommon(inv, cache)
	// Subdivision lists are off unless [lists] subdivisions asks: only
	// then does the edge look the client's subdivision up (its code after
	// the country's hyphen: CA for US-CA) and try it.
	sub, subName, subLookup := "", "", ""
	if len(inv.SubdivisionLists()) > 0 {
		sub, subName = "${mirrorsteer_subdivision}", "<subdivision>"
		subLookup = "    $mirrorsteer_subdivision source=" + e.Source + " subdivisions 0 iso_code;\n"
	}

	var b strings.Builder
	fmt.Fprintf(&b, `# mirrorsteer edge for %q: include this in nginx's http {} block, and
# edge/nginx.conf in the server {} whose root is the generated tree.
# Needs the geoip2 module (Debian: libnginx-mod-http-geoip2):
#   load_module modules/ngx_http_geoip2_module.so;
# The client's address is taken from %s.

geoip2 %s {
    $mirrorsteer_country source=%s country iso_code;
%s}
geoip2 %s {
    $mirrorsteer_asn source=%s autonomous_system_number;
}

# IPv6 clients get the lists of mirrors that passed the IPv6 probe.
map %s $mirrorsteer_family {
    "~:" "%s";
    default "%s";
}
`, name, e.Source, e.City, e.Source, subLookup, e.ASN, e.Source, e.Source,
		layout.FamilyPrefix(inventory.IPv6), layout.FamilyPrefix(inventory.IPv4))
	b.WriteString(common)
	if err := w.WriteFile(layout.EdgeHTTP, []byte(b.String())); err != nil {
		return err
	}

	b.Reset()
	if err := nginxHeaders(&b, name, e.Trust); err != nil {
		return err
	}
	b.WriteString(common)
	if err := w.WriteFile(layout.EdgeHTTPHeaders, []byte(b.String())); err != nil {
		return err
	}

	b.Reset()
	fmt.Fprintf(&b, `# mirrorsteer edge: include this in the server {} whose root is the
# generated tree (and edge/nginx-http.conf, or edge/nginx-http-headers.conf,
# in the http {} block).
#   /mirrorlist?repo=baseos&release=9&arch=x86_64   the list in the repo's client format
#   /metalink?repo=baseos&release=9&arch=x86_64     the dnf metalink (rpm repositories)
# Each answers the first file that exists of %s.

# Every other file with the Cache-Control of its kind (edge/nginx-http.conf
# maps them): lists, metalinks, the API and the pages %q, as they
# change with each refresh; manifest.json %q, as syncs compare it;
# a .meta4 %q, as its hashes change only with its
# file, but %q if that file changes in place. A location of
# your own with an add_header of its own drops this one (nginx's rule).
add_header Cache-Control $mirrorsteer_cache_control;
`, strings.Join(layout.EdgeNames("<asn>", "<country>", subName), ", "), CacheTree, CacheManifest, CacheMeta4, CacheInPlace)
	b.WriteString(cache.nginxLocations())
	for _, ep := range edgeEndpoints {
		dirVar := "$mirrorsteer_lists"
		if ep.Metalinks {
			dirVar = "$mirrorsteer_metalinks"
		}
		dir := layout.EdgeDir(dirVar, "$arg_repo", "$mirrorsteer_release", "$mirrorsteer_arch")
		tries := layout.EdgeTries(dir, "${mirrorsteer_family}", "${mirrorsteer_asn}", "${mirrorsteer_country}", sub, ep.Ext)
		fmt.Fprintf(&b, `
location = %s {
    types { }
    default_type %s;
    # The answer depends on the client: shared caches must not keep it.
    add_header Cache-Control %s always;
    add_header X-Mirrorsteer-File $uri;
    try_files %s =404;
}
`, ep.Path, ep.Type, nginxQuote(CacheAnswer), strings.Join(tries, "\n              "))
	}
	if err := w.WriteFile(layout.EdgeServer, []byte(b.String())); err != nil {
		return err
	}
	if err := w.WriteFile(layout.EdgeCache, []byte(cache.table())); err != nil {
		return err
	}
	return writeWorker(w, inv, cache)
}

// nginxCommon is the part of the http {} snippets that does not depend on
// how the client is located: where each repository's files are, which
// release and arch names may reach the file system, and the Cache-Control
// of each kind of file.
func nginxCommon(inv *inventory.Inventory, cache cachePolicy) string {
	var b strings.Builder
	b.WriteString(`
# Where each repository's lists and metalinks are; an unknown repo maps
# to nothing and is answered 404.
map $arg_repo $mirrorsteer_lists {
    default "-";
`)
	for _, r := range inv.Repos {
		fmt.Fprintf(&b, "    %s %s;\n", r.Name, layout.FormatTop(r.Format))
	}
	b.WriteString("}\nmap $arg_repo $mirrorsteer_metalinks {\n    default \"-\";\n")
	for _, r := range inv.Repos {
		if r.Format == inventory.FormatRPM {
			fmt.Fprintf(&b, "    %s %s;\n", r.Name, layout.MetalinkTop)
		}
	}
	b.WriteString(`}

# Only names that are safe path components reach the file system.
map $arg_release $mirrorsteer_release {
    "" "";
    "~^[A-Za-z0-9][A-Za-z0-9._+-]*$" $arg_release;
    default "-";
}
map $arg_arch $mirrorsteer_arch {
    "" "";
    "~^[A-Za-z0-9][A-Za-z0-9._+-]*$" $arg_arch;
    default "-";
}

# How long caches may keep each file (edge/nginx.conf says why).
`)
	b.WriteString(cache.nginxMap("$mirrorsteer_cache_control"))
	return b.String()
}

// nginxHeaders writes the head of edge/nginx-http-headers.conf: the
// client's country, ASN and address family from headers, believed only
// from the trusted networks. Each header's value must have its shape
// (two capitals, a number) before it reaches a file name.
func nginxHeaders(b *strings.Builder, name string, trust []netip.Prefix) error {
	variable := func(header string) string {
		return "$http_" + strings.ReplaceAll(strings.ToLower(header), "-", "_")
	}
	fmt.Fprintf(b, `# mirrorsteer edge for %q, for a server behind a CDN or proxy that
# passes the client's location in headers: include this in nginx's
# http {} block in place of edge/nginx-http.conf, and edge/nginx.conf in
# the server {} whose root is the generated tree. No GeoIP module or
# database is needed.
#
# From the networks below (mirrorsteer gen --edge-trust), the client is
#   %s: its country (ISO 3166-1 alpha-2, capitals),
#   %s: its AS number,
#   %s: its subdivision (ISO 3166-2 after the hyphen: CA for US-CA),
#   %s: its address (a port may follow), for its address family.
# A request from anywhere else is served as if nothing were known of its
# client (the global lists of its own address family): anyone can send
# these headers. $remote_addr is the address checked; if realip rewrites
# it, it must be from your own load balancers, not from the CDN.
geo $remote_addr $mirrorsteer_trusted {
    default 0;
`, name, HeaderCountry, HeaderASN, HeaderRegion, HeaderAddress)
	if len(trust) == 0 {
		b.WriteString("    # none: gen was given no --edge-trust, so no header is believed.\n")
	}
	for _, p := range trust {
		if !p.IsValid() {
			return fmt.Errorf("gen: edge trust %v is not a network; give an address or a prefix (192.0.2.0/24)", p)
		}
		fmt.Fprintf(b, "    %s 1;\n", p.Masked())
	}
	fmt.Fprintf(b, `}

map %s $mirrorsteer_header_country {
    "~^([A-Z][A-Z])$" $1;
    default "";
}
map %s $mirrorsteer_header_asn {
    "~^([1-9][0-9]{0,9})$" $1;
    default "";
}
map $mirrorsteer_trusted $mirrorsteer_country {
    1 $mirrorsteer_header_country;
    default "";
}
map $mirrorsteer_trusted $mirrorsteer_asn {
    1 $mirrorsteer_header_asn;
    default "";
}
map %s $mirrorsteer_header_subdivision {
    "~^([A-Z0-9]{1,3})$" $1;
    default "";
}
map $mirrorsteer_trusted $mirrorsteer_subdivision {
    1 $mirrorsteer_header_subdivision;
    default "";
}

# IPv6 clients get the lists of mirrors that passed the IPv6 probe. An
# IPv6 address has two colons or more, an IPv4 one with a port only one.
# Without a trusted header, the family of the address the request came from.
map %s $mirrorsteer_header_family {
    "~:.*:" "%s";
    "~." "%s";
    default "-";
}
map $remote_addr $mirrorsteer_peer_family {
    "~:" "%s";
    default "%s";
}
map "$mirrorsteer_trusted$mirrorsteer_header_family" $mirrorsteer_family {
    "1%s" "%s";
    "1%s" "%s";
    default $mirrorsteer_peer_family;
}
`, variable(HeaderCountry), variable(HeaderASN), variable(HeaderRegion), variable(HeaderAddress),
		layout.FamilyPrefix(inventory.IPv6), layout.FamilyPrefix(inventory.IPv4),
		layout.FamilyPrefix(inventory.IPv6), layout.FamilyPrefix(inventory.IPv4),
		layout.FamilyPrefix(inventory.IPv6), layout.FamilyPrefix(inventory.IPv6),
		layout.FamilyPrefix(inventory.IPv4), layout.FamilyPrefix(inventory.IPv4))
	return nil
}
