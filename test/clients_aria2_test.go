package test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// meta4Doc is what the tests read of an RFC 5854 metalink.
type meta4Doc struct {
	Files []struct {
		Name   string `xml:"name,attr"`
		Size   int64  `xml:"size"`
		Hashes []struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"hash"`
		Signature string `xml:"signature"`
		URLs      []struct {
			Location string `xml:"location,attr"`
			Priority int    `xml:"priority,attr"`
			URL      string `xml:",chardata"`
		} `xml:"url"`
	} `xml:"file"`
}

// isoNetwork is a signed ISO at the origin, mirrors serving the given
// trees with the given behaviours, and gen's .meta4 for it.
type isoNetwork struct {
	dir, origin, meta4 string
	key                *fixtures.Key
	doc                meta4Doc
}

const isoRel = fixtures.FilesDir + "/" + fixtures.ISO

func isoOrigin(t *testing.T) (dir, origin string, key *fixtures.Key) {
	dir = t.TempDir()
	key = fixtures.NewKey(t, dir)
	origin = filepath.Join(dir, "origin")
	fixtures.LargeFile(t, filepath.Join(origin, isoRel), fixtures.ISOSize, fixtures.ISOSeed, key)
	return dir, origin, key
}

func genMeta4(t *testing.T, dir, origin string, mirrors []fixtures.Mirror) (string, meta4Doc) {
	t.Helper()
	originSrv := fixtures.Start(t, origin, fixtures.Serve)
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin:  originSrv.URL,
		Repos:   []fixtures.Repo{fixtures.Files},
		Mirrors: mirrors,
		MinSize: "1MiB",
	})
	statePath, _ := fixtures.WriteState(t, dir, inv, nil)
	out := genOut(t, dir, cfg, statePath, origin)
	meta4 := filepath.Join(out, "meta4", isoRel+".meta4")
	text := readFile(t, meta4)
	var doc meta4Doc
	if err := xml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Files) != 1 {
		t.Fatalf("%s: %v (%d files)\n%s", meta4, err, len(doc.Files), text)
	}
	if _, err := os.Stat(filepath.Join(out, "meta4", isoRel+".asc.meta4")); err == nil {
		t.Errorf("the small signature got a .meta4 of its own")
	}
	return meta4, doc
}

// aria2c downloads the file of meta4 into a fresh directory, one
// connection at a time, and returns the directory, its output and error.
func aria2c(t *testing.T, meta4 string, extra ...string) (string, string, error) {
	t.Helper()
	fixtures.Need(t, "aria2c")
	dl := t.TempDir()
	args := append([]string{"--metalink-file=" + meta4, "--dir=" + dl, "--no-conf", "--allow-overwrite=true", "--auto-file-renaming=false",
		"--file-allocation=none", "--summary-interval=0", "--enable-color=false", "--console-log-level=notice",
		"--split=1", "--max-connection-per-server=1", "--connect-timeout=5", "--timeout=10", "--max-tries=2", "--retry-wait=0",
		"--check-integrity=true", "--follow-metalink=false"}, extra...)
	msg, err := client(t, dl, "aria2c", args...)
	return dl, msg, err
}

func sha256File(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestAria2cMeta4SkipsRefusedAnd404MirrorsAndVerifies(t *testing.T) {
	t.Parallel()
	dir, origin, _ := isoOrigin(t)
	refused := fixtures.Start(t, origin, fixtures.Refuse)
	missing := fixtures.Start(t, origin, fixtures.NotFound)
	good := fixtures.Start(t, origin, fixtures.Serve)
	// The file's list is the same for everyone, by weight: the heavy
	// (and broken) mirrors first.
	meta4, doc := genMeta4(t, dir, origin, []fixtures.Mirror{
		{Name: "refused", Country: "DE", URL: refused.URL, Weight: 1000000},
		{Name: "missing", Country: "DE", URL: missing.URL, Weight: 10000},
		{Name: "good", Country: "FR", URL: good.URL, Weight: 1},
	})
	f := doc.Files[0]
	want := sha256File(t, filepath.Join(origin, isoRel))
	var sha string
	for _, h := range f.Hashes {
		if h.Type == "sha-256" {
			sha = h.Value
		}
	}
	if f.Name != fixtures.ISO || f.Size != fixtures.ISOSize || sha != want || !strings.Contains(f.Signature, "BEGIN PGP SIGNATURE") {
		t.Errorf("meta4 file %q size %d sha-256 %q signature %.40q; want %q %d %q and the .asc", f.Name, f.Size, sha, f.Signature, fixtures.ISO, fixtures.ISOSize, want)
	}
	if len(f.URLs) != 3 || !strings.HasPrefix(f.URLs[0].URL, refused.URL) || !strings.HasPrefix(f.URLs[1].URL, missing.URL) || f.URLs[0].Priority >= f.URLs[1].Priority || f.URLs[1].Priority >= f.URLs[2].Priority {
		t.Fatalf("the meta4 does not put the refusing, then the 404 mirror first: %+v", f.URLs)
	}

	dl, msg, err := aria2c(t, meta4)
	if err != nil {
		t.Fatalf("aria2c: %v\n%s\n%s", err, msg, logs(missing, good))
	}
	if got := sha256File(t, filepath.Join(dl, fixtures.ISO)); got != want {
		t.Errorf("downloaded sha-256 %s, want %s", got, want)
	}
	if !missing.Asked(fixtures.ISO) || !good.Served(fixtures.ISO) {
		t.Errorf("aria2c did not go through the 404 mirror to the good one:\n%s", logs(missing, good))
	}
}

func TestAria2cMeta4RejectsACorruptCopy(t *testing.T) {
	t.Parallel()
	dir, origin, _ := isoOrigin(t)
	damaged := filepath.Join(dir, "damaged")
	fixtures.CopyTree(t, origin, damaged)
	fixtures.Corrupt(t, filepath.Join(damaged, isoRel))
	want := sha256File(t, filepath.Join(origin, isoRel))

	t.Run("only the corrupt copy", func(t *testing.T) {
		corrupt := fixtures.Start(t, damaged, fixtures.Serve)
		meta4, _ := genMeta4(t, t.TempDir(), origin, []fixtures.Mirror{{Name: "corrupt", Country: "DE", URL: corrupt.URL}})
		dl, msg, err := aria2c(t, meta4)
		if err == nil {
			t.Fatalf("aria2c accepted a corrupt copy:\n%s", msg)
		}
		if !strings.Contains(msg, "Checksum error") {
			t.Errorf("aria2c failed, but not for the checksum:\n%s", msg)
		}
		if b, err := os.ReadFile(filepath.Join(dl, fixtures.ISO)); err == nil && len(b) == fixtures.ISOSize && sha256File(t, filepath.Join(dl, fixtures.ISO)) != want {
			if _, err := os.Stat(filepath.Join(dl, fixtures.ISO+".aria2")); err != nil {
				t.Errorf("aria2c left the corrupt copy as a finished download:\n%s", msg)
			}
		}
		if !corrupt.Served(fixtures.ISO) {
			t.Errorf("aria2c never fetched the corrupt copy:\n%s", logs(corrupt))
		}
	})
	t.Run("corrupt copy first, then a good one", func(t *testing.T) {
		corrupt := fixtures.Start(t, damaged, fixtures.Serve)
		good := fixtures.Start(t, origin, fixtures.Serve)
		meta4, _ := genMeta4(t, t.TempDir(), origin, []fixtures.Mirror{
			{Name: "corrupt", Country: "DE", URL: corrupt.URL, Weight: 1000000},
			{Name: "good", Country: "FR", URL: good.URL, Weight: 1},
		})
		dl, msg, err := aria2c(t, meta4)
		if err != nil {
			t.Fatalf("aria2c: %v\n%s\n%s", err, msg, logs(corrupt, good))
		}
		if got := sha256File(t, filepath.Join(dl, fixtures.ISO)); got != want {
			t.Errorf("downloaded sha-256 %s, want %s", got, want)
		}
		if !corrupt.Served(fixtures.ISO) || !good.Served(fixtures.ISO) || !strings.Contains(msg, "Checksum error") {
			t.Errorf("aria2c did not reject the corrupt copy, then take the good one:\n%s\n%s", msg, logs(corrupt, good))
		}
	})
}

func TestAria2cMetalinkLocationPicksTheClientsCountry(t *testing.T) {
	t.Parallel()
	dir, origin, _ := isoOrigin(t)
	de := fixtures.Start(t, origin, fixtures.Serve)
	fr := fixtures.Start(t, origin, fixtures.Serve)
	jp := fixtures.Start(t, origin, fixtures.Serve)
	meta4, doc := genMeta4(t, dir, origin, []fixtures.Mirror{
		{Name: "de", Country: "DE", URL: de.URL},
		{Name: "fr", Country: "FR", URL: fr.URL},
		{Name: "jp", Country: "JP", URL: jp.URL},
	})
	locations := map[string]string{}
	for _, u := range doc.Files[0].URLs {
		locations[u.Location] = u.URL
	}
	if locations["de"] == "" || locations["fr"] == "" || locations["jp"] == "" {
		t.Fatalf("the meta4 URLs do not carry their countries: %+v", doc.Files[0].URLs)
	}
	servers := map[string]*fixtures.Server{"de": de, "fr": fr, "jp": jp}
	for _, cc := range []string{"fr", "jp", "de"} {
		before := map[string]bool{}
		for c, s := range servers {
			before[c] = s.Served(fixtures.ISO)
		}
		_, msg, err := aria2c(t, meta4, "--metalink-location="+cc)
		if err != nil {
			t.Fatalf("aria2c --metalink-location=%s: %v\n%s", cc, err, msg)
		}
		if !servers[cc].Served(fixtures.ISO) {
			t.Errorf("--metalink-location=%s: the %s mirror did not serve the file:\n%s", cc, cc, logs(de, fr, jp))
		}
		for c, s := range servers {
			if c != cc && s.Served(fixtures.ISO) != before[c] {
				t.Errorf("--metalink-location=%s: the %s mirror served the file too:\n%s", cc, c, logs(de, fr, jp))
			}
		}
	}
}

// Issue 9, item 7: aria2c downloads origin files whose names hold
// characters that mean something in a URL ('#', '?', '%', a space): the
// .meta4 percent-encodes them, so each is one path on the mirror. A file
// whose name has a control character gets no .meta4, gen says so on
// stderr, and the run succeeds.
func TestAria2cDownloadsFilesWithURLCharactersInTheirNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	origin := filepath.Join(dir, "origin")
	names := []string{"hash#frag.iso", "a b.iso", "100%.iso", "?.iso"}
	for i, name := range names {
		fixtures.LargeFile(t, filepath.Join(origin, fixtures.FilesDir, name), 1<<20, uint64(100+i), nil)
	}
	fixtures.LargeFile(t, filepath.Join(origin, fixtures.FilesDir, "bell\a.iso"), 1<<20, 99, nil)
	originSrv := fixtures.Start(t, origin, fixtures.Serve)
	mirror := fixtures.Start(t, origin, fixtures.Serve)
	cfg, inv := fixtures.WriteInventory(t, dir, fixtures.Inventory{
		Origin:  originSrv.URL,
		Repos:   []fixtures.Repo{fixtures.Files},
		Mirrors: []fixtures.Mirror{{Name: "m", Country: "DE", URL: mirror.URL}},
		MinSize: "1MiB",
	})
	statePath, _ := fixtures.WriteState(t, dir, inv, nil)
	out := filepath.Join(dir, "out")
	r := mirrorsteer(t, "gen", "-c", cfg, "-s", statePath, "-o", out, "--origin-dir", origin)
	if r.code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if want := `warning: --origin-dir: no .meta4 for "` + fixtures.FilesDir + `/bell\a.iso": its name has a control character`; !strings.Contains(r.stderr, want) {
		t.Errorf("gen's stderr does not name the skipped file (%s):\n%s", want, r.stderr)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			rel := fixtures.FilesDir + "/" + name
			dl, msg, err := aria2c(t, filepath.Join(out, "meta4", rel+".meta4"))
			if err != nil {
				t.Fatalf("aria2c: %v\n%s\n%s", err, msg, logs(mirror))
			}
			if got, want := sha256File(t, filepath.Join(dl, name)), sha256File(t, filepath.Join(origin, rel)); got != want {
				t.Errorf("downloaded sha-256 %s, want %s", got, want)
			}
			if !mirror.Served("/" + rel) {
				t.Errorf("the mirror did not serve /%s:\n%s", rel, logs(mirror))
			}
		})
	}
}
