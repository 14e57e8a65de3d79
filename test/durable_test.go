package test

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

// TestReplacedFilesAreDurable runs probe, gen (with its hash cache) and
// import under strace, twice each so the second run replaces what the
// first wrote, and checks every regular file they rename into place: it
// was synced before the rename and its directory after, so a crash at
// any moment leaves the old file or the whole new one. (gen's tree has
// its own scheme, internal/tree, which renames directories and links.)
func TestReplacedFilesAreDurable(t *testing.T) {
	needTool(t, "strace", "strace")
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.0.0.140"), Mirrors: []localmirror.Spec{
		{Name: "good", Protocols: []string{"http"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(cfg, []byte(n.Inventory()), 0o644); err != nil {
		t.Fatal(err)
	}
	origin := filepath.Join(dir, "origin")
	if err := os.MkdirAll(filepath.Join(origin, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Over [metalink] min_size (1 MiB), so gen hashes it and saves the
	// hash cache.
	iso := filepath.Join(origin, "images", "boot.iso")
	if err := os.WriteFile(iso, bytes.Repeat([]byte("x"), 1<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	state, cache, imported := filepath.Join(dir, "state.json"), filepath.Join(dir, "hashes.json"), filepath.Join(dir, "imported.toml")
	for _, c := range []struct {
		name string
		args []string
		file string // the file the command must replace
	}{
		{"probe", append([]string{"probe", "-c", cfg, "-o", state, "--timeout", "5s", "--ca-file", n.CAFile()}, n.ResolveFlags()...), state},
		{"gen", []string{"gen", "-c", cfg, "-s", state, "-o", filepath.Join(dir, "out"), "--origin-dir", origin, "--hash-cache", cache}, cache},
		{"import", []string{"import", "--from", "almalinux", "-o", imported, importData + "/almalinux/mirrors.d"}, imported},
	} {
		for run := 1; run <= 2; run++ {
			// A new mtime: gen hashes the file again and replaces its
			// cache (an unchanged cache is left alone).
			mtime := time.Date(2025, 1, run, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(iso, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			trace := filepath.Join(dir, "trace")
			cmd := exec.Command("strace", append([]string{"-f", "-y", "-qq", "-s", "4096", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", trace, binary}, c.args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s, run %d: %v\n%s", c.name, run, err, out)
			}
			data, err := os.ReadFile(trace)
			if err != nil {
				t.Fatal(err)
			}
			files := checkDurable(t, c.name, string(data))
			if !files[c.file] {
				t.Errorf("%s, run %d: %s was not renamed into place; renamed: %v", c.name, run, c.file, files)
			}
		}
	}
}

var (
	// renameat(AT_FDCWD</dir>, "./.f.tmp-1", AT_FDCWD</dir>, "f") = 0
	renameRE = regexp.MustCompile(`rename(?:at2?)?\((?:(?:AT_FDCWD|\d+)<([^>]*)>, )?"([^"]*)", (?:(?:AT_FDCWD|\d+)<([^>]*)>, )?"([^"]*)"(?:, \w+)?\) = 0`)
	// fsync(11</dir/.f.tmp-1>) = 0, or its first half when another
	// thread's call comes between.
	fsyncRE = regexp.MustCompile(`f(?:data)?sync\(\d+<([^>]*)>`)
)

// checkDurable checks, in an strace -f -y log, that every regular file
// renamed into place was synced before and its directory after, and
// returns the files renamed.
func checkDurable(t *testing.T, name, trace string) map[string]bool {
	t.Helper()
	type event struct {
		synced          string // path of an fsync
		from, to, todir string // of a rename
	}
	var events []event
	for line := range strings.Lines(trace) {
		if m := renameRE.FindStringSubmatch(line); m != nil {
			from, to := at(m[1], m[2]), at(m[3], m[4])
			events = append(events, event{from: from, to: to, todir: filepath.Dir(to)})
		} else if m := fsyncRE.FindStringSubmatch(line); m != nil {
			events = append(events, event{synced: m[1]})
		}
	}
	files := map[string]bool{}
	for i, e := range events {
		if e.to == "" {
			continue
		}
		if fi, err := os.Lstat(e.to); err != nil || !fi.Mode().IsRegular() {
			continue // a generation directory or the link to it
		}
		files[e.to] = true
		before, after := false, false
		for _, s := range events[:i] {
			before = before || s.synced == e.from
		}
		for _, s := range events[i+1:] {
			after = after || s.synced == e.todir
		}
		if !before {
			t.Errorf("%s: %s was renamed to %s without being synced first", name, e.from, e.to)
		}
		if !after {
			t.Errorf("%s: the rename to %s was not made durable: %s was not synced after it", name, e.to, e.todir)
		}
	}
	return files
}

// at is path p of a *at system call, relative to directory dir unless
// absolute.
func at(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
