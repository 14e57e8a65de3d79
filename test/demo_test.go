package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs make demo's pipeline (cmd/demo: local mirrors, probe, gen,
// lookups) with the binary under test, and checks that the status site of
// the demo's network was rendered from a verified snapshot: one dot on the
// map and one table row per mirror, and every state the demo's mirrors
// were built to show.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cmd := exec.Command("go", "run", "../cmd/demo", "-bin", binary, "-dir", filepath.Join(dir, "local"), "-out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, b)
	}
	log := string(b)
	for _, want := range []string{"== probe", "== gen", "status site: file://" + out + "/index.html"} {
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
