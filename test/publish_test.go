package test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/tree"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// consistent checks that dir (the generation it links to) holds exactly
// the files its manifest lists, with the bytes it lists, and returns the
// manifest's digest, which names the generation.
func consistent(dir string) (string, error) {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	m, err := tree.ReadManifest(dir)
	if err != nil {
		return "", err
	}
	listed := map[string]bool{tree.ManifestName: true}
	for _, e := range m.Files {
		listed[e.Path] = true
		b, err := os.ReadFile(filepath.Join(dir, e.Path))
		if err != nil {
			return "", err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.SHA256 {
			return "", fmt.Errorf("%s is not the file its manifest lists", e.Path)
		}
	}
	n := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !listed[filepath.ToSlash(rel)] {
			return fmt.Errorf("%s is not in the manifest", rel)
		}
		n++
		return nil
	})
	if err == nil && n != len(listed) {
		err = fmt.Errorf("%d files, the manifest lists %d", n, len(listed))
	}
	b, _ := os.ReadFile(filepath.Join(dir, tree.ManifestName))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), err
}

var writtenRE = regexp.MustCompile(` (\d+) written,`)

// genWritten runs gen and returns how many files it says it wrote.
func genWritten(t *testing.T, args ...string) int {
	t.Helper()
	r := mirrorsteer(t, append([]string{"gen"}, args...)...)
	m := writtenRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("gen %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Issue 9, item 3: with out/mirrorlist replaced by a link to a directory
// elsewhere holding same-size files of other bytes, gen neither links
// those files into the tree nor reports "0 written": it writes every
// list again.
func TestGenNeverLinksForeignFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	genWritten(t, "-c", example, "-o", out)
	m, err := tree.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	lists := 0
	for _, e := range m.Files {
		if strings.HasPrefix(e.Path, "mirrorlist/") {
			lists++
		}
	}

	// The foreign tree: every list, same size, other bytes.
	foreign := filepath.Join(dir, "elsewhere")
	fixtures.CopyTree(t, filepath.Join(out, "mirrorlist"), foreign)
	foreignFiles := map[uint64]string{}
	filepath.WalkDir(foreign, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.ToUpper(string(b))), 0o644)
		fi, _ := os.Stat(p)
		foreignFiles[fi.Sys().(*syscall.Stat_t).Ino] = p
		return nil
	})
	if err := os.RemoveAll(filepath.Join(out, "mirrorlist")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(foreign, filepath.Join(out, "mirrorlist")); err != nil {
		t.Fatal(err)
	}

	if n := genWritten(t, "-c", example, "-o", out); n != lists {
		t.Errorf("gen over the link wrote %d files, want the %d lists under mirrorlist/", n, lists)
	}
	if _, err := consistent(out); err != nil {
		t.Errorf("the published tree: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(out, "mirrorlist")); err != nil || !fi.IsDir() {
		t.Errorf("out/mirrorlist is not a directory of the tree: %v", err)
	}
	var linked []string
	filepath.WalkDir(out+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, _ := d.Info()
		if f, ok := foreignFiles[fi.Sys().(*syscall.Stat_t).Ino]; ok {
			linked = append(linked, p+" is "+f)
		}
		return nil
	})
	if len(linked) > 0 {
		t.Errorf("%d foreign files were linked into the tree: %s, ...", len(linked), linked[0])
	}
	if n := genWritten(t, "-c", example, "-o", out); n != 0 {
		t.Errorf("a third gen wrote %d files, want 0", n)
	}
}

// Issue 9, item 16: gen removes only what it made; directories beside
// out/ that look like a previous or staged tree are someone else's.
func TestGenLeavesForeignDirectoriesAlone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	genWritten(t, "-c", example, "-o", out)
	var foreign []string
	for _, name := range []string{".out.old-x", ".out.old-precious", ".out.staging-x"} {
		p := filepath.Join(dir, name, "thesis.tex")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(name), 0o644)
		foreign = append(foreign, p)
	}
	for range 2 {
		genWritten(t, "-c", example, "-o", out)
	}
	for _, p := range foreign {
		if b, err := os.ReadFile(p); err != nil || string(b) != filepath.Base(filepath.Dir(p)) {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
}

// Issue 9, item 17: while gen commits again and again, rsync copies one
// whole generation every time, never files of two. It enters out/ once
// and reads the generation it resolved, which gen keeps until the run
// after the one that replaced it has finished; with the shared lock the
// README shows, it is never cut off at all, however slow: that copy is
// slowed down so that it spans commits.
func TestRsyncCopiesOneGeneration(t *testing.T) {
	fixtures.Need(t, "rsync", "flock")
	dir := t.TempDir()
	// An inventory for each run, each with a mirror in another country,
	// so that every generation differs from the others in most files.
	var cfgs []string
	for i, cc := range []string{"DE", "FR", "JP", "BR", "US", "AU", "ZA", "IN", "CA"} {
		d := filepath.Join(dir, fmt.Sprint("inv", i))
		os.Mkdir(d, 0o755)
		cfg, _ := fixtures.WriteInventory(t, d, fixtures.Inventory{Origin: "http://origin.example.org/", Repos: []fixtures.Repo{fixtures.Files},
			Mirrors: []fixtures.Mirror{{Name: "m", Country: cc, URL: "http://m.example.org/"}, {Name: "fr", Country: "FR", URL: "http://fr.example.org/"}}})
		cfgs = append(cfgs, cfg)
	}
	out := filepath.Join(dir, "out")
	genWritten(t, "-c", cfgs[0], "-o", out)

	readers := []struct {
		name   string
		script string // run by sh in dir, copying into $1
		locked bool
	}{
		{"rsync", `rsync -a --delete out/ "$1"/`, false},
		{"slow rsync under flock", `cd out/ && flock -s . sh -c 'test -f manifest.json && rsync -a --delete --bwlimit=300 ./ "$0"/' "$1"`, true},
	}
	// published names the generation out links to now.
	published := func() string {
		b, _ := os.ReadFile(filepath.Join(out, tree.ManifestName))
		return string(b)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	copies, cut, spanned := map[string]int{}, map[string]int{}, map[string]int{}
	seen := map[string]map[string]bool{}
	for _, rd := range readers { // before any reader runs: they read seen
		seen[rd.name] = map[string]bool{}
	}
	for i, rd := range readers {
		dest := filepath.Join(dir, fmt.Sprint("copy", i))
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				cmd := exec.Command("sh", "-c", rd.script, "sh", dest)
				cmd.Dir = dir
				before := published()
				msg, err := cmd.CombinedOutput()
				span := published() != before
				var ee *exec.ExitError
				if !rd.locked && errors.As(err, &ee) && ee.ExitCode() == 24 {
					// "some files vanished": the generation it entered was
					// removed by a later run, under it.
					mu.Lock()
					cut[rd.name]++
					mu.Unlock()
					continue
				}
				if err != nil {
					t.Errorf("%s: %v\n%s", rd.name, err, msg)
					return
				}
				g, err := consistent(dest)
				if err != nil {
					t.Errorf("%s copied a tree that is not one generation: %v", rd.name, err)
					return
				}
				mu.Lock()
				copies[rd.name]++
				seen[rd.name][g] = true
				if span {
					spanned[rd.name]++
				}
				mu.Unlock()
			}
		})
	}
	for i := 1; i < len(cfgs) && !t.Failed(); i++ {
		genWritten(t, "-c", cfgs[i], "-o", out)
	}
	close(done)
	wg.Wait()
	for _, rd := range readers {
		t.Logf("%s: %d copies of %d generations, %d while gen committed, %d cut off", rd.name, copies[rd.name], len(seen[rd.name]), spanned[rd.name], cut[rd.name])
	}
	if !t.Failed() && (len(seen["rsync"]) < 3 || spanned["slow rsync under flock"] == 0) {
		t.Errorf("too little to mean anything: rsync copied %d generations, the slow one spanned %d commits", len(seen["rsync"]), spanned["slow rsync under flock"])
	}
}
