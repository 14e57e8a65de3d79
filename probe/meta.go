package probe

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// metadataPaths returns the file that tells whether a mirror carries the
// variant v and in which version, relative to a base URL, as the
// candidates in order of preference: rpm repodata/repomd.xml; deb
// dists/<release>/InRelease, else Release; arch the core repository's
// database (pacman's $repo is "core", $arch the variant's arch). A files
// repository has none: its freshness is the stamp's.
func metadataPaths(v inventory.Variant) []string {
	dir := v.Path()
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	switch v.Repo.Format {
	case inventory.FormatRPM:
		return []string{dir + "repodata/repomd.xml"}
	case inventory.FormatDeb:
		base := dir + "dists/" + v.Release + "/"
		return []string{base + "InRelease", base + "Release"}
	case inventory.FormatArch:
		dir = strings.NewReplacer("$repo", "core", "$arch", v.Arch).Replace(dir)
		return []string{dir + "core.db"}
	}
	return nil
}

var revision = regexp.MustCompile(`<revision>\s*([0-9]{1,19})\s*</revision>`)

// metadataTimestamp returns the metadata's own idea of its version: the
// <revision> of a repomd.xml, the Date of an InRelease or Release file
// as a unix time; 0 when it has none.
func metadataTimestamp(path string, b []byte) int64 {
	switch {
	case strings.HasSuffix(path, "repomd.xml"):
		if m := revision.FindSubmatch(b); m != nil {
			n, err := strconv.ParseInt(string(m[1]), 10, 64)
			if err == nil && n > 0 {
				return n
			}
		}
	case strings.HasSuffix(path, "Release"):
		return releaseDate(b)
	}
	return 0
}

// releaseDate reads the Date field of a Debian Release or InRelease file.
func releaseDate(b []byte) int64 {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("Date:"))
		if !ok {
			continue
		}
		s := strings.TrimSpace(string(rest))
		for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
			if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1970 && t.Year() <= 9999 {
				return t.Unix()
			}
		}
		return 0
	}
	return 0
}
