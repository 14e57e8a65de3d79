// Package tree writes a directory tree atomically and incrementally, so
// that a reader always reads one whole generation of it.
//
// The tree at "out" is a symbolic link to one generation of it, a
// directory in the store ".out.trees" beside it: out -> .out.trees/42. A
// Writer builds the next generation in a staging directory in the store
// and, on Commit, points the link at it with one rename(2). A reader that
// resolves the link once (rsync entering out/, a web server opening a
// file, a sync started on the resolved directory) reads one generation,
// never a mix of two. Each run keeps the current generation and the one
// before it and removes older ones while it writes the next, except any a
// reader holds a shared flock(2) on: a generation stays at least until the
// run after the one that replaced it has finished, so a reader that
// resolved it just before a commit can finish. A crash at any point before
// the rename leaves the link as it was; the next Begin removes what the
// crashed run left in the store.
//
// A file whose bytes equal those of the same path in the current
// generation is hard-linked from it, not written again: the same inode
// with the same mtime, so web servers and CDN syncs see it as unchanged. A
// file is reused only from the current generation, reached without
// following a symbolic link, when the generation's manifest lists it with
// the same size and SHA-256 and the file is a regular 0644 file of this
// user holding exactly those bytes.
//
// A generation committed with a note (SetNote: what a generator made it
// from) is recorded in the store with a digest of every file's and
// directory's lstat(2); Unchanged tells a generator whose note is the
// same, without reading the tree, that the generation is still exactly
// as published, so there is nothing to write.
//
// Every generation has a manifest.json at its root listing each file's
// path, size and SHA-256 in a fixed format: the same files give the same
// bytes. A directory at "out" (a tree written by an earlier version of this
// package, or an empty directory) is replaced by the link on the first
// Commit and kept as the previous generation; a non-empty directory
// without a manifest.json is not a tree of ours, and Begin refuses it.
//
// The package is Linux-only (renameat2, openat2, flock, *at system calls).
package tree

import (
	"bufio"
	"bytes"
	"crypto/rand"
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

// ErrAfterSwap is wrapped by the error Commit returns when the new
// generation was published but a later step failed: the fsync of the
// directories (the new link may not survive a power loss) or removing
// older generations (the next run tries again). The new tree is in place
// and the Stats are valid; callers may treat such an error as a warning.
var ErrAfterSwap = errors.New("new tree published, but a later step failed")

// Stats counts what Commit did. The counts include manifest.json, so
// Written+Unchanged == Files, and a run that changes nothing has Written == 0.
type Stats struct {
	// Written is the number of files written: new, or changed since the
	// previous tree.
	Written int
	// Unchanged is the number of files hard-linked from the previous tree
	// because their bytes were identical.
	Unchanged int
	// Removed is the number of files the previous tree's manifest lists
	// that the new tree does not have.
	Removed int
	// Files is the number of files in the new tree, manifest.json included.
	Files int
	// Bytes is the total size of the new tree's files, manifest.json
	// included.
	Bytes int64
}

// Writer writes one new generation of the tree at a path. Create one with
// Begin, add files with WriteFile, then Commit, or Abort to discard.
//
// WriteFile is safe for concurrent use by multiple goroutines, so a
// generator may render files in parallel. Commit and Abort must not be
// called while a WriteFile call is still running; WriteFile after either
// returns an error.
type Writer struct {
	dir         string // absolute path of the tree: the link
	parent      string // absolute path of its parent
	base        string // name of the link in parent
	storeName   string // name of the store in parent
	store       string // absolute path of the store, for messages
	stagingName string // name of the staging directory in the store
	staging     string // its absolute path, for messages

	// The directories are held open as *os.File so that a dropped Writer
	// eventually releases its locks.
	parentDir, storeDir, stagingDir, currentDir, targetDir *os.File
	parentFD, storeFD, stagingFD, currentFD                int // currentFD < 0: nothing to reuse

	// What Begin found at dir; Commit replaces only that.
	target               int    // targetNone, targetLink or targetDir
	link                 string // targetLink: the link's contents
	current              string // targetLink: the current generation's name in the store
	targetDev, targetIno uint64 // targetDir: the directory's identity
	targetEmpty          bool   // targetDir: it was empty

	// Older generations are removed in the background while the new one
	// is written; Commit and Abort wait for it.
	removing  sync.WaitGroup
	removeErr error

	chmod bool   // the umask would strip 0644/0755 bits
	uid   uint32 // files of another owner are never reused

	old         map[string]oldEntry // files of the current generation, from its manifest
	oldManifest oldEntry            // its manifest.json
	hasManifest bool                // the current generation has a valid manifest
	oldDirs     map[string]int      // its directories, opened beneath it once each: an O_PATH fd, or noDir

	mu      sync.Mutex
	state   int   // stateOpen, stateClosing, stateDone
	err     error // first I/O error; the Writer then only aborts
	files   map[string]struct{}
	dirs    map[string]struct{}
	entries []fileEntry
	matched int    // entries whose path is also in old
	note    []byte // recorded with the generation, for Unchanged
	// digest is the generation's walkDigest, which Commit takes for the
	// record when there is a note.
	digest    [sha256.Size]byte
	digestErr error

	// Files are written back to disk in the background as they come, a
	// syncfs after every writeBackEvery new files, so that Commit's sync
	// has little left to wait for.
	unsynced    int  // files written since the last write-back started
	writingBack bool // a write-back is running
	wroteBack   sync.WaitGroup
	inflight    sync.WaitGroup
}

const (
	stateOpen = iota
	stateClosing
	stateDone
)

const (
	targetNone = iota // nothing at the path
	targetLink        // a link to a generation in the store
	targetDir         // a directory: an older tree, or empty
)

// fileEntry is what the Writer keeps of a file once it is written.
type fileEntry struct {
	path    string
	size    int64
	sum     [sha256.Size]byte
	written bool // written rather than linked; needs an fsync
	// st is the file's fstat when it was written, for the record's
	// digest (see entryDigest); a linked file's is taken at Commit.
	st statKey
}

// oldEntry is a file of the current generation as its manifest lists it.
type oldEntry struct {
	size int64
	sum  [sha256.Size]byte
}

// Test hooks. renameExchange atomically exchanges two names; hook, if set,
// is called at the named stages of Commit.
var (
	renameExchange = func(fromFD int, from string, toFD int, to string) error {
		return unix.Renameat2(fromFD, from, toFD, to, unix.RENAME_EXCHANGE)
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

// Names inside the store.
const (
	markerName    = "README"    // says what the store is; marks it as ours
	stagingPrefix = ".staging-" // a generation being written, locked by its Writer
	linkPrefix    = ".link-"    // a new link on its way to the tree's path
)

// StoreName returns the name of the directory, beside the tree at dir,
// that holds its generations: ".out.trees" for "out".
func StoreName(dir string) string {
	return "." + filepath.Base(filepath.Clean(dir)) + ".trees"
}

// markerLine is the first line of the store's README, by which Begin
// knows the store as its own.
func markerLine(base string) string {
	return "mirrorsteer: the generations of the tree " + strconv.Quote(base) + "\n"
}

func markerText(base string) string {
	return markerLine(base) + `
The tree beside this directory is a symbolic link to one of the numbered
directories here, each a whole generation of it. mirrorsteer gen writes a
new generation here, points the link at it in one rename, keeps the
generations before it for readers still reading them (and any generation
a reader holds a shared flock on), and removes older ones. Read the tree
through the link; do not put anything here.
`
}

// isGeneration reports whether name is a generation's name: a decimal
// serial without leading zeros.
func isGeneration(name string) bool {
	if name == "" || len(name) > 18 || name[0] == '0' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// Begin starts a new generation of the tree at dir. dir need not exist
// (its parent is created if missing); if it does, it must be a link to a
// generation this package wrote, an empty directory, or a directory with a
// manifest.json (a tree written by an earlier version), not a mount point.
// Begin creates the store beside dir if missing, refuses one it did not
// make, and removes what crashed runs left in it. It starts removing, in
// the background, the generations older than the current one's
// predecessor.
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
		storeFD:   -1,
		stagingFD: -1,
		currentFD: -1,
		uid:       uint32(os.Geteuid()),
		files:     make(map[string]struct{}),
		dirs:      make(map[string]struct{}),
		old:       make(map[string]oldEntry),
		oldDirs:   make(map[string]int),
	}
	w.storeName = StoreName(abs)
	w.store = filepath.Join(w.parent, w.storeName)
	if w.parent == abs {
		return nil, fmt.Errorf("cannot write a tree at %s: it has no parent directory to keep the tree's generations in", abs)
	}
	if err := os.MkdirAll(w.parent, dirMode); err != nil {
		return nil, err
	}
	w.chmod = umask()&(fileMode|dirMode) != 0
	ok := false
	defer func() {
		if !ok {
			if w.stagingName != "" {
				removeAllAt(w.storeFD, w.stagingName)
			}
			w.closeDirs()
		}
	}()
	// The parent may be reached through symbolic links; nothing below it
	// is followed.
	if w.parentDir, w.parentFD, err = openDir(unix.AT_FDCWD, w.parent, 0); err != nil {
		return nil, err
	}
	// The lock on the parent serializes cleanup, staging creation and the
	// swap among writers of trees in this directory; it is held briefly.
	if err := flock(w.parentFD, unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w", w.parent, err)
	}
	defer flock(w.parentFD, unix.LOCK_UN)
	if err := w.openTarget(); err != nil {
		return nil, err
	}
	if err := w.openStore(); err != nil {
		return nil, err
	}
	if err := w.cleanStale(); err != nil {
		return nil, err
	}
	if w.target == targetNone {
		if err := w.restore(); err != nil {
			return nil, err
		}
	}
	if w.target == targetLink {
		w.openCurrent()
	}
	w.loadOld()
	if err := w.makeStaging(); err != nil {
		return nil, err
	}
	if err := w.startRemoval(); err != nil {
		return nil, err
	}
	ok = true
	return w, nil
}

// openTarget looks at what is at the tree's path and refuses what is not
// a tree of ours.
func (w *Writer) openTarget() error {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		w.target = targetNone
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.dir, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		link, err := readlinkat(w.parentFD, w.base)
		if err != nil {
			return fmt.Errorf("%s: %w", w.dir, err)
		}
		if name, ok := strings.CutPrefix(link, w.storeName+"/"); ok && isGeneration(name) {
			w.target, w.link, w.current = targetLink, link, name
			return nil
		}
		return fmt.Errorf("cannot write a tree at %s: it is a symbolic link to %q, not to a generation this tool wrote (%s/<n>); remove the link, or choose another output directory",
			w.dir, link, w.storeName)
	case unix.S_IFDIR:
	default:
		return fmt.Errorf("cannot write a tree at %s: it exists and is not a directory; remove it or choose another output directory", w.dir)
	}
	var pst unix.Stat_t
	if err := unix.Fstat(w.parentFD, &pst); err != nil {
		return err
	}
	if pst.Dev != st.Dev {
		return fmt.Errorf("cannot write a tree at %s: it is a mount point, and the tree must be a symbolic link on the same filesystem as its generations; use a subdirectory of the mount as the output directory", w.dir)
	}
	f, fd, err := openDirAt(w.parentFD, w.base)
	if err != nil {
		return err
	}
	w.targetDir = f
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	w.target, w.targetDev, w.targetIno = targetDir, st.Dev, st.Ino

	var mst unix.Stat_t
	err = retry(func() error { return unix.Fstatat(fd, ManifestName, &mst, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		empty, err := dirEmpty(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", w.dir, err)
		}
		if !empty {
			return fmt.Errorf("refusing to write a tree at %s: the directory is not empty and has no %s, so it was not written by this tool, and committing would replace it; move its contents elsewhere, or choose another output directory",
				w.dir, ManifestName)
		}
		w.targetEmpty = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(w.dir, ManifestName), err)
	}
	if mst.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("refusing to write a tree at %s: its %s is not a regular file, so it was not written by this tool; move the directory's contents elsewhere, or choose another output directory",
			w.dir, ManifestName)
	}
	w.currentFD = fd // an older version's tree: reuse its files
	return nil
}

// openStore opens the store, creating it if missing. An existing store
// must carry the marker this package writes into it, or be empty.
func (w *Writer) openStore() error {
	err := retry(func() error { return unix.Mkdirat(w.parentFD, w.storeName, dirMode) })
	created := err == nil
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("creating %s: %w", w.store, err)
	}
	notOurs := func(why string) error {
		return fmt.Errorf("cannot write a tree at %s: %s %s, so this tool did not make it, and it is where the tree's generations are kept; move it away", w.dir, w.store, why)
	}
	f, fd, err := openDirAt(w.parentFD, w.storeName)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return notOurs("is not a directory")
	}
	if err != nil {
		return err
	}
	w.storeDir, w.storeFD = f, fd
	var st, pst unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := unix.Fstat(w.parentFD, &pst); err != nil {
		return err
	}
	if st.Dev != pst.Dev {
		return fmt.Errorf("cannot write a tree at %s: %s is a mount point, and the generations must be on the filesystem of %s to be linked; unmount it", w.dir, w.store, w.parent)
	}
	if created && w.chmod {
		if err := unix.Fchmod(fd, dirMode); err != nil {
			return fmt.Errorf("chmod %s: %w", w.store, err)
		}
	}
	b, err := readAt(fd, markerName, 4096)
	switch {
	case err == nil:
		if !bytes.HasPrefix(b, []byte(markerLine(w.base))) {
			return notOurs("has a " + markerName + " this tool did not write")
		}
		return nil
	case !errors.Is(err, unix.ENOENT):
		return notOurs(fmt.Sprintf("has a %s this tool cannot read (%v)", markerName, err))
	}
	// No marker: a store just made, or made by a run that crashed before
	// writing it, is empty; anything else is not ours.
	if empty, err := dirEmpty(fd); err != nil || !empty {
		return notOurs("holds files but no " + markerName)
	}
	err = w.createAt(fd, markerName, func(mfd int) error {
		if err := writeAll(mfd, []byte(markerText(w.base))); err != nil {
			return err
		}
		return fsync(mfd)
	})
	if err == nil {
		err = fsync(fd)
	}
	if err == nil && created {
		err = fsync(w.parentFD)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(w.store, markerName), err)
	}
	return nil
}

// cleanStale removes what crashed runs left in the store: staging
// directories whose lock is free, new links that were never renamed into
// place, and an older version's tree that a crash left under such a name
// after exchanging it with the link. Generations are removed by
// startRemoval.
func (w *Writer) cleanStale() error {
	names, err := readDirNames(w.storeFD)
	if err != nil {
		return fmt.Errorf("reading %s: %w", w.store, err)
	}
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, stagingPrefix):
			if err := w.removeUnlocked(name, false); err != nil {
				return err
			}
		case strings.HasPrefix(name, recordPrefix):
			// A record a crashed run did not rename into place.
			var st unix.Stat_t
			if unix.Fstatat(w.storeFD, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				if err := unix.Unlinkat(w.storeFD, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("removing %s: %w", filepath.Join(w.store, name), err)
				}
			}
		case strings.HasPrefix(name, linkPrefix):
			var st unix.Stat_t
			if unix.Fstatat(w.storeFD, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				if err := unix.Unlinkat(w.storeFD, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("removing %s: %w", filepath.Join(w.store, name), err)
				}
			case unix.S_IFDIR:
				if err := w.removeUnlocked(name, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// removeUnlocked removes the directory name in the store unless a live
// Writer or a reader holds a lock on it. With generation set, it also
// leaves alone a directory without a manifest.json: not a tree of ours.
// It reports nothing for a directory it leaves.
func (w *Writer) removeUnlocked(name string, generation bool) error {
	f, fd, err := openDirAt(w.storeFD, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil // gone, or not a directory: not ours
		}
		return err
	}
	defer f.Close()
	if err := flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // in use by a running writer or a reader
		}
		return fmt.Errorf("locking %s: %w", filepath.Join(w.store, name), err)
	}
	if generation && !hasManifest(fd) {
		return nil
	}
	// The manifest goes first, so that a reader still in it can tell a
	// generation being removed from a broken one. The lock is held to the
	// end: a reader that gets it after this finds no manifest.
	if err := unix.Unlinkat(fd, ManifestName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", filepath.Join(w.store, name, ManifestName), err)
	}
	return removeAllAt(w.storeFD, name)
}

// hasManifest reports whether the directory dirfd has a manifest.json
// that is a regular file: a tree of ours.
func hasManifest(dirfd int) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, ManifestName, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// restore points a missing link at the newest generation in the store, if
// there is one: the link was removed, or a crash interrupted the fallback
// swap of an older version's directory.
func (w *Writer) restore() error {
	gens, err := w.generations()
	if err != nil {
		return err
	}
	newest := ""
	for i := len(gens) - 1; i >= 0 && newest == ""; i-- {
		if f, fd, err := openDirAt(w.storeFD, gens[i]); err == nil {
			if hasManifest(fd) {
				newest = gens[i]
			}
			f.Close()
		}
	}
	if newest == "" {
		return nil
	}
	link := w.storeName + "/" + newest
	if err := unix.Symlinkat(link, w.parentFD, w.base); err != nil {
		return fmt.Errorf("linking %s to %s: %w", w.dir, link, err)
	}
	if err := fsync(w.parentFD); err != nil {
		return fmt.Errorf("fsync %s: %w", w.parent, err)
	}
	w.target, w.link, w.current = targetLink, link, newest
	return nil
}

// generations returns the names of the generations in the store, oldest
// first.
func (w *Writer) generations() ([]string, error) {
	names, err := readDirNames(w.storeFD)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", w.store, err)
	}
	var gens []string
	for _, name := range names {
		if isGeneration(name) {
			gens = append(gens, name)
		}
	}
	slices.SortFunc(gens, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return gens, nil
}

// openCurrent opens the generation the link points at, to reuse its files,
// and holds a shared lock on it so that no other Writer removes it
// meanwhile. If it is missing, or being removed, nothing is reused.
func (w *Writer) openCurrent() {
	f, fd, err := openDirAt(w.storeFD, w.current)
	if err != nil {
		return
	}
	if flock(fd, unix.LOCK_SH|unix.LOCK_NB) != nil {
		f.Close()
		return
	}
	w.currentDir, w.currentFD = f, fd
}

// loadOld reads the current generation's manifest, without following a
// link. Without a valid one nothing is reused: the new generation is
// written from scratch, and replaces the bad one.
func (w *Writer) loadOld() {
	if w.currentFD < 0 {
		return
	}
	b, err := readAt(w.currentFD, ManifestName, maxManifestSize)
	if err != nil {
		return
	}
	m, err := parseManifest(b)
	if err != nil {
		return
	}
	w.oldManifest = oldEntry{size: int64(len(b)), sum: sha256.Sum256(b)}
	w.hasManifest = true
	for _, e := range m.Files {
		sum, _ := decodeSum(e.SHA256)
		w.old[e.Path] = oldEntry{size: e.Size, sum: sum}
	}
}

func (w *Writer) makeStaging() error {
	for {
		name := stagingPrefix + rand.Text()[:12]
		err := retry(func() error { return unix.Mkdirat(w.storeFD, name, dirMode) })
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("creating a staging directory in %s: %w", w.store, err)
		}
		w.stagingName, w.staging = name, filepath.Join(w.store, name)
		break
	}
	var err error
	if w.stagingDir, w.stagingFD, err = openDirAt(w.storeFD, w.stagingName); err != nil {
		return err
	}
	if err := flock(w.stagingFD, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("locking %s: %w", w.staging, err)
	}
	if w.chmod {
		if err := unix.Fchmod(w.stagingFD, dirMode); err != nil {
			return fmt.Errorf("chmod %s: %w", w.staging, err)
		}
	}
	return nil
}

// WriteFile adds a file to the new tree with mode 0644, creating its
// directories with mode 0755. rel is the file's path relative to the tree's
// root: clean, slash-separated, without "." or ".." components, and not
// manifest.json at the root (see CheckPath); each path may be written
// once. If the current generation has the same bytes at rel, the file is
// hard-linked from it instead of written. data is not retained.
//
// Errors about rel itself leave the Writer usable; an I/O error makes every
// later WriteFile and Commit fail.
func (w *Writer) WriteFile(rel string, data []byte) error {
	if err := CheckPath(rel); err != nil {
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
	dirfd := noDir
	if inOld {
		dirfd = w.oldDir(rel)
	}
	w.inflight.Add(1)
	w.mu.Unlock()

	var st unix.Stat_t
	written, err := w.place(rel, data, &sum, old, dirfd, &st)

	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.inflight.Done()
	if err != nil {
		err = fmt.Errorf("writing %s: %w", filepath.Join(w.staging, rel), err)
		w.fail(err)
		return err
	}
	w.entries = append(w.entries, fileEntry{path: rel, size: int64(len(data)), sum: sum, written: written, st: keyOf(&st)})
	if inOld {
		w.matched++
	}
	if written {
		w.unsynced++
		if w.unsynced >= writeBackEvery && !w.writingBack && syncfsReportsErrors() {
			w.unsynced, w.writingBack = 0, true
			w.wroteBack.Go(w.writeBack)
		}
	}
	return nil
}

// writeBackEvery is how many new files start a write-back; a variable for
// tests.
var writeBackEvery = 4096

// writeBack writes back what the filesystem has dirty, while the caller
// goes on rendering: the disk works while the CPUs do. An error fails the
// Writer (syncfs reports a write error once).
func (w *Writer) writeBack() {
	err := retry(func() error { return syncfs(w.stagingFD) })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writingBack = false
	if err != nil {
		w.fail(fmt.Errorf("syncfs %s: %w", w.staging, err))
	}
}

// syncfs is unix.Syncfs; a variable for tests.
var syncfs = unix.Syncfs

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

// failed returns the first I/O error of the Writer, as Commit reports it.
func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("not committing %s: %w", w.dir, w.err)
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
// generation's file if that has the same bytes, else a new file. dirfd is
// the current generation's directory of rel (see oldDir). It reports
// whether it wrote, and puts the fstat of a file it wrote, as it leaves
// it, in st.
func (w *Writer) place(rel string, data []byte, sum *[sha256.Size]byte, old oldEntry, dirfd int, st *unix.Stat_t) (bool, error) {
	if dirfd != noDir && old.size == int64(len(data)) && old.sum == *sum {
		same := func(fd int, size int64) bool { return size == int64(len(data)) && readEqual(fd, data) }
		if w.linkOld(dirfd, rel, same) {
			return false, nil
		}
	}
	return true, w.createStat(w.stagingFD, rel, func(fd int) error {
		if err := writeAll(fd, data); err != nil {
			return err
		}
		if dirfd == noDir {
			return nil
		}
		return newerThanOld(fd, dirfd, w.currentFD, w.stagingFD, rel)
	}, st)
}

// newerThanOld makes the file at fd, a new version of rel, at least a
// second newer than the current generation's rel. rsync and CDN syncs
// take a file of the same size and mtime as unchanged, and rsync compares
// whole seconds unless told otherwise (--modify-window): a file rewritten
// within the second of its previous version would otherwise look
// unchanged and its new bytes never be copied. dirfd is the current
// generation's directory of rel, or openPerUse; the new file is rel in
// stagingFD, created by this Writer.
func newerThanOld(fd, dirfd, currentFD, stagingFD int, rel string) error {
	name := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		name = rel[i+1:]
		if dirfd == openPerUse {
			d, err := openBeneath(currentFD, rel[:i])
			if err != nil {
				return nil // nothing to be newer than
			}
			defer unix.Close(d)
			dirfd = d
		}
	}
	var old, cur unix.Stat_t
	if unix.Fstatat(dirfd, name, &old, unix.AT_SYMLINK_NOFOLLOW) != nil || unix.Fstat(fd, &cur) != nil {
		return nil
	}
	if cur.Mtim.Sec > old.Mtim.Sec {
		return nil
	}
	next := unix.Timespec{Sec: old.Mtim.Sec + 1, Nsec: cur.Mtim.Nsec}
	return unix.UtimesNanoAt(stagingFD, rel, []unix.Timespec{{Nsec: unix.UTIME_OMIT}, next}, unix.AT_SYMLINK_NOFOLLOW)
}

// beneath is how a path in the current generation is resolved: inside
// it, and through no symbolic link.
var beneath = unix.OpenHow{
	Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
}

// Special values of a directory fd for linkOld.
const (
	noDir      = -1 // nothing to reuse: no current generation, or no such directory in it
	openPerUse = -2 // too many directories to keep open: open it for each file
)

// maxOldDirs bounds the directories of the current generation kept open;
// a variable for tests.
var maxOldDirs = 1024

// oldDir returns the current generation's directory holding rel, opened
// once without following any symbolic link (RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), for linkOld. w.mu is held.
func (w *Writer) oldDir(rel string) int {
	i := strings.LastIndexByte(rel, '/')
	if w.currentFD < 0 || i < 0 {
		return w.currentFD
	}
	d := rel[:i]
	if fd, ok := w.oldDirs[d]; ok {
		return fd
	}
	if len(w.oldDirs) >= maxOldDirs {
		return openPerUse
	}
	fd, err := openBeneath(w.currentFD, d)
	if err != nil {
		fd = noDir // a link on the way, gone, or no openat2 (Linux < 5.6): write its files
	}
	w.oldDirs[d] = fd
	return fd
}

func openBeneath(dirfd int, rel string) (int, error) {
	var fd int
	err := retry(func() (err error) { fd, err = unix.Openat2(dirfd, rel, &beneath); return err })
	return fd, err
}

// linkOld hard-links the current generation's file at rel, in its
// directory dirfd, into the staging tree and keeps the link if same
// accepts what it links: a regular 0644 file of this user, of the size
// and the bytes wanted. dirfd was opened without following a symbolic
// link and the final name is not followed either, so only a file of the
// generation itself is ever linked; what same reads is the file now in
// the new tree. It reports whether it linked.
func (w *Writer) linkOld(dirfd int, rel string, same func(fd int, size int64) bool) bool {
	name := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		name = rel[i+1:]
		if dirfd == openPerUse {
			fd, err := openBeneath(w.currentFD, rel[:i])
			if err != nil {
				return false
			}
			defer unix.Close(fd)
			dirfd = fd
		}
	}
	if dirfd < 0 {
		return false
	}
	// Without AT_SYMLINK_FOLLOW a final symbolic link is linked as such,
	// and refused below.
	if retry(func() error { return unix.Linkat(dirfd, name, w.stagingFD, rel, 0) }) != nil {
		return false
	}
	if w.verify(rel, same) {
		return true
	}
	unix.Unlinkat(w.stagingFD, rel, 0) // create then fails if this did
	return false
}

// verify reports whether the file at rel in the staging tree is a regular
// 0644 file of this user that same accepts.
func (w *Writer) verify(rel string, same func(fd int, size int64) bool) bool {
	var st unix.Stat_t
	if retry(func() error { return unix.Fstatat(w.stagingFD, rel, &st, unix.AT_SYMLINK_NOFOLLOW) }) != nil {
		return false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o7777 != fileMode || st.Uid != w.uid {
		return false
	}
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(w.stagingFD, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return same(fd, st.Size)
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// readEqual reports whether the next len(data) bytes read from fd are
// data.
func readEqual(fd int, data []byte) bool {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for len(data) > 0 {
		var n int
		err := retry(func() (err error) { n, err = unix.Read(fd, buf[:min(len(buf), len(data))]); return err })
		if err != nil || n <= 0 || !bytes.Equal(buf[:n], data[:n]) {
			return false
		}
		data = data[n:]
	}
	return true
}

// equalWriter compares what is written to it with what it reads from fd.
type equalWriter struct {
	fd   int
	diff bool
}

func (e *equalWriter) Write(b []byte) (int, error) {
	if !e.diff && !readEqual(e.fd, b) {
		e.diff = true
	}
	return len(b), nil
}

// create makes a new 0644 file rel in the staging tree and fills it.
func (w *Writer) create(rel string, fill func(fd int) error) error {
	return w.createAt(w.stagingFD, rel, fill)
}

func (w *Writer) createAt(dirfd int, rel string, fill func(fd int) error) error {
	return w.createStat(dirfd, rel, fill, nil)
}

// createStat is createAt that, when st is not nil, puts the new file's
// fstat in st as it is closed: what an lstat of it says until something
// links or changes it.
func (w *Writer) createStat(dirfd int, rel string, fill func(fd int) error, st *unix.Stat_t) error {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, fileMode)
		return err
	})
	if err != nil {
		return err
	}
	err = fill(fd)
	if err == nil && w.chmod {
		err = unix.Fchmod(fd, fileMode)
	}
	if err == nil && st != nil {
		err = unix.Fstat(fd, st)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// Commit finishes the new generation and publishes it: it writes
// manifest.json (or links it, if unchanged), makes the generation durable
// (one syncfs(2), or an fsync of each file written and each directory),
// names the generation, and points the link at it with one rename(2).
// Then it fsyncs the store and the parent, waits for the removal Begin
// started, and records the generation for Unchanged if it has a note
// (SetNote). After Commit, successful or not, the Writer is done. An
// error that
// does not wrap ErrAfterSwap means nothing was published: the tree is as
// it was and the staging directory is removed.
//
// The first Commit over a directory (an older version's tree, or empty)
// exchanges it with the link in one renameat2(RENAME_EXCHANGE) and keeps
// it as the previous generation. If the filesystem does not support that
// (EINVAL or ENOSYS), it renames the directory into the store and then the
// link into place; between those two renames, a window of two system
// calls, the tree does not exist and readers get "not found". A crash
// inside that window is undone by the next Begin, which links the tree to
// the newest generation.
//
// Commit fails without publishing if what is at the tree's path changed
// since Begin (another Writer committed, say) or, when nothing was there
// at Begin, if something is now.
func (w *Writer) Commit() (Stats, error) {
	w.mu.Lock()
	if w.state != stateOpen {
		w.mu.Unlock()
		return Stats{}, errors.New("Commit called after Commit or Abort")
	}
	w.state = stateClosing
	w.mu.Unlock()
	w.inflight.Wait()
	if err := w.failed(); err != nil {
		w.abort()
		return Stats{}, err
	}
	st, errs, err := w.commit()
	if err != nil {
		w.abort()
		return Stats{}, err
	}
	// Published: the Writer is done whatever happens next.
	w.mu.Lock()
	w.state = stateDone
	w.mu.Unlock()
	if err := fsync(w.storeFD); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", w.store, err))
	}
	if err := fsync(w.parentFD); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", w.parent, err))
	}
	runHook("postswap")
	w.removing.Wait()
	if w.removeErr != nil {
		errs = append(errs, w.removeErr)
	}
	w.record(w.stagingName, st)
	w.closeDirs()
	if len(errs) > 0 {
		return st, fmt.Errorf("%w: %w", ErrAfterSwap, errors.Join(errs...))
	}
	return st, nil
}

// commit does Commit up to and including the swap. errs are failures after
// the swap; an error means there was no swap.
func (w *Writer) commit() (st Stats, errs []error, err error) {
	slices.SortFunc(w.entries, func(a, b fileEntry) int { return strings.Compare(a.path, b.path) })

	// The manifest: hash its bytes, then link or write it.
	h := &countingHash{h: sha256.New()}
	if err := encodeManifest(h, w.entries); err != nil {
		return Stats{}, nil, err
	}
	me := fileEntry{path: ManifestName, size: h.n}
	h.h.Sum(me.sum[:0])
	same := func(fd int, size int64) bool {
		if size != me.size {
			return false
		}
		e := &equalWriter{fd: fd}
		return encodeManifest(e, w.entries) == nil && !e.diff
	}
	if !w.hasManifest || w.oldManifest != (oldEntry{me.size, me.sum}) || !w.linkOld(w.currentFD, ManifestName, same) {
		me.written = true
		var mst unix.Stat_t
		err := w.createStat(w.stagingFD, ManifestName, func(fd int) error {
			bw := bufio.NewWriterSize(fdWriter(fd), 64<<10)
			if err := encodeManifest(bw, w.entries); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if !w.hasManifest {
				return nil
			}
			return newerThanOld(fd, w.currentFD, w.currentFD, w.stagingFD, ManifestName)
		}, &mst)
		if err != nil {
			return Stats{}, nil, fmt.Errorf("writing %s: %w", filepath.Join(w.staging, ManifestName), err)
		}
		me.st = keyOf(&mst)
	}

	st = Stats{Removed: len(w.old) - w.matched}
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
	// The record's digest is taken beside the sync, which changes no
	// lstat. Removing older generations changes the ctime of the files
	// they share with this one, so it must be done; the swap renames the
	// generation's root, whose times the digest leaves out.
	var digest <-chan digestResult
	if w.note != nil {
		w.removing.Wait()
		digest = w.startEntryDigest(me)
	}
	// The manifest and the digest were made while the last write-back,
	// if one is still running, wrote the files before them to disk; its
	// error, if any, is known only now.
	w.wroteBack.Wait()
	if err = w.failed(); err == nil {
		err = w.sync(toSync)
	}
	if digest != nil {
		d := <-digest
		w.digest, w.digestErr = d.sum, d.err
	}
	if err != nil {
		return Stats{}, nil, err
	}

	runHook("preswap")
	if err := flock(w.parentFD, unix.LOCK_EX); err != nil {
		return Stats{}, nil, fmt.Errorf("locking %s: %w", w.parent, err)
	}
	errs, err = w.swap()
	flock(w.parentFD, unix.LOCK_UN)
	if err != nil {
		return Stats{}, nil, err
	}
	return st, errs, nil
}

// sync makes the new generation durable before it becomes visible: the
// data of the files written (the rest are links to files already
// durable), the directories and their entries.
//
// One syncfs(2) of the filesystem does it all at once: the journal is
// committed once, where an fsync(2) of each file costs a commit each
// (three times the time for 16,000 small files). It also writes back
// what others left dirty on the filesystem, which a dedicated output
// filesystem does not have. Before Linux 5.8 syncfs does not report write
// errors, so there, and for a generation of a few files, each written
// file and then each directory is fsynced instead.
func (w *Writer) sync(written []string) error {
	if len(written) > syncfsOver && syncfsReportsErrors() {
		if err := retry(func() error { return syncfs(w.stagingFD) }); err != nil {
			return fmt.Errorf("syncfs %s: %w", w.staging, err)
		}
		return nil
	}
	err := parallel(len(written), func(i int) error { return w.syncAt(written[i], unix.O_RDONLY) })
	if err != nil {
		return err
	}
	dirs := make([]string, 0, len(w.dirs))
	for d := range w.dirs {
		dirs = append(dirs, d)
	}
	err = parallel(len(dirs), func(i int) error { return w.syncAt(dirs[i], unix.O_RDONLY|unix.O_DIRECTORY) })
	if err != nil {
		return err
	}
	if err := fsync(w.stagingFD); err != nil {
		return fmt.Errorf("fsync %s: %w", w.staging, err)
	}
	return nil
}

// syncfsOver is the number of written files above which sync uses one
// syncfs rather than an fsync of each; a variable for tests.
var syncfsOver = 64

// syncfsReportsErrors reports whether the kernel is Linux 5.8 or later,
// whose syncfs(2) returns the write errors of the filesystem since the
// file descriptor was opened; earlier ones return 0 whatever happened.
var syncfsReportsErrors = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8)
})

// kernelAtLeast reports whether the release string of uname(2), such as
// "6.1.0-18-amd64", is of version major.minor or later.
func kernelAtLeast(release string, major, minor int) bool {
	var v [2]int
	for i := range v {
		n := 0
		for n < len(release) && release[n] >= '0' && release[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		v[i], _ = strconv.Atoi(release[:n])
		release = release[n:]
		if i == 0 {
			if !strings.HasPrefix(release, ".") {
				return false
			}
			release = release[1:]
		}
	}
	return v[0] > major || v[0] == major && v[1] >= minor
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

// checkTarget reports an error if what is at the tree's path is not what
// Begin found. w.parentFD is locked.
func (w *Writer) checkTarget() error {
	var st unix.Stat_t
	err := unix.Fstatat(w.parentFD, w.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if w.target == targetNone {
		if err == nil {
			return fmt.Errorf("not committing: %s did not exist at Begin but does now; not replacing it", w.dir)
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("not committing: %s: %w", w.dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("not committing: %s: %w", w.dir, err)
	}
	replaced := fmt.Errorf("not committing: %s was replaced since Begin (by another writer?)", w.dir)
	if w.target == targetDir {
		if st.Dev != w.targetDev || st.Ino != w.targetIno {
			return replaced
		}
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return replaced
	}
	if link, err := readlinkat(w.parentFD, w.base); err != nil || link != w.link {
		return replaced
	}
	return nil
}

// swap names the staging directory as the next generation and points the
// link at it. errs are failures after the link was replaced; an error
// means the tree's path is as it was. w.parentFD is locked.
func (w *Writer) swap() (errs []error, err error) {
	if err := w.checkTarget(); err != nil {
		return nil, err
	}
	gens, err := w.generations()
	if err != nil {
		return nil, err
	}
	var next uint64 = 1
	if len(gens) > 0 {
		n, _ := strconv.ParseUint(gens[len(gens)-1], 10, 64)
		next = n + 1
	}
	prev := ""
	if w.target == targetDir {
		prev = strconv.FormatUint(next, 10) // the directory replaced becomes the previous generation
		next++
	}
	name := strconv.FormatUint(next, 10)
	if err := unix.Renameat(w.storeFD, w.stagingName, w.storeFD, name); err != nil {
		return nil, fmt.Errorf("renaming %s to %s: %w", w.staging, filepath.Join(w.store, name), err)
	}
	// From here on an abort removes the generation by its new name.
	w.stagingName, w.staging = name, filepath.Join(w.store, name)
	link := w.storeName + "/" + name

	if w.target == targetNone {
		if err := unix.Symlinkat(link, w.parentFD, w.base); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("not committing: %s did not exist at Begin but does now; not replacing it", w.dir)
			}
			return nil, fmt.Errorf("linking %s to %s: %w", w.dir, link, err)
		}
		return nil, nil
	}

	tmp := linkPrefix + rand.Text()[:12]
	if err := unix.Symlinkat(link, w.storeFD, tmp); err != nil {
		return nil, fmt.Errorf("creating a link in %s: %w", w.store, err)
	}
	if w.target == targetLink {
		if err := unix.Renameat(w.storeFD, tmp, w.parentFD, w.base); err != nil {
			unix.Unlinkat(w.storeFD, tmp, 0)
			return nil, fmt.Errorf("renaming a link to %s over %s: %w", link, w.dir, err)
		}
		return nil, nil
	}

	// The tree's path is a directory: exchange it with the link.
	err = renameExchange(w.storeFD, tmp, w.parentFD, w.base)
	switch {
	case err == nil:
		// The directory is now tmp in the store.
		return w.retire(tmp, prev), nil
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		unix.Unlinkat(w.storeFD, tmp, 0)
		return nil, fmt.Errorf("exchanging %s with a link to %s: %w", w.dir, link, err)
	}
	// No RENAME_EXCHANGE here: move the directory into the store, then the
	// link into place. Between the two renames the tree does not exist.
	if err := unix.Renameat(w.parentFD, w.base, w.storeFD, prev); err != nil {
		unix.Unlinkat(w.storeFD, tmp, 0)
		return nil, fmt.Errorf("renaming %s into %s: %w", w.dir, w.store, err)
	}
	runHook("midfallback")
	if err := unix.Renameat(w.storeFD, tmp, w.parentFD, w.base); err != nil {
		unix.Unlinkat(w.storeFD, tmp, 0)
		if rerr := unix.Renameat(w.storeFD, prev, w.parentFD, w.base); rerr != nil {
			return nil, fmt.Errorf("renaming a link to %s to %s: %v; then restoring the previous tree failed (%v): it is at %s, and the next run links %s to the newest generation",
				link, w.dir, err, rerr, filepath.Join(w.store, prev), w.dir)
		}
		return nil, fmt.Errorf("renaming a link to %s to %s: %w", link, w.dir, err)
	}
	return w.retire(prev, prev), nil
}

// retire keeps the directory that was at the tree's path, now at name in
// the store, as the previous generation prev; an empty one is removed.
func (w *Writer) retire(name, prev string) []error {
	if w.targetEmpty && unix.Unlinkat(w.storeFD, name, unix.AT_REMOVEDIR) == nil {
		return nil
	}
	if name != prev {
		if err := unix.Renameat(w.storeFD, name, w.storeFD, prev); err != nil {
			return []error{fmt.Errorf("renaming the previous tree %s to %s: %w", filepath.Join(w.store, name), filepath.Join(w.store, prev), err)}
		}
	}
	return nil
}

// startRemoval starts removing, in the background, the generations older
// than the current one's predecessor, except those a reader or a Writer
// holds a lock on (the next run tries again) and those without a manifest
// (not ours). The current generation and the one before it stay for
// readers still reading them; the new one joins them until the next run
// starts. Removing is system calls, so it goes on beside the caller's
// rendering rather than after its Commit.
func (w *Writer) startRemoval() error {
	gens, err := w.generations()
	if err != nil {
		return err
	}
	// gens is oldest first: the predecessor is the newest below current.
	var doomed []string
	keep := -1
	if i := slices.Index(gens, w.current); i >= 0 {
		keep = i - 1
		gens = slices.Delete(gens, i, i+1)
	}
	for i, g := range gens {
		if i != keep {
			doomed = append(doomed, g)
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	w.removing.Go(func() {
		var errs []error
		for _, g := range doomed {
			if err := w.removeUnlocked(g, true); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			w.removeErr = fmt.Errorf("removing older generations: %w", errors.Join(errs...))
		}
	})
	return nil
}

// Abort discards the new generation: it removes the staging directory and
// leaves the tree as it is. It is a no-op after Commit or another Abort,
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
	w.wroteBack.Wait()
	return w.abort()
}

func (w *Writer) abort() error {
	w.wroteBack.Wait() // a write-back may still use the staging directory
	err := removeAllAt(w.storeFD, w.stagingName)
	w.removing.Wait()
	w.closeDirs()
	w.mu.Lock()
	w.state = stateDone
	w.mu.Unlock()
	return err
}

// closeDirs closes the directories, releasing the locks. No WriteFile is
// running.
func (w *Writer) closeDirs() {
	for d, fd := range w.oldDirs {
		if fd >= 0 {
			unix.Close(fd)
		}
		delete(w.oldDirs, d)
	}
	for _, f := range []*os.File{w.stagingDir, w.currentDir, w.targetDir, w.storeDir, w.parentDir} {
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

// readAt reads the regular file name in dirfd, not following a link, up
// to limit bytes.
func readAt(dirfd int, name string, limit int64) ([]byte, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return fileio.ReadAll(io.LimitReader(f, limit+1), name, limit)
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readDirNames lists the directory dirfd.
func readDirNames(dirfd int) ([]string, error) {
	f, _, err := openDirAt(dirfd, ".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeAllAt removes name in dirfd and everything below it, without
// following symbolic links. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	if dirfd < 0 || name == "" {
		return nil
	}
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	f, fd, derr := openDirAt(dirfd, name)
	if derr != nil {
		if errors.Is(derr, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	names, err := f.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
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
