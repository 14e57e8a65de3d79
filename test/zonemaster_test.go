package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestZonemaster runs zonemaster-cli's undelegated test against dnsd on
// 127.0.0.1 and 127.0.0.2, port 53 (zonemaster cannot be told another
// port), both in a network namespace of their own, where port 53 is free
// whatever the machine runs. Every module that works offline runs; none may report an ERROR
// or CRITICAL, except ADDRESS01 on the loopback addresses this test has
// to use (a real deployment uses public addresses). dnsd/README.md lists
// the modules and test cases.
func TestZonemaster(t *testing.T) {
	needTool(t, "zonemaster-cli", "zonemaster-cli")
	n := newDnsdNet(t, nil)
	// Two in-zone name servers on two loopback addresses.
	cfg := strings.Replace(readFile(t, n.config), `ns = { ns1 = ["127.0.0.1", "::1"], "ns2.example.net." = [] }`, `ns = { ns1 = ["127.0.0.1"], ns2 = ["127.0.0.2"] }`, 1)
	if !strings.Contains(cfg, `ns2 = ["127.0.0.2"]`) {
		t.Fatal("the test network's ns line changed; update this test")
	}
	n.config = filepath.Join(n.dir, "zonemaster.toml")
	os.WriteFile(n.config, []byte(cfg), 0o644)
	// Port 53 of this machine is someone else's: the test holds it.
	holdPort(t, "udp", "127.0.0.1:53")
	holdPort(t, "tcp", "127.0.0.1:53")
	p := startDnsdNetns(t, n, "-l", "127.0.0.1:53", "-l", "127.0.0.2:53")
	out, err := p.inNetns("zonemaster-cli", "--no-ipv6", "--no-progress", "--raw", "--show-module", "--show-testcase",
		"--level", "INFO", "--ns", "ns1.example.org/127.0.0.1", "--ns", "ns2.example.org/127.0.0.2", "example.org").CombinedOutput()
	if err != nil {
		t.Fatalf("zonemaster-cli: %v\n%s", err, out)
	}
	t.Logf("zonemaster-cli:\n%s", out)
	ran := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !regexp.MustCompile(`^[0-9.]+$`).MatchString(f[0]) {
			continue
		}
		level, module, tc, tag := f[1], f[2], f[3], f[4]
		ran[module] = true
		if level != "ERROR" && level != "CRITICAL" {
			continue
		}
		if tc == "ADDRESS01" && tag == "NAMESERVER_IP_PRIVATE_NETWORK" && strings.Contains(line, "127.0.0.") {
			continue // the loopback addresses the test runs on
		}
		t.Errorf("zonemaster %s: %s", level, line)
	}
	for _, m := range []string{"BASIC", "ADDRESS", "CONSISTENCY", "DELEGATION", "DNSSEC", "NAMESERVER", "SYNTAX", "ZONE"} {
		if !ran[m] {
			t.Errorf("module %s did not run:\n%s", m, out)
		}
	}
}
