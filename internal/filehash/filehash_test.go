package filehash

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPieceSize(t *testing.T) {
	for _, tt := range []struct{ size, want int64 }{
		{0, 256 << 10},
		{1 << 20, 256 << 10},
		{256 << 20, 256 << 10},
		{1 << 30, 1 << 20},
		{4 << 30, 4 << 20},
		{1 << 40, 16 << 20},
	} {
		if got := PieceSize(tt.size); got != tt.want {
			t.Errorf("PieceSize(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHash(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 256 << 10, 256<<10 + 1, 3<<20 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		s, err := Hash(write(t, dir, "f", data))
		if err != nil {
			t.Fatal(err)
		}
		w256, w512 := sha256.Sum256(data), sha512.Sum512(data)
		if s.Size != int64(size) || s.SHA256 != hex.EncodeToString(w256[:]) || s.SHA512 != hex.EncodeToString(w512[:]) {
			t.Errorf("size %d: %+v", size, s)
		}
		n := max(1, (size+int(s.PieceSize)-1)/int(s.PieceSize))
		if len(s.Pieces) != n {
			t.Fatalf("size %d: %d pieces, want %d", size, len(s.Pieces), n)
		}
		for i, got := range s.Pieces {
			lo, hi := i*int(s.PieceSize), min(size, (i+1)*int(s.PieceSize))
			p := sha256.Sum256(data[lo:hi])
			if got != hex.EncodeToString(p[:]) {
				t.Errorf("size %d piece %d: wrong digest", size, i)
			}
		}
	}
}

func TestCacheReusesUnchangedFiles(t *testing.T) {
	root := t.TempDir()
	cachePath := filepath.Join(t.TempDir(), "hashes.json")
	write(t, root, "a/big.iso", []byte(strings.Repeat("x", 300<<10)))
	write(t, root, "b.img", []byte("hello"))

	c, err := Open(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Sum(root, "a/big.iso")
	if err != nil {
		t.Fatal(err)
	}
	c.Sum(root, "b.img")
	if c.Hashed != 2 || c.Reused != 0 {
		t.Errorf("first run: hashed %d reused %d", c.Hashed, c.Reused)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	c, err = Open(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.Sum(root, "a/big.iso")
	if c.Hashed != 0 || c.Reused != 1 || again.SHA256 != first.SHA256 || len(again.Pieces) != len(first.Pieces) {
		t.Errorf("unchanged file: hashed %d reused %d", c.Hashed, c.Reused)
	}
	// Same size, new content and mtime: read again.
	write(t, root, "b.img", []byte("HELLO"))
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(root, "b.img"), future, future)
	s, _ := c.Sum(root, "b.img")
	want := sha256.Sum256([]byte("HELLO"))
	if c.Hashed != 1 || s.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("changed file: hashed %d, sha256 %s", c.Hashed, s.SHA256)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	// Files not asked for in a run are dropped from the cache.
	c, _ = Open(cachePath)
	c.Sum(root, "b.img")
	c.Save()
	c, _ = Open(cachePath)
	if _, ok := c.old["a/big.iso"]; ok {
		t.Error("a file no longer asked for stayed in the cache")
	}
}

func TestCorruptCacheIsReportedAndIgnored(t *testing.T) {
	cachePath := filepath.Join(t.TempDir(), "hashes.json")
	os.WriteFile(cachePath, []byte("{not json"), 0o644)
	c, err := Open(cachePath)
	if err == nil || !strings.Contains(err.Error(), cachePath) || c == nil {
		t.Fatalf("Open corrupt cache: %v", err)
	}
	root := t.TempDir()
	write(t, root, "f", []byte("data"))
	if _, err := c.Sum(root, "f"); err != nil || c.Hashed != 1 {
		t.Errorf("a corrupt cache must still work, empty: %v", err)
	}
}

// TestSaveReplacesLikeEveryOtherFile: the cache is replaced as state.json
// is, by fileio.WriteFile: through a symbolic link (the link stays, as a
// deployment may point it elsewhere), with nothing left beside it, and a
// failed save leaves the old cache whole.
func TestSaveReplacesLikeEveryOtherFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "hashes.json")
	if err := os.WriteFile(real, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write(t, root, "f.iso", []byte("data"))
	c, _ := Open(link)
	c.Sum(root, "f.iso")
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	if c, err := Open(real); err != nil || len(c.old) != 1 {
		t.Errorf("the link's target holds no cache: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("%d entries beside the cache, want the link and its target", len(ents))
	}

	// A directory in the way: the save fails, naming the cache.
	in := filepath.Join(dir, "in-the-way.json")
	os.Mkdir(in, 0o755)
	c = &Cache{path: in, used: c.old}
	if err := c.Save(); err == nil || !strings.HasPrefix(err.Error(), "hash cache "+in+": ") {
		t.Errorf("Save over a directory: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("a failed save left %d entries, want 3", len(ents))
	}
}

// TestUnchangedCacheIsNotWritten: a run that hashes nothing and asks for
// every file it knows leaves the cache file alone (no write, no sync);
// one that drops a file or hashes one writes it.
func TestUnchangedCacheIsNotWritten(t *testing.T) {
	root, cachePath := t.TempDir(), filepath.Join(t.TempDir(), "hashes.json")
	write(t, root, "a.iso", []byte("a"))
	write(t, root, "b.iso", []byte("b"))
	run := func(files ...string) (written bool) {
		t.Helper()
		before, _ := os.Stat(cachePath)
		c, err := Open(cachePath)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, err := c.Sum(root, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(cachePath)
		if err != nil {
			t.Fatalf("no cache after Save: %v", err)
		}
		return before == nil || !os.SameFile(before, after)
	}
	for _, tt := range []struct {
		name  string
		files []string
		want  bool
	}{
		{"a new cache is written", []string{"a.iso", "b.iso"}, true},
		{"the same files, none hashed: not written", []string{"b.iso", "a.iso"}, false},
		{"a file no longer asked for: written without it", []string{"a.iso"}, true},
		{"a file hashed again: written", []string{"a.iso", "b.iso"}, true},
		{"and then left alone", []string{"a.iso", "b.iso"}, false},
	} {
		if got := run(tt.files...); got != tt.want {
			t.Errorf("%s: written %v", tt.name, got)
		}
	}
}

func TestMissingFile(t *testing.T) {
	c, _ := Open(filepath.Join(t.TempDir(), "h.json"))
	if _, err := c.Sum(t.TempDir(), "nope.iso"); err == nil || !strings.Contains(err.Error(), "nope.iso") {
		t.Errorf("missing file: %v", err)
	}
}

// BenchmarkCachedTree measures the second run over a tree: stat and
// lookup only. bench/meta4.sh measures the same on 10 GiB of files.
func BenchmarkCachedTree(b *testing.B) {
	root := b.TempDir()
	for i := range 200 {
		p := filepath.Join(root, "d", fmt.Sprintf("%02d", i%26), fmt.Sprintf("f%03d.iso", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	c, _ := Open(filepath.Join(b.TempDir(), "h.json"))
	var rels []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			rels = append(rels, filepath.ToSlash(rel))
			c.Sum(root, rels[len(rels)-1])
		}
		return nil
	})
	c.Save()
	b.ResetTimer()
	for b.Loop() {
		c, _ := Open(c.path)
		for _, r := range rels {
			c.Sum(root, r)
		}
	}
}
