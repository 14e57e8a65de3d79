package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inZoneNS is the [dns] ns line of the zonemaster and dnsviz tests: two
// in-zone name servers on two loopback addresses, port 53, in a network
// namespace of the test's own.
const inZoneNS = `ns = { ns1 = ["127.0.0.1"], ns2 = ["127.0.0.2"] }`

// withInZoneNS returns cfg, dnsd's test network's mirrors.toml, with the
// name servers of inZoneNS.
func withInZoneNS(t *testing.T, cfg string) string {
	t.Helper()
	out := strings.Replace(cfg, `ns = { ns1 = ["127.0.0.1", "::1"], "ns2.example.net." = [] }`, inZoneNS, 1)
	if !strings.Contains(out, inZoneNS) {
		t.Fatal("the test network's ns line changed; update this test")
	}
	return out
}

// TestZonemaster runs zonemaster-cli's undelegated test against dnsd on
// 127.0.0.1 and 127.0.0.2, port 53 (zonemaster cannot be told another
// port), both in a network namespace of their own, where port 53 is free
// whatever the machine runs, for the zone unsigned and signed (with the
// DS --print-ds prints given as the parent's). Every module that works
// offline runs; none may report an ERROR or CRITICAL, except ADDRESS01
// on the loopback addresses this test has to use (a real deployment uses
// public addresses), and the DNSSEC module nothing above INFO once the
// zone is signed. dnsd/README.md lists the modules and test cases.
func TestZonemaster(t *testing.T) {
	needTool(t, "zonemaster-cli", "zonemaster-cli")
	t.Run("unsigned", func(t *testing.T) {
		n := newDnsdNet(t, nil)
		cfg := withInZoneNS(t, readFile(t, n.config))
		n.config = filepath.Join(n.dir, "zonemaster.toml")
		os.WriteFile(n.config, []byte(cfg), 0o644)
		if dnssec := zonemaster(t, n); !regexp.MustCompile(`NOTICE\s+DNSSEC\s+\S+\s+NOT_SIGNED`).MatchString(dnssec) {
			t.Errorf("the DNSSEC module did not find the zone unsigned:\n%s", dnssec)
		}
	})
	t.Run("signed", func(t *testing.T) {
		needTool(t, "dnssec-keygen", "bind9-utils")
		n := newSignedNet(t)
		n.base = withInZoneNS(t, n.base)
		keys := []string{n.keygen(t, "ECDSAP256SHA256", true), n.keygen(t, "ECDSAP256SHA256", false)}
		n.setKeys(t, keys, nil)
		var ds []string
		for _, d := range n.dsFor(t, keys, nil) {
			f := strings.Fields(d) // example.org. DS tag alg type digest
			ds = append(ds, "--ds", strings.Join(f[2:], ","))
		}
		dnssec := zonemaster(t, n.dnsdNet, ds...)
		for _, line := range strings.Split(dnssec, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1] != "INFO" && f[1] != "DEBUG" {
				t.Errorf("zonemaster DNSSEC %s on the signed zone: %s", f[1], line)
			}
		}
		for _, want := range []string{"DNSSEC05 ALGORITHM_OK", "DNSSEC10 DS10_HAS_NSEC", "DNSSEC04 RRSIG_EXPIRATION"} {
			if !regexp.MustCompile(strings.ReplaceAll(want, " ", `\s+`)).MatchString(dnssec) {
				t.Errorf("zonemaster did not report %s: did the DNSSEC module see the zone signed?\n%s", want, dnssec)
			}
		}
	})
}

// zonemaster runs zonemaster-cli on n's dnsd and fails the test on an
// ERROR or CRITICAL; it returns the DNSSEC module's lines.
func zonemaster(t *testing.T, n *dnsdNet, extra ...string) string {
	t.Helper()
	// Port 53 of this machine is someone else's: the test holds it.
	holdPort(t, "udp", "127.0.0.1:53")
	holdPort(t, "tcp", "127.0.0.1:53")
	p := startDnsdNetns(t, n, "-l", "127.0.0.1:53", "-l", "127.0.0.2:53")
	args := append([]string{"--no-ipv6", "--no-progress", "--raw", "--show-module", "--show-testcase",
		"--level", "INFO", "--ns", "ns1.example.org/127.0.0.1", "--ns", "ns2.example.org/127.0.0.2"}, extra...)
	out, err := p.inNetns("zonemaster-cli", append(args, "example.org")...).CombinedOutput()
	if err != nil {
		t.Fatalf("zonemaster-cli: %v\n%s", err, out)
	}
	t.Logf("zonemaster-cli:\n%s", out)
	ran := map[string]bool{}
	var dnssec strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !regexp.MustCompile(`^[0-9.]+$`).MatchString(f[0]) {
			continue
		}
		level, module, tc, tag := f[1], f[2], f[3], f[4]
		ran[module] = true
		if module == "DNSSEC" {
			dnssec.WriteString(line + "\n")
		}
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
	return dnssec.String()
}
