package tree

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// commitFiles writes files as one generation of the tree at dir.
func commitFiles(t testing.TB, dir string, files map[string]string) Stats {
	t.Helper()
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := w.WriteFile(p, []byte(files[p])); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// readTree returns every regular file under dir (the generation it links
// to), manifest.json included, and fails on anything else.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wantTree checks that dir holds exactly files plus a manifest listing them.
func wantTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	got := readTree(t, dir)
	m, ok := got[ManifestName]
	if !ok {
		t.Fatalf("%s: no manifest", dir)
	}
	if want := string(manifestOf(files)); m != want {
		t.Errorf("%s: manifest\n%s\nwant\n%s", dir, m, want)
	}
	delete(got, ManifestName)
	if !maps.Equal(got, files) {
		t.Errorf("%s holds\n%v\nwant\n%v", dir, got, files)
	}
}

func manifestOf(files map[string]string) []byte {
	var es []fileEntry
	for _, p := range slices.Sorted(maps.Keys(files)) {
		es = append(es, fileEntry{path: p, size: int64(len(files[p])), sum: sha256.Sum256([]byte(files[p]))})
	}
	var b bytes.Buffer
	encodeManifest(&b, es)
	return b.Bytes()
}

type fileID struct {
	ino   uint64
	mtime time.Time
}

func idOf(t testing.TB, p string) fileID {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileID{fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime()}
}

// siblings lists the entries of dir's parent other than dir itself and
// its store.
func siblings(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != filepath.Base(dir) && e.Name() != StoreName(dir) {
			names = append(names, e.Name())
		}
	}
	return names
}

// stored lists the store of the tree at dir, its README left out.
func stored(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(filepath.Dir(dir), StoreName(dir)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != markerName {
			names = append(names, e.Name())
		}
	}
	return names
}

// current returns the generation the link at dir points to.
func current(t testing.TB, dir string) string {
	t.Helper()
	link, err := os.Readlink(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := strings.CutPrefix(link, StoreName(dir)+"/")
	if !ok || !isGeneration(g) {
		t.Fatalf("%s links to %q, not to a generation", dir, link)
	}
	return g
}

// wantTidy checks that commits left nothing behind: nothing beside the
// tree but its store, and in the store only generations: the current one,
// the previous one and the one before it (which the next run removes).
func wantTidy(t testing.TB, dir string) {
	t.Helper()
	if s := siblings(t, dir); len(s) != 0 {
		t.Errorf("left beside the tree: %v", s)
	}
	s := slices.DeleteFunc(stored(t, dir), func(name string) bool { return name == recordName })
	if len(s) > 3 || !slices.Contains(s, current(t, dir)) {
		t.Errorf("in the store: %v, want the current generation %s and at most two before it", s, current(t, dir))
	}
	for _, name := range s {
		if !isGeneration(name) {
			t.Errorf("left in the store: %s", name)
		}
	}
}

// legacyTree writes files as an older version of this package did: a
// directory at dir with a manifest.
func legacyTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), manifestOf(files), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestManifestFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	st := commitFiles(t, dir, map[string]string{"b.txt": "hello world\n", "a/c<&>.json": "{}", "a/b/e": ""})
	got, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":1,"files":[
{"path":"a/b/e","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
{"path":"a/c\u003c\u0026\u003e.json","size":2,"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
{"path":"b.txt","size":12,"sha256":"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"}
]}
`
	if string(got) != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", got, want)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantM := Manifest{Schema: 1, Files: []Entry{
		{"a/b/e", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"a/c<&>.json", 2, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		{"b.txt", 12, "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"},
	}}
	if !slices.Equal(m.Files, wantM.Files) || m.Schema != 1 {
		t.Errorf("ReadManifest = %+v, want %+v", m, wantM)
	}
	if want := (Stats{Written: 4, Files: 4, Bytes: 14 + int64(len(got))}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	wantTidy(t, dir)

	// An empty tree has a manifest with an empty list.
	empty := filepath.Join(t.TempDir(), "out")
	commitFiles(t, empty, nil)
	if m, err := ReadManifest(empty); err != nil || m.Files == nil || len(m.Files) != 0 {
		t.Errorf("empty tree: ReadManifest = %+v, %v", m, err)
	}
	if b, _ := os.ReadFile(filepath.Join(empty, ManifestName)); string(b) != "{\"schema\":1,\"files\":[]}\n" {
		t.Errorf("empty manifest %q", b)
	}
}

func TestReadManifestRejects(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, doc := range []string{
		``,
		`{"schema":2,"files":[]}`,
		`{"schema":1,"files":[{"path":"b","size":1,"sha256":"` + sum + `"},{"path":"a","size":1,"sha256":"` + sum + `"}]}`,
		`{"schema":1,"files":[{"path":"a","size":1,"sha256":"` + sum + `"},{"path":"a","size":1,"sha256":"` + sum + `"}]}`,
		`{"schema":1,"files":[{"path":"../a","size":1,"sha256":"` + sum + `"}]}`,
		`{"schema":1,"files":[{"path":"a","size":-1,"sha256":"` + sum + `"}]}`,
		`{"schema":1,"files":[{"path":"a","size":1,"sha256":"` + strings.ToUpper(sum) + `"}]}`,
		`{"schema":1,"files":[]} {}`,
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ManifestName), []byte(doc), 0o644)
		if m, err := ReadManifest(dir); err == nil {
			t.Errorf("ReadManifest(%s) = %+v, want error", doc, m)
		}
	}
}

func TestDeterministic(t *testing.T) {
	files := map[string]string{}
	for i := range 300 {
		files[fmt.Sprintf("d%d/sub%d/f%d.txt", i%7, i%3, i)] = strings.Repeat(fmt.Sprint(i), i%50)
	}
	paths := slices.Sorted(maps.Keys(files))
	root := t.TempDir()
	var trees []map[string]string
	for run := range 3 {
		dir := filepath.Join(root, fmt.Sprint("out", run))
		w, err := Begin(dir)
		if err != nil {
			t.Fatal(err)
		}
		order := slices.Clone(paths)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if run == 2 { // concurrently
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := g; i < len(order); i += 8 {
						if err := w.WriteFile(order[i], []byte(files[order[i]])); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
		} else {
			for _, p := range order {
				if err := w.WriteFile(p, []byte(files[p])); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		wantTree(t, dir, files)
		trees = append(trees, readTree(t, dir))
	}
	for i := 1; i < len(trees); i++ {
		if !maps.Equal(trees[0], trees[i]) {
			t.Errorf("run %d wrote a different tree than run 0", i)
		}
	}
}

func TestIncremental(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	gen1 := map[string]string{"same.txt": "same", "x/changed.txt": "v1", "x/gone.txt": "bye", "y/z/deep": "deep"}
	if st := commitFiles(t, dir, gen1); st.Written != 5 || st.Unchanged != 0 || st.Removed != 0 || st.Files != 5 {
		t.Fatalf("first run: %+v", st)
	}
	// Backdate the files so that a rewrite would show in the mtime.
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for p := range gen1 {
		os.Chtimes(filepath.Join(dir, p), past, past)
	}
	sameID, deepID := idOf(t, filepath.Join(dir, "same.txt")), idOf(t, filepath.Join(dir, "y/z/deep"))
	changedID := idOf(t, filepath.Join(dir, "x/changed.txt"))

	gen2 := map[string]string{"same.txt": "same", "x/changed.txt": "v2", "y/z/deep": "deep", "new/file": "new"}
	st := commitFiles(t, dir, gen2)
	if want := (Stats{Written: 3, Unchanged: 2, Removed: 1, Files: 5, Bytes: st.Bytes}); st != want {
		t.Errorf("second run: %+v, want %+v", st, want)
	}
	wantTree(t, dir, gen2)
	if id := idOf(t, filepath.Join(dir, "same.txt")); id != sameID || !id.mtime.Equal(past) {
		t.Errorf("unchanged file same.txt: %+v, want %+v (same inode and mtime)", id, sameID)
	}
	if id := idOf(t, filepath.Join(dir, "y/z/deep")); id != deepID {
		t.Errorf("unchanged file y/z/deep: %+v, want %+v", id, deepID)
	}
	if id := idOf(t, filepath.Join(dir, "x/changed.txt")); id == changedID || id.mtime.Equal(past) {
		t.Errorf("changed file was not rewritten: %+v", id)
	}
	if _, err := os.Lstat(filepath.Join(dir, "x/gone.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: Lstat = %v, want not exist", err)
	}
	// The first generation is kept for readers still reading it.
	if fi, _ := os.Stat(filepath.Join(dir, "same.txt")); fi.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("same.txt has %d links, want 2: the tree's and the previous generation's", fi.Sys().(*syscall.Stat_t).Nlink)
	}

	// The same files again: nothing written, not even the manifest.
	before := map[string]fileID{}
	for p := range readTree(t, dir) {
		before[p] = idOf(t, filepath.Join(dir, p))
	}
	st = commitFiles(t, dir, gen2)
	if want := (Stats{Written: 0, Unchanged: 5, Removed: 0, Files: 5, Bytes: st.Bytes}); st != want {
		t.Errorf("identical run: %+v, want %+v", st, want)
	}
	for p, id := range before {
		if got := idOf(t, filepath.Join(dir, p)); got != id {
			t.Errorf("identical run changed %s: %+v, want %+v", p, got, id)
		}
	}
	wantTree(t, dir, gen2)
	wantTidy(t, dir)
	// A fourth run removes the first generation, older than its
	// predecessor; same.txt is in the three others.
	commitFiles(t, dir, gen2)
	if s := stored(t, dir); !slices.Equal(s, []string{"2", "3", "4"}) {
		t.Errorf("in the store after four runs: %v, want generations 2, 3 and 4", s)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "same.txt")); fi.Sys().(*syscall.Stat_t).Nlink != 3 {
		t.Errorf("same.txt has %d links after four runs, want 3", fi.Sys().(*syscall.Stat_t).Nlink)
	}
}

// A file changed on disk since the manifest was written is rewritten even
// though the manifest says it is the same: its size or mode differs.
func TestChangedOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"appended": "abc", "chmodded": "abc", "ok": "abc"}
	commitFiles(t, dir, files)
	f, _ := os.OpenFile(filepath.Join(dir, "appended"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("def")
	f.Close()
	os.Chmod(filepath.Join(dir, "chmodded"), 0o600)
	st := commitFiles(t, dir, files)
	if st.Written != 2 || st.Unchanged != 2 {
		t.Errorf("stats %+v, want 2 written (appended, chmodded), 2 unchanged (ok, manifest)", st)
	}
	wantTree(t, dir, files)
	if fi, _ := os.Stat(filepath.Join(dir, "chmodded")); fi.Mode() != 0o644 {
		t.Errorf("chmodded: mode %v", fi.Mode())
	}
}

// Without a valid manifest nothing is known of the current tree's files,
// so nothing is reused: everything is written, and the manifest with it.
func TestCorruptManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	commitFiles(t, dir, map[string]string{"a": "same", "b": "old", "c": "gone", "d": "12345"})
	aID := idOf(t, filepath.Join(dir, "a"))
	os.Remove(filepath.Join(dir, ManifestName))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte("not json"), 0o644)
	files := map[string]string{"a": "same", "b": "new", "d": "54321"}
	st := commitFiles(t, dir, files)
	if want := (Stats{Written: 4, Files: 4, Bytes: st.Bytes}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if id := idOf(t, filepath.Join(dir, "a")); id == aID {
		t.Errorf("a was reused without a manifest that lists it")
	}
	wantTree(t, dir, files)
}

func TestFileModes(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"a/b/c": "x", "d": "y"}
	commitFiles(t, dir, files)
	commitFiles(t, dir, map[string]string{"a/b/c": "x", "d": "z"})
	// The store, its README and every generation in it.
	filepath.WalkDir(filepath.Join(filepath.Dir(dir), StoreName(dir)), func(p string, d fs.DirEntry, err error) error {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = fs.ModeDir | 0o755
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		return nil
	})
}

func TestTargetStates(t *testing.T) {
	files := map[string]string{"a": "1"}
	// An existing empty directory is replaced by the link, and removed.
	dir := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dir, 0o755)
	commitFiles(t, dir, files)
	wantTree(t, dir, files)
	wantTidy(t, dir)
	if s := stored(t, dir); len(s) != 1 {
		t.Errorf("the empty directory was kept as a generation: %v", s)
	}
	// A missing link is restored to the newest generation, whose files
	// are reused.
	os.Remove(dir)
	if st := commitFiles(t, dir, files); st.Written != 0 {
		t.Errorf("after the link was removed: %+v, want 0 written", st)
	}
	wantTree(t, dir, files)
	wantTidy(t, dir)
	// Missing parents are created.
	dir = filepath.Join(t.TempDir(), "x", "y", "out")
	commitFiles(t, dir, files)
	wantTree(t, dir, files)
	// The parent may be a symbolic link.
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "real"), 0o755)
	os.Symlink("real", filepath.Join(root, "link"))
	dir = filepath.Join(root, "link", "out")
	commitFiles(t, dir, files)
	commitFiles(t, dir, files)
	wantTree(t, filepath.Join(root, "real", "out"), files)
}

// After an I/O error, WriteFile and Commit fail and the old tree stays.
func TestIOErrorIsSticky(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"a": "1"}
	commitFiles(t, dir, files)
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	os.RemoveAll(w.staging) // the staging directory vanishes
	if err := w.WriteFile("b", []byte("2")); err == nil {
		t.Fatal("WriteFile into a removed staging directory succeeded")
	}
	if err := w.WriteFile("c", []byte("3")); err == nil {
		t.Error("WriteFile after an I/O error succeeded")
	}
	if _, err := w.Commit(); err == nil || !strings.Contains(err.Error(), "not committing") {
		t.Errorf("Commit after an I/O error: %v", err)
	}
	wantTree(t, dir, files)
}

func TestRefuses(t *testing.T) {
	root := t.TempDir()
	foreign := filepath.Join(root, "foreign")
	os.MkdirAll(filepath.Join(foreign, "docs"), 0o755)
	os.WriteFile(filepath.Join(foreign, "docs", "thesis.tex"), []byte("precious"), 0o644)
	file := filepath.Join(root, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	link := filepath.Join(root, "link")
	os.Symlink(foreign, link)
	dirManifest := filepath.Join(root, "dirmanifest")
	os.MkdirAll(filepath.Join(dirManifest, ManifestName), 0o755)
	// Stores this package did not make, beside a tree that is not there.
	storeFile := filepath.Join(root, "sf")
	os.WriteFile(filepath.Join(root, StoreName(storeFile)), []byte("x"), 0o644)
	storeLink := filepath.Join(root, "sl")
	os.Symlink(foreign, filepath.Join(root, StoreName(storeLink)))
	storeFull := filepath.Join(root, "sd")
	os.MkdirAll(filepath.Join(root, StoreName(storeFull), "1"), 0o755)
	storeOther := filepath.Join(root, "so")
	os.MkdirAll(filepath.Join(root, StoreName(storeOther)), 0o755)
	os.WriteFile(filepath.Join(root, StoreName(storeOther), markerName), []byte(markerLine("other")), 0o644)
	// A link that looks like ours but leaves the store.
	escape := filepath.Join(root, "escape")
	os.Symlink(StoreName(escape)+"/../foreign", escape)

	for _, c := range []struct{ dir, want string }{
		{foreign, "not empty and has no manifest.json"},
		{file, "not a directory"},
		{link, "symbolic link"},
		{escape, "symbolic link"},
		{dirManifest, "manifest.json is not a regular file"},
		{storeFile, "is not a directory, so this tool did not make it"},
		{storeLink, "is not a directory, so this tool did not make it"},
		{storeFull, "holds files but no README"},
		{storeOther, "has a README this tool did not write"},
		{"/", "no parent"},
	} {
		w, err := Begin(c.dir)
		if err == nil {
			w.Abort()
			t.Errorf("Begin(%s) succeeded", c.dir)
			continue
		}
		if !strings.Contains(err.Error(), c.dir) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Begin(%s): %v; want the directory named and %q", c.dir, err, c.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(foreign, "docs", "thesis.tex")); string(b) != "precious" {
		t.Errorf("foreign file: %q, %v", b, err)
	}
	if s := siblings(t, filepath.Join(root, "x")); len(s) != 9 {
		t.Errorf("entries beside the targets: %v, want only the 9 test ones", s)
	}
	if b, err := os.ReadFile(filepath.Join(root, StoreName(storeOther), markerName)); string(b) != markerLine("other") {
		t.Errorf("a foreign store's README: %q, %v", b, err)
	}
}

func TestBadPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, p := range []string{
		"", "/abs", "a/", "a//b", "./a", "a/./b", "..", "../a", "a/../b", "a/..", ".",
		"manifest.json", "manifest.json/x", `a\b`, "a\x00b", "a\nb", "\xff", strings.Repeat("n", 256),
	} {
		err := w.WriteFile(p, []byte("x"))
		if err == nil {
			t.Errorf("WriteFile(%q) succeeded", p)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("WriteFile(%q): %v; want the path named", p, err)
		}
	}
	for _, p := range []string{"ok", "dir/file", "x/manifest.json", ".hidden", "a..b", "sp ace", "ünï"} {
		if err := w.WriteFile(p, []byte(p)); err != nil {
			t.Errorf("WriteFile(%q): %v", p, err)
		}
	}
	for _, c := range []struct{ path, want string }{
		{"ok", "written twice"},
		{"dir", "already a directory"},
		{"ok/sub", `"ok" is already a file`},
	} {
		if err := w.WriteFile(c.path, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.path)) {
			t.Errorf("WriteFile(%q): %v, want %q", c.path, err, c.want)
		}
	}
	// Rejected paths leave the Writer usable.
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dir, map[string]string{"ok": "ok", "dir/file": "dir/file", "x/manifest.json": "x/manifest.json",
		".hidden": ".hidden", "a..b": "a..b", "sp ace": "sp ace", "ünï": "ünï"})
}

func TestAbortAndDone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"a": "1"}
	commitFiles(t, dir, files)
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteFile("a", []byte("2"))
	w.WriteFile("b", []byte("2"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dir, files)
	wantTidy(t, dir)
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if err := w.WriteFile("c", nil); err == nil {
		t.Error("WriteFile after Abort succeeded")
	}

	w, _ = Begin(dir)
	w.WriteFile("a", []byte("3"))
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if err := w.WriteFile("c", nil); err == nil {
		t.Error("WriteFile after Commit succeeded")
	}
	wantTree(t, dir, map[string]string{"a": "3"})
}

// A Writer dropped without Commit (its process died) leaves the old tree as
// it was; the next Begin removes its staging directory.
func TestCrashBeforeCommit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"a": "1", "d/b": "2"}
	commitFiles(t, dir, files)
	aID := idOf(t, filepath.Join(dir, "a"))
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteFile("a", []byte("changed"))
	w.WriteFile("d/b", []byte("2"))
	w.WriteFile("new", []byte("3"))
	w.closeDirs() // the process dies: its lock is released, nothing else happens
	wantTree(t, dir, files)
	gen := current(t, dir)
	stale := w.stagingName
	if s := stored(t, dir); !slices.Equal(s, []string{stale, gen}) || !strings.HasPrefix(stale, stagingPrefix) {
		t.Fatalf("in the store: %v, want the generation and one staging directory", s)
	}
	if id := idOf(t, filepath.Join(dir, "a")); id != aID {
		t.Error("old tree's file was touched")
	}
	w, err = Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s := stored(t, dir); !slices.Equal(s, []string{w.stagingName, gen}) || w.stagingName == stale {
		t.Errorf("after Begin: %v, want the generation and only the new staging directory", s)
	}
	w.Abort()
}

// Begin removes only the staging directories of dead writers. Of two live
// writers, the first to commit wins; the other finds the tree replaced.
func TestTwoWriters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	commitFiles(t, dir, map[string]string{"a": "0"})
	w1, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	w1.WriteFile("a", []byte("1"))
	w2, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w1.staging); err != nil {
		t.Fatalf("second Begin removed a live writer's staging directory: %v", err)
	}
	w2.WriteFile("a", []byte("2"))
	if _, err := w1.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Commit(); err == nil || !strings.Contains(err.Error(), "replaced since Begin") {
		t.Errorf("second Commit: %v, want replaced since Begin", err)
	}
	wantTree(t, dir, map[string]string{"a": "1"})
	wantTidy(t, dir)

	// The target appears while a first generation is being written.
	dir = filepath.Join(t.TempDir(), "out")
	w, _ := Begin(dir)
	w.WriteFile("a", []byte("1"))
	os.Mkdir(dir, 0o755)
	if _, err := w.Commit(); err == nil || !strings.Contains(err.Error(), "did not exist at Begin") {
		t.Errorf("Commit over a new directory: %v", err)
	}
}

// withoutExchange makes renameat2(RENAME_EXCHANGE) fail as on a filesystem
// without it, for the duration of the test.
func withoutExchange(t *testing.T) {
	saved := renameExchange
	renameExchange = func(int, string, int, string) error { return unix.EINVAL }
	t.Cleanup(func() { renameExchange = saved })
}

// A directory written by an older version of this package becomes the
// previous generation and the tree a link, in one exchange or, without
// RENAME_EXCHANGE, two renames; its files are reused.
func TestMigration(t *testing.T) {
	for _, exchange := range []bool{true, false} {
		t.Run(fmt.Sprintf("exchange=%v", exchange), func(t *testing.T) {
			if !exchange {
				withoutExchange(t)
			}
			dir := filepath.Join(t.TempDir(), "out")
			gen1 := map[string]string{"a": "1", "b": "2", "d/e": "3"}
			legacyTree(t, dir, gen1)
			aID := idOf(t, filepath.Join(dir, "a"))
			gen2 := map[string]string{"a": "1", "c": "3", "d/e": "3"}
			st := commitFiles(t, dir, gen2)
			if want := (Stats{Written: 2, Unchanged: 2, Removed: 1, Files: 4, Bytes: st.Bytes}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			wantTree(t, dir, gen2)
			if idOf(t, filepath.Join(dir, "a")) != aID {
				t.Error("unchanged file was rewritten")
			}
			if g := current(t, dir); g != "2" {
				t.Errorf("the tree links to generation %s, want 2", g)
			}
			wantTree(t, filepath.Join(filepath.Dir(dir), StoreName(dir), "1"), gen1) // kept for its readers
			wantTidy(t, dir)
			commitFiles(t, dir, gen1)
			commitFiles(t, dir, gen1)
			wantTree(t, dir, gen1)
			if s := stored(t, dir); !slices.Equal(s, []string{"2", "3", "4"}) {
				t.Errorf("in the store after three commits: %v, want the old directory (1) removed", s)
			}
		})
	}
}

// TestConcurrentReaders commits many generations while readers read the
// tree, and checks what each kind of reader sees (issue 9, item 17).
//
// Generation g holds static/* (the same bytes in every generation, so
// hard-linked from one to the next), gen/* and generation.txt (naming g),
// and only-<g>.txt (removed by the next generation).
//
// A walker resolves the link once and then reads by path names below the
// directory it resolved, as rsync (which enters out/) or a CDN sync
// started on `readlink -f out` does: the manifest, every file listed, and
// a listing of every directory. Everything it reads must belong to the one
// generation it resolved: each file matches that manifest's digest and
// names the same g, and the listing equals the manifest. The one thing
// allowed is to be cut off (a file not found) once the generation it
// resolved is being removed, by the run after the one that replaced it:
// its manifest.json, removed first, is gone.
//
// A locking walker does the same holding a shared flock on the directory
// it resolved, as the README tells a slow sync to: it must never be cut
// off, however many commits happen meanwhile.
//
// A path reader opens out/generation.txt and out/gen/1.txt by path, like a
// web server handling single requests: each read must be a whole file of
// some generation, generations never go backwards, and the file is never
// missing.
func TestConcurrentReaders(t *testing.T) {
	gens := 20
	if testing.Short() {
		gens = 5
	}
	dir := filepath.Join(t.TempDir(), "out")
	commitFiles(t, dir, generation(0))

	var (
		done                         = make(chan struct{})
		wg                           sync.WaitGroup
		mu                           sync.Mutex
		complete, locked, cut, retry int
		pathReads                    int
		seen, seenLocked             = map[int]bool{}, map[int]bool{}
	)
	// walk reads the generation at resolved. It returns the generation,
	// or cut off, or an error for an inconsistency.
	walk := func(resolved string) (g int, cutOff bool, err error) {
		vanished := func(err error) (int, bool, error) {
			if _, serr := os.Stat(filepath.Join(resolved, ManifestName)); errors.Is(err, fs.ErrNotExist) && errors.Is(serr, fs.ErrNotExist) {
				return 0, true, nil
			}
			return 0, false, fmt.Errorf("in a generation that is not being removed: %v", err)
		}
		mb, err := os.ReadFile(filepath.Join(resolved, ManifestName))
		if err != nil {
			return vanished(err)
		}
		m, err := parseManifest(mb)
		if err != nil {
			return 0, false, err
		}
		g = -1
		listed := map[string]bool{ManifestName: true}
		for _, e := range m.Files {
			listed[e.Path] = true
			b, err := os.ReadFile(filepath.Join(resolved, e.Path))
			if err != nil {
				return vanished(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(b)) != e.Size {
				return 0, false, fmt.Errorf("%s: content %q does not match the manifest of the generation it resolved", e.Path, b)
			}
			if strings.HasPrefix(e.Path, "static/") {
				continue
			}
			fg, err := genOf(string(b))
			if err != nil {
				return 0, false, fmt.Errorf("%s: %v", e.Path, err)
			}
			if g >= 0 && fg != g {
				return 0, false, fmt.Errorf("%s is of generation %d, earlier files of %d", e.Path, fg, g)
			}
			g = fg
		}
		if want := generation(g); len(want) != len(m.Files) {
			return 0, false, fmt.Errorf("generation %d has %d files, want %d", g, len(m.Files), len(want))
		}
		var onDisk []string
		err = filepath.WalkDir(resolved, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(resolved, p)
				onDisk = append(onDisk, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			return vanished(err)
		}
		for _, p := range onDisk {
			if !listed[p] {
				return 0, false, fmt.Errorf("%s is on disk but not in the manifest of generation %d", p, g)
			}
		}
		if len(onDisk) != len(listed) {
			return vanished(fmt.Errorf("generation %d: %d files on disk, %d in the manifest: %w", g, len(onDisk), len(listed), fs.ErrNotExist))
		}
		return g, false, nil
	}
	loop := func(f func() error) {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := f(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 2 {
		loop(func() error {
			resolved, err := filepath.EvalSymlinks(dir)
			if err != nil {
				return err
			}
			g, cutOff, err := walk(resolved)
			mu.Lock()
			defer mu.Unlock()
			if cutOff {
				cut++
			} else if err == nil {
				complete++
				seen[g] = true
			}
			return err
		})
	}
	loop(func() error {
		resolved, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return err
		}
		f, err := os.Open(resolved)
		if err != nil {
			mu.Lock()
			retry++ // removed before it could be locked: resolve again
			mu.Unlock()
			return nil
		}
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(resolved, ManifestName)); errors.Is(err, fs.ErrNotExist) {
			mu.Lock()
			retry++ // removed before it could be locked: resolve again
			mu.Unlock()
			return nil
		}
		g, cutOff, err := walk(resolved)
		if cutOff {
			return fmt.Errorf("a locked generation was removed under its reader")
		}
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			locked++
			seenLocked[g] = true
		}
		return err
	})
	for _, name := range []string{"generation.txt", "gen/1.txt"} {
		last := 0
		loop(func() error {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			g, err := genOf(string(b))
			if err == nil && string(b) != generation(g)[name] {
				err = fmt.Errorf("partial or wrong content %q", b)
			}
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			if g < last {
				return fmt.Errorf("%s: generation %d after %d", name, g, last)
			}
			last = g
			mu.Lock()
			pathReads++
			mu.Unlock()
			return nil
		})
	}

	last := 0
	for g := 1; g <= gens && !t.Failed(); g++ {
		last = g
		st := commitFiles(t, dir, generation(g))
		// static/* is unchanged; the rest changes.
		if st.Unchanged != 40 || st.Written != 43 || st.Removed != 1 {
			t.Errorf("generation %d: %+v", g, st)
		}
	}
	close(done)
	wg.Wait()
	wantTree(t, dir, generation(last))
	t.Logf("walks: %d complete over %d generations, %d cut off; locked walks: %d over %d generations, %d resolved again; path reads: %d",
		complete, len(seen), cut, locked, len(seenLocked), retry, pathReads)
	if !t.Failed() && (len(seen) < 2 || len(seenLocked) < 2 || complete < gens/2) {
		t.Errorf("readers saw too little to mean anything: %d walks over %d generations, %d locked over %d", complete, len(seen), locked, len(seenLocked))
	}
	// Generations the locking walker held were left; the next commit
	// removes them.
	commitFiles(t, dir, generation(last+1))
	wantTidy(t, dir)
}

func generation(g int) map[string]string {
	files := map[string]string{
		"generation.txt":              fmt.Sprintf("%d\n", g),
		fmt.Sprintf("only-%d.txt", g): fmt.Sprintf("%d\n", g),
	}
	for i := range 40 {
		files[fmt.Sprintf("static/%d/s%d.txt", i%4, i)] = fmt.Sprintf("static file %d\n", i)
		files[fmt.Sprintf("gen/%d.txt", i)] = fmt.Sprintf("%d\nfile %d of generation %d\n", g, i, g)
	}
	return files
}

// genOf returns the generation a gen/, only- or generation.txt file names.
func genOf(content string) (int, error) {
	var g int
	if _, err := fmt.Sscanf(content, "%d\n", &g); err != nil {
		return 0, fmt.Errorf("content %q: %v", content, err)
	}
	return g, nil
}

// TestMain lets TestKilled run this test binary as the process it kills:
// with TREE_CRASH_DIR set, the binary writes a tree until SIGKILL instead
// of running the tests. With TREE_SYNC_DIR set, it commits one generation
// for TestDurableBeforePublished to trace.
func TestMain(m *testing.M) {
	if dir := os.Getenv("TREE_SYNC_DIR"); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("TREE_SYNC_FILES"))
		syncHelper(dir, n)
	}
	if dir := os.Getenv("TREE_CRASH_DIR"); dir != "" {
		crashHelper(dir, os.Getenv("TREE_CRASH_MODE"))
		os.Exit(1) // only reached if the writer finished unkilled
	}
	os.Exit(m.Run())
}

// crashHelper is what TestKilled's child does until killed: write a new
// generation and stop at the stage named by mode.
func crashHelper(dir, mode string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(1)
	}
	if mode == "midfallback" {
		renameExchange = func(int, string, int, string) error { return unix.EINVAL }
	}
	hook = func(stage string) {
		if stage == mode {
			fmt.Println("ready")
			select {} // wait for SIGKILL
		}
	}
	w, err := Begin(dir)
	if err != nil {
		fail(err)
	}
	for p, c := range crashNewGeneration() {
		if err := w.WriteFile(p, []byte(c)); err != nil {
			fail(err)
		}
	}
	if mode == "write" {
		data := bytes.Repeat([]byte("x"), 4096)
		for i := 0; ; i++ {
			if i == 100 {
				fmt.Println("ready")
			}
			if i < 100000 {
				if err := w.WriteFile(fmt.Sprintf("more/%d.txt", i), data); err != nil {
					fail(err)
				}
			} else {
				time.Sleep(time.Second)
			}
		}
	}
	w.Commit()
	fail(errors.New("not killed"))
}

func crashNewGeneration() map[string]string {
	return map[string]string{"same": "same", "changed": "new", "added/file": "added"}
}

// TestKilled kills a writer with SIGKILL at various points and checks the
// tree and the next Begin.
func TestKilled(t *testing.T) {
	old := map[string]string{"same": "same", "changed": "old", "removed/file": "removed"}
	for _, c := range []struct {
		mode   string
		legacy bool              // the tree is an older version's directory
		want   map[string]string // the tree after the kill
	}{
		{"write", false, old},   // in the middle of WriteFile calls
		{"preswap", false, old}, // all written and synced, just before the link is replaced
		// Replacing an older version's directory without RENAME_EXCHANGE,
		// between the two renames: the tree is missing until the next
		// Begin links it to the newest generation, the complete new one.
		{"midfallback", true, crashNewGeneration()},
		{"postswap", false, crashNewGeneration()}, // published, older generations not yet removed
	} {
		t.Run(c.mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if c.legacy {
				legacyTree(t, dir, old)
			} else {
				commitFiles(t, dir, map[string]string{"older": "generation"})
				commitFiles(t, dir, old)
			}
			ids := map[string]fileID{}
			for p := range readTree(t, dir) {
				ids[p] = idOf(t, filepath.Join(dir, p))
			}

			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "TREE_CRASH_DIR="+dir, "TREE_CRASH_MODE="+c.mode)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper said %q, %v", line, err)
			}
			if c.mode == "write" {
				time.Sleep(20 * time.Millisecond) // let it write some more
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			if c.mode == "midfallback" {
				if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("killed between the renames, but %s exists: %v", dir, err)
				}
			} else {
				wantTree(t, dir, c.want)
				if c.mode != "postswap" {
					for p, id := range ids {
						if got := idOf(t, filepath.Join(dir, p)); got != id {
							t.Errorf("old tree's %s was touched", p)
						}
					}
				}
				if s := stored(t, dir); len(s) <= 2 {
					t.Errorf("in the store: %v; the kill came too late to test anything", s)
				}
			}

			w, err := Begin(dir)
			if err != nil {
				t.Fatal(err)
			}
			wantTree(t, dir, c.want)
			if c.mode != "postswap" && c.mode != "midfallback" {
				for p, id := range ids {
					if got := idOf(t, filepath.Join(dir, p)); got != id {
						t.Errorf("after Begin, old tree's %s is not the original file", p)
					}
				}
			}
			for _, name := range stored(t, dir) {
				if !isGeneration(name) && name != w.stagingName {
					t.Errorf("after Begin, %s is left in the store", name)
				}
			}
			for p, content := range c.want {
				w.WriteFile(p, []byte(content))
			}
			st, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			if st.Written != 0 {
				t.Errorf("rewriting the surviving tree wrote %d files", st.Written)
			}
			wantTree(t, dir, c.want)
			wantTidy(t, dir)
		})
	}
}
