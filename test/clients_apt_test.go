package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// aptRun runs apt-get isolated from the host: its own sources.list, state,
// cache and preferences, architecture amd64, no locking, no privilege
// drop (the temporary directories are root's), no retries.
type aptRun struct {
	dir  string
	opts []string
}

func newApt(t *testing.T, source string) *aptRun {
	t.Helper()
	fixtures.Need(t, "apt-get")
	a := &aptRun{dir: t.TempDir()}
	empty := filepath.Join(a.dir, "empty")
	for _, d := range []string{empty, "state/lists/partial", "cache/archives/partial", "download"} {
		os.MkdirAll(filepath.Join(a.dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(a.dir, "state/status"), nil, 0o644)
	os.WriteFile(filepath.Join(a.dir, "sources.list"), []byte(source+"\n"), 0o644)
	for _, o := range []string{
		"Dir::Etc::sourcelist=" + filepath.Join(a.dir, "sources.list"),
		"Dir::Etc::sourceparts=" + empty,
		"Dir::Etc::preferences=/dev/null",
		"Dir::Etc::preferencesparts=" + empty,
		"Dir::Etc::trusted=/dev/null",
		"Dir::Etc::trustedparts=" + empty,
		"Dir::State=" + filepath.Join(a.dir, "state"),
		"Dir::State::status=" + filepath.Join(a.dir, "state/status"),
		"Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"Dir::Log=" + a.dir,
		"APT::Architecture=amd64",
		"APT::Architectures=amd64",
		"Acquire::Languages=none",
		"Acquire::Retries=0",
		"Acquire::http::Timeout=10",
		"Acquire::http::Proxy=DIRECT",
		"APT::Sandbox::User=root",
		"Debug::NoLocking=1",
	} {
		a.opts = append(a.opts, "-o", o)
	}
	return a
}

func (a *aptRun) run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return client(t, dir, "apt-get", append(a.opts, args...)...)
}

func TestAptMirrorListWithADeadMirrorFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := fixtures.NewKey(t, dir)
	origin := filepath.Join(dir, "origin")
	fixtures.AptRepo(t, filepath.Join(origin, fixtures.DebDir), key, fixtures.DebSuite, fixtures.DebArch, fixtures.Hello)
	originSrv := fixtures.Start(t, origin, fixtures.Serve)
	dead := fixtures.Start(t, origin, fixtures.Refuse)
	missing := fixtures.Start(t, origin, fixtures.NotFound)
	good := fixtures.Start(t, origin, fixtures.Serve)
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin: originSrv.URL,
		Repos:  []fixtures.Repo{fixtures.Deb},
		Mirrors: []fixtures.Mirror{
			{Name: "dead-de", Country: "DE", Lat: berlinLat, Lon: berlinLon, URL: dead.URL},
			{Name: "missing-de", Country: "DE", Lat: 53.55, Lon: 9.99, URL: missing.URL},
			{Name: "good-fr", Country: "FR", Lat: parisLat, Lon: parisLon, URL: good.URL},
		},
	})
	statePath, _ := fixtures.WriteState(t, dir, inv, nil)
	out := genOut(t, dir, cfg, statePath, origin)
	outSrv := fixtures.Start(t, out, fixtures.Serve)
	const list = "apt/debian/stable/amd64/DE.txt"
	doc := readFile(t, filepath.Join(out, list))
	// Both German mirrors are within band_km: their order is the weighted
	// hash's, but both come before the French one.
	if i, j, k := strings.Index(doc, dead.URL), strings.Index(doc, missing.URL), strings.Index(doc, good.URL); i < 0 || j < 0 || k < i || k < j || !strings.Contains(doc, fixtures.DebDir+"/\tpriority:3") {
		t.Fatalf("%s does not list the refusing and the 404 mirrors before the good one:\n%s", list, doc)
	}

	for _, tt := range []struct {
		name, uri string
	}{
		{"mirror+file", "mirror+file:" + filepath.Join(out, list)},
		{"mirror+http", "mirror+" + outSrv.URL + list},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newApt(t, "deb [signed-by="+key.Public+"] "+tt.uri+" "+fixtures.DebSuite+" main")
			if msg, err := a.run(t, a.dir, "update"); err != nil || strings.Contains(msg, "W:") || strings.Contains(msg, "E:") {
				t.Fatalf("apt-get update: %v\n%s\n%s", err, msg, logs(missing, good))
			}
			dl := filepath.Join(a.dir, "download")
			if msg, err := a.run(t, dl, "download", fixtures.Hello.Name); err != nil {
				t.Fatalf("apt-get download: %v\n%s\n%s", err, msg, logs(missing, good))
			}
			deb := filepath.Base(fixtures.Hello.DebFile())
			if got, want := readFile(t, filepath.Join(dl, deb)), readFile(t, filepath.Join(origin, fixtures.DebDir, fixtures.Hello.DebFile())); got != want {
				t.Errorf("the downloaded %s is not the origin's", deb)
			}
			if !missing.Asked("/dists/stable/InRelease") {
				t.Errorf("apt never tried the 404 mirror, listed before the good one:\n%s", logs(missing))
			}
			if !good.Served("/dists/stable/InRelease") || !good.Served(deb) {
				t.Errorf("the good mirror did not serve InRelease and the package:\n%s", logs(missing, good))
			}
		})
	}
	if tt := "mirror+http"; !outSrv.Served(list) {
		t.Errorf("%s: apt did not fetch the list:\n%s", tt, logs(outSrv))
	}
}
