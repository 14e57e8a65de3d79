package localmirror_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

// client dials host names through the network's own host table.
func client(n *localmirror.Network) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		if as := n.Hosts()[host]; len(as) > 0 {
			addr = netip.AddrPortFrom(as[0], 0).Addr().String()
			addr = net.JoinHostPort(addr, port)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), resp.Header
}

func TestInventoryLoadsAndTreesLookReal(t *testing.T) {
	n, err := localmirror.Start(localmirror.Options{Mirrors: []localmirror.Spec{
		{Behaviour: localmirror.Healthy, IPv6: true},
		{Behaviour: localmirror.Stale},
		{Behaviour: localmirror.Partial},
		{Behaviour: localmirror.NotFound},
		{Behaviour: localmirror.RedirectPrivate},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	inv, err := inventory.Parse("local.toml", []byte(n.Inventory()), ".")
	if err != nil {
		t.Fatalf("the network's inventory does not load: %v\n%s", err, n.Inventory())
	}
	if len(inv.Mirrors) != 5 {
		t.Fatalf("%d mirrors", len(inv.Mirrors))
	}
	c := client(n)
	h := n.Mirror("healthy").URLs["http"]
	for path, want := range map[string]string{
		"TIME":                                   time.Unix(n.Current().Time.Unix(), 0).UTC().Format(time.RFC3339),
		"9/BaseOS/x86_64/os/repodata/repomd.xml": "<revision>",
		"debian/dists/stable/InRelease":          "-----BEGIN PGP SIGNED MESSAGE-----",
		"debian/dists/stable/Release":            "Architectures: amd64 arm64",
		"10/isos/x86_64/CHECKSUM":                "SHA256 (Example-10-x86_64-dvd.iso) = ",
		"":                                       "Index of /pub/",
	} {
		code, body, _ := get(t, c, h+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %q, want 200 with %q", path, code, body, want)
		}
	}
	if code, body, _ := get(t, c, n.Origin().URLs["http"]+"TIME"); code != 200 || strings.TrimSpace(body) != "" && !strings.HasPrefix(body, "1") {
		t.Errorf("origin stamp: %d %q, want a unix time", code, body)
	}
	if code, _, _ := get(t, c, n.Mirror("partial").URLs["http"]+"debian/dists/stable/InRelease"); code != 404 {
		t.Errorf("partial mirror has the deb archive: %d", code)
	}
	if code, _, _ := get(t, c, n.Mirror("404").URLs["http"]+"TIME"); code != 404 {
		t.Errorf("404 mirror: %d", code)
	}
	if code, _, hdr := get(t, c, n.Mirror("redirect-private").URLs["http"]+"TIME"); code != 302 || hdr.Get("Location") != "http://10.255.255.1/pub/TIME" {
		t.Errorf("redirect-private: %d %v", code, hdr)
	}
	stale := n.Mirror("stale").Tree()
	if d := n.Current().Time.Sub(stale.Time); d != 30*time.Hour {
		t.Errorf("stale mirror is %v behind, want 30h", d)
	}
	// Publishing a new version changes the origin, not the mirrors, until
	// they sync.
	old := n.Mirror("healthy").Tree()
	n.Publish(n.Current().Time.Add(time.Hour))
	if n.Mirror("healthy").Tree() != old {
		t.Error("a mirror changed before it synced")
	}
	n.SyncAll()
	if n.Mirror("healthy").Tree().Generation != 2 {
		t.Error("sync did not copy the new version")
	}
}

func TestFTPAndRsyncServeTheTree(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is not installed (apt-get install rsync); this test needs it")
	}
	n, err := localmirror.Start(localmirror.Options{Mirrors: []localmirror.Spec{
		{Name: "files", Protocols: []string{"ftp", "rsync"}, IPv6: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	m := n.Mirror("files")
	u := strings.Replace(m.URLs["rsync"], m.Host, m.Addr.String(), 1)
	out, err := exec.Command("rsync", "--list-only", u).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TIME") {
		t.Errorf("rsync --list-only %s: %v\n%s", u, err, out)
	}
	u6 := strings.Replace(m.URLs["rsync"], m.Host, "[::1]", 1)
	out, err = exec.Command("rsync", "--list-only", u6+"debian/dists/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "stable") {
		t.Errorf("rsync --list-only %s: %v\n%s", u6, err, out)
	}
	host := strings.TrimPrefix(strings.TrimSuffix(m.URLs["ftp"], "/pub/"), "ftp://")
	_, port, _ := net.SplitHostPort(host)
	c, err := net.DialTimeout("tcp", net.JoinHostPort(m.Addr.String(), port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	greeting := make([]byte, 3)
	if _, err := io.ReadFull(c, greeting); err != nil || string(greeting) != "220" {
		t.Errorf("ftp greeting %q, %v", greeting, err)
	}
}

// TestHostileBehaviours checks that each attack a prober must withstand
// is served as its behaviour says.
func TestHostileBehaviours(t *testing.T) {
	n, err := localmirror.Start(localmirror.Options{Mirrors: []localmirror.Spec{
		{Behaviour: localmirror.Ahead},
		{Behaviour: localmirror.SlowAnswer, Delay: 50 * time.Millisecond},
		{Behaviour: localmirror.EndlessMetadata},
		{Behaviour: localmirror.LeakStamp},
		{Behaviour: localmirror.LeakStatus},
		{Behaviour: localmirror.LeakGarbage, Protocols: []string{"http", "ftp"}},
		{Behaviour: localmirror.LeakRedirect},
		{Behaviour: localmirror.LeakCert},
		{Behaviour: localmirror.RedirectOrigin},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	inv, err := inventory.Parse("local.toml", []byte(n.Inventory()), ".")
	if err != nil {
		t.Fatalf("the network's inventory does not load: %v\n%s", err, n.Inventory())
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, m := range inv.Mirrors {
		if !slices.Equal(m.ProbeNetworks, loopback) {
			t.Errorf("%s: probe_networks %v, want loopback declared", m.Name, m.ProbeNetworks)
		}
	}
	c := client(n)
	url := func(name, path string) string { return n.Mirror(name).URLs["http"] + path }
	repomd := "9/BaseOS/x86_64/os/repodata/repomd.xml"

	if _, body, _ := get(t, c, url("ahead", "TIME")); strings.TrimSpace(body) != n.Current().Time.AddDate(1, 0, 0).Format(time.RFC3339) {
		t.Errorf("ahead: stamp %q, want a year after the origin's %v", body, n.Current().Time)
	}
	if code, body, _ := get(t, c, url("ahead", repomd)); code != 200 || body != string(n.Current().Files[repomd]) {
		t.Errorf("ahead: %s is not the origin's", repomd)
	}
	if code, _, _ := get(t, c, url("slow-answer", "TIME")); code != 200 || n.Mirror("slow-answer").Requests() != 1 {
		t.Errorf("slow-answer: %d after %d requests", code, n.Mirror("slow-answer").Requests())
	}
	if code, body, _ := get(t, c, url("endless-metadata", repomd)); code != 200 || len(body) != 1<<16 || strings.Contains(body, "<revision>") {
		t.Errorf("endless-metadata: %s is %d, %d bytes read", repomd, code, len(body))
	}
	if code, _, _ := get(t, c, url("endless-metadata", "TIME")); code != 200 {
		t.Errorf("endless-metadata: stamp %d", code)
	}
	if _, body, _ := get(t, c, url("leak-stamp", "TIME")); strings.TrimSpace(body) != localmirror.Secret {
		t.Errorf("leak-stamp: stamp %q", body)
	}
	if code, body, hdr := get(t, c, url("leak-status", repomd)); code != 403 || body != localmirror.Secret || hdr.Get("X-Secret") != localmirror.Secret {
		t.Errorf("leak-status: %d %q %v", code, body, hdr)
	}
	if code, _, _ := get(t, c, url("leak-status", "TIME")); code != 200 {
		t.Errorf("leak-status: stamp %d, want 200", code)
	}
	if _, msg, _ := get(t, c, url("leak-garbage", "TIME")); !strings.Contains(msg, "malformed HTTP response") || !strings.Contains(msg, localmirror.Secret) {
		t.Errorf("leak-garbage over http: %q", msg)
	}
	// Go's client fails on the Location before any redirect policy, and
	// quotes it in its error.
	if _, msg, _ := get(t, c, url("leak-redirect", "TIME")); !strings.Contains(msg, "failed to parse Location header") || !strings.Contains(msg, localmirror.Secret) {
		t.Errorf("leak-redirect: %q", msg)
	}
	if code, _, hdr := get(t, c, url("redirect-origin", "TIME")); code != 301 || hdr.Get("Location") != n.Origin().URLs["http"]+"TIME" {
		t.Errorf("redirect-origin: %d %v", code, hdr)
	}

	m := n.Mirror("leak-garbage")
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(m.URLs["ftp"], "ftp://"), "/pub/"))
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(m.Addr.String(), port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if greeting, _ := bufio.NewReader(conn).ReadString('\n'); greeting != "530 "+localmirror.Secret+"\r\n" {
		t.Errorf("leak-garbage over ftp: greeting %q", greeting)
	}

	m = n.Mirror("leak-cert")
	_, port, _ = net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(m.URLs["https"], "https://"), "/pub/"))
	tc, err := tls.Dial("tcp", net.JoinHostPort(m.Addr.String(), port), &tls.Config{RootCAs: n.RootCAs(), ServerName: localmirror.Secret + ".invalid"})
	if err != nil {
		t.Fatalf("leak-cert: the certificate is not the CA's for the secret name: %v", err)
	}
	tc.Close()
}
