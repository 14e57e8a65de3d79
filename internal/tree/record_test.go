package tree

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// commitNoted writes files as one generation of the tree at dir, with
// note.
func commitNoted(t testing.TB, dir string, files map[string]string, note string) Stats {
	t.Helper()
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for p, c := range files {
		if err := w.WriteFile(p, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	w.SetNote([]byte(note))
	st, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func isNote(want string) func([]byte) bool {
	return func(note []byte) bool { return string(note) == want }
}

// TestUnchanged checks that Unchanged knows the generation the last
// Commit published, with its note, as long as nothing in it changed, and
// that any change to it, made as a person or a program would, is seen.
func TestUnchanged(t *testing.T) {
	files := map[string]string{"a.txt": "alpha", "d/b.txt": "bravo", "d/e/c.txt": "charlie"}
	tests := []struct {
		name   string
		change func(t *testing.T, dir, gen string) // gen: the generation's directory
		want   bool
	}{
		{"nothing changed", func(*testing.T, string, string) {}, true},
		{"a reader read every file", func(t *testing.T, dir, gen string) { readTree(t, dir) }, true},
		{"a reader holds a shared lock", func(t *testing.T, dir, gen string) {
			f, err := os.Open(gen)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if err := flock(int(f.Fd()), unix.LOCK_SH); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a file edited in place, same size, mtime put back", func(t *testing.T, dir, gen string) {
			p := filepath.Join(gen, "d/b.txt")
			fi, _ := os.Stat(p)
			if err := os.WriteFile(p, []byte("BRAVO"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}, false},
		{"a file's mode changed", func(t *testing.T, dir, gen string) { os.Chmod(filepath.Join(gen, "a.txt"), 0o600) }, false},
		{"a file replaced by a link to a copy", func(t *testing.T, dir, gen string) {
			p := filepath.Join(gen, "a.txt")
			cp := filepath.Join(t.TempDir(), "a.txt")
			os.WriteFile(cp, []byte("alpha"), 0o644)
			os.Remove(p)
			os.Symlink(cp, p)
		}, false},
		{"a file replaced by a new file of the same bytes", func(t *testing.T, dir, gen string) {
			p := filepath.Join(gen, "d/e/c.txt")
			os.Remove(p)
			os.WriteFile(p, []byte("charlie"), 0o644)
		}, false},
		{"a file added", func(t *testing.T, dir, gen string) {
			os.WriteFile(filepath.Join(gen, "d/new.html"), []byte("x"), 0o644)
		}, false},
		{"a file added at the root", func(t *testing.T, dir, gen string) { os.WriteFile(filepath.Join(gen, "evil.html"), []byte("x"), 0o644) }, false},
		{"a file removed", func(t *testing.T, dir, gen string) { os.Remove(filepath.Join(gen, "d/e/c.txt")) }, false},
		{"a directory replaced by a link to a copy", func(t *testing.T, dir, gen string) {
			cp := filepath.Join(t.TempDir(), "d")
			os.Rename(filepath.Join(gen, "d"), cp)
			os.Symlink(cp, filepath.Join(gen, "d"))
		}, false},
		{"the manifest rewritten", func(t *testing.T, dir, gen string) {
			p := filepath.Join(gen, ManifestName)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b, 0o644)
		}, false},
		{"the link pointed at another generation", func(t *testing.T, dir, gen string) {
			os.Remove(dir)
			os.Symlink(StoreName(dir)+"/1", dir)
		}, false},
		{"the link pointed at the generation by another path", func(t *testing.T, dir, gen string) {
			os.Remove(dir)
			os.Symlink(gen, dir+".copy")
			os.Rename(dir+".copy", dir)
		}, false},
		{"the record truncated", func(t *testing.T, dir, gen string) {
			p := filepath.Join(filepath.Dir(dir), StoreName(dir), recordName)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, false},
		{"the record removed", func(t *testing.T, dir, gen string) {
			os.Remove(filepath.Join(filepath.Dir(dir), StoreName(dir), recordName))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			commitFiles(t, dir, map[string]string{"old": "generation"})
			want := commitNoted(t, dir, files, "inputs v1")
			tc.change(t, dir, filepath.Join(filepath.Dir(dir), StoreName(dir), current(t, dir)))
			st, ok := Unchanged(dir, isNote("inputs v1"))
			if ok != tc.want {
				t.Fatalf("Unchanged = %v, want %v", ok, tc.want)
			}
			if ok && tc.name == "nothing changed" {
				if want := (Stats{Unchanged: want.Files, Files: want.Files, Bytes: want.Bytes}); st != want {
					t.Errorf("Stats = %+v, want %+v", st, want)
				}
			}
			if _, ok := Unchanged(dir, isNote("inputs v2")); ok {
				t.Error("Unchanged accepted a generation whose note the caller refused")
			}
		})
	}
}

// TestUnchangedAfterRemoval checks that the record describes the
// generation after Commit removed the older ones, which shared inodes
// with it (unlinking them changed the files' ctime), and only the
// generation the last Commit published.
func TestUnchangedAfterRemoval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{"same": "same", "d/same": "same too"}
	for i := range 4 {
		files["changing"] = strings.Repeat("x", i)
		commitNoted(t, dir, files, "note")
		if _, ok := Unchanged(dir, isNote("note")); !ok {
			t.Fatalf("commit %d: Unchanged is false right after it", i+1)
		}
	}
	// A generation committed without a note has no record.
	commitFiles(t, dir, files)
	if _, ok := Unchanged(dir, func([]byte) bool { return true }); ok {
		t.Error("Unchanged is true for a generation committed without a note")
	}
	wantTidy(t, dir)
}

// TestUnchangedChangesNothing checks that Unchanged reads and does not
// write: the store and the generation are as they were.
func TestUnchangedChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	commitNoted(t, dir, map[string]string{"a": "a", "b/c": "c"}, "n")
	store := filepath.Join(filepath.Dir(dir), StoreName(dir))
	before := snapshotDir(t, filepath.Dir(dir))
	time.Sleep(10 * time.Millisecond) // a write would get another mtime
	if _, ok := Unchanged(dir, isNote("n")); !ok {
		t.Fatal("Unchanged is false")
	}
	if after := snapshotDir(t, filepath.Dir(dir)); after != before {
		t.Errorf("Unchanged changed %s:\n%s\nwas\n%s", store, after, before)
	}
}

// snapshotDir lists every entry below dir with its inode, size, mtime and
// ctime.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintln(&b, p, fi.Mode(), st.Ino, fi.Size(), fi.ModTime(), st.Ctim.Nano())
		return nil
	})
	return b.String()
}

// TestEntryDigestIsTheWalks: the digest Commit records, made from what
// the Writer knows of the files it wrote and linked, is the one a walk of
// the published generation takes (Unchanged's), through generations
// that write, link, change, remove and add files and directories, that
// remove older generations sharing the linked files, and under a umask
// that makes the Writer chmod each file.
func TestEntryDigestIsTheWalks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	gens := []struct {
		name  string
		umask int
		files map[string]string
	}{
		{"all new, nested", 0o022, map[string]string{"a.txt": "alpha", "d/b.txt": "bravo", "d/e/c.txt": "charlie", "d/e/f/g.txt": "golf"}},
		{"some linked, one changed, one removed, one added", 0o022, map[string]string{"a.txt": "alpha", "d/b.txt": "BRAVO", "d/e/c.txt": "charlie", "h/i.txt": "india"}},
		{"all linked, the manifest too", 0o022, map[string]string{"a.txt": "alpha", "d/b.txt": "BRAVO", "d/e/c.txt": "charlie", "h/i.txt": "india"}},
		{"an older generation removed under linked files", 0o022, map[string]string{"a.txt": "alpha", "d/b.txt": "BRAVO", "d/e/c.txt": "charlie", "h/i.txt": "india", "j.txt": "juliett"}},
		{"a umask the Writer chmods against", 0o077, map[string]string{"a.txt": "ALPHA", "d/b.txt": "BRAVO", "k/l/m.txt": "mike"}},
	}
	for i, g := range gens {
		old := syscall.Umask(g.umask)
		note := fmt.Sprintf("inputs %d", i)
		commitNoted(t, dir, g.files, note)
		syscall.Umask(old)
		b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), StoreName(dir), recordName))
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		rec, _, ok := parseRecord(b)
		if !ok {
			t.Fatalf("%s: record %q does not parse", g.name, b)
		}
		f, err := os.Open(filepath.Join(filepath.Dir(dir), StoreName(dir), current(t, dir)))
		if err != nil {
			t.Fatal(err)
		}
		walked, err := walkDigest(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rec.digest != walked {
			t.Fatalf("%s: recorded digest %x, a walk of the generation %x", g.name, rec.digest, walked)
		}
		if _, ok := Unchanged(dir, isNote(note)); !ok {
			t.Fatalf("%s: Unchanged refuses the generation just published", g.name)
		}
	}
}
