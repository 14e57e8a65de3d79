package gen

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// repomd is what a dnf metalink says of a repository's repomd.xml: the
// origin's current version, and the recent ones a mirror may still have.
type repomd struct {
	path       string // relative to a base URL
	timestamp  int64
	size       int64
	hashes     [][2]string // type, hex digest, in dnf's order
	alternates []alternate
}

type alternate struct {
	timestamp int64
	size      int64
	sha256    string
}

// readRepomd reads the origin copy of v's repomd.xml and the versions the
// probe saw before it that a mirror syncing within max_lag may still
// serve. It returns nil, nil when the origin tree has no repomd.xml there.
func readRepomd(originDir string, v *inventory.Variant, snap *state.Snapshot, maxLag time.Duration) (*repomd, error) {
	rel := v.Path() + "repodata/repomd.xml"
	full := filepath.Join(originDir, filepath.FromSlash(rel))
	data, err := fileio.ReadFile(full, fileio.MaxSmall)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--origin-dir: %w", err)
	}
	fi, err := os.Stat(full)
	if err != nil {
		return nil, fmt.Errorf("--origin-dir: %w", err)
	}
	r := &repomd{path: rel, timestamp: fi.ModTime().Unix(), size: int64(len(data))}
	for _, h := range []struct {
		name string
		h    hash.Hash
	}{{"md5", md5.New()}, {"sha1", sha1.New()}, {"sha256", sha256.New()}, {"sha512", sha512.New()}} {
		h.h.Write(data)
		r.hashes = append(r.hashes, [2]string{h.name, hex.EncodeToString(h.h.Sum(nil))})
	}
	if snap == nil {
		return r, nil
	}
	// History is newest first per file: a version stopped being current
	// when the one before it in the list was first seen. Keep those that
	// did so within max_lag: a mirror serving them is lagging, not broken.
	current := r.hashes[2][1]
	var newer *state.Meta
	for i := range snap.Origin.Metadata {
		m := &snap.Origin.Metadata[i]
		if m.Repo != v.Repo.Name || m.Release != v.Release || m.Arch != v.Arch || m.Path != rel {
			continue
		}
		if m.SHA256 != current && (newer == nil || snap.Taken.Sub(newer.FirstSeen) <= maxLag) {
			ts := m.Timestamp
			if ts == 0 {
				ts = m.FirstSeen.Unix()
			}
			r.alternates = append(r.alternates, alternate{timestamp: ts, size: m.Size, sha256: m.SHA256})
		}
		newer = m
	}
	return r, nil
}

// appendMetalink renders a dnf/yum metalink (Metalink 3.0 with
// MirrorManager's mm0 namespace, what dnf reads from metalink=): the
// origin's repomd.xml with its hashes, the recent versions as alternates,
// and one URL per mirror in the policy's order, preference 100 down. The
// repository's path in the URLs is percent-encoded, segment by segment.
func appendMetalink(dst []byte, l *list, r *repomd, pubdate time.Time) []byte {
	dst = append(dst, `<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic"`...)
	if !pubdate.IsZero() {
		dst = append(dst, ` pubdate="`...)
		dst = pubdate.UTC().AppendFormat(dst, time.RFC1123)
		dst = append(dst, '"')
	}
	dst = append(dst, ` generator="mirrorsteer" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
`...)
	dst = appendVersion(dst, "   ", r.timestamp, r.size, r.hashes)
	if len(r.alternates) > 0 {
		dst = append(dst, "   <mm0:alternates>\n"...)
		for _, a := range r.alternates {
			dst = append(dst, "    <mm0:alternate>\n"...)
			dst = appendVersion(dst, "     ", a.timestamp, a.size, [][2]string{{"sha256", a.sha256}})
			dst = append(dst, "    </mm0:alternate>\n"...)
		}
		dst = append(dst, "   </mm0:alternates>\n"...)
	}
	dst = append(dst, "   <resources maxconnections=\"1\">\n"...)
	for i, c := range l.choices {
		proto := c.Protocol()
		dst = append(dst, `    <url protocol="`...)
		dst = append(dst, proto...)
		dst = append(dst, `" type="`...)
		dst = append(dst, proto...)
		if c.Mirror.Country != "" { // an unplaced mirror has no location
			dst = append(dst, `" location="`...)
			dst = append(dst, c.Mirror.Country...)
		}
		dst = append(dst, `" preference="`...)
		dst = strconv.AppendInt(dst, int64(max(1, 100-i)), 10)
		dst = append(dst, '"')
		if !c.Mirror.Public {
			dst = append(dst, ` mm0:private="True"`...)
		}
		dst = append(dst, '>')
		dst = appendEscaped(dst, c.URL()+escapePath(r.path))
		dst = append(dst, "</url>\n"...)
	}
	if len(l.choices) == 0 {
		dst = append(dst, `    <url protocol="https" type="https" preference="100">`...)
		dst = appendEscaped(dst, l.inv.Network.Origin+escapePath(r.path))
		dst = append(dst, "</url>\n"...)
	}
	return append(dst, "   </resources>\n  </file>\n </files>\n</metalink>\n"...)
}

func appendVersion(dst []byte, indent string, ts, size int64, hashes [][2]string) []byte {
	dst = append(dst, indent...)
	dst = append(dst, "<mm0:timestamp>"...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, "</mm0:timestamp>\n"...)
	dst = append(dst, indent...)
	dst = append(dst, "<size>"...)
	dst = strconv.AppendInt(dst, size, 10)
	dst = append(dst, "</size>\n"...)
	dst = append(dst, indent...)
	dst = append(dst, "<verification>\n"...)
	for _, h := range hashes {
		dst = append(dst, indent...)
		dst = append(dst, ` <hash type="`...)
		dst = append(dst, h[0]...)
		dst = append(dst, `">`...)
		dst = append(dst, h[1]...)
		dst = append(dst, "</hash>\n"...)
	}
	dst = append(dst, indent...)
	return append(dst, "</verification>\n"...)
}
