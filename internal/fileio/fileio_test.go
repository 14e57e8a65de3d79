package fileio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("12345"), 0o644)
	tests := []struct {
		name    string
		path    string
		limit   int64
		want    string
		tooBig  bool
		missing bool
	}{
		{"a file under the limit is read whole", small, 10, "12345", false, false},
		{"a file of exactly the limit is read whole", small, 5, "12345", false, false},
		{"a regular file over the limit is refused", small, 4, "", true, false},
		{"a device without end is refused at the limit", "/dev/zero", 1 << 20, "", true, false},
		{"a missing file is an fs.ErrNotExist", filepath.Join(dir, "nope"), 10, "", false, true},
	}
	for _, tc := range tests {
		got, err := ReadFile(tc.path, tc.limit)
		var tl *TooLargeError
		switch {
		case tc.tooBig:
			if !errors.As(err, &tl) || tl.Path != tc.path || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s: err %v, want a TooLargeError naming %s", tc.name, err, tc.path)
			}
		case tc.missing:
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: err %v, want ErrNotExist", tc.name, err)
			}
		default:
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
			}
		}
	}
}

func TestTooLargeMessage(t *testing.T) {
	got := (&TooLargeError{Path: "state.json", Limit: MaxState}).Error()
	want := "state.json: larger than 256 MiB, the most mirrorsteer reads from such a file; is this the right file?"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("got %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	// A link is followed: the file it points to is replaced, the link kept.
	link := filepath.Join(dir, "link")
	os.Symlink("f", link)
	if err := WriteFile(link, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("target holds %q, want two", b)
	}

	// A failed write or rename leaves the old file and no temporary file.
	for _, fail := range []string{"write", "rename"} {
		t.Run(fail, func(t *testing.T) {
			boom := errors.New("boom")
			oldW, oldR := writeData, rename
			defer func() { writeData, rename = oldW, oldR }()
			if fail == "write" {
				writeData = func(f *os.File, data []byte) error { f.Write(data[:1]); return boom }
			} else {
				rename = func(string, string) error { return boom }
			}
			if err := WriteFile(path, []byte("three"), 0o644); !errors.Is(err, boom) {
				t.Fatalf("err %v, want boom", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("two")) {
				t.Errorf("old file now holds %q", b)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

// TestLog checks that a started Log records, by absolute path and the
// digest of the bytes read, every file ReadFile reads whole, from any
// goroutine, and every file it finds missing, and nothing before it
// starts, after it stops, or that could not be read for another reason.
func TestLog(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, name := range []string{"a", "b", "c", "big"} {
		os.WriteFile(name, []byte("content of "+name), 0o644)
	}
	ReadFile("a", 100) // before the Log
	l := StartLog()
	ReadFile("b", 100)
	done := make(chan struct{})
	go func() { ReadFile(filepath.Join(dir, "c"), 100); close(done) }()
	<-done
	ReadFile("missing", 100)
	ReadFile("big", 3) // over its limit: not read
	got := l.Stop()
	ReadFile("a", 100) // after
	want := []Read{
		{Path: filepath.Join(dir, "b"), SHA256: sha256.Sum256([]byte("content of b"))},
		{Path: filepath.Join(dir, "c"), SHA256: sha256.Sum256([]byte("content of c"))},
		{Path: filepath.Join(dir, "missing"), Missing: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Log recorded %v, want %v", got, want)
	}
	if again := l.Stop(); !slices.Equal(again, want) {
		t.Errorf("a second Stop returned %v", again)
	}
	// A new Log may start once the first has stopped.
	StartLog().Stop()
}

// TestIdentify checks that a file's ID changes with any write, even one
// that keeps its size and puts its mtime back, and with its replacement,
// and stays with reads.
func TestIdentify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "City.mmdb")
	os.WriteFile(p, []byte("database"), 0o644)
	id := func() ID {
		t.Helper()
		v, err := Identify(p)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := id()
	os.ReadFile(p)
	if id() != first {
		t.Error("reading the file changed its ID")
	}
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("DATABASE"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	edited := id()
	if edited == first {
		t.Error("a write of the same size with the mtime put back kept the ID")
	}
	tmp := p + ".new"
	os.WriteFile(tmp, []byte("DATABASE"), 0o644)
	os.Rename(tmp, p)
	if id() == edited {
		t.Error("replacing the file kept the ID")
	}
	if _, err := Identify(p + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Identify of a missing file: %v", err)
	}
}
