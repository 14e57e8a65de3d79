package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDnsviz probes the signed zone with dnsviz as its authoritative
// servers (ns1 and ns2 on 127.0.0.1 and 127.0.0.2, port 53, in a network
// namespace of the test's own, nothing queried above the zone) and
// assesses it with the KSK as trust anchor: no error and no warning, and
// every answer, NODATA and compact denial secure. With another key as
// trust anchor it must report an error, so that the test can fail.
func TestDnsviz(t *testing.T) {
	needTool(t, "dnsviz", "dnsviz")
	n := newSignedNet(t)
	n.base = withInZoneNS(t, n.base)
	ksk, zsk := n.keygen(t, "ECDSAP256SHA256", true), n.keygen(t, "ECDSAP256SHA256", false)
	n.setKeys(t, []string{ksk, zsk}, nil)
	holdPort(t, "udp", "127.0.0.1:53")
	holdPort(t, "tcp", "127.0.0.1:53")
	p := startDnsdNetns(t, n.dnsdNet, "-l", "127.0.0.1:53", "-l", "127.0.0.2:53")
	probe := filepath.Join(n.dir, "probe.json")
	names := []string{"example.org", "download.example.org", "de2-fr.download.example.org", "pub.example.org",
		"mail.example.org", "www.example.org", "nope.example.org", "deep.example.org", "a.b.deep.example.org"}
	args := append([]string{"probe", "-A", "-4", "-x", "example.org+:ns1.example.org=127.0.0.1,ns2.example.org=127.0.0.2", "-o", probe}, names...)
	if out, err := p.inNetns("dnsviz", args...).CombinedOutput(); err != nil {
		t.Fatalf("dnsviz %v: %v\n%s", args, err, out)
	}

	grok := func(anchorKey, level string) (map[string]any, string) {
		t.Helper()
		anchors := filepath.Join(n.dir, "trusted-keys-"+filepath.Base(anchorKey))
		write(t, anchors, dnskeyOf(t, filepath.Join(n.dir, anchorKey+".key")))
		cmd := exec.Command("dnsviz", "grok", "-t", anchors, "-l", level, "-r", probe)
		cmd.Env = append(os.Environ(), dnsvizPythonPath(t)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dnsviz grok: %v\n%s", err, out)
		}
		var doc map[string]any
		if strings.TrimSpace(string(out)) != "" {
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("dnsviz grok: %v\n%s", err, out)
			}
		}
		return doc, string(out)
	}
	if _, out := grok(ksk, "warning"); strings.Contains(out, `"errors"`) || strings.Contains(out, `"warnings"`) {
		t.Errorf("dnsviz reports errors or warnings:\n%s", out)
	}
	// What it assessed, and found secure.
	doc, out := grok(ksk, "info")
	statuses := map[string]int{}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["status"].(string); ok && (key == "answer" || key == "nodata" || key == "nxdomain") {
				statuses[key+" "+s]++
			}
			for k, c := range v {
				walk(c, k)
			}
		case []any:
			for _, c := range v {
				walk(c, key)
			}
		}
	}
	walk(doc, "")
	t.Logf("dnsviz statuses: %v", statuses)
	for k := range statuses {
		if !strings.HasSuffix(k, " SECURE") {
			t.Errorf("dnsviz: %d %s", statuses[k], k)
		}
	}
	if statuses["answer SECURE"] < 10 || statuses["nodata SECURE"] < 5 {
		t.Errorf("dnsviz assessed too little: %v\n%.3000s", statuses, out)
	}
	for _, name := range names {
		if _, ok := doc[name+"."]; !ok {
			t.Errorf("dnsviz did not assess %s", name)
		}
	}
	if _, out := grok(zsk, "warning"); !strings.Contains(out, "NO_TRUST_ANCHOR_SIGNING") {
		t.Errorf("with the ZSK as trust anchor, dnsviz reports no error:\n%s", out)
	}
}

// dnskeyOf returns the DNSKEY record of a .key file dnssec-keygen wrote,
// without its comments: the trusted keys file dnsviz reads.
func dnskeyOf(t *testing.T, name string) string {
	t.Helper()
	var out strings.Builder
	for _, line := range strings.Split(readFile(t, name), "\n") {
		if line != "" && !strings.HasPrefix(line, ";") {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// dnsvizPythonPath works around Debian 12's dnsviz 0.9.4, which checks
// for pygraphviz with "from pygraphviz import release", a module that
// pygraphviz 1.7 (the one Debian 12 has) no longer has: grok -t then
// says "pygraphviz is required, but not installed" and stops. It puts
// a pygraphviz package in front that is the installed one plus that
// module. Where the import works it adds nothing.
func dnsvizPythonPath(t *testing.T) []string {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "from pygraphviz import release").Run() == nil {
		return nil
	}
	out, err := exec.Command("/usr/bin/python3", "-c", "import pygraphviz; print(pygraphviz.__file__)").Output()
	if err != nil {
		t.Fatalf("pygraphviz is not installed: apt-get install python3-pygraphviz (dnsviz depends on it): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "pygraphviz")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "__init__.py"), `__path__ = __import__("pkgutil").extend_path(__path__, __name__)
exec(open(`+"\""+strings.TrimSpace(string(out))+"\""+`).read())
`)
	write(t, filepath.Join(dir, "release.py"), "version = \"1.7\"\n")
	return []string{"PYTHONPATH=" + filepath.Dir(dir)}
}
