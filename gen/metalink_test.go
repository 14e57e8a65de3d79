package gen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

func writeFile(t *testing.T, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// dnfMetalink is the part of a dnf metalink the tests read.
type dnfMetalink struct {
	File struct {
		Name   string `xml:"name,attr"`
		Size   int64  `xml:"size"`
		Hashes []struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"verification>hash"`
		Alternates []struct {
			Size   int64 `xml:"size"`
			Hashes []struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"verification>hash"`
		} `xml:"alternates>alternate"`
		URLs []struct {
			Location   string `xml:"location,attr"`
			Preference int    `xml:"preference,attr"`
			Private    string `xml:"private,attr"`
			URL        string `xml:",chardata"`
		} `xml:"resources>url"`
	} `xml:"files>file"`
}

func TestDNFMetalink(t *testing.T) {
	origin := t.TempDir()
	repomd := []byte("<repomd><revision>2</revision></repomd>\n")
	writeFile(t, origin, "1/os/x86_64/repodata/repomd.xml", repomd)
	inv := load(t, header+mirrors+`
[[mirror]]
name = "corp"
country = "DE"
https = "https://corp.test/pub/"
asn = 3320
public = false
`)
	snap := statetest.Healthy(inv, nil)
	meta := func(sum string, seen time.Duration) state.Meta {
		return state.Meta{Repo: "os", Release: "1", Arch: "x86_64", Path: "1/os/x86_64/repodata/repomd.xml",
			Size: 30, SHA256: sum, FirstSeen: statetest.Taken.Add(-seen)}
	}
	old1, old2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	snap.Origin.Metadata = []state.Meta{
		meta(hexSHA256(repomd), 2*time.Hour), // current, seen 2h ago: old1 was replaced 2h ago
		meta(old1, 10*time.Hour),             // replaced 10h ago by... old1 replaced old2 then
		meta(old2, 20*time.Hour),
	}
	out := filepath.Join(t.TempDir(), "out")
	st := run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out, OriginDir: origin, HashCache: filepath.Join(t.TempDir(), "h")})
	if st.Metalinks == 0 {
		t.Fatal("no metalinks written")
	}
	var ml dnfMetalink
	if err := xml.Unmarshal([]byte(read(t, out, "metalink/os/1/x86_64/AS3320-DE.xml")), &ml); err != nil {
		t.Fatal(err)
	}
	f := ml.File
	var types []string
	for _, h := range f.Hashes {
		types = append(types, h.Type)
		if h.Type == "sha256" && h.Value != hexSHA256(repomd) {
			t.Errorf("sha256 %s, want the origin's", h.Value)
		}
	}
	if f.Name != "repomd.xml" || f.Size != int64(len(repomd)) || !slices.Equal(types, []string{"md5", "sha1", "sha256", "sha512"}) {
		t.Errorf("file: %+v", f)
	}
	// max_lag is 6h: old1 was superseded 2h ago (kept), old2 10h ago (dropped).
	if len(f.Alternates) != 1 || f.Alternates[0].Hashes[0].Value != old1 {
		t.Errorf("alternates: %+v, want only the version replaced within max_lag", f.Alternates)
	}
	if len(f.URLs) < 2 || f.URLs[0].Preference != 100 || f.URLs[1].Preference != 99 {
		t.Fatalf("urls: %+v", f.URLs)
	}
	var private int
	for _, u := range f.URLs {
		if !strings.HasSuffix(u.URL, "/1/os/x86_64/repodata/repomd.xml") || u.Location == "" {
			t.Errorf("url %+v", u)
		}
		if strings.Contains(u.URL, "corp.test") {
			private++
			if u.Private != "True" {
				t.Errorf("private mirror without mm0:private: %+v", u)
			}
		}
	}
	if private != 1 {
		t.Errorf("the ASN list should hold the private mirror once: %+v", f.URLs)
	}
	if _, err := os.Stat(filepath.Join(out, "metalink/os/1/x86_64/v6/NZ.xml")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "metalink/deb")); err == nil {
		t.Error("metalinks written for a deb repository")
	}
}

type meta4 struct {
	Published string `xml:"published"`
	File      struct {
		Name   string `xml:"name,attr"`
		Size   int64  `xml:"size"`
		Hashes []struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"hash"`
		Pieces struct {
			Length int64    `xml:"length,attr"`
			Hashes []string `xml:"hash"`
		} `xml:"pieces"`
		Signature string `xml:"signature"`
		URLs      []struct {
			Location string `xml:"location,attr"`
			Priority int    `xml:"priority,attr"`
			URL      string `xml:",chardata"`
		} `xml:"url"`
	} `xml:"file"`
}

func TestMeta4(t *testing.T) {
	origin := t.TempDir()
	big := []byte(strings.Repeat("example image ", 150000)) // 2.1 MB
	sig := "-----BEGIN PGP SIGNATURE-----\n\niQEz<test>\n-----END PGP SIGNATURE-----\n"
	writeFile(t, origin, "iso/example.iso", big)
	writeFile(t, origin, "iso/example.iso.asc", []byte(sig))
	writeFile(t, origin, "iso/small.txt", []byte("small"))
	writeFile(t, origin, "iso/SHA256SUMS", big)
	inv := load(t, header+mirrors)
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) { e.Healthy = m != "us1" })
	out := filepath.Join(t.TempDir(), "out")
	cache := filepath.Join(t.TempDir(), "hashes")
	st := run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out, OriginDir: origin, HashCache: cache})
	if st.Meta4 != 2 || st.Hashed != 2 {
		t.Errorf("meta4 %d hashed %d, want 2 and 2 (the image and the large checksum file)", st.Meta4, st.Hashed)
	}
	var m meta4
	if err := xml.Unmarshal([]byte(read(t, out, "meta4/iso/example.iso.meta4")), &m); err != nil {
		t.Fatal(err)
	}
	f := m.File
	if f.Name != "example.iso" || f.Size != int64(len(big)) || f.Hashes[0].Type != "sha-256" || f.Hashes[0].Value != hexSHA256(big) {
		t.Errorf("file: name %q size %d hashes %+v", f.Name, f.Size, f.Hashes)
	}
	if n := (int64(len(big)) + f.Pieces.Length - 1) / f.Pieces.Length; int64(len(f.Pieces.Hashes)) != n || f.Pieces.Hashes[0] != hexSHA256(big[:f.Pieces.Length]) {
		t.Errorf("pieces: %d of %d bytes", len(f.Pieces.Hashes), f.Pieces.Length)
	}
	if f.Signature != sig {
		t.Errorf("signature %q, want the .asc beside the file", f.Signature)
	}
	var got []string
	for i, u := range f.URLs {
		got = append(got, u.URL)
		if u.Priority != i+1 || u.Location != strings.ToLower(u.Location) || u.Location == "" {
			t.Errorf("url %d: %+v", i, u)
		}
	}
	slices.Sort(got)
	want := []string{"http://au1.test/pub/iso/example.iso", "https://de1.test/pub/iso/example.iso", "https://de2.test/pub/iso/example.iso"}
	if !slices.Equal(got, want) {
		t.Errorf("urls %v, want the healthy mirrors %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(out, "meta4/iso/small.txt.meta4")); err == nil {
		t.Error("a small file got a metalink")
	}
	var sums meta4
	xml.Unmarshal([]byte(read(t, out, "meta4/iso/SHA256SUMS.meta4")), &sums)
	if len(sums.File.URLs) != 1 || sums.File.URLs[0].URL != "https://origin.test/pub/iso/SHA256SUMS" {
		t.Errorf("a checksum file must point at the origin only: %+v", sums.File.URLs)
	}

	again := run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out, OriginDir: origin, HashCache: cache})
	if again.Hashed != 0 || again.Reused != 2 || again.Written != 0 {
		t.Errorf("second run: hashed %d reused %d written %d, want 0, 2, 0", again.Hashed, again.Reused, again.Written)
	}
}

func TestEdgeSnippets(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	inv := load(t, header+mirrors)
	run(t, gen.Options{Inventory: inv, Out: out, Edge: gen.Edge{City: "/srv/geo/City.mmdb", Source: "$http_x_client_ip"}})
	httpConf := read(t, out, "edge/nginx-http.conf")
	for _, want := range []string{"geoip2 /srv/geo/City.mmdb {", "geoip2 " + gen.DefaultEdgeASN + " {",
		"$mirrorsteer_country source=$http_x_client_ip country iso_code;", "map $http_x_client_ip $mirrorsteer_family {",
		"    os mirrorlist;", "    deb apt;", "    pac pacman;", "    iso urls;"} {
		if !strings.Contains(httpConf, want) {
			t.Errorf("nginx-http.conf lacks %q:\n%s", want, httpConf)
		}
	}
	server := read(t, out, "edge/nginx.conf")
	if !strings.Contains(server, "location = /mirrorlist {") || !strings.Contains(server, "AS${mirrorsteer_asn}-${mirrorsteer_country}.txt") {
		t.Errorf("nginx.conf:\n%s", server)
	}
	if _, err := gen.Run(gen.Options{Inventory: inv, Out: out, Edge: gen.Edge{Source: "$x; include /etc/passwd"}}); err == nil {
		t.Error("an edge source that breaks the configuration was accepted")
	}
}

// Issue 9, item 7: each path segment of a .meta4 URL is percent-encoded,
// so an origin file named with '#', '?', '%' or a space is one path on
// the mirror, not a path and a fragment or a query. A file whose name a
// metalink cannot carry (a control character) gets none, and a warning
// naming it; the run succeeds.
func TestMeta4URLsAreEncoded(t *testing.T) {
	tests := []struct {
		name string // under iso/ at the origin
		want string // its URL on de2, https://de2.test/pub/
	}{
		{"hash#frag.iso", "iso/hash%23frag.iso"},
		{"a b.iso", "iso/a%20b.iso"},
		{"100%.iso", "iso/100%25.iso"},
		{"?.iso", "iso/%3F.iso"},
		{"dir #1/x&y.iso", "iso/dir%20%231/x&amp;y.iso"},
		{"ünï.iso", "iso/%C3%BCn%C3%AF.iso"},
	}
	skipped := []string{"bad\x01name.iso", "tab\tname.iso", "new\nline.iso", "del\x7f.iso", "c1\u0085.iso", "back\\slash.iso"}
	origin := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, the default min_size
	for _, tc := range tests {
		writeFile(t, origin, "iso/"+tc.name, big)
	}
	for _, name := range skipped {
		writeFile(t, origin, "iso/"+name, big)
	}
	inv := load(t, header+mirrors)
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) { e.Healthy = m == "de2" })
	out := filepath.Join(t.TempDir(), "out")
	st := run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out, OriginDir: origin, HashCache: filepath.Join(t.TempDir(), "hashes")})
	if st.Meta4 != len(tests) {
		t.Errorf("%d .meta4 files, want %d", st.Meta4, len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := read(t, out, "meta4/iso/"+tc.name+".meta4")
			if !strings.Contains(text, ">https://de2.test/pub/"+tc.want+"</url>") {
				t.Errorf("the URL is not https://de2.test/pub/%s:\n%s", tc.want, text)
			}
			var m meta4
			if err := xml.Unmarshal([]byte(text), &m); err != nil {
				t.Fatal(err)
			}
			if len(m.File.URLs) != 1 {
				t.Fatalf("urls %+v, want de2's", m.File.URLs)
			}
			u, err := url.Parse(m.File.URLs[0].URL)
			if err != nil || u.Path != "/pub/iso/"+tc.name || u.Fragment != "" || u.RawQuery != "" || u.Host != "de2.test" {
				t.Errorf("%q parses as %+v, %v; want the path /pub/iso/%s and nothing else", m.File.URLs[0].URL, u, err, tc.name)
			}
			if want := path.Base(tc.name); m.File.Name != want {
				t.Errorf("file name %q, want %q", m.File.Name, want)
			}
		})
	}
	for _, name := range skipped {
		quoted := strconv.Quote("iso/" + name)
		if !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, quoted) }) {
			t.Errorf("no warning naming %s: %q", quoted, st.Warnings)
		}
	}
	if m, _ := tree.ReadManifest(out); len(m.Files) == 0 {
		t.Error("no tree")
	} else {
		for _, e := range m.Files {
			if strings.HasPrefix(e.Path, "meta4/") && strings.ContainsFunc(e.Path, unicode.IsControl) {
				t.Errorf("a .meta4 for a name with a control character: %q", e.Path)
			}
		}
	}
}

// The dnf metalink's URLs carry the repository's path, which may hold
// characters that XML or a URL gives a meaning ('&', '+', ':'): each
// segment is percent-encoded and the XML escaped, so the URL a client
// reads is the path. (The inventory refuses what would need more, such as
// a space or a '%'.)
func TestDNFMetalinkURLsAreEncoded(t *testing.T) {
	origin := t.TempDir()
	const dir = "os&c++:x"
	writeFile(t, origin, "1/"+dir+"/x86_64/repodata/repomd.xml", []byte("<repomd/>\n"))
	inv := load(t, strings.Replace(header, `path = "{release}/os/{arch}/"`, `path = "{release}/`+dir+`/{arch}/"`, 1)+mirrors)
	out := filepath.Join(t.TempDir(), "out")
	run(t, gen.Options{Inventory: inv, Snapshot: statetest.Healthy(inv, nil), Out: out, OriginDir: origin})
	var m dnfMetalink
	if err := xml.Unmarshal([]byte(read(t, out, "metalink/os/1/x86_64/DE.xml")), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.File.URLs) == 0 {
		t.Fatal("no URLs")
	}
	for _, u := range m.File.URLs {
		if p, err := url.Parse(u.URL); err != nil || !strings.HasSuffix(p.Path, "/1/"+dir+"/x86_64/repodata/repomd.xml") {
			t.Errorf("url %q parses as %+v, %v", u.URL, p, err)
		}
	}
}
