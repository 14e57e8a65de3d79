// Package tree writes a directory tree atomically and incrementally.
//
// A Writer builds the new tree in a staging directory next to the target
// (".out.staging-<random>" beside "out", so on the same filesystem) and, on
// Commit, swaps it with the target in one step, renameat2(RENAME_EXCHANGE),
// so the target stays a real directory and a reader of it sees the old tree
// or the new one, never a mix of the two. A crash at any point before the
// swap leaves the old tree untouched; the next Begin removes the leftover
// staging directory.
//
// A file whose bytes equal those of the same path in the current tree is
// not written again but hard-linked from it: the same inode with the same
// mtime, so web servers and CDN syncs see it as unchanged. Equality is
// decided from the current tree's manifest.json (SHA-256 and size) and a
// check that the file on disk still has the recorded size.
//
// Every tree has a manifest.json at its root listing each file's path, size
// and SHA-256 in a fixed format: the same files give the same bytes. A
// directory without one is not a tree of ours, and Begin refuses to replace
// it unless it is empty.
//
// The package is Linux-only (renameat2, flock, *at system calls).
package tree

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"golang.org/x/sys/unix"
)

// ErrAfterSwap is wrapped by the error Commit returns when the new tree was
// swapped in but a later step failed: the fsync of the parent directory
// (the swap may not survive a power loss) or removing the previous tree
// (the next Begin removes it). The new tree is in place and the Stats are
// valid; callers may treat such an error as a warning.
var ErrAfterSwap = errors.New("new tree swapped in, but a later step failed")

// Stats counts what Commit did. The counts include manifest.json, so
// Written+Unchanged == Files, and a run that changes nothing has Written == 0.
type Stats struct {
	// Written is the number of files written: new, or changed since the
	// previous tree.
	Written int
	// Unchanged is the number of files hard-linked from the previous tree
	// because their bytes were identical.
	Unchanged int
	// Removed is the number of files of the previous tree not in the new one.
	Removed int
	// Files is the number of files in the new tree, manifest.json included.
	Files int
	// Bytes is the total size of the new tree's files, manifest.json
	// included.
	Bytes int64
}

// Writer writes one new generation of the tree at a directory. Create one
// with Begin, add files with WriteFile, then Commit, or Abort to discard.
//
// WriteFile is safe for concurrent use by multiple goroutines, so a
// generator may render files in parallel. Commit and Abort must not be
// called while a WriteFile call is still running; WriteFile after either
// returns an error.
type Writer struct {
	dir         string // absolute path of the target
	parent      string // absolute path of its parent
	base        string // name of the target in parent
	stagingName string // name of the staging directory in parent
	staging     string // absolute path of the staging directory

	// The directories are held open as *os.File so that a dropped Writer
	// eventually releases its lock on the staging directory.
	parentDir, stagingDir, targetDir *os.File
	parentFD, stagingFD, targetFD    int // targetFD < 0: no target at Begin
	targetDev, targetIno             uint64
	chmod                            bool // the umask would strip 0644/0755 bits

	old         map[string]oldEntry // files of the current tree
	oldManifest oldEntry            // its manifest.json; size < 0 if none

	mu       sync.Mutex
	state    int   // stateOpen, stateClosing, stateDone
	err      error // first I/O error; the Writer then only aborts
	files    map[string]struct{}
	dirs     map[string]struct{}
	entries  []fileEntry
	matched  int // entries whose path is also in old
	inflight sync.WaitGroup
}

const (
	stateOpen = iota
	stateClosing
	stateDone
)

// fileEntry is what the Writer keeps of a file once it is written.
type fileEntry struct {
	path    string
	size    int64
	sum     [sha256.Size]byte
	written bool // written rather than linked; needs an fsync
}

// oldEntry is a file of the current tree. known: sum and size come from a
// valid manifest; otherwise only the path is known and equality is decided
// by comparing contents.
type oldEntry struct {
	size  int64
	sum   [sha256.Size]byte
	known bool
}

// Test hooks. renameExchange atomically exchanges two names in a directory;
// hook, if set, is called at the named stages of Commit.
var (
	renameExchange = func(dirfd int, a, b string) error {
		return unix.Renameat2(dirfd, a, dirfd, b, unix.RENAME_EXCHANGE)
	}
	hook func(stage string)
)

func runHook(stage string) {
	if hook != nil {
		hook(stage)
	}
}

const (
	fileMode = 0o644
	dirMode  = 0o755
)

// Begin starts a new generation of the tree at dir, which need not exist
// (its parent is created if missing). It refuses a dir that is not a
// directory, is a symbolic link or a mount point, or is a non-empty
// directory without a manifest.json (not a tree written by this package).
// It removes staging directories left by crashed runs, and if a crash
// interrupted the fallback swap (see Commit) it puts the old tree back.
func Begin(dir string) (*Writer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		dir:       abs,
		parent:    filepath.Dir(abs),
		base:      filepath.Base(abs),
		parentFD:  -1,
		stagingFD: -1,
		targetFD:  -1,
		files:     make(map[string]struct{}),
		dirs:      make(map[string]struct{}),
		old:       make(map[string]oldEntry),
	}
	w.oldManifest.size = -1
	if w.parent == abs {
		return nil, fmt.Errorf("cannot write a tree at %s: it has no parent directory to stage the new tree in", abs)
	}
	if err := os.MkdirAll(w.parent, dirMode); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			if w.stagingName != "" {
				os.RemoveAll(w.staging)
			}
			w.closeDirs()
		}
	}()
	// The parent may be reached through symbolic links; the target and
	// everything below it may not.
	if w.parentDir, w.parentFD, err = openDir(unix.AT_FDCWD, w.parent, 0); err != nil {
		return nil, err
	}
	// The lock on the parent serializes cleanup, staging creation and the
	// swap among writers of trees in this directory; it is held briefly.
	if err := flock(w.parentFD, unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w", w.parent, err)
	}
	defer flock(w.parentFD, unix.LOCK_UN)
	if err := w.cleanStale(); err != nil {
		return nil, err
	}
	if err := w.openTarget(); err != nil {
		return nil, err
	}
	if err := w.makeStaging(); err != nil {
		return nil, err
	}
	w.chmod = umask()&(fileMode|dirMode) != 0
	ok = true
	return w, nil
}

func (w *Writer) stagingPrefix() string { return "." + w.base + ".staging-" }
func (w *Writer) oldPrefix() string     { return "." + w.base + ".old-" }

// cleanStale removes staging directories of runs that are gone (their lock
// is free) and retired trees, and undoes an interrupted fallback swap.
func (w *Writer) cleanStale() error {
	ents, err := os.ReadDir(w.parent)
	if err != nil {
		return err
	}
	var olds []string
	for _, e := range ents {
		switch name := e.Name(); {
		case strings.HasPrefix(name, w.stagingPrefix()) && e.IsDir():
			if err := w.removeIfUnlocked(name); err != nil {
				return err
			}
		case strings.HasPrefix(name, w.oldPrefix()) && e.IsDir():
			olds = append(olds, name)
		}
	}
	if len(olds) == 0 {
		return nil
	}
	var st unix.Stat_t
	err = retry(func() error { return unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	switch {
	case err == nil:
		// The swap completed; these are previous trees not yet removed.
		for _, name := range olds {
			if err := os.RemoveAll(filepath.Join(w.parent, name)); err != nil {
				return err
			}
		}
		return nil
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w", w.dir, err)
	case len(olds) > 1:
		return fmt.Errorf("%s is missing and there are %d previous trees beside it (%s): rename the one to keep to %s and run again",
			w.dir, len(olds), strings.Join(olds, ", "), w.base)
	}
	// A crash between the two renames of the fallback swap: the old tree
	// was moved aside and the new one not moved in. Roll back.
	if err := unix.Renameat(w.parentFD, olds[0], w.parentFD, w.base); err != nil {
		return fmt.Errorf("restoring the previous tree %s to %s: %w", filepath.Join(w.parent, olds[0]), w.dir, err)
	}
	return fsync(w.parentFD)
}

// removeIfUnlocked removes the staging directory name unless a live Writer
// holds its lock.
func (w *Writer) removeIfUnlocked(name string) error {
	f, fd, err := openDirAt(w.parentFD, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	if err := flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // in use by a running writer
		}
		return fmt.Errorf("locking %s: %w", filepath.Join(w.parent, name), err)
	}
	return os.RemoveAll(filepath.Join(w.parent, name))
}

// openTarget checks the target and loads what is known of its files.
func (w *Writer) openTarget() error {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.dir, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return fmt.Errorf("cannot write a tree at %s: it is a symbolic link, and the tree would replace the link; use the directory it points to as the output directory", w.dir)
	default:
		return fmt.Errorf("cannot write a tree at %s: it exists and is not a directory; remove it or choose another output directory", w.dir)
	}
	var pst unix.Stat_t
	if err := unix.Fstat(w.parentFD, &pst); err != nil {
		return err
	}
	if pst.Dev != st.Dev {
		return fmt.Errorf("cannot write a tree at %s: it is a mount point, and the new tree must be staged beside it on the same filesystem; use a subdirectory of the mount as the output directory", w.dir)
	}
	if w.targetDir, w.targetFD, err = openDirAt(w.parentFD, w.base); err != nil {
		return err
	}
	if err := unix.Fstat(w.targetFD, &st); err != nil {
		return err
	}
	w.targetDev, w.targetIno = st.Dev, st.Ino

	var mst unix.Stat_t
	err = retry(func() error { return unix.Fstatat(w.targetFD, ManifestName, &mst, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		empty, err := dirEmpty(w.targetFD)
		if err != nil {
			return fmt.Errorf("%s: %w", w.dir, err)
		}
		if !empty {
			return fmt.Errorf("refusing to write a tree at %s: the directory is not empty and has no %s, so it was not written by this tool, and committing would delete its contents; move them elsewhere, or choose another output directory",
				w.dir, ManifestName)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(w.dir, ManifestName), err)
	}
	if mst.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("refusing to write a tree at %s: its %s is not a regular file, so it was not written by this tool; move the directory's contents elsewhere, or choose another output directory",
			w.dir, ManifestName)
	}
	b, err := fileio.ReadFile(filepath.Join(w.dir, ManifestName), maxManifestSize)
	if err != nil {
		return err
	}
	w.oldManifest = oldEntry{size: int64(len(b)), sum: sha256.Sum256(b), known: true}
	m, err := parseManifest(b)
	if err != nil {
		// Not usable: learn the paths from the disk and compare contents.
		return w.walkOld()
	}
	for _, e := range m.Files {
		sum, _ := decodeSum(e.SHA256)
		w.old[e.Path] = oldEntry{size: e.Size, sum: sum, known: true}
	}
	return nil
}

// walkOld lists the current tree's regular files when its manifest cannot
// be used.
func (w *Writer) walkOld() error {
	return filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(w.dir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); checkPath(rel) == nil {
			w.old[rel] = oldEntry{}
		}
		return nil
	})
}

func (w *Writer) makeStaging() error {
	p, err := os.MkdirTemp(w.parent, w.stagingPrefix())
	if err != nil {
		return err
	}
	w.staging, w.stagingName = p, filepath.Base(p)
	if err := os.Chmod(p, dirMode); err != nil {
		return err
	}
	if w.stagingDir, w.stagingFD, err = openDirAt(w.parentFD, w.stagingName); err != nil {
		return err
	}
	if err := flock(w.stagingFD, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("locking %s: %w", p, err)
	}
	return nil
}

// WriteFile adds a file to the new tree with mode 0644, creating its
// directories with mode 0755. rel is the file's path relative to the tree's
// root: clean, slash-separated, without "." or ".." components, and not
// manifest.json at the root; each path may be written once. If the current
// tree has the same bytes at rel, the file is hard-linked from it instead
// of written. data is not retained.
//
// Errors about rel itself leave the Writer usable; an I/O error makes every
// later WriteFile and Commit fail.
func (w *Writer) WriteFile(rel string, data []byte) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	w.mu.Lock()
	if err := w.claim(rel); err != nil {
		w.mu.Unlock()
		return err
	}
	rel = strings.Clone(rel)
	w.files[rel] = struct{}{}
	if err := w.mkdirs(rel); err != nil {
		w.fail(err)
		w.mu.Unlock()
		return err
	}
	old, inOld := w.old[rel]
	w.inflight.Add(1)
	w.mu.Unlock()

	written, err := w.place(rel, data, &sum, old, inOld)

	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.inflight.Done()
	if err != nil {
		err = fmt.Errorf("writing %s: %w", filepath.Join(w.staging, rel), err)
		w.fail(err)
		return err
	}
	w.entries = append(w.entries, fileEntry{path: rel, size: int64(len(data)), sum: sum, written: written})
	if inOld {
		w.matched++
	}
	return nil
}

// claim checks that rel can be added now. w.mu is held.
func (w *Writer) claim(rel string) error {
	switch {
	case w.state != stateOpen:
		return fmt.Errorf("WriteFile(%q) after Commit or Abort", rel)
	case w.err != nil:
		return w.err
	}
	if _, ok := w.files[rel]; ok {
		return fmt.Errorf("tree path %q written twice", rel)
	}
	if _, ok := w.dirs[rel]; ok {
		return fmt.Errorf("tree path %q is already a directory holding other files", rel)
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' {
			if _, ok := w.files[rel[:i]]; ok {
				return fmt.Errorf("tree path %q: %q is already a file", rel, rel[:i])
			}
		}
	}
	return nil
}

// mkdirs creates the missing parent directories of rel in the staging
// tree. w.mu is held, so a directory exists before any file is put in it.
func (w *Writer) mkdirs(rel string) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		d := rel[:i]
		if _, ok := w.dirs[d]; ok {
			continue
		}
		if err := retry(func() error { return unix.Mkdirat(w.stagingFD, d, dirMode) }); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Join(w.staging, d), err)
		}
		if w.chmod {
			if err := unix.Fchmodat(w.stagingFD, d, dirMode, 0); err != nil {
				return fmt.Errorf("chmod %s: %w", filepath.Join(w.staging, d), err)
			}
		}
		w.dirs[d] = struct{}{}
	}
	return nil
}

// fail records the first I/O error. w.mu is held.
func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// place puts data at rel in the staging tree: a hard link to the current
// tree's file if that has the same bytes, else a new file. It reports
// whether it wrote.
func (w *Writer) place(rel string, data []byte, sum *[sha256.Size]byte, old oldEntry, inOld bool) (bool, error) {
	if inOld && w.sameAsOld(rel, int64(len(data)), sum, old, data) {
		err := retry(func() error { return unix.Linkat(w.targetFD, rel, w.stagingFD, rel, 0) })
		if err == nil {
			return false, nil
		}
		// EXDEV, EMLINK, or the file just went away: write it instead.
	}
	return true, w.create(rel, func(fd int) error { return writeAll(fd, data) })
}

// sameAsOld reports whether the current tree's file at rel, described by
// old, has the given contents. With a manifest entry, the digest decides,
// provided the file on disk is still a regular 0644 file of that size
// (catching truncation or appends since, but not same-size edits in place);
// without one, the contents are compared.
func (w *Writer) sameAsOld(rel string, size int64, sum *[sha256.Size]byte, old oldEntry, data []byte) bool {
	if w.targetFD < 0 || old.known && (old.size != size || old.sum != *sum) {
		return false
	}
	var st unix.Stat_t
	if retry(func() error { return unix.Fstatat(w.targetFD, rel, &st, unix.AT_SYMLINK_NOFOLLOW) }) != nil {
		return false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o7777 != fileMode || st.Size != size {
		return false
	}
	return old.known || w.contentEqual(rel, data)
}

// contentEqual compares the current tree's file at rel with data, a chunk
// at a time.
func (w *Writer) contentEqual(rel string, data []byte) bool {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(w.targetFD, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, min(len(data)+1, 32<<10))
	for {
		var n int
		err := retry(func() (err error) { n, err = unix.Read(fd, buf); return err })
		if err != nil {
			return false
		}
		if n == 0 {
			return len(data) == 0
		}
		if n > len(data) || !bytes.Equal(buf[:n], data[:n]) {
			return false
		}
		data = data[n:]
	}
}

// create makes a new 0644 file rel in the staging tree and fills it.
func (w *Writer) create(rel string, fill func(fd int) error) error {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(w.stagingFD, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, fileMode)
		return err
	})
	if err != nil {
		return err
	}
	err = fill(fd)
	if err == nil && w.chmod {
		err = unix.Fchmod(fd, fileMode)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// Commit finishes the new tree and makes it the tree at dir: it writes
// manifest.json (or links it, if unchanged), fsyncs the files written and
// every directory once, swaps the staging directory with dir, fsyncs the
// parent, and removes the old tree. After Commit, successful or not, the
// Writer is done. An error that does not wrap ErrAfterSwap means there was
// no swap: the old tree is untouched and the staging directory is removed.
//
// The swap is renameat2(RENAME_EXCHANGE): at every instant dir is a
// complete tree, old or new. If the filesystem does not support it (EINVAL
// or ENOSYS), Commit falls back to renaming dir aside and then the staging
// directory to dir; between those two renames, a window of two system
// calls, dir does not exist and readers get "not found". A crash inside
// that window is undone by the next Begin, which moves the old tree back.
//
// Commit fails without swapping if dir was replaced since Begin (by another
// Writer, say) or, when dir did not exist at Begin, if it exists now.
func (w *Writer) Commit() (Stats, error) {
	w.mu.Lock()
	if w.state != stateOpen {
		w.mu.Unlock()
		return Stats{}, errors.New("Commit called after Commit or Abort")
	}
	w.state = stateClosing
	err := w.err
	w.mu.Unlock()
	w.inflight.Wait()
	if err != nil {
		w.abort()
		return Stats{}, fmt.Errorf("not committing %s: %w", w.dir, err)
	}
	st, retired, err := w.commit()
	if err != nil {
		w.abort()
		return Stats{}, err
	}
	// Swapped: the Writer is done whatever happens next.
	w.mu.Lock()
	w.state = stateDone
	w.mu.Unlock()
	var errs []error
	if err := fsync(w.parentFD); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", w.parent, err))
	}
	runHook("postswap")
	if retired != "" {
		if err := os.RemoveAll(filepath.Join(w.parent, retired)); err != nil {
			errs = append(errs, fmt.Errorf("removing the previous tree: %w", err))
		}
	}
	w.closeDirs()
	if len(errs) > 0 {
		return st, fmt.Errorf("%w: %w", ErrAfterSwap, errors.Join(errs...))
	}
	return st, nil
}

// commit does Commit up to and including the swap. It returns the name,
// in the parent, of the retired tree to remove ("" if none). An error
// means there was no swap.
func (w *Writer) commit() (Stats, string, error) {
	slices.SortFunc(w.entries, func(a, b fileEntry) int { return strings.Compare(a.path, b.path) })

	// The manifest: hash its bytes, then link or write it.
	h := &countingHash{h: sha256.New()}
	if err := encodeManifest(h, w.entries); err != nil {
		return Stats{}, "", err
	}
	me := fileEntry{path: ManifestName, size: h.n}
	h.h.Sum(me.sum[:0])
	if !w.oldManifest.known || !w.sameAsOld(ManifestName, me.size, &me.sum, w.oldManifest, nil) ||
		retry(func() error { return unix.Linkat(w.targetFD, ManifestName, w.stagingFD, ManifestName, 0) }) != nil {
		me.written = true
		err := w.create(ManifestName, func(fd int) error {
			bw := bufio.NewWriterSize(fdWriter(fd), 64<<10)
			if err := encodeManifest(bw, w.entries); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return Stats{}, "", fmt.Errorf("writing %s: %w", filepath.Join(w.staging, ManifestName), err)
		}
	}

	st := Stats{Removed: len(w.old) - w.matched}
	var toSync []string
	for _, e := range append(w.entries, me) {
		st.Files++
		st.Bytes += e.size
		if e.written {
			st.Written++
			toSync = append(toSync, e.path)
		} else {
			st.Unchanged++
		}
	}

	// Make the new tree durable before it becomes visible: file data
	// first, then the directories, each once.
	err := parallel(len(toSync), func(i int) error { return w.syncAt(toSync[i], unix.O_RDONLY) })
	if err != nil {
		return Stats{}, "", err
	}
	dirs := make([]string, 0, len(w.dirs))
	for d := range w.dirs {
		dirs = append(dirs, d)
	}
	err = parallel(len(dirs), func(i int) error { return w.syncAt(dirs[i], unix.O_RDONLY|unix.O_DIRECTORY) })
	if err != nil {
		return Stats{}, "", err
	}
	if err := fsync(w.stagingFD); err != nil {
		return Stats{}, "", fmt.Errorf("fsync %s: %w", w.staging, err)
	}

	runHook("preswap")
	if err := flock(w.parentFD, unix.LOCK_EX); err != nil {
		return Stats{}, "", fmt.Errorf("locking %s: %w", w.parent, err)
	}
	retired, err := w.swap()
	flock(w.parentFD, unix.LOCK_UN)
	if err != nil {
		return Stats{}, "", err
	}
	return st, retired, nil
}

func (w *Writer) syncAt(rel string, flags int) error {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(w.stagingFD, rel, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err == nil {
		err = fsync(fd)
		unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Join(w.staging, rel), err)
	}
	return nil
}

// swap makes the staging directory the target, and returns the name the
// previous tree now has, if any. An error means the target is as it was.
// w.parentFD is locked.
func (w *Writer) swap() (retired string, err error) {
	if w.targetFD < 0 {
		err := unix.Renameat2(w.parentFD, w.stagingName, w.parentFD, w.base, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			var st unix.Stat_t
			if err = unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
				err = unix.EEXIST
			} else if errors.Is(err, unix.ENOENT) {
				err = unix.Renameat(w.parentFD, w.stagingName, w.parentFD, w.base)
			}
		}
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return "", fmt.Errorf("not committing: %s did not exist at Begin but does now; not replacing it", w.dir)
		}
		if err != nil {
			return "", fmt.Errorf("renaming %s to %s: %w", w.staging, w.dir, err)
		}
		return "", nil
	}

	var st unix.Stat_t
	if err := unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", fmt.Errorf("not committing: %s: %w", w.dir, err)
	}
	if st.Dev != w.targetDev || st.Ino != w.targetIno {
		return "", fmt.Errorf("not committing: %s was replaced since Begin (by another writer?)", w.dir)
	}
	err = renameExchange(w.parentFD, w.stagingName, w.base)
	switch {
	case err == nil:
		// The old tree now has the staging directory's name.
		return w.stagingName, nil
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return "", fmt.Errorf("exchanging %s with %s: %w", w.staging, w.dir, err)
	}

	// No RENAME_EXCHANGE here: move the old tree aside, then the new one in.
	// Between the two renames the target does not exist.
	oldName := w.oldPrefix() + strings.TrimPrefix(w.stagingName, w.stagingPrefix())
	if err := unix.Renameat(w.parentFD, w.base, w.parentFD, oldName); err != nil {
		return "", fmt.Errorf("renaming %s aside: %w", w.dir, err)
	}
	runHook("midfallback")
	if err := unix.Renameat(w.parentFD, w.stagingName, w.parentFD, w.base); err != nil {
		if rerr := unix.Renameat(w.parentFD, oldName, w.parentFD, w.base); rerr != nil {
			return "", fmt.Errorf("renaming %s to %s: %v; then restoring the previous tree failed (%v): it is at %s, and the next run moves it back",
				w.staging, w.dir, err, rerr, filepath.Join(w.parent, oldName))
		}
		return "", fmt.Errorf("renaming %s to %s: %w", w.staging, w.dir, err)
	}
	return oldName, nil
}

// Abort discards the new tree: it removes the staging directory and leaves
// the current tree as it is. It is a no-op after Commit or another Abort,
// so callers can defer it.
func (w *Writer) Abort() error {
	w.mu.Lock()
	if w.state != stateOpen {
		w.mu.Unlock()
		return nil
	}
	w.state = stateClosing
	w.mu.Unlock()
	w.inflight.Wait()
	return w.abort()
}

func (w *Writer) abort() error {
	err := os.RemoveAll(w.staging)
	w.closeDirs()
	w.mu.Lock()
	w.state = stateDone
	w.mu.Unlock()
	return err
}

// closeDirs closes the directories, releasing the staging lock.
func (w *Writer) closeDirs() {
	for _, f := range []*os.File{w.stagingDir, w.targetDir, w.parentDir} {
		if f != nil {
			f.Close()
		}
	}
}

// openDirAt opens the directory name relative to dirfd, not following a
// final symbolic link.
func openDirAt(dirfd int, name string) (*os.File, int, error) {
	return openDir(dirfd, name, unix.O_NOFOLLOW)
}

func openDir(dirfd int, name string, flags int) (*os.File, int, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|flags, 0)
		return err
	})
	if err != nil {
		return nil, -1, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), fd, nil
}

// dirEmpty reports whether the directory dirfd has no entries.
func dirEmpty(dirfd int) (bool, error) {
	f, _, err := openDirAt(dirfd, ".")
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && err != io.EOF {
		return false, err
	}
	return true, nil
}

func flock(fd, how int) error {
	return retry(func() error { return unix.Flock(fd, how) })
}

func fsync(fd int) error {
	return retry(func() error { return unix.Fsync(fd) })
}

// retry calls f until it does not fail with EINTR.
func retry(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		var n int
		err := retry(func() (err error) { n, err = unix.Write(fd, b); return err })
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

type fdWriter int

func (fd fdWriter) Write(b []byte) (int, error) {
	if err := writeAll(int(fd), b); err != nil {
		return 0, err
	}
	return len(b), nil
}

type countingHash struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	n int64
}

func (c *countingHash) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}

// parallel calls f(0)…f(n-1) from a few goroutines and returns the first
// error. It is for fsync, which waits on the disk, so the goroutines
// exceed the CPUs.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(n, 32) {
		wg.Go(func() {
			for first.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// umask returns the process's umask, read from /proc so as not to change
// it, or 0o777 (assume the worst) if it cannot be read.
func umask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return 0o777
			}
			return int(m)
		}
	}
	return 0o777
}
