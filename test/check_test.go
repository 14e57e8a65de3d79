package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badSections is an inventory with mistakes in the loader's tables, in
// [probe] (probe's) and in its zone file (dnsd's), interleaved by line.
const badSections = `[network]
name = "Test Linux"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "soon"

[probe]
timeout = "0s"
concurrency = 0

[dns]
zone = "example.org."
ns = { ns1 = ["192.0.2.53"] }
names = { download = "https" }
zone_file = "example.org.zone"
ttl = 0

[[repo]]
name = "baseos"
path = "os/"
format = "rpm"

[[mirror]]
name = "a.example.net"
country = "DE"
https = "https://a.example.net/pub/"
dns = ["download"]
wieght = 1
`

// writeBadSections writes badSections and a zone file that clashes
// with the steered name into a directory and returns mirrors.toml's
// path.
func writeBadSections(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.org.zone"), []byte("$TTL 60\nmail A 192.0.2.25\ndownload A 192.0.2.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(path, []byte(badSections), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckReportsEverySectionAtOnce: each component checks its own
// section of mirrors.toml (issue 10, item 3), and check still reports
// every error of the file at once, sorted, with file:line:column.
func TestCheckReportsEverySectionAtOnce(t *testing.T) {
	path := writeBadSections(t)
	r := mirrorsteer(t, "check", "-c", path)
	want := []string{
		path + `:5:1: [network] max_lag "soon" is not a positive duration; write e.g. "12h", "90m" or "1h30m"`,
		path + `:8:1: [probe] timeout "0s" is not a positive duration; write e.g. "12h", "90m" or "1h30m"`,
		path + `:9:1: [probe] concurrency = 0 is out of range; use 1 to 100000`,
		path + `:15:1: [dns] zone_file ` + filepath.Join(filepath.Dir(path), "example.org.zone") + `: download.example.org. A clashes with the steered name "download" of [dns] names, which dnsd answers (with the names below it); remove the record or the name`,
		path + `:16:1: [dns] ttl = 0 is out of range; use 1 to 86400 seconds`,
		path + `:28:1: [[mirror]] "a.example.net": unknown key "wieght" (did you mean "weight"?)`,
	}
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines on stderr, want %d:\n%s", len(got), len(want), r.stderr)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// TestCommandsCheckWhatTheyUse: probe refuses a bad [probe] table, dnsd
// a bad zone file, and gen and lookup, which use neither, read no zone
// file (issue 10, item 3).
func TestCommandsCheckWhatTheyUse(t *testing.T) {
	path := writeBadSections(t)
	doc := strings.Replace(badSections, `max_lag = "soon"`, `max_lag = "12h"`, 1)
	doc = strings.Replace(doc, "ttl = 0\n", "", 1)
	doc = strings.Replace(doc, "wieght = 1\n", "", 1)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	zone := filepath.Join(filepath.Dir(path), "example.org.zone")

	r := mirrorsteer(t, "probe", "-c", path, "-o", filepath.Join(t.TempDir(), "state.json"), "--quiet")
	if want := path + `:8:1: [probe] timeout "0s" is not a positive duration` + "; write e.g. \"12h\", \"90m\" or \"1h30m\"\n" + path + ":9:1: [probe] concurrency = 0 is out of range; use 1 to 100000\n"; r.code != 1 || r.stderr != want {
		t.Errorf("probe: exit %d\n%s\nwant exit 1 and\n%s", r.code, r.stderr, want)
	}
	r = mirrorsteer(t, "dnsd", "-c", path, "-l", "127.0.0.1:0", "--watch", "0")
	if want := path + `:15:1: [dns] zone_file ` + zone + `: download.example.org. A clashes with the steered name "download"`; r.code != 1 || !strings.HasPrefix(r.stderr[strings.Index(r.stderr, "\n")+1:], want) {
		t.Errorf("dnsd: exit %d\n%s\nwant exit 1 and %s", r.code, r.stderr, want)
	}

	// Without the zone file: gen and lookup do not miss it.
	if err := os.Remove(zone); err != nil {
		t.Fatal(err)
	}
	if r := mirrorsteer(t, "gen", "-c", path, "-o", filepath.Join(t.TempDir(), "out")); r.code != 0 {
		t.Errorf("gen: exit %d\n%s", r.code, r.stderr)
	}
	if r := mirrorsteer(t, "lookup", "-c", path, "--country", "DE", "--name", "download"); r.code != 0 || !strings.Contains(r.stdout, "a.example.net") {
		t.Errorf("lookup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestImportHeadIsCheckedLikeCheck: mirrorsteer import writes only a
// file check accepts, so a head whose [probe] table probe refuses is an
// error, as it was when the loader checked [probe] itself.
func TestImportHeadIsCheckedLikeCheck(t *testing.T) {
	dir := t.TempDir()
	head := filepath.Join(dir, "head.toml")
	doc := readFile(t, importData+"/mirrorz-head.toml") + "\n[probe]\nretries = 99\n"
	if err := os.WriteFile(head, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mirrorsteer(t, "import", "--from", "mirrorz", "--cname", "almalinux", "--head", head, "-o", filepath.Join(dir, "mirrors.toml"), importData+"/mirrorz")
	if r.code != 1 || !strings.Contains(r.stderr, "[probe] retries = 99 is out of range; use 0 to 10") {
		t.Errorf("exit %d, want 1 and the [probe] error:\n%s", r.code, r.stderr)
	}
}
