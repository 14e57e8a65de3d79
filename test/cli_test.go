// Package test holds end-to-end tests: they build the real mirrorsteer
// binary and run it as an operator would.
package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mirrorsteer-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mirrorsteer")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/mirrorsteer")
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		build = exec.Command("go", "build", "-o", binary, "../cmd/mirrorsteer")
	}
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		panic("building mirrorsteer: " + err.Error())
	}
	// A binary built with -race waits a second at exit for reports to
	// drain; the tests run it hundreds of times, and report races through
	// the exit status and stderr anyway.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func mirrorsteer(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running mirrorsteer %v: %v", args, err)
	}
	return r
}

const example = "../mirrors.toml"

func TestCheckExample(t *testing.T) {
	r := mirrorsteer(t, "check", "-c", example)
	if r.code != 0 {
		t.Fatalf("check exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"42 mirrors (41 public, 1 private)", "by protocol:", "baseos", "download.example.org.", "missing:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "warning") {
		t.Errorf("the shipped example has warnings:\n%s", r.stdout)
	}
}

func TestCheckWarnsAboutAnUnreachablePrivateMirror(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mirrors.toml")
	doc := readFile(t, example) + "\n[[mirror]]\nname = \"lost\"\ncountry = \"DE\"\nhttp = \"http://lost.example/\"\npublic = false\n"
	os.WriteFile(cfg, []byte(doc), 0o644)
	r := mirrorsteer(t, "check", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, `"lost" is private (public = false) but has no asn or subnets, so it can never be offered to anyone`) {
		t.Errorf("exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestTypoNamesFileLineAndKeyAndLeavesOutUntouched(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if r := mirrorsteer(t, "gen", "-c", example, "-o", out); r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	manifest := readFile(t, filepath.Join(out, "manifest.json"))
	before, _ := os.Stat(filepath.Join(out, "manifest.json"))

	doc := strings.Replace(readFile(t, example), "weight  = 200", "wieght  = 200", 1)
	line := 1 + strings.Count(doc[:strings.Index(doc, "wieght")], "\n")
	cfg := filepath.Join(dir, "mirrors.toml")
	os.WriteFile(cfg, []byte(doc), 0o644)
	r := mirrorsteer(t, "gen", "-c", cfg, "-o", out)
	want := cfg + ":" + strconv.Itoa(line) + ":1: [[mirror]] \"ftp.de.example.net\": unknown key \"wieght\" (did you mean \"weight\"?)"
	if r.code != 1 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", r.code, r.stderr, want)
	}
	after, _ := os.Stat(filepath.Join(out, "manifest.json"))
	if readFile(t, filepath.Join(out, "manifest.json")) != manifest || !after.ModTime().Equal(before.ModTime()) {
		t.Error("a bad inventory touched out/")
	}
}

func TestGenTwiceWritesNothingTheSecondTime(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	first := mirrorsteer(t, "gen", "-c", example, "-o", out)
	if first.code != 0 {
		t.Fatalf("gen: %s", first.stderr)
	}
	if !strings.Contains(first.stderr, "NOTHING WAS VERIFIED") {
		t.Errorf("gen without a snapshot did not say so loudly: %q", first.stderr)
	}
	second := mirrorsteer(t, "gen", "-c", example, "-o", out)
	if second.code != 0 || !strings.Contains(second.stdout, " 0 written,") || strings.Count(second.stdout, "\n") != 1 {
		t.Errorf("second gen: %q", second.stdout)
	}
	for _, f := range []string{"mirrorlist/baseos/9/x86_64/DE.txt", "mirrorlist/baseos/9/x86_64/v6/NZ.txt", "apt/debian/stable/amd64/AS3320-DE.txt",
		"pacman/arch/x86_64/global.txt", "urls/isos/10/aarch64/BR.txt", "api/mirrors.json", "api/state.json", "index.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("gen did not write %s: %v", f, err)
		}
	}
}

func TestGenWithABadStateKeepsOut(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	mirrorsteer(t, "gen", "-c", example, "-o", out)
	manifest := readFile(t, filepath.Join(out, "manifest.json"))
	bad := filepath.Join(dir, "state.json")
	os.WriteFile(bad, []byte(`{"schema": 99, "taken": "2026-11-23T08:00:00Z", "mirrors": {}}`), 0o644)
	r := mirrorsteer(t, "gen", "-c", example, "-s", bad, "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, "newer than this mirrorsteer understands") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if readFile(t, filepath.Join(out, "manifest.json")) != manifest {
		t.Error("a bad snapshot touched out/")
	}
}

func TestGenWithState(t *testing.T) {
	dir := t.TempDir()
	inv, err := inventory.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	snapPath := filepath.Join(dir, "state.json")
	if err := statetest.Healthy(inv, nil).Write(snapPath); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := mirrorsteer(t, "gen", "-c", example, "-s", snapPath, "-o", out)
	if r.code != 0 || strings.Contains(r.stderr, "NOT") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(readFile(t, filepath.Join(out, "index.json")), `"verified": true`) {
		t.Error("index.json does not say the lists were verified")
	}
}

func TestLookupNZGetsAustraliaFirst(t *testing.T) {
	r := mirrorsteer(t, "lookup", "-c", example, "--country", "NZ", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Mirrors []struct {
			Mirror, Country, Reason string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(doc.Mirrors) < 5 {
		t.Fatalf("only %d mirrors: %+v", len(doc.Mirrors), doc.Mirrors)
	}
	for i, want := range []string{"AU", "AU", "SG"} {
		if m := doc.Mirrors[i]; m.Country != want || m.Reason != "neighbour" {
			t.Errorf("entry %d: %+v, want a neighbour in %s", i+1, m, want)
		}
	}
	table := mirrorsteer(t, "lookup", "-c", example, "--country", "NZ")
	if !strings.Contains(table.stdout, "1  mirror.syd.example.com.au  AU  neighbour") && !strings.Contains(table.stdout, "1  mirror.mel.example.edu.au  AU  neighbour") {
		t.Errorf("table:\n%s", table.stdout)
	}
}

func TestLookupByAddress(t *testing.T) {
	dir := t.TempDir()
	city, asn, err := geotest.Write(dir, geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip, first, reason, client string
	}{
		{"81.1.2.3", "mirror.telekom.example.de", "asn", "81.1.2.3 (ipv4) country DE continent EU AS3320 (Deutsche Telekom AG)"},
		{"198.51.100.7", "mirror.internal.example-cloud.net", "subnet", "198.51.100.7 (ipv4) country AQ"},
		{"2001:db8:81::1", "mirror.tyo.example.jp", "asn", "2001:db8:81::1 (ipv6) country JP"},
		{"125.236.1.1", "mirror.syd.example.com.au", "neighbour", "country NZ"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			r := mirrorsteer(t, "lookup", "-c", example, "--geoip-city", city, "--geoip-asn", asn, "--ip", tt.ip, "--repo", "baseos", "--release", "9", "--arch", "x86_64")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			if !strings.Contains(lines[0], tt.client) {
				t.Errorf("client line %q, want it to contain %q", lines[0], tt.client)
			}
			var first string
			for _, l := range lines {
				if strings.HasPrefix(l, "1  ") {
					first = l
				}
			}
			if f := strings.Fields(first); len(f) < 4 || f[1] != tt.first || f[3] != tt.reason || !strings.Contains(first, "/9/BaseOS/x86_64/os/") {
				t.Errorf("first entry %q, want %s (%s)\n%s", first, tt.first, tt.reason, r.stdout)
			}
		})
	}
}

// TestLookupRefusesBadAddresses: an address lookup cannot place is a
// usage error, not a client sent to the world list.
func TestLookupRefusesBadAddresses(t *testing.T) {
	for _, ip := range []string{"2001:db8:3320::1%eth0", "fe80::1%1", "81.1.2", "81.1.2.3/24", "example.org"} {
		r := mirrorsteer(t, "lookup", "-c", example, "--ip", ip)
		if r.code != 2 || !strings.Contains(r.stderr, "--ip \""+ip+"\"") || r.stdout != "" {
			t.Errorf("--ip %s: exit %d, stdout %q, stderr %q; want exit 2 naming the address", ip, r.code, r.stdout, r.stderr)
		}
	}
}

func TestGeoIPCityPlacesMirrorsWithoutCoordinates(t *testing.T) {
	dir := t.TempDir()
	city, _, err := geotest.Write(dir, geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	// de.mirror.example.io has no lat/lon; probe saw it at an address the
	// demo database puts in Berlin, 320 km from Germany's point.
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		if m == "de.mirror.example.io" && e.Family == state.IPv4 {
			e.Addr = netip.MustParseAddr("81.1.2.3")
		}
	})
	snapPath := filepath.Join(dir, "state.json")
	if err := snap.Write(snapPath); err != nil {
		t.Fatal(err)
	}
	distance := func(args ...string) float64 {
		r := mirrorsteer(t, append([]string{"lookup", "-c", example, "-s", snapPath, "--country", "DE", "--json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("lookup: %s", r.stderr)
		}
		var doc struct {
			Mirrors []struct {
				Mirror     string
				DistanceKm float64 `json:"distance_km"`
			}
		}
		json.Unmarshal([]byte(r.stdout), &doc)
		for _, m := range doc.Mirrors {
			if m.Mirror == "de.mirror.example.io" {
				return m.DistanceKm
			}
		}
		t.Fatalf("de.mirror.example.io not listed:\n%s", r.stdout)
		return 0
	}
	if d := distance(); d != 0 {
		t.Errorf("without GeoIP the mirror sits at the country's point: %v km", d)
	}
	if d := distance("--geoip-city", city); d < 280 || d > 360 {
		t.Errorf("with GeoIP the mirror should be in Berlin, about 320 km off: %v km", d)
	}
	out := filepath.Join(dir, "out")
	if r := mirrorsteer(t, "gen", "-c", example, "-s", snapPath, "--geoip-city", city, "-o", out); r.code != 0 || !strings.Contains(r.stderr, "placed 1 mirror(s)") {
		t.Errorf("gen --geoip-city: exit %d: %s", r.code, r.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage: mirrorsteer <command>"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"gen", "--frob"}, "flag provided but not defined: -frob"},
		{"lookup without a client", []string{"lookup", "-c", example}, "say who the client is"},
		{"lookup --ip with --country", []string{"lookup", "-c", example, "--ip", "192.0.2.1", "--country", "DE"}, "leave out --country"},
		{"lookup bad country", []string{"lookup", "-c", example, "--country", "UK"}, `did you mean "GB"?`},
		{"lookup unknown repo", []string{"lookup", "-c", example, "--country", "DE", "--repo", "nope"}, `--repo "nope" is not in`},
		{"lookup ambiguous release", []string{"lookup", "-c", example, "--country", "DE", "--repo", "baseos"}, "pick one with --release"},
		{"stray argument", []string{"check", "-c", example, "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mirrorsteer(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestBadInputExits1(t *testing.T) {
	r := mirrorsteer(t, "check", "-c", filepath.Join(t.TempDir(), "absent.toml"))
	if r.code != 1 || !strings.Contains(r.stderr, "absent.toml: cannot read the inventory") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	r := mirrorsteer(t, "help")
	for _, c := range []string{"check", "gen", "probe", "merge", "import", "lookup", "dnsd", "keygen", "sign", "help"} {
		if !strings.Contains(r.stdout, "  "+c+" ") {
			t.Errorf("help does not list %s:\n%s", c, r.stdout)
		}
	}
	for cmd, flags := range map[string][]string{
		"gen":    {"-c", "-s", "-o", "-geoip-city", "-sign-key", "-stats", "-edge-trust"},
		"lookup": {"-c", "-s", "-geoip-city", "-geoip-asn", "-ip", "-list", "-country", "-subdivision", "-asn", "-v6", "-repo", "-release", "-arch", "-json"},
		"check":  {"-c"},
		"probe":  {"-c", "-o", "-vantage"},
		"merge":  {"-o", "-max-age"},
		"dnsd":   {"-c", "-s", "-l", "-verify-key", "-poll", "-fetch-timeout", "-stats-file", "-stats-interval", "-print-ds", "-rrl", "-cookie-secret"},
		"keygen": {"-o"},
		"sign":   {"-key"},
	} {
		r := mirrorsteer(t, cmd, "-h")
		if r.code != 0 {
			t.Errorf("%s -h: exit %d", cmd, r.code)
		}
		for _, f := range flags {
			if !strings.Contains(r.stderr+r.stdout, "  "+f+" ") && !strings.Contains(r.stderr+r.stdout, "  "+f+"\n") {
				t.Errorf("%s -h does not document %s:\n%s", cmd, f, r.stderr)
			}
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEndlessInputsAreRefused: a device or a huge file given as an input
// fails at once with the file's name, instead of reading without end.
func TestEndlessInputsAreRefused(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"check of /dev/zero", []string{"check", "-c", "/dev/zero"}, "/dev/zero: larger than 16 MiB: is this the inventory?"},
		{"gen with -s /dev/zero", []string{"gen", "-c", example, "-s", "/dev/zero", "-o", filepath.Join(dir, "out")}, "/dev/zero: larger than 256 MiB"},
		{"lookup with -s /dev/zero", []string{"lookup", "-c", example, "-s", "/dev/zero", "--country", "DE"}, "/dev/zero: larger than 256 MiB"},
	}
	for _, tc := range tests {
		r := mirrorsteer(t, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("a refused snapshot made out/: %v", err)
	}
}
