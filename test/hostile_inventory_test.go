package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// longZone is the zone of testdata/hostile.toml: 248 octets in DNS wire
// form, so download.<zone> is 257 (issue 9, item 4).
var longZone = strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 63) + "." + strings.Repeat("y", 50) + ".org."

// TestCheckRefusesHostileInventory runs mirrorsteer check on
// testdata/hostile.toml, which holds the attacks of issue 9 items 2, 4
// and 6 at once, and checks that it exits 1 with one line per attack,
// each naming its place, and nothing on standard output.
func TestCheckRefusesHostileInventory(t *testing.T) {
	const file = "testdata/hostile.toml"
	if len(longZone)+1 != 248 {
		t.Fatalf("the zone is %d octets, want 248", len(longZone)+1)
	}
	r := mirrorsteer(t, "check", "-c", file)
	want := []string{
		file + `:5:1: [network] name "Example Linux\nhttps://evil.example/pub/\nServer = https://evil.example/$repo/os/$arch" has a line feed (U+000A): control characters break the line-based lists, configuration snippets and pages the value is written into; remove it`,
		file + `:12:1: [dns] zone: dnsd answers _whoami.<zone>, and _whoami.` + longZone + ` is 256 octets in DNS wire form, 1 more than a name may have (255, RFC 1035 2.3.4); shorten the zone`,
		file + `:14:11: [dns] names: the steered name download.` + longZone + ` is 257 octets in DNS wire form, 2 more than a name may have (255, RFC 1035 2.3.4); shorten the zone or the label`,
		file + `:26:1: [[repo]] "baseos" differs only in case from "BaseOS" (` + file + `:19:1); repository names are nginx map keys in edge/nginx-http.conf, which ignore case (nginx -t fails), and directories under out/, which case-insensitive file systems and CDNs take for one, so they would be one name: make them differ in more than case`,
		file + `:36:1: [[mirror]] "a.example.net": https "https://a.example.net/my pub/" has a space, which a URL cannot hold as it is (lists carry URLs raw, and clients split lines at spaces); write "https://a.example.net/my%20pub/"`,
		file + `:37:1: [[mirror]] "a.example.net": http "http://a.example.net:99999/pub/": port 99999 does not exist; ports are 1 to 65535`,
		file + `:39:1: [[mirror]] "a.example.net": sponsor_url "https://admin:hunter2@sponsor.example/" carries credentials; list only public URLs (everything in mirrors.toml is published)`,
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if r.stdout != "" {
		t.Errorf("a refused inventory printed a summary:\n%s", r.stdout)
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

// TestDnsdSurvivesReloadOfLongZone starts dnsd on its test network, then
// replaces mirrors.toml with one whose zone is 248 octets (issue 9, item
// 4): dnsd used to panic on the reload and exit. Now the file is refused
// at load, the reason is logged, and the old zone keeps answering.
func TestDnsdSurvivesReloadOfLongZone(t *testing.T) {
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n)
	ask := func() string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("download.example.org.", dns.TypeA)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, p.addr)
		if err != nil {
			t.Fatalf("dnsd does not answer: %v", err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("answer %v", r)
		}
		return r.Answer[0].String()
	}
	before := ask()
	doc := readFile(t, n.config)
	// The zone file's records are relative to the old zone; this is about
	// the names dnsd makes itself.
	doc = strings.Replace(doc, `zone_file = "example.org.zone"`+"\n", "", 1)
	doc = strings.Replace(doc, `zone = "example.org."`, `zone = "`+longZone+`"`, 1)
	if !strings.Contains(doc, longZone) {
		t.Fatal("the test network's zone is no longer example.org.")
	}
	tmp := filepath.Join(n.dir, "mirrors.toml.tmp")
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, n.config); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, `msg="reload failed; still serving the previous data".*is 257 octets in DNS wire form`)
	if after := ask(); after != before {
		t.Errorf("after the refused reload: %s, want %s", after, before)
	}
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("dnsd is gone: %v", err)
	}
}
