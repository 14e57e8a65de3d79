package test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

const geoip2Module = "/usr/lib/nginx/modules/ngx_http_geoip2_module.so"

// startNginx runs nginx in the foreground on addr with the generated
// edge snippets of out (edge/nginx-http.conf in http {}, edge/nginx.conf
// in the server {} whose root is out), everything else (pid, logs,
// temporary files) in its own prefix. It stops when the test ends.
func startNginx(t *testing.T, out string, addr netip.AddrPort) {
	t.Helper()
	startNginxWith(t, out, layout.EdgeHTTP, addr)
}

// startNginxWith is startNginx with httpConf (layout.EdgeHTTP or
// layout.EdgeHTTPHeaders) in the http {} block, listening on every one of
// addrs.
func startNginxWith(t *testing.T, out, httpConf string, addrs ...netip.AddrPort) {
	t.Helper()
	fixtures.Need(t, "nginx")
	if _, err := os.Stat(geoip2Module); err != nil {
		t.Fatalf("the nginx geoip2 module is missing (%v): apt-get install libnginx-mod-http-geoip2 (.ci/run does)", err)
	}
	prefix := t.TempDir()
	os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755)
	conf := filepath.Join(prefix, "nginx.conf")
	p := func(name string) string { return filepath.Join(prefix, name) }
	var listen strings.Builder
	for _, a := range addrs {
		listen.WriteString("        listen " + a.String() + ";\n")
	}
	os.WriteFile(conf, []byte(`load_module `+geoip2Module+`;
user root;
worker_processes 1;
pid `+p("nginx.pid")+`;
error_log `+p("error.log")+` info;
events { worker_connections 64; }
http {
    access_log `+p("access.log")+`;
    client_body_temp_path `+p("tmp/body")+`;
    proxy_temp_path `+p("tmp/proxy")+`;
    fastcgi_temp_path `+p("tmp/fastcgi")+`;
    uwsgi_temp_path `+p("tmp/uwsgi")+`;
    scgi_temp_path `+p("tmp/scgi")+`;
    include `+filepath.Join(out, httpConf)+`;
    server {
`+listen.String()+`        root `+out+`;
        include `+filepath.Join(out, layout.EdgeServer)+`;
    }
}
`), 0o644)
	if msg, err := client(t, prefix, "nginx", "-t", "-p", prefix, "-e", p("error.log"), "-c", conf); err != nil {
		t.Fatalf("nginx -t with the generated snippets: %v\n%s\n%s", err, msg, readFile(t, conf))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "nginx", "-p", prefix, "-e", p("error.log"), "-c", conf, "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// On SIGTERM the master stops its workers and exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	for _, addr := range addrs {
		for deadline := time.Now().Add(10 * time.Second); ; {
			c, err := net.DialTimeout("tcp", addr.String(), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				exited <- err // for the cleanup
				t.Fatalf("nginx exited: %v\n%s\n%s", err, stderr.String(), readFile(t, p("error.log")))
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx does not listen on %v after 10s:\n%s", addr, readFile(t, p("error.log")))
			}
		}
	}
}

// edgeTree is a generated tree for the edge tests, with the GeoIP
// networks its clients come from and the files each edge must answer.
type edgeTree struct {
	dir, out string
	nets     []geotest.Net
	// inPlace and mirrored are a .meta4 of a file that changes in place
	// (origin_only) and one of a file mirrors carry, as paths under out.
	inPlace, mirrored string
}

// trustedProxy is the one address edge/nginx-http-headers.conf believes
// in the edge tests.
var trustedProxy = netip.MustParseAddr("127.0.0.1")

// newEdgeTree generates the tree the edge tests serve: four mirrors (one
// of them an ISP's, one without IPv6), every client format, dnf metalinks
// and a .meta4 for every origin file.
func newEdgeTree(t *testing.T) *edgeTree {
	t.Helper()
	e := &edgeTree{dir: t.TempDir(), nets: []geotest.Net{
		{Prefix: netip.MustParsePrefix("81.1.0.0/16"), Country: "DE", Continent: "EU", Lat: berlinLat, Lon: berlinLon, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
		{Prefix: netip.MustParsePrefix("2001:db8:49::/48"), Country: "DE", Continent: "EU", ASN: 3320, Org: "Deutsche Telekom AG"},
		{Prefix: netip.MustParsePrefix("90.2.0.0/16"), Country: "FR", Continent: "EU", Lat: parisLat, Lon: parisLon, HasCoord: true, ASN: 3215, Org: "Orange"},
		{Prefix: netip.MustParsePrefix("2001:db8:33::/48"), Country: "FR", Continent: "EU", ASN: 3215, Org: "Orange"},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Country: "JP", Continent: "AS", ASN: 2516, Org: "KDDI"},
		{Prefix: netip.MustParsePrefix("81.2.0.0/16"), Country: "AT", Continent: "EU", Lat: 48.21, Lon: 16.37, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
	}}
	city, asn, err := geotest.Write(e.dir, e.nets)
	if err != nil {
		t.Fatal(err)
	}
	origin := filepath.Join(e.dir, "origin")
	fixtures.RPMRepo(t, filepath.Join(origin, fixtures.RPMDir), fixtures.Hello)
	// Nothing is fetched from the mirrors here: only their addresses
	// matter, and none of them listens.
	cfg, inv := fixtures.WriteInventory(t, e.dir, fixtures.Inventory{
		Origin: "http://127.0.0.1:9/",
		Mirrors: []fixtures.Mirror{
			{Name: "isp-de", Country: "DE", Lat: 50.11, Lon: 8.68, ASN: []uint32{3320}, URL: "http://127.0.0.1:10/"},
			{Name: "uni-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: "http://127.0.0.1:11/"},
			{Name: "fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: "http://127.0.0.1:12/"},
			{Name: "jp", Country: "JP", URL: "http://127.0.0.1:13/"},
		},
		// Every origin file gets a .meta4: the rpm (mirrors carry it)
		// and the repodata (origin_only: it changes in place).
		MinSize: "1",
	})
	// uni-de failed its IPv6 probe: the v6/ lists differ from the others.
	statePath, _ := fixtures.WriteState(t, e.dir, inv, func(m string, e *state.Endpoint) {
		if m == "uni-de" && e.Family == state.IPv6 {
			fixtures.Down(e)
		}
	})
	e.out = genOut(t, e.dir, cfg, statePath, origin, "--geoip-city", city, "--geoip-asn", asn,
		"--edge-source", "$http_x_client_ip", "--edge-trust", trustedProxy.String())
	filepath.WalkDir(filepath.Join(e.out, "meta4"), func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(e.out, p)
		switch {
		case strings.Contains(rel, "/repodata/") && strings.HasSuffix(rel, ".meta4"):
			e.inPlace = filepath.ToSlash(rel)
		case strings.HasSuffix(rel, ".rpm.meta4"):
			e.mirrored = filepath.ToSlash(rel)
		}
		return nil
	})
	if e.inPlace == "" || e.mirrored == "" {
		t.Fatalf("gen wrote no .meta4 of repodata (%q) or of an rpm (%q)", e.inPlace, e.mirrored)
	}
	return e
}

// facts returns what a GeoIP lookup of client finds in the tree's
// networks, as a CDN would pass it: country, continent and ASN; "" and 0
// where it finds nothing.
func (e *edgeTree) facts(client netip.Addr) (country, continent string, asn uint32) {
	for _, n := range e.nets {
		if n.Prefix.Contains(client) {
			return n.Country, n.Continent, n.ASN
		}
	}
	return "", "", 0
}

// edgeCase is a request for a client-dependent answer.
type edgeCase struct {
	name   string
	client netip.Addr
	query  string
	want   string // file under out/, "" for 404
	ctype  string
}

// edgeCases are the requests every edge must answer alike: by ASN,
// country and address family, and 404 for what is not in the tree,
// whatever the query holds.
func edgeCases() []edgeCase {
	const baseos = "repo=baseos&release=9&arch=x86_64"
	ip := netip.MustParseAddr
	return []edgeCase{
		{"ASN file first", ip("81.1.2.3"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/AS3320-DE.txt", "text/plain"},
		{"ASN whose mirrors are in another country: the client's country file", ip("81.2.3.4"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/AT.txt", "text/plain"},
		{"country without an ASN file", ip("90.2.3.4"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/FR.txt", "text/plain"},
		{"country with no mirror of its own", ip("203.0.113.9"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/JP.txt", "text/plain"},
		{"address not in the database", ip("192.0.2.1"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/global.txt", "text/plain"},
		{"IPv6 ASN file", ip("2001:db8:49::1"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/AS3320-DE.txt", "text/plain"},
		{"IPv6 country", ip("2001:db8:33::1"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/FR.txt", "text/plain"},
		{"IPv6 unknown", ip("2001:db8:ffff::1"), "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/global.txt", "text/plain"},
		{"apt list", ip("90.2.3.4"), "/mirrorlist?repo=debian&release=stable&arch=amd64", "apt/debian/stable/amd64/FR.txt", "text/plain"},
		{"pacman list, no release", ip("81.1.2.3"), "/mirrorlist?repo=arch&arch=x86_64", "pacman/arch/x86_64/AS3320-DE.txt", "text/plain"},
		{"plain URL list", ip("203.0.113.9"), "/mirrorlist?repo=isos&release=9&arch=x86_64", "urls/isos/9/x86_64/JP.txt", "text/plain"},
		{"dnf metalink by ASN", ip("81.1.2.3"), "/metalink?" + baseos, "metalink/baseos/9/x86_64/AS3320-DE.xml", "application/metalink+xml"},
		{"dnf metalink, IPv6 country", ip("2001:db8:33::1"), "/metalink?" + baseos, "metalink/baseos/9/x86_64/v6/FR.xml", "application/metalink+xml"},
		{"parameter names in any case, as nginx reads them", ip("90.2.3.4"), "/mirrorlist?REPO=baseos&Release=9&arch=x86_64", "mirrorlist/baseos/9/x86_64/FR.txt", "text/plain"},
		{"the first of a repeated parameter", ip("90.2.3.4"), "/mirrorlist?repo=baseos&repo=nope&release=9&arch=x86_64&extra=%2F..", "mirrorlist/baseos/9/x86_64/FR.txt", "text/plain"},
		{"no metalink for an apt repo", ip("90.2.3.4"), "/metalink?repo=debian&release=stable&arch=amd64", "", ""},
		{"unknown repo", ip("90.2.3.4"), "/mirrorlist?repo=nope&release=9&arch=x86_64", "", ""},
		{"a repo named like a JavaScript property", ip("90.2.3.4"), "/mirrorlist?repo=constructor&release=9&arch=x86_64", "", ""},
		{"a repo named __proto__", ip("90.2.3.4"), "/mirrorlist?repo=__proto__&release=9&arch=x86_64", "", ""},
		{"unknown release", ip("90.2.3.4"), "/mirrorlist?repo=baseos&release=8&arch=x86_64", "", ""},
		{"a release that climbs out", ip("90.2.3.4"), "/mirrorlist?repo=baseos&release=..%2F..%2F..&arch=x86_64", "", ""},
		{"a percent-encoded release is not decoded", ip("90.2.3.4"), "/mirrorlist?repo=baseos&release=%39&arch=x86_64", "", ""},
		{"a release for a repo without releases", ip("81.1.2.3"), "/mirrorlist?repo=arch&release=9&arch=x86_64", "", ""},
		{"no arch", ip("90.2.3.4"), "/mirrorlist?repo=baseos&release=9", "", ""},
	}
}

// staticCase is a file of the tree served as it is, and the
// Cache-Control its kind gets.
type staticCase struct {
	name, path, file, cache string
}

func (e *edgeTree) staticCases() []staticCase {
	return []staticCase{
		{"manifest.json expires first", "/manifest.json", "manifest.json", gen.CacheManifest},
		{"a list", "/mirrorlist/baseos/9/x86_64/DE.txt", "mirrorlist/baseos/9/x86_64/DE.txt", gen.CacheTree},
		{"a dnf metalink", "/metalink/baseos/9/x86_64/v6/FR.xml", "metalink/baseos/9/x86_64/v6/FR.xml", gen.CacheTree},
		{"the API", "/api/state.json", "api/state.json", gen.CacheTree},
		{"the index for edges", "/index.json", "index.json", gen.CacheTree},
		{"the status page", "/", "index.html", gen.CacheTree},
		{"a .meta4 of a file mirrors carry", "/" + e.mirrored, e.mirrored, gen.CacheMeta4},
		{"a .meta4 of a file that changes in place", "/" + e.inPlace, e.inPlace, gen.CacheInPlace},
	}
}

// checkDistinct fails the test unless every file the cases expect has
// content of its own: otherwise a wrong answer could pass.
func (e *edgeTree) checkDistinct(t *testing.T, cases []edgeCase) map[string]string {
	t.Helper()
	seen := map[string]string{}
	for _, tt := range cases {
		if tt.want == "" {
			continue
		}
		body := readFile(t, filepath.Join(e.out, tt.want))
		if other, ok := seen[body]; ok && other != tt.want {
			t.Fatalf("%s and %s have the same content: the test cannot tell them apart", other, tt.want)
		}
		seen[body] = tt.want
	}
	if readFile(t, filepath.Join(e.out, "mirrorlist/baseos/9/x86_64/v6/FR.txt"))[1:] == readFile(t, filepath.Join(e.out, "mirrorlist/baseos/9/x86_64/FR.txt"))[1:] {
		t.Error("v6/FR.txt and FR.txt are the same list")
	}
	return seen
}

// edgeResponse is what an edge answered.
type edgeResponse struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, hc *http.Client, req *http.Request) edgeResponse {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return edgeResponse{resp.StatusCode, resp.Header, string(body)}
}

// checkAnswer checks an edge's answer to tt: the expected file, byte for
// byte, with its media type, named in X-Mirrorsteer-File and kept by no
// shared cache; or 404.
func (e *edgeTree) checkAnswer(t *testing.T, tt edgeCase, r edgeResponse, seen map[string]string) {
	t.Helper()
	if tt.want == "" {
		if r.status != http.StatusNotFound {
			t.Errorf("status %d, want 404:\n%s", r.status, r.body)
		}
		return
	}
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200 with %s:\n%s", r.status, tt.want, r.body)
	}
	if want := readFile(t, filepath.Join(e.out, tt.want)); r.body != want {
		got := seen[r.body]
		if got == "" {
			got = "something else"
		}
		t.Errorf("got %s, want %s:\n%s", got, tt.want, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
		t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
	}
	if cc := r.header.Get("Cache-Control"); cc != gen.CacheAnswer {
		t.Errorf("Cache-Control %q, want %q: a per-client answer must not be shared by caches", cc, gen.CacheAnswer)
	}
	// nginx leaves the empty release of a repo without releases as "//".
	if f := path.Clean(r.header.Get("X-Mirrorsteer-File")); f != "/"+tt.want {
		t.Errorf("X-Mirrorsteer-File %q, want /%s", f, tt.want)
	}
}

// checkStatic checks an edge's answer for a file of the tree: the file,
// with the Cache-Control of its kind.
func (e *edgeTree) checkStatic(t *testing.T, tt staticCase, r edgeResponse) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200:\n%s", r.status, r.body)
	}
	if r.body != readFile(t, filepath.Join(e.out, tt.file)) {
		t.Errorf("the body is not %s", tt.file)
	}
	if cc := r.header.Get("Cache-Control"); cc != tt.cache {
		t.Errorf("Cache-Control %q, want %q", cc, tt.cache)
	}
	if cc := e.cacheFromTable(t, tt.path); cc != tt.cache {
		t.Errorf("edge/cache-control.txt gives %s %q, want %q, what the edges send", tt.path, cc, tt.cache)
	}
}

// cacheFromTable returns the Cache-Control edge/cache-control.txt gives
// the file at p, as an upload to object storage reads it: the first
// rule that matches, a path or a prefix ending in "*".
func (e *edgeTree) cacheFromTable(t *testing.T, p string) string {
	t.Helper()
	if p == "/" {
		p = "/index.html"
	}
	for _, line := range strings.Split(readFile(t, filepath.Join(e.out, layout.EdgeCache)), "\n") {
		rule, value, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if prefix, ok := strings.CutSuffix(rule, "*"); ok && strings.HasPrefix(p, prefix) || rule == p {
			return value
		}
	}
	return ""
}

func TestNginxEdgeAnswersByCountryASNAndFamily(t *testing.T) {
	t.Parallel()
	e := newEdgeTree(t)
	cases := edgeCases()
	seen := e.checkDistinct(t, cases)
	addr := fixtures.FreeAddr(t)
	startNginx(t, e.out, addr)

	hc := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr.String()+tt.query, nil)
			req.Header.Set("X-Client-IP", tt.client.String())
			e.checkAnswer(t, tt, get(t, hc, req), seen)
		})
	}
	for _, tt := range e.staticCases() {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr.String()+tt.path, nil)
			e.checkStatic(t, tt, get(t, hc, req))
		})
	}
}

// dnf asks the edge, not a fixed file: nginx locates the client (here
// 127.0.0.0/8 is in Germany) and answers the German metalink, whose first
// mirror is stale; dnf skips it by hash.
func TestDNFThroughTheNginxEdge(t *testing.T) {
	t.Parallel()
	n := newDNFNetwork(t)
	city, asn, err := geotest.Write(n.dir, []geotest.Net{
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Country: "DE", Continent: "EU", Lat: berlinLat, Lon: berlinLon, HasCoord: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := n.gen(t, nil, nil, "--geoip-city", city, "--geoip-asn", asn)
	wantFirst(t, out, "metalink/baseos/9/x86_64/DE.xml", n.stale.URL)
	addr := fixtures.FreeAddr(t)
	startNginx(t, out, addr)

	d := newDNF(t, "metalink=http://"+addr.String()+"/metalink?repo=baseos&release=$releasever&arch=$basearch")
	if msg, err := d.run(t, "--forcearch", "x86_64", "makecache"); err != nil {
		t.Fatalf("dnf makecache through the edge: %v\n%s\n%s", err, msg, logs(n.stale, n.fresh))
	}
	if !n.stale.Asked(repomdPath) || n.stale.Served("primary.xml.gz") || !n.fresh.Served("primary.xml.gz") {
		t.Errorf("dnf did not get the German metalink, try the stale mirror first and take the fresh one:\n%s", logs(n.stale, n.fresh))
	}
}
