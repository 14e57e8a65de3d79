package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

func TestPacmanMirrorlistWithDeadMirrorsFirst(t *testing.T) {
	t.Parallel()
	fixtures.Need(t, "pacman")
	dir := t.TempDir()
	origin := filepath.Join(dir, "origin")
	fixtures.PacmanRepo(t, filepath.Join(origin, fixtures.PacmanDir), fixtures.PacmanRepoName, fixtures.Hello)
	originSrv := fixtures.Start(t, origin, fixtures.Serve)
	dead := fixtures.Start(t, origin, fixtures.Refuse)
	missing := fixtures.Start(t, origin, fixtures.NotFound)
	good := fixtures.Start(t, origin, fixtures.Serve)
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin: originSrv.URL,
		Repos:  []fixtures.Repo{fixtures.Pacman},
		Mirrors: []fixtures.Mirror{
			{Name: "dead-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: dead.URL},
			{Name: "missing-de", Country: "DE", Lat: 53.55, Lon: 9.99, URL: missing.URL},
			{Name: "good-fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: good.URL},
		},
	})
	statePath, _ := fixtures.WriteState(t, dir, inv, nil)
	out := genOut(t, dir, cfg, statePath, origin)
	list := filepath.Join(out, "pacman/arch/x86_64/DE.txt")
	doc := readFile(t, list)
	servers := strings.Count(doc, "\nServer = ")
	if i, j, k := strings.Index(doc, "Server = "+dead.URL), strings.Index(doc, "Server = "+missing.URL), strings.Index(doc, "Server = "+good.URL); servers != 3 || i < 0 || j < 0 || k < i || k < j ||
		!strings.Contains(doc, good.URL+"archlinux/$repo/os/$arch\n") {
		t.Fatalf("%s does not list the refusing and the 404 mirrors before the good one, with pacman's $repo and $arch:\n%s", list, doc)
	}

	// An isolated pacman: its own configuration, database, cache, root,
	// log and keyring; the test repository unsigned.
	p := t.TempDir()
	for _, d := range []string{"db/local", "cache", "root", "gnupg"} {
		os.MkdirAll(filepath.Join(p, d), 0o755)
	}
	conf := filepath.Join(p, "pacman.conf")
	os.WriteFile(conf, []byte("[options]\nArchitecture = x86_64\nSigLevel = Never\nLocalFileSigLevel = Never\n\n["+
		fixtures.PacmanRepoName+"]\nSigLevel = Never\nInclude = "+list+"\n"), 0o644)
	pacman := func(args ...string) (string, error) {
		return client(t, p, "pacman", append([]string{"--config", conf, "--dbpath", filepath.Join(p, "db"), "--cachedir", filepath.Join(p, "cache"),
			"--root", filepath.Join(p, "root"), "--logfile", filepath.Join(p, "pacman.log"), "--gpgdir", filepath.Join(p, "gnupg"),
			"--noconfirm", "--noprogressbar"}, args...)...)
	}
	if msg, err := pacman("-Sy"); err != nil {
		t.Fatalf("pacman -Sy: %v\n%s\n%s", err, msg, logs(missing, good))
	}
	if !missing.Asked("/steer.db") || !good.Served("/archlinux/steer/os/x86_64/steer.db") {
		t.Errorf("pacman did not try the 404 mirror, then get steer.db from the good one:\n%s", logs(missing, good))
	}
	if msg, err := pacman("-Sw", fixtures.Hello.Name); err != nil {
		t.Fatalf("pacman -Sw: %v\n%s\n%s", err, msg, logs(missing, good))
	}
	pkg := fixtures.Hello.PacmanFile()
	if got, want := readFile(t, filepath.Join(p, "cache", pkg)), readFile(t, filepath.Join(origin, fixtures.PacmanDir, pkg)); got != want {
		t.Errorf("the downloaded %s is not the origin's", pkg)
	}
	if !good.Served(pkg) {
		t.Errorf("the package did not come from the good mirror:\n%s", logs(missing, good))
	}
}
