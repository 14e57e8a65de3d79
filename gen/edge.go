package gen

import (
	"fmt"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// Edge says how the nginx snippets under edge/ find the client.
type Edge struct {
	// City and ASN are the GeoIP databases' paths on the edge host.
	City, ASN string
	// Source is the nginx variable holding the client's address:
	// $remote_addr, or a header set by a trusted proxy
	// ($http_x_forwarded_for is not trustworthy unless you set it).
	Source string
}

// Defaults for Edge, Debian's geoipupdate paths.
const (
	DefaultEdgeCity   = "/var/lib/GeoIP/GeoLite2-City.mmdb"
	DefaultEdgeASN    = "/var/lib/GeoIP/GeoLite2-ASN.mmdb"
	DefaultEdgeSource = "$remote_addr"
)

// writeEdge writes edge/nginx-http.conf (for the http block: GeoIP
// lookups and the maps) and edge/nginx.conf (for a server block whose
// root is this tree): CentOS-style /mirrorlist?repo=R&release=V&arch=A
// and /metalink?... answered from the first file of layout.EdgeOrder that
// exists (the client's ASN-and-country file, else its subdivision's when
// gen writes subdivision lists, else its country's, else global), in the
// IPv6 lists for IPv6 clients.
func writeEdge(w *tree.Writer, inv *inventory.Inventory, e Edge) error {
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

# Where each repository's lists and metalinks are; an unknown repo maps
# to nothing and is answered 404.
map $arg_repo $mirrorsteer_lists {
    default "-";
`, strings.ReplaceAll(inv.Network.Name, "\n", " "), e.Source, e.City, e.Source, subLookup, e.ASN, e.Source, e.Source,
		layout.FamilyPrefix(inventory.IPv6), layout.FamilyPrefix(inventory.IPv4))
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
`)
	if err := w.WriteFile(layout.EdgeHTTP, []byte(b.String())); err != nil {
		return err
	}

	b.Reset()
	fmt.Fprintf(&b, `# mirrorsteer edge: include this in the server {} whose root is the
# generated tree (and edge/nginx-http.conf in the http {} block).
#   /mirrorlist?repo=baseos&release=9&arch=x86_64   the list in the repo's client format
#   /metalink?repo=baseos&release=9&arch=x86_64     the dnf metalink (rpm repositories)
# Each answers the first file that exists of %s.
`, strings.Join(layout.EdgeNames("<asn>", "<country>", subName), ", "))
	for _, loc := range []struct{ uri, dirVar, ext, ctype string }{
		{"/mirrorlist", "$mirrorsteer_lists", layout.ListExt, "text/plain"},
		{"/metalink", "$mirrorsteer_metalinks", layout.MetalinkExt, "application/metalink+xml"},
	} {
		dir := layout.EdgeDir(loc.dirVar, "$arg_repo", "$mirrorsteer_release", "$mirrorsteer_arch")
		tries := layout.EdgeTries(dir, "${mirrorsteer_family}", "${mirrorsteer_asn}", "${mirrorsteer_country}", sub, loc.ext)
		fmt.Fprintf(&b, `
location = %s {
    types { }
    default_type %s;
    # The answer depends on the client: shared caches must not keep it.
    add_header Cache-Control "private, max-age=300" always;
    try_files %s =404;
}
`, loc.uri, loc.ctype, strings.Join(tries, "\n              "))
	}
	return w.WriteFile(layout.EdgeServer, []byte(b.String()))
}
