package tree

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The record: a file in the store that describes the current generation
// as Commit left it, so that a caller whose inputs have not changed can
// tell, without reading the tree, that there is nothing to write.
const (
	recordName   = "published"   // the record of the generation the last Commit published
	recordPrefix = ".published-" // a record on its way to recordName
	recordHeader = "mirrorsteer tree record 1\n"
	maxRecord    = 64 << 20
)

// SetNote sets what Commit records with the new generation, for
// Unchanged: a description of what the generation is made from, such as
// a digest of the generator's inputs. It may be called any time before
// Commit.
func (w *Writer) SetNote(note []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.note = bytes.Clone(note)
}

// record writes the record of the generation Commit just published, name
// in the store: its note, its Stats and the digest of its state on disk
// that Commit took (see walkDigest); without a note it removes the record
// of an earlier generation. A record that cannot be written is left out:
// the next run then writes a new generation, as it would without one.
func (w *Writer) record(name string, st Stats) {
	var b bytes.Buffer
	if w.note != nil {
		if w.digestErr != nil {
			return
		}
		b.WriteString(recordHeader)
		fmt.Fprintf(&b, "generation %s\nfiles %d\nbytes %d\ndigest %x\n\n", name, st.Files, st.Bytes, w.digest)
		b.Write(w.note)
	}

	if flock(w.parentFD, unix.LOCK_EX) != nil {
		return
	}
	defer flock(w.parentFD, unix.LOCK_UN)
	// Another writer may have published since: then the record is its
	// to write.
	if link, err := readlinkat(w.parentFD, w.base); err != nil || link != w.storeName+"/"+name {
		return
	}
	if w.note == nil {
		// A record describes the current generation or is not there.
		unix.Unlinkat(w.storeFD, recordName, 0)
		return
	}
	tmp := recordPrefix + rand.Text()[:12]
	err := w.createAt(w.storeFD, tmp, func(fd int) error { return writeAll(fd, b.Bytes()) })
	if err == nil {
		err = unix.Renameat(w.storeFD, tmp, w.storeFD, recordName)
	}
	if err != nil {
		unix.Unlinkat(w.storeFD, tmp, 0)
	}
}

// Unchanged reports whether the tree at dir is exactly the generation a
// Commit published with a note (see SetNote) that same accepts, and
// returns that generation's Stats (every file unchanged). Exactly: the
// link still points at that generation, and every directory and file in
// it has the inode, type, permissions, owner, size, modification and
// change time it had after that Commit, with no entry added or removed,
// as lstat(2) sees them from the generation's root without following a
// symbolic link. The change time (ctime) moves whenever a file's bytes,
// mode, owner or links change, and no user can set it back.
//
// A caller whose inputs are those the note describes can skip writing a
// new generation: it would be the same. Unchanged reads the tree and the
// store and changes nothing, so it does not remove older generations or
// what crashed runs left; the next Begin does. It costs an lstat a file.
func Unchanged(dir string, same func(note []byte) bool) (Stats, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Stats{}, false
	}
	parent, base := filepath.Dir(abs), filepath.Base(abs)
	pf, pfd, err := openDir(unix.AT_FDCWD, parent, 0)
	if err != nil {
		return Stats{}, false
	}
	defer pf.Close()
	link, err := readlinkat(pfd, base)
	if err != nil {
		return Stats{}, false
	}
	storeName := StoreName(abs)
	name, ok := strings.CutPrefix(link, storeName+"/")
	if !ok || !isGeneration(name) {
		return Stats{}, false
	}
	sf, sfd, err := openDirAt(pfd, storeName)
	if err != nil {
		return Stats{}, false
	}
	defer sf.Close()
	b, err := readAt(sfd, recordName, maxRecord)
	if err != nil {
		return Stats{}, false
	}
	rec, note, ok := parseRecord(b)
	if !ok || rec.generation != name || !same(note) {
		return Stats{}, false
	}
	gf, gfd, err := openDirAt(sfd, name)
	if err != nil {
		return Stats{}, false
	}
	defer gf.Close()
	if sum, err := walkDigest(gfd); err != nil || sum != rec.digest {
		return Stats{}, false
	}
	return Stats{Unchanged: rec.files, Files: rec.files, Bytes: rec.bytes}, true
}

type record struct {
	generation string
	files      int
	bytes      int64
	digest     [sha256.Size]byte
}

// parseRecord parses what record writes.
func parseRecord(b []byte) (rec record, note []byte, ok bool) {
	head, note, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return record{}, nil, false
	}
	lines := strings.Split(string(head)+"\n", "\n")
	if len(lines) != 6 || lines[0]+"\n" != recordHeader || lines[5] != "" {
		return record{}, nil, false
	}
	field := func(line, key string) (string, bool) { return strings.CutPrefix(line, key+" ") }
	var errs []error
	var s string
	if rec.generation, ok = field(lines[1], "generation"); !ok {
		return record{}, nil, false
	}
	if s, ok = field(lines[2], "files"); !ok {
		return record{}, nil, false
	}
	var err error
	rec.files, err = strconv.Atoi(s)
	errs = append(errs, err)
	if s, ok = field(lines[3], "bytes"); !ok {
		return record{}, nil, false
	}
	rec.bytes, err = strconv.ParseInt(s, 10, 64)
	errs = append(errs, err)
	if s, ok = field(lines[4], "digest"); !ok || len(s) != 2*sha256.Size {
		return record{}, nil, false
	}
	_, err = hex.Decode(rec.digest[:], []byte(s))
	errs = append(errs, err)
	if errors.Join(errs...) != nil {
		return record{}, nil, false
	}
	return rec, note, true
}

// walkDigest returns a SHA-256 of the lstat(2) of the directory dirfd
// and of every entry below it, without following symbolic links: the
// inode, type, permissions, owner, size, modification and change time of
// each, by path (of dirfd itself, the inode, type, permissions and
// owner). Access times and link counts are left out: readers and
// the generations that share a file's inode change those. Directories are
// read in parallel, one goroutine a CPU; the digest does not depend on
// the order.
func walkDigest(dirfd int) ([sha256.Size]byte, error) {
	root, err := unix.Dup(dirfd)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		unix.Close(root)
		return [sha256.Size]byte{}, err
	}
	// The root's own times change when it is renamed into place; the
	// entries in it are in the digest.
	st.Mtim, st.Ctim = unix.Timespec{}, unix.Timespec{}
	wk := walker{sem: make(chan struct{}, runtime.GOMAXPROCS(0)-1), dirs: map[string][sha256.Size]byte{}}
	wk.wg.Add(1)
	wk.visit("", root)
	wk.wg.Wait()
	if wk.err != nil {
		return [sha256.Size]byte{}, wk.err
	}
	h := sha256.New()
	h.Write(appendStat(nil, ".", keyOf(&st)))
	for _, d := range slices.Sorted(maps.Keys(wk.dirs)) {
		sum := wk.dirs[d]
		h.Write(append([]byte(d+"\x00"), sum[:]...))
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// startEntryDigest starts, on a goroutine of its own, the digest that
// walkDigest would take of the staging tree, made from what the Writer
// knows of it instead of a walk: the fstat of each file it wrote, taken
// as it closed it (nothing changes a new file after that), an lstat of
// each file it linked (linking it and removing older generations move
// its change time) and of each directory (whose times the files put in
// them moved). me is the manifest's entry. A walk reads every directory
// and lstats every file again, on the way to publishing;
// TestEntryDigestIsTheWalks checks that the two agree.
func (w *Writer) startEntryDigest(me fileEntry) <-chan digestResult {
	c := make(chan digestResult, 1)
	go func() {
		sum, err := w.entryDigest(&me)
		c <- digestResult{sum, err}
	}()
	return c
}

func (w *Writer) entryDigest(me *fileEntry) ([sha256.Size]byte, error) {
	type named struct {
		name string
		st   statKey
	}
	dirs := map[string][]named{"": nil} // by path, "" for the root
	add := func(path string, st statKey) {
		dir, name := "", path
		if i := strings.LastIndexByte(path, '/'); i >= 0 {
			dir, name = path[:i], path[i+1:]
		}
		dirs[dir] = append(dirs[dir], named{name, st})
	}
	var lstat []string // what is stated now: linked files, directories
	for i := range w.entries {
		if e := &w.entries[i]; e.written {
			add(e.path, e.st)
		} else {
			lstat = append(lstat, e.path)
		}
	}
	if me.written {
		add(me.path, me.st)
	} else {
		lstat = append(lstat, me.path)
	}
	for d := range w.dirs {
		lstat = append(lstat, d)
	}
	sts := make([]unix.Stat_t, len(lstat))
	err := parallel(len(lstat), func(i int) error {
		return retry(func() error { return unix.Fstatat(w.stagingFD, lstat[i], &sts[i], unix.AT_SYMLINK_NOFOLLOW) })
	})
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	for i, p := range lstat {
		add(p, keyOf(&sts[i]))
	}
	sums := make(map[string][sha256.Size]byte, len(dirs))
	var buf []byte
	for d, es := range dirs {
		slices.SortFunc(es, func(a, b named) int { return strings.Compare(a.name, b.name) })
		h := sha256.New()
		for _, e := range es {
			buf = appendStat(buf[:0], e.name, e.st)
			h.Write(buf)
		}
		if d != "" {
			d = "/" + d // as walkDigest names it
		}
		sums[d] = [sha256.Size]byte(h.Sum(nil))
	}
	var root unix.Stat_t
	if err := unix.Fstat(w.stagingFD, &root); err != nil {
		return [sha256.Size]byte{}, err
	}
	root.Mtim, root.Ctim = unix.Timespec{}, unix.Timespec{}
	h := sha256.New()
	h.Write(appendStat(nil, ".", keyOf(&root)))
	for _, d := range slices.Sorted(maps.Keys(sums)) {
		sum := sums[d]
		h.Write(append([]byte(d+"\x00"), sum[:]...))
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

type digestResult struct {
	sum [sha256.Size]byte
	err error
}

// walker digests the directories below one, each on its own.
type walker struct {
	sem  chan struct{} // a slot for each goroutine beside the caller's
	wg   sync.WaitGroup
	mu   sync.Mutex
	dirs map[string][sha256.Size]byte // each directory's digest of its entries, by path
	err  error
}

// visit digests the entries of the directory fd, at rel, and visits the
// directories among them: on a goroutine of its own where one is free,
// else in line. It closes fd.
func (wk *walker) visit(rel string, fd int) {
	defer wk.wg.Done()
	sum, subs, err := wk.digestDir(fd)
	unix.Close(fd)
	wk.mu.Lock()
	wk.dirs[rel] = sum
	if err != nil && wk.err == nil {
		wk.err = err
	}
	wk.mu.Unlock()
	for _, s := range subs {
		wk.wg.Add(1)
		select {
		case wk.sem <- struct{}{}:
			go func() {
				defer func() { <-wk.sem }()
				wk.visit(rel+"/"+s.name, s.fd)
			}()
		default:
			wk.visit(rel+"/"+s.name, s.fd)
		}
	}
}

type subdir struct {
	name string
	fd   int
}

// digestDir returns the digest of the lstat of each entry of the
// directory fd, in name order, and its subdirectories, opened.
func (wk *walker) digestDir(fd int) (sum [sha256.Size]byte, subs []subdir, err error) {
	defer func() {
		if err != nil {
			for _, s := range subs {
				unix.Close(s.fd)
			}
			subs = nil
		}
	}()
	f, _, err := openDirAt(fd, ".")
	if err != nil {
		return sum, nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return sum, nil, err
	}
	slices.Sort(names)
	h := sha256.New()
	var buf []byte
	for _, name := range names {
		var st unix.Stat_t
		if err := retry(func() error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return sum, subs, err
		}
		buf = appendStat(buf[:0], name, keyOf(&st))
		h.Write(buf)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			var sub int
			err := retry(func() (err error) {
				sub, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				return err
			})
			if err != nil {
				return sum, subs, err
			}
			subs = append(subs, subdir{name, sub})
		}
	}
	return [sha256.Size]byte(h.Sum(nil)), subs, nil
}

func appendStat(buf []byte, name string, k statKey) []byte {
	buf = append(buf, name...)
	buf = append(buf, 0)
	for _, v := range k {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	return buf
}

// statKey is what the digest takes of an lstat: the inode, type,
// permissions, owner, size, modification and change time.
type statKey [9]uint64

func keyOf(st *unix.Stat_t) statKey {
	return statKey{uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), st.Ino, uint64(st.Size),
		uint64(st.Mtim.Sec), uint64(st.Mtim.Nsec), uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec)}
}
