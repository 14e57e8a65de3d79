package test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
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
	fixtures.Need(t, "nginx")
	if _, err := os.Stat(geoip2Module); err != nil {
		t.Fatalf("the nginx geoip2 module is missing (%v): apt-get install libnginx-mod-http-geoip2 (.ci/run does)", err)
	}
	prefix := t.TempDir()
	os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755)
	conf := filepath.Join(prefix, "nginx.conf")
	p := func(name string) string { return filepath.Join(prefix, name) }
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
    include `+filepath.Join(out, "edge/nginx-http.conf")+`;
    server {
        listen `+addr.String()+`;
        root `+out+`;
        include `+filepath.Join(out, "edge/nginx.conf")+`;
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
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
			return
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

func TestNginxEdgeAnswersByCountryASNAndFamily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	city, asn, err := geotest.Write(dir, []geotest.Net{
		{Prefix: netip.MustParsePrefix("81.1.0.0/16"), Country: "DE", Continent: "EU", Lat: berlinLat, Lon: berlinLon, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
		{Prefix: netip.MustParsePrefix("2001:db8:49::/48"), Country: "DE", Continent: "EU", ASN: 3320, Org: "Deutsche Telekom AG"},
		{Prefix: netip.MustParsePrefix("90.2.0.0/16"), Country: "FR", Continent: "EU", Lat: parisLat, Lon: parisLon, HasCoord: true, ASN: 3215, Org: "Orange"},
		{Prefix: netip.MustParsePrefix("2001:db8:33::/48"), Country: "FR", Continent: "EU", ASN: 3215, Org: "Orange"},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Country: "JP", Continent: "AS", ASN: 2516, Org: "KDDI"},
		{Prefix: netip.MustParsePrefix("81.2.0.0/16"), Country: "AT", Continent: "EU", Lat: 48.21, Lon: 16.37, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
	})
	if err != nil {
		t.Fatal(err)
	}
	origin := filepath.Join(dir, "origin")
	fixtures.RPMRepo(t, filepath.Join(origin, fixtures.RPMDir), fixtures.Hello)
	// Nothing is fetched from the mirrors here: only their addresses
	// matter, and none of them listens.
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin: "http://127.0.0.1:9/",
		Mirrors: []fixtures.Mirror{
			{Name: "isp-de", Country: "DE", Lat: 50.11, Lon: 8.68, ASN: []uint32{3320}, URL: "http://127.0.0.1:10/"},
			{Name: "uni-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: "http://127.0.0.1:11/"},
			{Name: "fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: "http://127.0.0.1:12/"},
			{Name: "jp", Country: "JP", URL: "http://127.0.0.1:13/"},
		},
	})
	// uni-de failed its IPv6 probe: the v6/ lists differ from the others.
	statePath, _ := fixtures.WriteState(t, dir, inv, func(m string, e *state.Endpoint) {
		if m == "uni-de" && e.Family == state.IPv6 {
			fixtures.Down(e)
		}
	})
	out := genOut(t, dir, cfg, statePath, origin, "--geoip-city", city, "--geoip-asn", asn, "--edge-source", "$http_x_client_ip")
	addr := fixtures.FreeAddr(t)
	startNginx(t, out, addr)

	const baseos = "repo=baseos&release=9&arch=x86_64"
	tests := []struct {
		name, client, query string
		want                string // file under out/, "" for 404
		ctype               string
	}{
		{"ASN file first", "81.1.2.3", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/AS3320-DE.txt", "text/plain"},
		{"ASN whose mirrors are in another country: the client's country file", "81.2.3.4", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/AT.txt", "text/plain"},
		{"country without an ASN file", "90.2.3.4", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/FR.txt", "text/plain"},
		{"country with no mirror of its own", "203.0.113.9", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/JP.txt", "text/plain"},
		{"address not in the database", "192.0.2.1", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/global.txt", "text/plain"},
		{"IPv6 ASN file", "2001:db8:49::1", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/AS3320-DE.txt", "text/plain"},
		{"IPv6 country", "2001:db8:33::1", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/FR.txt", "text/plain"},
		{"IPv6 unknown", "2001:db8:ffff::1", "/mirrorlist?" + baseos, "mirrorlist/baseos/9/x86_64/v6/global.txt", "text/plain"},
		{"apt list", "90.2.3.4", "/mirrorlist?repo=debian&release=stable&arch=amd64", "apt/debian/stable/amd64/FR.txt", "text/plain"},
		{"pacman list, no release", "81.1.2.3", "/mirrorlist?repo=arch&arch=x86_64", "pacman/arch/x86_64/AS3320-DE.txt", "text/plain"},
		{"plain URL list", "203.0.113.9", "/mirrorlist?repo=isos&release=9&arch=x86_64", "urls/isos/9/x86_64/JP.txt", "text/plain"},
		{"dnf metalink by ASN", "81.1.2.3", "/metalink?" + baseos, "metalink/baseos/9/x86_64/AS3320-DE.xml", "application/metalink+xml"},
		{"dnf metalink, IPv6 country", "2001:db8:33::1", "/metalink?" + baseos, "metalink/baseos/9/x86_64/v6/FR.xml", "application/metalink+xml"},
		{"no metalink for an apt repo", "90.2.3.4", "/metalink?repo=debian&release=stable&arch=amd64", "", ""},
		{"unknown repo", "90.2.3.4", "/mirrorlist?repo=nope&release=9&arch=x86_64", "", ""},
		{"unknown release", "90.2.3.4", "/mirrorlist?repo=baseos&release=8&arch=x86_64", "", ""},
		{"a release that climbs out", "90.2.3.4", "/mirrorlist?repo=baseos&release=..%2F..%2F..&arch=x86_64", "", ""},
	}
	// The cases must tell the files apart: each expected file is a
	// different answer.
	seen := map[string]string{}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		body := readFile(t, filepath.Join(out, tt.want))
		if other, ok := seen[body]; ok && other != tt.want {
			t.Fatalf("%s and %s have the same content: the test cannot tell them apart", other, tt.want)
		}
		seen[body] = tt.want
	}
	if readFile(t, filepath.Join(out, "mirrorlist/baseos/9/x86_64/v6/FR.txt"))[1:] == readFile(t, filepath.Join(out, "mirrorlist/baseos/9/x86_64/FR.txt"))[1:] {
		t.Error("v6/FR.txt and FR.txt are the same list")
	}

	hc := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr.String()+tt.query, nil)
			req.Header.Set("X-Client-IP", tt.client)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.want == "" {
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("status %d, want 404:\n%s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200 with %s:\n%s", resp.StatusCode, tt.want, body)
			}
			if want := readFile(t, filepath.Join(out, tt.want)); string(body) != want {
				got := seen[string(body)]
				if got == "" {
					got = "something else"
				}
				t.Errorf("got %s, want %s:\n%s", got, tt.want, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "private") {
				t.Errorf("Cache-Control %q: a per-client answer must not be shared by caches", cc)
			}
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
