package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const importData = "../internal/importer/testdata"

// TestImportAlmaLinuxThenCheck imports a mirrors.d with every quirk of
// AlmaLinux's real one, as an operator would, and checks the result with
// the real check: accepted, the report names each file and repair, and a
// second import writes the same bytes.
func TestImportAlmaLinuxThenCheck(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mirrors.toml")
	r := mirrorsteer(t, "import", "--from", "almalinux", "-o", out, importData+"/almalinux/mirrors.d")
	if r.code != 0 {
		t.Fatalf("import exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"/mirrors.d/https-under-http.example.com.yml: https URL under http moved to https\n",
		"/mirrors.d/https-under-ftp.example.it.yml: https URL under ftp moved to https\n",
		`/mirrors.d/rsync-module.example.nl.yml: rsync URL "rsync://rsync-module.example.nl::almalinux/" in rsync's host::module syntax written as rsync://rsync-module.example.nl/almalinux/`,
		`/mirrors.d/rsync-user.example.ch.yml: rsync URL "rsync://rsync@rsync-user.example.ch:/almalinux/": user "rsync" removed`,
		`/mirrors.d/syncs-from-upstream.example.pl.yml: rsync URL rsync://upstream.example.cz/almalinux/ is "upstream.example.cz"'s`,
		`/mirrors.d/uk-1.example.co.uk.yml: country "UK" is not an ISO 3166-1 code; wrote GB`,
		`/mirrors.d/germany.example.de.yml: country "Germany" is a country name, not a code; wrote DE`,
		`/mirrors.d/private-nothing.example.net.yml: left out: private with no asn or subnets`,
		"mirrorsteer import: wrote " + out + ": 23 mirrors from 31 files",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(r.stderr, "/mirrors.d/no-country.example.com.yml: left out: no country") == strings.Contains(r.stderr, "no-country.example.com.yml: no country; kept") {
		t.Errorf("the mirror without a country is neither left out nor kept with a warning:\n%s", r.stderr)
	}
	first := readFile(t, out)
	c := mirrorsteer(t, "check", "-c", out)
	if c.code != 0 || !strings.Contains(c.stdout, "23 mirrors (22 public, 1 private)") {
		t.Fatalf("check of the imported file: exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	if r := mirrorsteer(t, "import", "--from", "almalinux", "-o", out, importData+"/almalinux/mirrors.d"); r.code != 0 || readFile(t, out) != first {
		t.Errorf("a second import (exit %d) wrote other bytes", r.code)
	}
}

func TestImportMirrorZThenCheck(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mirrors.toml")
	r := mirrorsteer(t, "import", importData+"/mirrorz", "--from", "mirrorz", "--cname", "almalinux", "--country", "CN",
		"--head", importData+"/mirrorz-head.toml", "-o", out)
	if r.code != 0 {
		t.Fatalf("import exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`/mirrorz/example-a.d.json: endpoint "exa-cmcc": range "REGION:BJ" not imported`,
		`/mirrorz/example-c.d.json: skipped: the site "EXC" does not list "almalinux" in its mirrors`,
		`/mirrorz/broken.d.json: skipped: line 4, column 34:`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stderr)
		}
	}
	c := mirrorsteer(t, "check", "-c", out)
	if c.code != 0 || !strings.Contains(c.stdout, "6 mirrors (5 public, 1 private)") {
		t.Fatalf("check: exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	if !strings.Contains(readFile(t, out), `http        = "http://192.0.2.10:8080/proxy/almalinux/"`) {
		t.Errorf("the campus endpoint's URL is not host:port/path + the cname's url:\n%s", readFile(t, out))
	}
}

func TestImportExitCodes(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "mirrors.d")
	os.Mkdir(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "a.yml"), []byte("name: [x\n"), 0o644)
	os.WriteFile(filepath.Join(broken, "b.yml"), []byte("name: b.example.org\n"), 0o644)
	handWritten := filepath.Join(dir, "hand.toml")
	os.WriteFile(handWritten, []byte(readFile(t, example)), 0o644)
	out := filepath.Join(dir, "out.toml")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no format", []string{"import", broken}, 2, "--from almalinux or --from mirrorz"},
		{"unknown format", []string{"import", "--from", "mirrorbrain", broken}, 2, `--from "mirrorbrain"`},
		{"no source", []string{"import", "--from", "almalinux"}, 2, "name the source"},
		{"mirrorz needs a cname", []string{"import", "--from", "mirrorz", "--head", example, broken}, 2, "needs --cname"},
		{"mirrorz needs a head", []string{"import", "--from", "mirrorz", "--cname", "x", broken}, 2, "needs --head"},
		{"bad country code", []string{"import", "--from", "mirrorz", "--cname", "x", "--head", example, "--country", "Chinaland", broken}, 2, "--country"},
		{"nothing usable", []string{"import", "--from", "almalinux", "-o", out, broken}, 1, "no mirror could be imported from 2 files"},
		{"a hand-written file is not replaced", []string{"import", "--from", "almalinux", "-o", handWritten, importData + "/almalinux/mirrors.d"}, 1, "was not written by mirrorsteer import"},
		{"missing source", []string{"import", "--from", "almalinux", filepath.Join(dir, "nope")}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mirrorsteer(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, tt.code, tt.msg, r.stderr)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an import with nothing usable wrote a file")
	}
	if readFile(t, handWritten) != readFile(t, example) {
		t.Error("a hand-written mirrors.toml was changed")
	}
}
