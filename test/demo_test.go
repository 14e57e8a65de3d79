package test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// TestDemo runs make demo's pipeline (cmd/demo: local mirrors, probe, gen,
// lookups, dnsd) with the binary under test, and checks that the status
// site of the demo's network was rendered from a verified snapshot: one
// dot on the map and one table row per mirror, and every state the
// demo's mirrors were built to show.
//
// It holds the ports a demo or a dnsd once took by default (dnsd on
// 127.0.0.1:5353, its metrics on 127.0.0.1:9153) while the demo runs
// with its defaults, as a dnsd that make demo left running does: the
// demo must take no fixed port, or make demo then make test fails.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if _, _, err := geotest.Write(dir, geotest.Demo()); err != nil {
		t.Fatal(err)
	}
	holdPort(t, "tcp", "127.0.0.1:9153")
	holdPort(t, "tcp", "127.0.0.1:5353")
	holdPort(t, "udp", "127.0.0.1:5353")
	cmd := exec.Command("go", "run", "../cmd/demo", "-bin", binary, "-dir", filepath.Join(dir, "local"), "-out", out,
		"-geoip", dir, "-dnsd-config", example)
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
	// The dnsd it left running answers where it said, metrics too.
	m := regexp.MustCompile(`dig @(127\.0\.0\.1) -p (\d+) \+short \+subnet=81\.1\.2\.0/24 download\.example\.org`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("demo output lacks the dig command for 81.1.2.0/24:\n%s", log)
	}
	if got := short(t, net.JoinHostPort(m[1], m[2]), "+subnet=81.1.2.0/24", "download.example.org"); got != "mirror.telekom.example.de." {
		t.Errorf("the demo's dnsd answered %q for 81.1.2.0/24", got)
	}
	mu := regexp.MustCompile(`curl -s (http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(log)
	if mu == nil {
		t.Fatalf("demo output lacks the metrics URL:\n%s", log)
	}
	resp, err := http.Get(mu[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `dnsd_queries_total{name="download"`) {
		t.Errorf("%s lacks dnsd_queries_total:\n%.500s", mu[1], body)
	}
}

// holdPort binds addr for the rest of the test, unless something else
// holds it already, which serves as well, or the test may not bind it
// (port 53 without root): then no other unprivileged program holds it
// either, and the test's own servers use other ports.
func holdPort(t *testing.T, network, addr string) {
	t.Helper()
	var c io.Closer
	var err error
	if network == "udp" {
		c, err = net.ListenPacket(network, addr)
	} else {
		c, err = net.Listen(network, addr)
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		t.Logf("%s %s is in use already", network, addr)
	case errors.Is(err, syscall.EACCES):
		t.Logf("%s %s may not be bound here: %v", network, addr, err)
	case err != nil:
		t.Fatal(err)
	default:
		t.Cleanup(func() { c.Close() })
	}
}
