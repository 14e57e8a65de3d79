package tree

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// inodes returns the inode of every regular file under dir.
func inodes(t *testing.T, dir string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			out[fi.Sys().(*syscall.Stat_t).Ino] = p
		}
		return nil
	})
	return out
}

// Issue 9, item 3: a file is reused only from the tree the Writer
// committed, reached without following a symbolic link, and only when
// its bytes on disk are those the manifest lists.
func TestReuseOnlyOwnFiles(t *testing.T) {
	files := map[string]string{"d/a.txt": "aaaa", "d/b.txt": "bbbb", "top.txt": "top!", "keep.txt": "keep"}
	tests := []struct {
		name        string
		attack      func(t *testing.T, dir, foreign string)
		wantWritten int // the files the attack touched, which must be written again
	}{
		{"a directory replaced by a link to a foreign one with same-size other bytes", func(t *testing.T, dir, foreign string) {
			os.WriteFile(filepath.Join(foreign, "a.txt"), []byte("AAAA"), 0o644)
			os.WriteFile(filepath.Join(foreign, "b.txt"), []byte("bbbb"), 0o644) // even the same bytes are not ours
			os.RemoveAll(filepath.Join(dir, "d"))
			if err := os.Symlink(foreign, filepath.Join(dir, "d")); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"a file replaced by a link to a foreign file with the same bytes", func(t *testing.T, dir, foreign string) {
			os.WriteFile(filepath.Join(foreign, "top.txt"), []byte("top!"), 0o644)
			os.Remove(filepath.Join(dir, "top.txt"))
			if err := os.Symlink(filepath.Join(foreign, "top.txt"), filepath.Join(dir, "top.txt")); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"a file edited in place, same size and mode", func(t *testing.T, dir, foreign string) {
			f, err := os.OpenFile(filepath.Join(dir, "d/a.txt"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("X"), 1)
			f.Close()
		}, 1},
		{"a file replaced by a FIFO", func(t *testing.T, dir, foreign string) {
			os.Remove(filepath.Join(dir, "top.txt"))
			if err := syscall.Mkfifo(filepath.Join(dir, "top.txt"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, tc := range tests {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, directories kept open %v", tc.name, cached), func(t *testing.T) {
				if !cached {
					saved := maxOldDirs
					maxOldDirs = 0 // each directory opened for each file
					t.Cleanup(func() { maxOldDirs = saved })
				}
				testReuse(t, files, tc.attack, tc.wantWritten)
			})
		}
	}
}

// testReuse commits files, lets attack change the tree, commits the same
// files again and checks that exactly wantWritten of them were written
// again and nothing of foreign was linked.
func testReuse(t *testing.T, files map[string]string, attack func(t *testing.T, dir, foreign string), wantWritten int) {
	dir := filepath.Join(t.TempDir(), "out")
	foreign := t.TempDir()
	commitFiles(t, dir, files)
	attack(t, dir, foreign)
	foreignInodes := inodes(t, foreign)
	st := commitFiles(t, dir, files)
	if want := (Stats{Written: wantWritten, Unchanged: len(files) + 1 - wantWritten, Files: len(files) + 1, Bytes: st.Bytes}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	wantTree(t, dir, files)
	for ino, p := range inodes(t, dir) {
		if f, ok := foreignInodes[ino]; ok {
			t.Errorf("%s is the foreign file %s, hard-linked into the tree", p, f)
		}
	}
	for _, p := range foreignInodes {
		if fi, _ := os.Stat(p); fi.Sys().(*syscall.Stat_t).Nlink != 1 {
			t.Errorf("foreign file %s has %d links", p, fi.Sys().(*syscall.Stat_t).Nlink)
		}
	}
}

// Issue 9, item 16: a Writer removes only directories it made; a foreign
// directory whose name looks like one of its own survives.
func TestForeignDirectoriesSurvive(t *testing.T) {
	for _, exchange := range []bool{true, false} {
		t.Run(fmt.Sprintf("exchange=%v", exchange), func(t *testing.T) {
			if !exchange {
				withoutExchange(t)
			}
			root := t.TempDir()
			dir := filepath.Join(root, "out")
			commitFiles(t, dir, map[string]string{"a": "first"})
			var foreign []string
			for _, name := range []string{".out.old-x", ".out.old-1234", ".out.staging-x", ".out.link-x"} {
				p := filepath.Join(root, name)
				os.MkdirAll(filepath.Join(p, "sub"), 0o755)
				os.WriteFile(filepath.Join(p, ManifestName), []byte(`{"schema":1,"files":[]}`+"\n"), 0o644)
				os.WriteFile(filepath.Join(p, "sub", "precious"), []byte(name), 0o644)
				foreign = append(foreign, p)
			}
			// In the store, what is not a generation this package wrote:
			// a numbered directory without a manifest, and other names.
			store := filepath.Join(root, StoreName(dir))
			for _, name := range []string{"99", "notes", "007"} {
				p := filepath.Join(store, name)
				os.MkdirAll(filepath.Join(p, "sub"), 0o755)
				os.WriteFile(filepath.Join(p, "sub", "precious"), []byte(name), 0o644)
				foreign = append(foreign, p)
			}
			for g := range 3 {
				commitFiles(t, dir, map[string]string{"a": fmt.Sprint(g)})
			}
			for _, p := range foreign {
				if b, err := os.ReadFile(filepath.Join(p, "sub", "precious")); err != nil || string(b) != filepath.Base(p) {
					t.Errorf("foreign %s: %q, %v", p, b, err)
				}
			}
		})
	}
}

// A file rewritten with other bytes of the same size is a second newer
// than its previous version, even when written within the same second:
// rsync takes the same size and mtime in whole seconds as unchanged and
// would never copy it. Here the previous version is stamped an hour
// ahead, as a clock step back would leave it.
func TestRewrittenFileIsNewer(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("directories kept open %v", cached), func(t *testing.T) {
			if !cached {
				saved := maxOldDirs
				maxOldDirs = 0
				t.Cleanup(func() { maxOldDirs = saved })
			}
			dir := filepath.Join(t.TempDir(), "out")
			commitFiles(t, dir, map[string]string{"d/a.txt": "aaaa", "top.txt": "top!"})
			ahead := time.Now().Add(time.Hour)
			for _, f := range []string{"d/a.txt", "top.txt"} {
				if err := os.Chtimes(filepath.Join(dir, f), ahead, ahead); err != nil {
					t.Fatal(err)
				}
			}
			commitFiles(t, dir, map[string]string{"d/a.txt": "AAAA", "top.txt": "top!"})
			if fi, _ := os.Stat(filepath.Join(dir, "d/a.txt")); fi.ModTime().Unix() <= ahead.Unix() {
				t.Errorf("rewritten d/a.txt: mtime %v, not after its previous version's %v", fi.ModTime(), ahead)
			}
			if fi, _ := os.Stat(filepath.Join(dir, "top.txt")); !fi.ModTime().Equal(ahead) {
				t.Errorf("unchanged top.txt: mtime %v, want its previous version's %v (reused)", fi.ModTime(), ahead)
			}
		})
	}
}
