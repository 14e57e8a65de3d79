package test

// End-to-end tests with the real clients: gen's output, read by dnf, apt,
// pacman, aria2c and nginx, against real repositories (test/fixtures)
// served by loopback mirrors that misbehave.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// clientTimeout bounds every client run: a client that hangs fails its
// test instead of the whole run.
const clientTimeout = 60 * time.Second

// Where the fixture mirrors stand: the client is in Germany (Berlin),
// the other mirrors in France (Paris).
const (
	berlinLat, berlinLon = 52.52, 13.40
	parisLat, parisLon   = 48.86, 2.35
)

// genOut runs mirrorsteer gen on the inventory and state in dir with
// the origin tree, plus extra flags, and returns the output directory.
func genOut(t *testing.T, dir, cfg, statePath, origin string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, "out")
	args := append([]string{"gen", "-c", cfg, "-s", statePath, "-o", out, "--origin-dir", origin}, extra...)
	if r := mirrorsteer(t, args...); r.code != 0 {
		t.Fatalf("mirrorsteer %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return out
}

// client runs a client program with a deadline and returns what it
// printed (stdout and stderr together) and its error.
func client(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(withoutProxies(os.Environ()), "LC_ALL=C", "TZ=UTC", "no_proxy=*", "NO_PROXY=*")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v in %v", name, describe(args), err, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish in %v: %w", name, clientTimeout, ctx.Err())
	}
	return out.String(), err
}

func logs(servers ...*fixtures.Server) string {
	var b strings.Builder
	for _, s := range servers {
		b.WriteString(s.Log())
	}
	return b.String()
}

// ---- dnf ------------------------------------------------------------------

// dnfRun runs dnf 4 isolated from the host: its own configuration,
// repository directory, install root (so its own rpmdb, cache and logs),
// no plugins, no network but the loopback mirrors.
type dnfRun struct {
	dir, conf, root string
}

func newDNF(t *testing.T, repo string) *dnfRun {
	t.Helper()
	fixtures.Need(t, "dnf")
	d := &dnfRun{dir: t.TempDir()}
	d.conf = filepath.Join(d.dir, "dnf.conf")
	d.root = filepath.Join(d.dir, "root")
	repos := filepath.Join(d.dir, "repos.d")
	os.MkdirAll(repos, 0o755)
	os.WriteFile(d.conf, []byte("[main]\ngpgcheck=0\nplugins=0\ninstall_weak_deps=0\ntimeout=10\nretries=1\nfastestmirror=0\nreposdir="+repos+"\n"), 0o644)
	os.WriteFile(filepath.Join(repos, "steer.repo"), []byte("[steer]\nname=mirrorsteer test repository\n"+repo+"\ngpgcheck=0\nrepo_gpgcheck=0\nskip_if_unavailable=0\n"), 0o644)
	return d
}

func (d *dnfRun) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	base := []string{"-c", d.conf, "--installroot", d.root, "--releasever", "9", "--setopt=reposdir=" + filepath.Join(d.dir, "repos.d"),
		"--disablerepo=*", "--enablerepo=steer", "-y", "-v"}
	return client(t, d.dir, "dnf", append(base, args...)...)
}

// rpmOrigin builds the two versions of the rpm repository: old (Hello)
// and the origin's current one (Hello and Extra).
func rpmOrigin(t *testing.T, dir string) (old, origin string) {
	old, origin = filepath.Join(dir, "old"), filepath.Join(dir, "origin")
	fixtures.RPMRepo(t, filepath.Join(old, fixtures.RPMDir), fixtures.Hello)
	fixtures.CopyTree(t, old, origin)
	fixtures.RPMRepo(t, filepath.Join(origin, fixtures.RPMDir), fixtures.Extra)
	return old, origin
}

const repomdPath = fixtures.RPMDir + "/repodata/repomd.xml"

// dnfNetwork is a stale mirror in the client's country (so first in its
// list) and a fresh one in France, both healthy as far as the last probe
// knew.
type dnfNetwork struct {
	dir, origin, cfg string
	inv              *inventory.Inventory
	stale, fresh     *fixtures.Server
}

func newDNFNetwork(t *testing.T) *dnfNetwork {
	t.Helper()
	n := &dnfNetwork{dir: t.TempDir()}
	var old string
	old, n.origin = rpmOrigin(t, n.dir)
	originSrv := fixtures.Start(t, n.origin, fixtures.Serve)
	n.stale = fixtures.Start(t, old, fixtures.Serve)
	n.fresh = fixtures.Start(t, n.origin, fixtures.Serve)
	n.cfg, n.inv = fixtures.WriteInventory(t, n.dir, fixtures.Inventory{
		Origin: originSrv.URL,
		Repos:  []fixtures.Repo{fixtures.RPM},
		Mirrors: []fixtures.Mirror{
			{Name: "stale-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: n.stale.URL},
			{Name: "fresh-fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: n.fresh.URL},
		},
	})
	return n
}

// gen writes state.json (edited by edit, then by snapEdit, when not nil)
// and out/ (gen with extra flags), and serves out/ from its own loopback
// server.
func (n *dnfNetwork) gen(t *testing.T, edit func(string, *state.Endpoint), snapEdit func(*state.Snapshot), extra ...string) (out string, srv *fixtures.Server) {
	t.Helper()
	statePath, snap := fixtures.WriteState(t, n.dir, n.inv, edit)
	if snapEdit != nil {
		snapEdit(snap)
		if err := snap.Write(statePath); err != nil {
			t.Fatal(err)
		}
	}
	out = genOut(t, n.dir, n.cfg, statePath, n.origin, extra...)
	return out, fixtures.Start(t, out, fixtures.Serve)
}

// wantFirst fails t unless the list or metalink at out/rel names url
// before any other mirror.
func wantFirst(t *testing.T, out, rel, url string) {
	t.Helper()
	doc := readFile(t, filepath.Join(out, rel))
	i := strings.Index(doc, "http://127.")
	if i < 0 || !strings.HasPrefix(doc[i:], url) {
		t.Fatalf("%s does not list %s first:\n%s", rel, url, doc)
	}
}

func TestDNFMetalinkSkipsAStaleMirrorByHash(t *testing.T) {
	t.Parallel()
	n := newDNFNetwork(t)
	out, outSrv := n.gen(t, nil, nil)
	const metalink = "metalink/baseos/9/x86_64/DE.xml"
	wantFirst(t, out, metalink, n.stale.URL)

	d := newDNF(t, "metalink="+outSrv.URL+metalink)
	if msg, err := d.run(t, "makecache"); err != nil {
		t.Fatalf("dnf makecache with the metalink: %v\n%s\n%s", err, msg, logs(outSrv, n.stale, n.fresh))
	}
	if !outSrv.Served(metalink) {
		t.Errorf("dnf did not fetch the metalink:\n%s", logs(outSrv))
	}
	// The stale mirror, first, was asked for repomd.xml and rejected: the
	// rest came from the fresh one.
	if !n.stale.Asked(repomdPath) {
		t.Errorf("dnf never asked the stale mirror (listed first) for repomd.xml:\n%s", logs(n.stale))
	}
	if n.stale.Served("primary.xml.gz") {
		t.Errorf("dnf took metadata from the stale mirror:\n%s", logs(n.stale))
	}
	if !n.fresh.Served(repomdPath) || !n.fresh.Served("primary.xml.gz") {
		t.Errorf("the fresh mirror did not serve repomd.xml and primary:\n%s", logs(n.fresh))
	}

	// The package only the current version has comes from the fresh mirror.
	dl := filepath.Join(d.dir, "download")
	if msg, err := d.run(t, "install", "--downloadonly", "--downloaddir", dl, fixtures.Extra.Name); err != nil {
		t.Fatalf("dnf install --downloadonly: %v\n%s\n%s", err, msg, logs(n.stale, n.fresh))
	}
	if _, err := os.Stat(filepath.Join(dl, fixtures.Extra.RPMFile())); err != nil {
		t.Errorf("dnf did not download %s: %v", fixtures.Extra.RPMFile(), err)
	}
	if !n.fresh.Served(fixtures.Extra.RPMFile()) {
		t.Errorf("the package did not come from the fresh mirror:\n%s", logs(n.stale, n.fresh))
	}
}

func TestDNFMetalinkWithOnlyStaleMirrorsFails(t *testing.T) {
	t.Parallel()
	n := newDNFNetwork(t)
	// The probe saw the fresh mirror down: the list has the stale one only,
	// and its repomd.xml is not a version the metalink knows.
	out, outSrv := n.gen(t, func(m string, e *state.Endpoint) {
		if m == "fresh-fr" {
			fixtures.Down(e)
		}
	}, nil)
	const metalink = "metalink/baseos/9/x86_64/DE.xml"
	if doc := readFile(t, filepath.Join(out, metalink)); strings.Contains(doc, n.fresh.URL) || strings.Contains(doc, "alternate") {
		t.Fatalf("the metalink lists the down mirror or an alternate:\n%s", doc)
	}
	d := newDNF(t, "metalink="+outSrv.URL+metalink)
	msg, err := d.run(t, "makecache")
	if err == nil {
		t.Fatalf("dnf makecache succeeded with only a stale mirror:\n%s\n%s", msg, logs(n.stale))
	}
	if !n.stale.Asked(repomdPath) {
		t.Errorf("dnf never asked the stale mirror:\n%s", logs(n.stale))
	}
	if n.stale.Served("primary.xml.gz") {
		t.Errorf("dnf read metadata from the stale mirror:\n%s", logs(n.stale))
	}
}

func TestDNFMetalinkAlternateAcceptsAMirrorOneSyncBehind(t *testing.T) {
	t.Parallel()
	n := newDNFNetwork(t)
	// The probe saw the previous repomd.xml at the origin until an hour
	// ago: within max_lag, so the stale mirror is only lagging.
	old := readFile(t, filepath.Join(n.dir, "old", repomdPath))
	cur := readFile(t, filepath.Join(n.origin, repomdPath))
	out, outSrv := n.gen(t, nil, func(s *state.Snapshot) {
		s.Origin.Metadata = []state.Meta{
			{Repo: "baseos", Release: "9", Arch: "x86_64", Path: repomdPath, Size: int64(len(cur)), SHA256: sha256hex(cur), FirstSeen: s.Taken.Add(-time.Hour)},
			{Repo: "baseos", Release: "9", Arch: "x86_64", Path: repomdPath, Size: int64(len(old)), SHA256: sha256hex(old), FirstSeen: s.Taken.Add(-30 * time.Hour)},
		}
	})
	const metalink = "metalink/baseos/9/x86_64/DE.xml"
	if doc := readFile(t, filepath.Join(out, metalink)); !strings.Contains(doc, sha256hex(old)) {
		t.Fatalf("the metalink has no alternate for the previous version:\n%s", doc)
	}
	d := newDNF(t, "metalink="+outSrv.URL+metalink)
	if msg, err := d.run(t, "makecache"); err != nil {
		t.Fatalf("dnf makecache: %v\n%s\n%s", err, msg, logs(n.stale, n.fresh))
	}
	if !n.stale.Served(repomdPath) || !n.stale.Served("primary.xml.gz") {
		t.Errorf("dnf did not take the lagging mirror's metadata:\n%s", logs(n.stale, n.fresh))
	}
}

func TestDNFMirrorlistWithADeadMirrorFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, origin := rpmOrigin(t, dir)
	originSrv := fixtures.Start(t, origin, fixtures.Serve)
	dead := fixtures.Start(t, origin, fixtures.Refuse)
	good := fixtures.Start(t, origin, fixtures.Serve)
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin: originSrv.URL,
		Repos:  []fixtures.Repo{fixtures.RPM},
		Mirrors: []fixtures.Mirror{
			{Name: "dead-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: dead.URL},
			{Name: "good-fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: good.URL},
		},
	})
	statePath, _ := fixtures.WriteState(t, dir, inv, nil)
	out := genOut(t, dir, cfg, statePath, origin)
	outSrv := fixtures.Start(t, out, fixtures.Serve)
	const list = "mirrorlist/baseos/9/x86_64/DE.txt"
	wantFirst(t, out, list, dead.URL)

	d := newDNF(t, "mirrorlist="+outSrv.URL+list)
	if msg, err := d.run(t, "makecache"); err != nil {
		t.Fatalf("dnf makecache with the mirrorlist: %v\n%s\n%s", err, msg, logs(outSrv, good))
	}
	if !outSrv.Served(list) || !good.Served(repomdPath) {
		t.Errorf("dnf did not read the list and then the good mirror:\n%s", logs(outSrv, good))
	}
	dl := filepath.Join(d.dir, "download")
	if msg, err := d.run(t, "install", "--downloadonly", "--downloaddir", dl, fixtures.Hello.Name); err != nil {
		t.Fatalf("dnf install --downloadonly: %v\n%s\n%s", err, msg, logs(good))
	}
	if _, err := os.Stat(filepath.Join(dl, fixtures.Hello.RPMFile())); err != nil || !good.Served(fixtures.Hello.RPMFile()) {
		t.Errorf("dnf did not download %s from the good mirror (%v):\n%s", fixtures.Hello.RPMFile(), err, logs(good))
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// describe is the gist of a client's command line for the test log: its
// commands and arguments, without the options that isolate it.
func describe(args []string) string {
	var words []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" || a == "-c" || a == "--installroot" || a == "--releasever" || a == "--config" || a == "--dbpath" ||
			a == "--cachedir" || a == "--root" || a == "--logfile" || a == "--gpgdir" || a == "--downloaddir":
			i++
		case a == "-y" || a == "-v" || strings.HasPrefix(a, "--"):
		default:
			words = append(words, a)
		}
	}
	if len(words) == 0 && len(args) > 0 {
		return args[len(args)-1]
	}
	return strings.Join(words, " ")
}

// withoutProxies drops the proxy settings from env: every client talks
// to loopback mirrors directly, whatever the machine's environment says.
func withoutProxies(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(name) {
		case "http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy":
			continue
		}
		out = append(out, kv)
	}
	return out
}
