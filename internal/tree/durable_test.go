package tree

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// syncHelper is what TestDurableBeforePublished runs under strace: one
// generation of n new files in two directory levels, committed.
func syncHelper(dir string, n int) {
	if every, err := strconv.Atoi(os.Getenv("TREE_SYNC_WRITEBACK")); err == nil {
		writeBackEvery = every
	}
	w, err := Begin(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sync helper:", err)
		os.Exit(1)
	}
	for i := range n {
		if err := w.WriteFile(fmt.Sprintf("d%d/e/%d.txt", i%3, i), []byte(strconv.Itoa(i))); err != nil {
			fmt.Fprintln(os.Stderr, "sync helper:", err)
			os.Exit(1)
		}
	}
	if _, err := w.Commit(); err != nil {
		fmt.Fprintln(os.Stderr, "sync helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestDurableBeforePublished traces a Commit's system calls and checks
// the order a power cut needs: every file and directory of the new
// generation is on disk (an fsync of it, or a syncfs of the filesystem
// after it was written) before the generation is renamed into place and
// the link to it replaced, and the link's directory is synced after. A
// few files are fsynced one by one, many with one syncfs; both are
// traced.
func TestDurableBeforePublished(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is not installed: apt-get install strace (.ci/run installs it)")
	}
	for _, tc := range []struct {
		files, writeBack int
		wantSyncfs       bool
	}{
		{3, writeBackEvery, false},
		{syncfsOver + 100, writeBackEvery, syncfsReportsErrors()},
		{500, 100, syncfsReportsErrors()}, // and written back in the background
	} {
		t.Run(fmt.Sprint(tc.files, " files, write-back every ", tc.writeBack), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			commitFiles(t, dir, map[string]string{"d0/e/0.txt": "old"})
			trace := filepath.Join(t.TempDir(), "trace")
			cmd := exec.Command("strace", "-f", "-y", "-qq", "-s", "4096", "-o", trace,
				"-e", "trace=openat,mkdirat,fsync,fdatasync,syncfs,renameat,renameat2,symlinkat", os.Args[0])
			cmd.Env = append(os.Environ(), "TREE_SYNC_DIR="+dir, "TREE_SYNC_FILES="+strconv.Itoa(tc.files), "TREE_SYNC_WRITEBACK="+strconv.Itoa(tc.writeBack))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			b, err := os.ReadFile(trace)
			if err != nil {
				t.Fatal(err)
			}
			checkPublishOrder(t, dir, parseTrace(string(b)), tc.files, tc.wantSyncfs)
		})
	}
}

// TestWriteBackErrorFails checks that a write error reported to a
// write-back in the background fails the Writer: syncfs reports an
// error once, so the sync in Commit would not see it again.
// The kernel's answer is forced, so the test runs on any kernel.
func TestWriteBackErrorFails(t *testing.T) {
	defer func(f func() bool) { syncfsReportsErrors = f }(syncfsReportsErrors)
	syncfsReportsErrors = func() bool { return true }
	dir := filepath.Join(t.TempDir(), "out")
	old := map[string]string{"a": "old"}
	commitFiles(t, dir, old)
	defer func(every int, f func(int) error) { writeBackEvery, syncfs = every, f }(writeBackEvery, syncfs)
	writeBackEvery = 10
	var calls atomic.Int32
	syncfs = func(fd int) error {
		if calls.Add(1) == 1 {
			return unix.EIO // reported once: the sync in Commit would pass
		}
		return unix.Syncfs(fd)
	}
	w, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for i := range 10 {
		w.WriteFile(fmt.Sprintf("f%d", i), []byte("new"))
	}
	if _, err := w.Commit(); !errors.Is(err, unix.EIO) {
		t.Errorf("Commit after a failed write-back: %v, want EIO", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("syncfs called %d times, want once, in the background", n)
	}
	wantTree(t, dir, old)
}

// Before Linux 5.8 syncfs does not report write errors: no write-back
// runs in the background, every file is synced on its own in Commit.
func TestNoWriteBackWhereSyncfsHidesErrors(t *testing.T) {
	defer func(f func() bool) { syncfsReportsErrors = f }(syncfsReportsErrors)
	syncfsReportsErrors = func() bool { return false }
	defer func(every int, f func(int) error) { writeBackEvery, syncfs = every, f }(writeBackEvery, syncfs)
	writeBackEvery = 10
	var calls atomic.Int32
	syncfs = func(fd int) error {
		calls.Add(1)
		return unix.Syncfs(fd)
	}
	dir := filepath.Join(t.TempDir(), "out")
	files := map[string]string{}
	for i := range syncfsOver + 20 {
		files[fmt.Sprintf("f%d", i)] = "new"
	}
	commitFiles(t, dir, files)
	if n := calls.Load(); n != 0 {
		t.Errorf("syncfs called %d times on a kernel whose syncfs hides write errors", n)
	}
	wantTree(t, dir, files)
}

type traced struct {
	call string // openat, mkdirat, fsync, syncfs, rename or symlinkat
	path string // created, synced or renamed to
	from string // renamed from
}

var (
	pidRE     = regexp.MustCompile(`^\d+\s+`)
	padRE     = regexp.MustCompile(`^\)\s+=`)
	createRE  = regexp.MustCompile(`^openat\(.*O_CREAT.*\) = \d+<([^>]*)>`)
	mkdirRE   = regexp.MustCompile(`^mkdirat\(\d+<([^>]*)>, "([^"]*)", \d+\) = 0`)
	syncRE    = regexp.MustCompile(`^(fsync|fdatasync|syncfs)\(\d+<([^>]*)>\) = 0`)
	renameRE  = regexp.MustCompile(`^renameat2?\(\d+<([^>]*)>, "([^"]*)", \d+<([^>]*)>, "([^"]*)"(?:, \w+)?\) = 0`)
	symlinkRE = regexp.MustCompile(`^symlinkat\("[^"]*", \d+<([^>]*)>, "([^"]*)"\) = 0`)
)

// parseTrace reads the calls of an strace -f -y log that succeeded,
// joining calls that another thread's interrupted.
func parseTrace(log string) []traced {
	pending := map[string]string{}
	var out []traced
	for line := range strings.Lines(log) {
		line = strings.TrimSuffix(line, "\n")
		pid := strings.TrimSpace(pidRE.FindString(line))
		line = pidRE.ReplaceAllString(line, "")
		if before, ok := strings.CutSuffix(line, " <unfinished ...>"); ok {
			pending[pid] = before
			continue
		}
		if strings.HasPrefix(line, "<... ") {
			_, rest, _ := strings.Cut(line, " resumed>")
			line = pending[pid] + padRE.ReplaceAllString(rest, ") =")
			delete(pending, pid)
		}
		switch {
		case createRE.MatchString(line):
			out = append(out, traced{call: "openat", path: createRE.FindStringSubmatch(line)[1]})
		case mkdirRE.MatchString(line):
			m := mkdirRE.FindStringSubmatch(line)
			out = append(out, traced{call: "mkdirat", path: filepath.Join(m[1], m[2])})
		case syncRE.MatchString(line):
			m := syncRE.FindStringSubmatch(line)
			call := m[1]
			if call == "fdatasync" {
				call = "fsync"
			}
			out = append(out, traced{call: call, path: m[2]})
		case renameRE.MatchString(line):
			m := renameRE.FindStringSubmatch(line)
			out = append(out, traced{call: "rename", from: filepath.Join(m[1], m[2]), path: filepath.Join(m[3], m[4])})
		case symlinkRE.MatchString(line):
			m := symlinkRE.FindStringSubmatch(line)
			out = append(out, traced{call: "symlinkat", path: filepath.Join(m[1], m[2])})
		}
	}
	return out
}

func checkPublishOrder(t *testing.T, dir string, calls []traced, files int, wantSyncfs bool) {
	t.Helper()
	// The generation's rename: from the staging directory into the store.
	gen := -1
	var staging string
	for i, c := range calls {
		if c.call == "rename" && strings.HasPrefix(filepath.Base(c.from), stagingPrefix) {
			gen, staging = i, c.from
			break
		}
	}
	if gen < 0 {
		t.Fatalf("no rename of a staging directory in the trace: %v", calls)
	}
	// The link's replacement: a new link renamed over dir.
	link := -1
	for i, c := range calls[gen:] {
		if c.call == "rename" && c.path == dir {
			link = gen + i
			break
		}
	}
	if link < 0 {
		t.Fatalf("no rename over %s after the generation's", dir)
	}
	inGeneration := func(c traced) bool {
		switch c.call {
		case "openat":
			return strings.HasPrefix(c.path, staging+"/")
		case "mkdirat":
			return c.path == staging || strings.HasPrefix(c.path, staging+"/")
		}
		return false
	}
	created, syncfs := 0, false
	for i, c := range calls[:gen] {
		syncfs = syncfs || c.call == "syncfs"
		if !inGeneration(c) {
			continue
		}
		if c.call == "openat" {
			created++
		}
		durable := false
		for _, s := range calls[i+1 : gen] {
			durable = durable || s.call == "syncfs" || s.call == "fsync" && s.path == c.path
		}
		if !durable {
			t.Errorf("%s %s was not synced before the generation was renamed into place", c.call, c.path)
		}
	}
	if created != files+1 { // and the manifest
		t.Errorf("the trace shows %d files created in %s, want %d", created, staging, files+1)
	}
	if syncfs != wantSyncfs {
		t.Errorf("syncfs used: %v, want %v", syncfs, wantSyncfs)
	}
	parentSynced := false
	for _, c := range calls[link+1:] {
		parentSynced = parentSynced || c.call == "fsync" && c.path == filepath.Dir(dir)
	}
	if !parentSynced {
		t.Errorf("%s was not synced after the link in it was replaced", filepath.Dir(dir))
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true},
		{"5.10.0-28-amd64", true},
		{"6.1.0-18-cloud-amd64", true},
		{"5.7.19", false},
		{"4.18.0-513.el8.x86_64", false},
		{"5.4", false},
		{"10.0", true},
		{"", false},
		{"5", false},
		{"x.y", false},
	} {
		if got := kernelAtLeast(tc.release, 5, 8); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", tc.release, got, tc.want)
		}
	}
}
