package localmirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Tree is the content of one copy of the archive: file paths relative to
// the base URL (no leading slash) and their bytes. A Tree is never
// modified once built; a mirror that syncs gets a new one.
type Tree struct {
	// Files maps a relative path to its content.
	Files map[string][]byte
	// Time is the sync time written into the stamp file, and every file's
	// modification time.
	Time time.Time
	// Generation numbers the origin's versions: 1, 2, ... A tree that no
	// origin version produced (stale, wrong) has its own negative number.
	Generation int
}

// DefaultRepos is the repository layout of the test networks, one
// repository per client format, as a distribution lays them out.
var DefaultRepos = []*inventory.Repo{
	{Name: "baseos", Path: "{release}/BaseOS/{arch}/os/", Releases: []string{"9", "10"}, Archs: []string{"x86_64", "aarch64"}, Format: inventory.FormatRPM},
	{Name: "debian", Path: "debian/", Releases: []string{"stable", "testing"}, Archs: []string{"amd64", "arm64"}, Format: inventory.FormatDeb},
	{Name: "arch", Path: "archlinux/$repo/os/$arch", Archs: []string{"x86_64"}, Format: inventory.FormatArch},
	{Name: "isos", Path: "{release}/isos/{arch}/", Releases: []string{"9", "10"}, Archs: []string{"x86_64"}, Format: inventory.FormatFiles},
}

// StampPath is the stamp file of the test networks.
const StampPath = "TIME"

// Build returns the tree of the origin's version gen, synced at t: the
// stamp, and for every repository variant its metadata in the format's
// real layout (rpm repodata/repomd.xml, deb dists/<suite>/InRelease and
// Release, a pacman core.db, an ISO directory with a CHECKSUM file).
// The same arguments give the same bytes. unixStamp selects how the stamp
// is written: a unix time, or RFC 3339.
func Build(repos []*inventory.Repo, gen int, t time.Time, unixStamp bool) *Tree {
	t = t.UTC().Truncate(time.Second)
	tr := &Tree{Files: map[string][]byte{}, Time: t, Generation: gen}
	if unixStamp {
		tr.Files[StampPath] = []byte(strconv.FormatInt(t.Unix(), 10) + "\n")
	} else {
		tr.Files[StampPath] = []byte(t.Format(time.RFC3339) + "\n")
	}
	for _, r := range repos {
		switch r.Format {
		case inventory.FormatDeb:
			for _, suite := range orEmpty(r.Releases) {
				base := r.Path + "dists/" + suite + "/"
				release := debRelease(suite, r.Archs, gen, t)
				tr.Files[base+"Release"] = release
				tr.Files[base+"InRelease"] = clearsign(release, gen)
				for _, a := range r.Archs {
					tr.Files[base+"main/binary-"+a+"/Packages"] = packages(suite, a, gen)
				}
			}
		default:
			for _, v := range r.Variants() {
				dir := v.Path()
				if !strings.HasSuffix(dir, "/") {
					dir += "/"
				}
				switch r.Format {
				case inventory.FormatRPM:
					tr.Files[dir+"repodata/repomd.xml"] = repomd(v, gen, t)
				case inventory.FormatArch:
					dir = strings.NewReplacer("$repo", "core", "$arch", v.Arch).Replace(dir)
					tr.Files[dir+"core.db"] = pacmanDB(v.Arch, gen, t)
				case inventory.FormatFiles:
					iso := fmt.Sprintf("Example-%s-%s-dvd.iso", v.Release, v.Arch)
					tr.Files[dir+iso] = []byte(fmt.Sprintf("ISO %s generation %d\n", iso, gen))
					sum := sha256.Sum256(tr.Files[dir+iso])
					tr.Files[dir+"CHECKSUM"] = []byte(fmt.Sprintf("SHA256 (%s) = %x\n", iso, sum))
				}
			}
		}
	}
	return tr
}

func orEmpty(s []string) []string {
	if len(s) == 0 {
		return []string{""}
	}
	return s
}

// Without returns a copy of tr without the files under prefix.
func (tr *Tree) Without(prefix string) *Tree {
	out := tr.clone()
	for p := range out.Files {
		if strings.HasPrefix(p, prefix) {
			delete(out.Files, p)
		}
	}
	return out
}

// Tampered returns a copy of tr in which every metadata file (repomd.xml,
// InRelease, Release, core.db) has different bytes: a mirror whose stamp
// is current but whose content does not match the origin.
func (tr *Tree) Tampered() *Tree {
	out := tr.clone()
	out.Generation = -tr.Generation
	for p, b := range out.Files {
		switch {
		case strings.HasSuffix(p, "/repomd.xml"), strings.HasSuffix(p, "/InRelease"), strings.HasSuffix(p, "/Release"):
			out.Files[p] = append(slices.Clone(b), "\n<!-- tampered -->\n"...)
		case strings.HasSuffix(p, ".db"):
			out.Files[p] = append(slices.Clone(b), 0)
		}
	}
	return out
}

func (tr *Tree) clone() *Tree {
	return &Tree{Files: maps.Clone(tr.Files), Time: tr.Time, Generation: tr.Generation}
}

// Paths returns the tree's file paths, sorted.
func (tr *Tree) Paths() []string { return slices.Sorted(maps.Keys(tr.Files)) }

func hexsum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func repomd(v inventory.Variant, gen int, t time.Time) []byte {
	primary := []byte(fmt.Sprintf("primary %s %d", v.Path(), gen))
	open := []byte(fmt.Sprintf("primary-open %s %d", v.Path(), gen))
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>%d</revision>
`, t.Unix())
	for _, typ := range []string{"primary", "filelists", "other"} {
		sum := hexsum(append(primary, typ...))
		fmt.Fprintf(&b, `  <data type="%s">
    <checksum type="sha256">%s</checksum>
    <open-checksum type="sha256">%s</open-checksum>
    <location href="repodata/%s-%s.xml.gz"/>
    <timestamp>%d</timestamp>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
`, typ, sum, hexsum(append(open, typ...)), sum, typ, t.Unix(), 1000+gen, 5000+gen)
	}
	b.WriteString("</repomd>\n")
	return b.Bytes()
}

func packages(suite, arch string, gen int) []byte {
	return []byte(fmt.Sprintf("Package: example-base\nVersion: 1.%d\nArchitecture: %s\nFilename: pool/main/e/example-base/example-base_1.%d_%s.deb\nDescription: base of %s\n", gen, arch, gen, arch, suite))
}

func debRelease(suite string, archs []string, gen int, t time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Origin: Example\nLabel: Example\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: %s\nComponents: main\nDescription: Example Linux %s (generation %d)\nSHA256:\n",
		suite, suite, t.Format(time.RFC1123), strings.Join(archs, " "), suite, gen)
	for _, a := range archs {
		p := packages(suite, a, gen)
		fmt.Fprintf(&b, " %s %8d main/binary-%s/Packages\n", hexsum(p), len(p), a)
	}
	return b.Bytes()
}

func clearsign(body []byte, gen int) []byte {
	var b bytes.Buffer
	b.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n")
	b.Write(body)
	fmt.Fprintf(&b, "-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEEnotarealsignature%04dAAAAAAAAAAAAAAAAAAAAAA=\n=test\n-----END PGP SIGNATURE-----\n", gen%10000)
	return b.Bytes()
}

// pacmanDB is a real pacman repository database: a gzipped tar with one
// directory per package holding its desc file.
func pacmanDB(arch string, gen int, t time.Time) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.ModTime = t
	tw := tar.NewWriter(zw)
	for _, pkg := range []string{"filesystem", "glibc", "pacman"} {
		dir := fmt.Sprintf("%s-1.%d-1/", pkg, gen)
		desc := fmt.Sprintf("%%FILENAME%%\n%s-1.%d-1-%s.pkg.tar.zst\n\n%%NAME%%\n%s\n\n%%VERSION%%\n1.%d-1\n\n%%ARCH%%\n%s\n\n%%BUILDDATE%%\n%d\n\n",
			pkg, gen, arch, pkg, gen, arch, t.Unix())
		tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t})
		tw.WriteHeader(&tar.Header{Name: dir + "desc", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(desc)), ModTime: t})
		tw.Write([]byte(desc))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
