package tree

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// ManifestName is the name of the manifest file at the root of every tree
// this package writes. Its presence marks a directory as one of ours.
const ManifestName = "manifest.json"

// SchemaVersion is the manifest schema this package writes and reads.
const SchemaVersion = 1

// maxManifestSize bounds how much of a manifest.json is read: a manifest
// line is about 120 bytes, so this allows for millions of files while
// keeping a corrupt or hostile file from exhausting memory.
const maxManifestSize = 1 << 30

// Manifest lists every file of a tree, except manifest.json itself, sorted
// by path. It is the JSON document stored as manifest.json at the root of
// the tree.
type Manifest struct {
	// Schema is the manifest format version, SchemaVersion.
	Schema int `json:"schema"`
	// Files are the tree's files in byte-wise path order, each path once.
	Files []Entry `json:"files"`
}

// Entry describes one file of a tree.
type Entry struct {
	// Path is the file's clean, slash-separated path relative to the
	// tree's root, e.g. "a/b.txt".
	Path string `json:"path"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the lowercase hex SHA-256 of the file's contents.
	SHA256 string `json:"sha256"`
}

// ReadManifest reads dir/manifest.json. It checks the schema version, every
// path (as WriteFile would), the digests, and that paths are sorted and
// unique.
func ReadManifest(dir string) (Manifest, error) {
	name := filepath.Join(dir, ManifestName)
	b, err := fileio.ReadFile(name, maxManifestSize)
	if err != nil {
		return Manifest{}, err
	}
	m, err := parseManifest(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// parseManifest decodes and validates a manifest document.
func parseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("not a valid manifest: %v", err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("not a valid manifest: data after the JSON object")
	}
	if m.Schema != SchemaVersion {
		return Manifest{}, fmt.Errorf("manifest schema %d, want %d", m.Schema, SchemaVersion)
	}
	for i, e := range m.Files {
		if err := CheckPath(e.Path); err != nil {
			return Manifest{}, err
		}
		if i > 0 && m.Files[i-1].Path >= e.Path {
			return Manifest{}, fmt.Errorf("manifest paths not sorted and unique at %q", e.Path)
		}
		if e.Size < 0 {
			return Manifest{}, fmt.Errorf("manifest entry %q: negative size", e.Path)
		}
		if _, ok := decodeSum(e.SHA256); !ok {
			return Manifest{}, fmt.Errorf("manifest entry %q: sha256 %q is not 64 lowercase hex digits", e.Path, e.SHA256)
		}
	}
	if m.Files == nil {
		m.Files = []Entry{}
	}
	return m, nil
}

func decodeSum(s string) ([sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return sum, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return sum, false
		}
	}
	_, err := hex.Decode(sum[:], []byte(s))
	return sum, err == nil
}

// encodeManifest writes the manifest of files, which must be sorted by path,
// to w. The format is fixed so that the same files always give the same
// bytes: one entry a line, LF line ends, a trailing newline, no timestamps.
//
//	{"schema":1,"files":[
//	{"path":"a/b.txt","size":12,"sha256":"…"},
//	{"path":"c.txt","size":0,"sha256":"…"}
//	]}
func encodeManifest(w io.Writer, files []fileEntry) error {
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, `{"schema":`...)
	buf = strconv.AppendInt(buf, SchemaVersion, 10)
	buf = append(buf, `,"files":[`...)
	for i := range files {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n{\"path\":"...)
		buf = appendJSONString(buf, files[i].path)
		buf = append(buf, `,"size":`...)
		buf = strconv.AppendInt(buf, files[i].size, 10)
		buf = append(buf, `,"sha256":"`...)
		buf = hex.AppendEncode(buf, files[i].sum[:])
		buf = append(buf, `"}`...)
		if len(buf) > 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(files) > 0 {
		buf = append(buf, '\n')
	}
	buf = append(buf, "]}\n"...)
	_, err := w.Write(buf)
	return err
}

// appendJSONString appends s as encoding/json would encode it.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // cannot fail for a string
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// CheckPath returns an error naming rel and the rule it breaks unless rel
// may name a file of a tree, as WriteFile requires: clean, relative,
// slash-separated, valid UTF-8, no empty, "." or ".." components, no
// control characters or backslashes, components at most 255 bytes, and not
// the manifest itself.
func CheckPath(rel string) error {
	bad := func(why string) error { return fmt.Errorf("invalid tree path %q: %s", rel, why) }
	switch {
	case rel == "":
		return bad("empty")
	case rel[0] == '/':
		return bad("absolute; want a path relative to the tree root, e.g. \"a/b.txt\"")
	case rel == ManifestName || strings.HasPrefix(rel, ManifestName+"/"):
		return bad("manifest.json at the tree root is reserved for the tree's own manifest")
	case !utf8.ValidString(rel):
		return bad("not valid UTF-8")
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) {
			c := rel[i]
			if c < 0x20 || c == 0x7f {
				return bad("contains a control character")
			}
			if c == '\\' {
				return bad("contains a backslash; separate components with \"/\"")
			}
			if c != '/' {
				continue
			}
		}
		switch comp := rel[start:i]; {
		case comp == "":
			return bad("empty path component")
		case comp == "." || comp == "..":
			return bad("\".\" and \"..\" components are not allowed")
		case len(comp) > 255:
			return bad("path component longer than 255 bytes")
		}
		start = i + 1
	}
	return nil
}
