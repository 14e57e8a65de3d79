// Package fileio reads input files with a bound on their size and replaces
// output files atomically and durably. Every file mirrorsteer reads may be
// the wrong one (a device, a log, a hostile upload) and must not make it
// read without end; every file it replaces must be either the old one or
// the whole new one, also after a crash. A Log records which files were
// read and what they held, and an ID tells whether a file read in place
// has changed, so that a command can tell that its inputs are as they
// were (gen does nothing then).
package fileio

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// Size limits of the inputs. Each is well above what a real network of
// thousands of mirrors needs and well below what would hurt the machine.
const (
	MaxInventory = 16 << 20  // mirrors.toml
	MaxZoneFile  = 16 << 20  // dnsd's RFC 1035 zone file
	MaxRanges    = 64 << 20  // a subnet file (AWS's ip-ranges.json is about 2 MiB)
	MaxState     = 256 << 20 // state.json (10,000 endpoints take about 20 MiB)
	MaxSmall     = 1 << 20   // keys, certificates, small control files
)

// TooLargeError is the error of a file over its limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %s, the most mirrorsteer reads from such a file; is this the right file?", e.Path, size(e.Limit))
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadFile reads the file at path, or fails with a *TooLargeError when it
// holds more than limit bytes. Devices and pipes are read up to the limit
// and no further, so "-c /dev/zero" fails at once instead of filling the
// memory.
//
// While a Log is started, every file ReadFile reads is recorded in it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if l := started.Load(); l != nil && errors.Is(err, fs.ErrNotExist) {
			l.add(path, nil, true)
		}
		return nil, err
	}
	defer f.Close()
	data, err := ReadAll(f, path, limit)
	if err != nil {
		return nil, err
	}
	if l := started.Load(); l != nil {
		l.add(path, data, false)
	}
	return data, nil
}

// A Log records the files ReadFile reads, and those it finds missing,
// while it is started: what a
// command was made from, so that it can tell later whether any of them
// changed (go test learns the inputs of a test the same way, through
// internal/testlog). The files a program reads are decided deep in the
// packages that parse them (a subnet file named in mirrors.toml), and
// each is recorded with the very bytes that were parsed.
type Log struct {
	mu    sync.Mutex
	reads []Read
}

// Read is a file ReadFile read whole, or found missing: a program that
// goes on without a file (gen --stats before dnsd wrote it) makes
// something else than with it.
type Read struct {
	// Path is the file's absolute path.
	Path string
	// SHA256 is the digest of the bytes read.
	SHA256 [sha256.Size]byte
	// Missing reports that the file did not exist; SHA256 is zero.
	Missing bool
}

var started atomic.Pointer[Log]

// StartLog starts recording the files ReadFile reads, from any goroutine,
// until Stop. Only one Log may be started at a time.
func StartLog() *Log {
	l := &Log{}
	if !started.CompareAndSwap(nil, l) {
		panic("fileio: StartLog while another Log is started")
	}
	return l
}

// Stop stops recording and returns the files read, in the order they were
// read. Stop may be called more than once.
func (l *Log) Stop() []Read {
	started.CompareAndSwap(l, nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reads)
}

func (l *Log) add(path string, data []byte, missing bool) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	r := Read{Path: path, Missing: missing}
	if !missing {
		r.SHA256 = sha256.Sum256(data)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, r)
}

// ID identifies a file by what stat(2) says of it: device, inode, size,
// modification and change time. It is how a program tells that a file it
// does not read whole (a GeoIP database, mapped into memory) has not
// changed: any write changes the change time (ctime), which no user can
// set, and replacing the file changes the inode.
type ID struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds since 1970
}

// Identify returns the ID of the file at path, following symbolic links.
// Take it before the file is read: a change after that then shows as
// another ID next time.
func Identify(path string) (ID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return ID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return ID{
		Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}, nil
}

// ReadAll reads r to its end, or fails with a *TooLargeError naming name
// when it holds more than limit bytes.
func ReadAll(r io.Reader, name string, limit int64) ([]byte, error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
			return nil, &TooLargeError{Path: name, Limit: limit}
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Path: name, Limit: limit}
	}
	return data, nil
}

// Test hooks: where a write or a rename fails.
var (
	writeData = func(f *os.File, data []byte) error { _, err := f.Write(data); return err }
	rename    = os.Rename
)

// WriteFile replaces the file at path with data, atomically and durably:
// the data goes to a temporary file in the same directory, which is
// synced, given mode perm and renamed over path, and then the directory
// is synced. A reader sees the old file or the new one, never a part; on
// error the old file is untouched and the temporary file is removed. If
// path is a symbolic link, the file it points to is replaced and the link
// kept.
//
// Every file mirrorsteer replaces goes through WriteFile (state.json, the
// hash cache, an imported mirrors.toml, test GeoIP databases), so all are
// equally durable; test/durable_test.go checks the real binary's
// renames. gen's output tree is replaced a generation at a time by
// internal/tree instead.
func WriteFile(path string, data []byte, perm fs.FileMode) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := writeData(f, data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable. The new file is in place whatever happens.
	return SyncDir(dir)
}

// SyncDir makes the entries of directory dir durable: a rename or a new
// file in it survives a crash once SyncDir returns.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
