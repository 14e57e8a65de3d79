package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// TestDemo runs make demo's pipeline (cmd/demo: local mirrors, probe, gen,
// lookups) with the binary under test, and checks that the status site of
// the demo's network was rendered from a verified snapshot: one dot on the
// map and one table row per mirror, and every state the demo's mirrors
// were built to show.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if _, _, err := geotest.Write(dir, geotest.Demo()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.LocalAddr().String()
	ln.Close()
	cmd := exec.Command("go", "run", "../cmd/demo", "-bin", binary, "-dir", filepath.Join(dir, "local"), "-out", out,
		"-geoip", dir, "-dnsd-config", example, "-dnsd-listen", listen)
	b, err := cmd.CombinedOutput()
	// The demo leaves dnsd running for people to dig; a test does not.
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(dir, "dnsd.pid")); err == nil {
			exec.Command("kill", strings.TrimSpace(string(pid))).Run()
		}
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, b)
	}
	log := string(b)
	// Different client subnets, different mirrors.
	flat := strings.Join(strings.Fields(log), " ")
	for _, want := range []string{"+subnet=81.1.2.0/24 download.example.org -> mirror.telekom.example.de.",
		"+subnet=106.3.0.0/24 download.example.org -> mirror.tyo.example.jp.",
		"+subnet=125.236.0.0/24 download.example.org -> mirror.syd.example.com.au."} {
		if !strings.Contains(flat, want) {
			t.Errorf("demo output lacks %q:\n%s", want, log)
		}
	}
	for _, want := range []string{"== probe", "== gen", "status site: file://" + out + "/index.html",
		"dnf metalink for Germany:  metalink=file://" + out + "/metalink/baseos/9/x86_64/DE.xml",
		"aria2c: Example-9-x86_64-dvd.iso downloaded from the metalink's mirrors"} {
		if !strings.Contains(log, want) {
			t.Errorf("demo output lacks %q:\n%s", want, log)
		}
	}
	index := readFile(t, filepath.Join(out, "index.html"))
	mirrors := len(regexp.MustCompile(`(?m)^\[\[mirror\]\]`).FindAllString(readFile(t, filepath.Join(dir, "local", "mirrors.toml")), -1))
	dots := regexp.MustCompile(`<circle class="dot st-(\w+)"`).FindAllStringSubmatch(index, -1)
	rows := regexp.MustCompile(`<tr data-order="\d+">`).FindAllString(index, -1)
	if mirrors == 0 || len(dots) != mirrors || len(rows) != mirrors {
		t.Errorf("%d mirrors, %d dots, %d rows", mirrors, len(dots), len(rows))
	}
	states := map[string]int{}
	for _, d := range dots {
		states[d[1]]++
	}
	if states["up"] == 0 || states["down"] == 0 || len(states) < 3 {
		t.Errorf("dots by state %v: the demo has healthy, broken and partly broken mirrors", states)
	}
	if strings.Contains(index, "Nothing is verified") {
		t.Error("the demo's site says nothing is verified, but the demo probes")
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Error(err)
	}
}
