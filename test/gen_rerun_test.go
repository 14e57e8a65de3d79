package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12, item 6: gen run again on the same inputs finds them and the
// tree unchanged and leaves the tree alone (no new generation), says
// again what the first run said about its inputs, and writes again as
// soon as any input changes, a file the inventory names and a flag
// included.
func TestGenRerunLeavesTheTreeAlone(t *testing.T) {
	dir := t.TempDir()
	config, subnets, out := filepath.Join(dir, "mirrors.toml"), filepath.Join(dir, "isp.txt"), filepath.Join(dir, "out")
	doc := strings.Replace(readFile(t, example), `subnets = ["192.0.2.0/25", "2001:db8:3320::/48"]`,
		`subnets = ["2001:db8:3320::/48"]`+"\nsubnet_files = [\"isp.txt\"]", 1)
	if doc == readFile(t, example) {
		t.Fatal("the example's ISP mirror no longer has the subnets this test moves to a file")
	}
	os.WriteFile(config, []byte(doc), 0o644)
	os.WriteFile(subnets, []byte("192.0.2.0/25\n"), 0o644)

	gen := func(extra ...string) (result, string) {
		t.Helper()
		r := mirrorsteer(t, append([]string{"gen", "-c", config, "-o", out}, extra...)...)
		if r.code != 0 {
			t.Fatalf("gen: exit %d\n%s", r.code, r.stderr)
		}
		link, err := os.Readlink(out)
		if err != nil {
			t.Fatal(err)
		}
		return r, link
	}
	first, gen1 := gen()
	if !strings.Contains(first.stderr, "NOTHING WAS VERIFIED") {
		t.Fatalf("the first run did not warn that nothing is verified:\n%s", first.stderr)
	}
	second, gen2 := gen()
	if gen2 != gen1 || !strings.Contains(second.stdout, " 0 written,") {
		t.Errorf("the same inputs again: out -> %s (was %s), %s", gen2, gen1, second.stdout)
	}
	if second.stderr != first.stderr {
		t.Errorf("the rerun said\n%s\nthe first run said\n%s", second.stderr, first.stderr)
	}

	os.WriteFile(subnets, []byte("192.0.2.0/25\n203.0.113.0/24\n"), 0o644)
	third, gen3 := gen()
	if gen3 == gen2 || strings.Contains(third.stdout, " 0 written,") {
		t.Errorf("after the inventory's subnet file changed: out -> %s (was %s), %s", gen3, gen2, third.stdout)
	}
	if !strings.Contains(readFile(t, filepath.Join(out, "api/mirrors.json")), "203.0.113.0/24") {
		t.Error("the new subnet is not in api/mirrors.json")
	}

	// A flag whose value its text does not show (flag.Func) counts too.
	fourth, gen4 := gen("--edge-trust", "192.0.2.0/24")
	if gen4 == gen3 || strings.Contains(fourth.stdout, " 0 written,") {
		t.Errorf("with --edge-trust: out -> %s (was %s), %s", gen4, gen3, fourth.stdout)
	}
}
