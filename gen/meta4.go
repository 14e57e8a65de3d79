package gen

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mirrorsteer/mirrorsteer/internal/filehash"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// meta4Files are the origin files that get an RFC 5854 metalink: regular
// files of at least min size, slash-separated, sorted. Files whose name a
// metalink cannot carry are left out, each with a warning.
func meta4Files(originDir string, minSize int64) (files, warnings []string, err error) {
	var out []string
	err = filepath.WalkDir(originDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() < minSize {
			return nil
		}
		rel, err := filepath.Rel(originDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if why := unpublishable(rel); why != "" {
			warnings = append(warnings, fmt.Sprintf("--origin-dir: no .meta4 for %q: %s; rename the file to publish it", rel, why))
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--origin-dir: %w", err)
	}
	slices.Sort(out)
	return out, warnings, nil
}

// unpublishable says why an origin file cannot get a .meta4, or "": its
// name has a control character (no XML document or URL should carry
// one), is not UTF-8, or is not a valid path in the tree.
func unpublishable(rel string) string {
	if !utf8.ValidString(rel) {
		return "its name is not valid UTF-8"
	}
	if strings.ContainsFunc(rel, func(r rune) bool { return unicode.IsControl(r) || r == 0xfffe || r == 0xffff }) {
		return "its name has a control character"
	}
	if err := tree.CheckPath(layout.Meta4Path(rel)); err != nil {
		return err.Error()
	}
	return ""
}

// escapePath percent-encodes each segment of a slash-separated path, for
// appending to a base URL: "a b/#1.iso" is "a%20b/%231.iso", one path
// with no fragment or query.
func escapePath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// writeMeta4 writes meta4/<path>.meta4 for every large origin file, with
// the mirrors that carry it fresh, by weight. Files are hashed in
// parallel; the cache makes an unchanged tree cost a stat a file.
// Files whose name a metalink cannot carry are skipped; the warnings say
// which. It returns the origin files it wrote a .meta4 for.
func writeMeta4(w *tree.Writer, inv *inventory.Inventory, snap *state.Snapshot, originDir string, cache *filehash.Cache) ([]string, []string, error) {
	files, warnings, err := meta4Files(originDir, inv.Metalink.MinSize)
	if err != nil {
		return nil, nil, err
	}
	sums := make([]filehash.Sum, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				sums[i], errs[i] = cache.Sum(originDir, files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()

	variants := inv.Variants()
	sets := map[int]*policy.Set{}
	var buf []byte
	for i, rel := range files {
		if errs[i] != nil {
			return nil, nil, fmt.Errorf("--origin-dir: hashing %s: %w", rel, errs[i])
		}
		var choices []policy.Choice
		if !inv.Metalink.IsOriginOnly(rel) {
			vi := variantOf(variants, rel)
			set := sets[vi]
			if set == nil {
				want := policy.Want{}
				if vi >= 0 {
					want.Variant = &variants[vi]
				}
				set = policy.NewSet(inv, snap, want)
				sets[vi] = set
			}
			choices = set.Select(policy.Client{Key: policy.KeyString(rel)})
		}
		sig := signature(originDir, rel)
		buf = appendMeta4(buf[:0], inv, rel, sums[i], sig, choices)
		if err := w.WriteFile(layout.Meta4Path(rel), buf); err != nil {
			return nil, nil, err
		}
	}
	return files, warnings, nil
}

// variantOf returns the index of the variant whose path holds rel (the
// longest such path), or -1. Paths with pacman's $repo are not file
// trees of their own and never match.
func variantOf(vs []inventory.Variant, rel string) int {
	best, bestLen := -1, 0
	for i := range vs {
		p := vs[i].Path()
		if strings.Contains(p, "$") || !strings.HasPrefix(rel, p) || len(p) <= bestLen {
			continue
		}
		best, bestLen = i, len(p)
	}
	return best
}

// signature returns the ASCII-armoured detached signature beside rel
// (.asc, or a .sig that is armoured), or "".
func signature(originDir, rel string) string {
	for _, ext := range []string{".asc", ".sig"} {
		b, err := fileio.ReadFile(filepath.Join(originDir, filepath.FromSlash(rel+ext)), 64<<10)
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN PGP SIGNATURE-----")) {
			return string(b)
		}
	}
	return ""
}

// appendMeta4 renders an RFC 5854 metalink for one file. An entry's
// priority is its place in the policy's order (1 is tried first); its
// location is the mirror's country, so `aria2c --metalink-location=de`
// prefers German mirrors. With no mirror, the origin is the one URL. The
// URLs carry rel percent-encoded, segment by segment.
func appendMeta4(dst []byte, inv *inventory.Inventory, rel string, s filehash.Sum, sig string, choices []policy.Choice) []byte {
	esc := escapePath(rel)
	dst = append(dst, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n  <generator>mirrorsteer</generator>\n  <published>"...)
	dst = time.Unix(0, s.ModTime).UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, "</published>\n  <file name=\""...)
	dst = appendEscaped(dst, filepath.Base(rel))
	dst = append(dst, "\">\n    <size>"...)
	dst = strconv.AppendInt(dst, s.Size, 10)
	dst = append(dst, "</size>\n    <hash type=\"sha-256\">"...)
	dst = append(dst, s.SHA256...)
	dst = append(dst, "</hash>\n    <hash type=\"sha-512\">"...)
	dst = append(dst, s.SHA512...)
	dst = append(dst, "</hash>\n    <pieces length=\""...)
	dst = strconv.AppendInt(dst, s.PieceSize, 10)
	dst = append(dst, "\" type=\"sha-256\">\n"...)
	for _, p := range s.Pieces {
		dst = append(dst, "      <hash>"...)
		dst = append(dst, p...)
		dst = append(dst, "</hash>\n"...)
	}
	dst = append(dst, "    </pieces>\n"...)
	if sig != "" {
		dst = append(dst, "    <signature mediatype=\"application/pgp-signature\">"...)
		dst = appendEscaped(dst, sig)
		dst = append(dst, "</signature>\n"...)
	}
	for i, c := range choices {
		dst = append(dst, "    <url"...)
		if c.Mirror.Country != "" { // an unplaced mirror has no location
			dst = append(dst, " location=\""...)
			dst = append(dst, strings.ToLower(string(c.Mirror.Country))...)
			dst = append(dst, '"')
		}
		dst = append(dst, " priority=\""...)
		dst = strconv.AppendInt(dst, int64(min(i+1, 999999)), 10)
		dst = append(dst, "\">"...)
		dst = appendEscaped(dst, c.URL()+esc)
		dst = append(dst, "</url>\n"...)
	}
	if len(choices) == 0 {
		dst = append(dst, "    <url priority=\"1\">"...)
		dst = appendEscaped(dst, inv.Network.Origin+esc)
		dst = append(dst, "</url>\n"...)
	}
	return append(dst, "  </file>\n</metalink>\n"...)
}

// appendEscaped appends s escaped for XML text and attribute values.
// Unlike xml.EscapeText it keeps newlines, so an embedded signature stays
// readable.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
