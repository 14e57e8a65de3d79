// Package filehash hashes the files of an origin tree for metalinks, and
// remembers the results keyed by path, size and modification time, so an
// unchanged tree of any size is not read again.
package filehash

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// Sum is what a metalink needs to know of one file.
type Sum struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
	SHA512  string `json:"sha512"`
	// PieceSize is the length of each piece but the last; Pieces are
	// their SHA-256 digests, so a download tool can verify and retry
	// part of a large file.
	PieceSize int64    `json:"piece_size"`
	Pieces    []string `json:"pieces"`
}

// PieceSize returns the piece length for a file of size bytes: a power of
// two from 256 KiB to 16 MiB giving at most about 1024 pieces, so a 4 GiB
// image has 1024 pieces of 4 MiB and a small file a handful.
func PieceSize(size int64) int64 {
	p := int64(256 << 10)
	for p < 16<<20 && size/p > 1024 {
		p *= 2
	}
	return p
}

// Hash reads the file at path and returns its Sum.
func Hash(path string) (Sum, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Sum{}, err
	}
	s := Sum{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), PieceSize: PieceSize(fi.Size())}
	whole256, whole512 := sha256.New(), sha512.New()
	piece := sha256.New()
	buf := make([]byte, 1<<20)
	var inPiece int64
	var n int64
	for {
		k, err := f.Read(buf)
		data := buf[:k]
		n += int64(k)
		whole256.Write(data)
		whole512.Write(data)
		for len(data) > 0 {
			take := min(int64(len(data)), s.PieceSize-inPiece)
			piece.Write(data[:take])
			inPiece += take
			data = data[take:]
			if inPiece == s.PieceSize {
				s.Pieces = append(s.Pieces, hexSum(piece))
				piece.Reset()
				inPiece = 0
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Sum{}, err
		}
	}
	if inPiece > 0 || n == 0 {
		s.Pieces = append(s.Pieces, hexSum(piece))
	}
	if n != s.Size {
		return Sum{}, fmt.Errorf("%s changed size while being hashed (%d, then %d bytes); run again when it is complete", path, s.Size, n)
	}
	s.SHA256, s.SHA512 = hexSum(whole256), hexSum(whole512)
	return s, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// Cache remembers Sums by relative path. It is safe for concurrent use.
type Cache struct {
	path   string
	mu     sync.Mutex
	loaded bool // old was read from path
	old    map[string]Sum
	used   map[string]Sum
	// Hashed and Reused count the files read and the files answered from
	// the cache since Open.
	Hashed, Reused int
}

// cacheSchema versions the cache file; an unknown version is ignored, as
// a cache never is the only copy of anything.
const cacheSchema = 1

// maxCache bounds the hash cache read: a few hundred bytes a file, so
// about a million files.
const maxCache = 256 << 20

type cacheFile struct {
	Schema int            `json:"schema"`
	Files  map[string]Sum `json:"files"`
}

// Open reads the cache at path. A missing file is an empty cache; a file
// that cannot be read as a cache is reported in the error and otherwise
// treated as empty, since everything in it can be computed again.
func Open(path string) (*Cache, error) {
	c := &Cache{path: path, old: map[string]Sum{}, used: map[string]Sum{}}
	data, err := fileio.ReadFile(path, maxCache)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("hash cache: %w; hashing everything again", err)
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil || f.Schema != cacheSchema {
		return c, fmt.Errorf("hash cache %s is not a mirrorsteer hash cache (version %d); hashing everything again", path, cacheSchema)
	}
	if f.Files != nil {
		c.old = f.Files
	}
	c.loaded = true
	return c, nil
}

// Sum returns the Sum of root/rel, from the cache when the file's size and
// modification time are those remembered, else by reading it.
func (c *Cache) Sum(root, rel string) (Sum, error) {
	full := filepath.Join(root, filepath.FromSlash(rel))
	fi, err := os.Stat(full)
	if err != nil {
		return Sum{}, err
	}
	c.mu.Lock()
	s, ok := c.old[rel]
	c.mu.Unlock()
	if ok && s.Size == fi.Size() && s.ModTime == fi.ModTime().UnixNano() {
		c.mu.Lock()
		c.used[rel] = s
		c.Reused++
		c.mu.Unlock()
		return s, nil
	}
	s, err = Hash(full)
	if err != nil {
		return Sum{}, err
	}
	c.mu.Lock()
	c.used[rel] = s
	c.Hashed++
	c.mu.Unlock()
	return s, nil
}

// Save writes the cache, keeping only the files asked for since Open so it
// does not grow with files long gone. It replaces the file atomically and
// durably (fileio.WriteFile); if the path is a symbolic link, the file it
// points to is replaced. A cache that holds what it was opened with is
// not written again: a run over an unchanged tree costs no sync.
func (c *Cache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Every entry used was either read again (Hashed) or taken from old
	// as it was.
	if c.loaded && c.Hashed == 0 && len(c.used) == len(c.old) {
		return nil
	}
	keys := make([]string, 0, len(c.used))
	for k := range c.used {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	// Encode by hand in key order so the file is the same bytes for the
	// same tree (encoding/json sorts map keys too, but this avoids holding
	// a second copy of a large map).
	fmt.Fprintf(&buf, "{\"schema\":%d,\"files\":{", cacheSchema)
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(c.used[k])
		if err != nil {
			return err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		buf.WriteByte('\n')
	}
	buf.WriteString("}}\n")
	// 0600: only gen reads it.
	if err := fileio.WriteFile(c.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("hash cache %s: %w", c.path, err)
	}
	return nil
}
