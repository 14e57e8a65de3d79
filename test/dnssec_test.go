package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// signedNet is dnsd's test network (newDnsdNet) made into a signed zone
// a resolver can follow to the end: every mirror's host moved into the
// zone (de1.example.net serves https://de1.mirrors.example.org/), with
// its addresses in the zone file, so that a steered name's CNAME leads
// to signed addresses; keys made with dnssec-keygen, as an operator
// makes them.
type signedNet struct {
	*dnsdNet
	base string // mirrors.toml without [dns.dnssec]
}

var mirrorURL = regexp.MustCompile(`(https?|ftp|rsync)://([a-z0-9]+)\.example\.(?:net|de)/`)

func newSignedNet(t *testing.T) *signedNet {
	t.Helper()
	needTool(t, "dnssec-keygen", "bind9-utils")
	n := &signedNet{dnsdNet: newDnsdNet(t, nil)}
	cfg := strings.ReplaceAll(readFile(t, n.config), "://mirror.isp.example.de/", "://isp.example.de/")
	cfg = mirrorURL.ReplaceAllString(cfg, "$1://$2.mirrors.example.org/")
	zone := readFile(t, filepath.Join(n.dir, "example.org.zone"))
	zone = strings.Replace(zone, "alias      CNAME  www.example.net.\n", "", 1) // out of the zone
	zone += "origin A 192.0.2.8\n"
	hosts := map[string]bool{}
	for _, m := range regexp.MustCompile(`://([a-z0-9]+)\.mirrors\.example\.org/`).FindAllStringSubmatch(cfg, -1) {
		hosts[m[1]] = true
	}
	for i, h := range slices.Sorted(mapsKeys(hosts)) {
		zone += fmt.Sprintf("%s.mirrors A 192.0.2.%d\n%s.mirrors AAAA 2001:db8::%d\n", h, 100+i, h, 100+i)
	}
	n.base = cfg
	write(t, n.config, cfg)
	write(t, filepath.Join(n.dir, "example.org.zone"), zone)
	if err := os.Mkdir(filepath.Join(n.dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if n.inv, err = inventory.Load(n.config); err != nil {
		t.Fatal(err)
	}
	// pub's only mirror is down: pub answers with the fallback.
	n.writeState(t, func(m string, e *state.Endpoint) {
		if m == "fr.example.net" && e.Protocol == "ftp" {
			e.Up, e.Healthy = false, false
		}
	})
	return n
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keygen makes a key pair with dnssec-keygen (algorithm ECDSAP256SHA256
// or ED25519, a KSK or a ZSK) and returns its name relative to
// mirrors.toml, "keys/Kexample.org.+013+12345".
func (n *signedNet) keygen(t *testing.T, alg string, ksk bool) string {
	t.Helper()
	args := []string{"-q", "-K", filepath.Join(n.dir, "keys"), "-a", alg}
	if ksk {
		args = append(args, "-f", "KSK")
	}
	out, err := exec.Command("dnssec-keygen", append(args, "example.org")...).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-keygen %v: %v\n%s", args, err, out)
	}
	return "keys/" + strings.TrimSpace(string(out))
}

// setKeys writes mirrors.toml with a [dns.dnssec] table of these keys.
func (n *signedNet) setKeys(t *testing.T, sign, publish []string) {
	t.Helper()
	n.writeKeys(t, n.config, sign, publish)
}

func (n *signedNet) writeKeys(t *testing.T, cfg string, sign, publish []string) {
	t.Helper()
	q := func(ps []string) string {
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%q", p))
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	// Written beside and renamed into place, as an operator's tools
	// should: a running dnsd must not read it half written.
	tmp := cfg + ".new"
	write(t, tmp, n.base+fmt.Sprintf("\n[dns.dnssec]\nkeys = %s\npublish = %s\n", q(sign), q(publish)))
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
}

// dsFor returns the DS records mirrorsteer dnsd --print-ds prints for
// these keys, each "example.org. DS tag alg type digest". It writes
// another file than mirrors.toml, which a running dnsd would reload.
func (n *signedNet) dsFor(t *testing.T, sign, publish []string) []string {
	t.Helper()
	cfg := filepath.Join(n.dir, "ds.toml")
	n.writeKeys(t, cfg, sign, publish)
	r := mirrorsteer(t, "dnsd", "-c", cfg, "--print-ds")
	if r.code != 0 {
		t.Fatalf("--print-ds: exit %d: %s", r.code, r.stderr)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || f[0] != "example.org." || f[2] != "IN" || f[3] != "DS" || f[6] != "2" {
			t.Fatalf("--print-ds printed %q, want example.org. TTL IN DS tag alg 2 digest", line)
		}
		out = append(out, strings.Join([]string{f[0], f[3], f[4], f[5], f[6], f[7]}, " "))
	}
	return out
}

// delvAnchors writes a delv trust anchor file for ds.
func delvAnchors(t *testing.T, dir string, ds []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("trust-anchors {\n")
	for _, d := range ds {
		f := strings.Fields(d)
		fmt.Fprintf(&b, "  %s static-ds %s %s %s %q;\n", f[0], f[2], f[3], f[4], f[5])
	}
	b.WriteString("};\n")
	name := filepath.Join(dir, fmt.Sprintf("anchors-%d.conf", time.Now().UnixNano()))
	write(t, name, b.String())
	return name
}

// delv asks dnsd at addr, validating from the trust anchors in anchors,
// and returns its output.
func delv(t *testing.T, addr, anchors string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	all := append([]string{"@" + host, "-p", port, "-a", anchors, "+root=example.org", "+nortrace", "+nomtrace"}, args...)
	out, _ := exec.Command("delv", all...).CombinedOutput() // its status says nothing of validation
	return string(out)
}

// dnssecCases are the questions a validating resolver must find secure,
// with what the answer holds.
var dnssecCases = []struct {
	name string
	args []string
	want string // a regexp the validated answer matches
}{
	{"positive answer", []string{"mail.example.org", "A"}, `mail\.example\.org\.\s+\d+\s+IN\s+A\s+192\.0\.2\.25`},
	{"CNAME in the zone file", []string{"www.example.org", "A"}, `www\.example\.org\.\s+\d+\s+IN\s+CNAME\s+example\.org\.`},
	{"steered name, followed to its mirror", []string{"download.example.org", "A"}, `download\.example\.org\.\s+60\s+IN\s+CNAME\s+\w+\.mirrors\.example\.org\.`},
	{"preference name", []string{"de2-fr.download.example.org", "A"}, `de2-fr\.download\.example\.org\.\s+60\s+IN\s+CNAME\s+de2\.mirrors\.example\.org\.`},
	{"fallback", []string{"pub.example.org", "A"}, `pub\.example\.org\.\s+60\s+IN\s+CNAME\s+origin\.example\.org\.`},
	{"NODATA", []string{"mail.example.org", "TXT"}, `mail\.example\.org\.\s+(\d+\s+IN\s+)?NSEC\s+\\000\.mail\.example\.org\. A AAAA RRSIG NSEC`},
	{"no such name (compact denial)", []string{"nope.example.org", "A"}, `nope\.example\.org\.\s+(\d+\s+IN\s+)?NSEC\s+\\000\.nope\.example\.org\. RRSIG NSEC TYPE128`},
	{"empty non-terminal", []string{"deep.example.org", "AAAA"}, `deep\.example\.org\.\s+(\d+\s+IN\s+)?NSEC\s+\\000\.deep\.example\.org\. RRSIG NSEC`},
	{"DNSKEY", []string{"example.org", "DNSKEY"}, `example\.org\.\s+\d+\s+IN\s+DNSKEY\s+257 3`},
}

func TestDnssecDelv(t *testing.T) {
	needTool(t, "delv", "bind9-dnsutils")
	for _, keys := range []struct {
		name string
		algs []string // a KSK and a ZSK, or one CSK
	}{
		{"KSK and ZSK, ECDSA P-256", []string{"ECDSAP256SHA256", "ECDSAP256SHA256"}},
		{"a CSK, Ed25519", []string{"ED25519"}},
	} {
		t.Run(keys.name, func(t *testing.T) {
			n := newSignedNet(t)
			var sign []string
			for i, alg := range keys.algs {
				sign = append(sign, n.keygen(t, alg, i == 0))
			}
			n.setKeys(t, sign, nil)
			anchors := delvAnchors(t, n.dir, n.dsFor(t, sign, nil))
			p := startDnsd(t, n.dnsdNet)
			if m := scrape(t, p); !regexp.MustCompile(`(?m)^dnsd_dnssec_expiry_timestamp_seconds \d\.\d+e\+09$`).MatchString(m) {
				t.Errorf("metrics lack the signatures' expiry:\n%s", m)
			}
			for _, c := range dnssecCases {
				out := delv(t, p.addr, anchors, c.args...)
				if !regexp.MustCompile(`(?m)^; (negative response, )?fully validated$`).MatchString(out) || !regexp.MustCompile(c.want).MatchString(out) {
					t.Errorf("%s: delv %v: want fully validated and %s:\n%s", c.name, c.args, c.want, out)
				}
			}
			// The test can fail: with another key as the trust anchor
			// nothing validates.
			wrong := delvAnchors(t, n.dir, n.dsFor(t, []string{n.keygen(t, "ECDSAP256SHA256", true)}, nil))
			if out := delv(t, p.addr, wrong, "mail.example.org", "A"); strings.Contains(out, "fully validated") || !strings.Contains(out, "resolution failed") {
				t.Errorf("with a wrong trust anchor, delv says:\n%s", out)
			}
		})
	}
}

// unbound is a validating unbound running in a dnsd's network namespace,
// with example.org as a stub zone on that dnsd and its own trust anchors.
// With ecs it forwards its clients' EDNS Client Subnet, as a public
// resolver does, and keeps the answers per subnet, in a cache of its
// own that unbound-control does not flush.
type unbound struct {
	cmd        *exec.Cmd
	conf, addr string
}

func startUnbound(t *testing.T, p *dnsdProc, dir, addr string, ds []string, ecs bool) *unbound {
	t.Helper()
	needTool(t, "unbound", "unbound")
	dir = filepath.Join(dir, "unbound-"+addr)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(p.addr)
	var anchors strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&anchors, "  trust-anchor: %q\n", d)
	}
	if ecs {
		// ECS as a public resolver sends it (RFC 7871): the client's
		// subnet forwarded to dnsd, its answer cached per subnet.
		fmt.Fprintf(&anchors, "  module-config: \"subnetcache validator iterator\"\n  send-client-subnet: %s\n  client-subnet-always-forward: yes\n", host)
	}
	u := &unbound{conf: filepath.Join(dir, "unbound.conf"), addr: addr}
	write(t, u.conf, fmt.Sprintf(`server:
  username: ""
  chroot: ""
  directory: %[1]q
  pidfile: ""
  use-syslog: no
  logfile: %[6]q
  verbosity: 1
  val-log-level: 2
  do-daemonize: no
  interface: %[2]s
  port: 53
  do-ip6: no
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  qname-minimisation: no
%[5]sremote-control:
  control-enable: yes
  control-interface: %[7]q
  control-use-cert: no
stub-zone:
  name: "example.org"
  stub-addr: %[3]s@%[4]s
`, dir, addr, host, port, anchors.String(), filepath.Join(dir, "unbound.log"), filepath.Join(dir, "control")))
	u.cmd = p.inNetns("unbound", "-d", "-c", u.conf)
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	u.cmd.Stdout, u.cmd.Stderr = stderr, stderr
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.cmd.Process.Kill()
		u.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
			e, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Logf("unbound %s log:\n%s%s", addr, b, e)
		}
	})
	logf := filepath.Join(dir, "unbound.log")
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(logf); strings.Contains(string(b), "start of service") {
			break
		}
		if time.Now().After(end) {
			b, _ := os.ReadFile(logf)
			t.Fatalf("unbound did not start:\n%s", b)
		}
	}
	return u
}

// ask queries the resolver (RD, DO) from inside the namespace and
// returns dig's output.
func (u *unbound) ask(t *testing.T, p *dnsdProc, args ...string) string {
	t.Helper()
	all := append([]string{"@" + u.addr, "+dnssec", "+time=5", "+tries=1"}, args...)
	out, err := p.inNetns("dig", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", all, err, out)
	}
	return string(out)
}

// control runs unbound-control on the resolver.
func (u *unbound) control(t *testing.T, p *dnsdProc, args ...string) {
	t.Helper()
	if out, err := p.inNetns("unbound-control", append([]string{"-c", u.conf}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("unbound-control %v: %v\n%s", args, err, out)
	}
}

var (
	adFlag  = regexp.MustCompile(`flags: qr rd ra ad;`)
	rrsigRe = regexp.MustCompile(`\sRRSIG\s+(\S+) \d+ \d+ \d+ \d+ \d+ (\d+) example\.org\.`)
)

func TestDnssecUnbound(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n := newSignedNet(t)
	keys := []string{n.keygen(t, "ECDSAP256SHA256", true), n.keygen(t, "ECDSAP256SHA256", false)}
	n.setKeys(t, keys, nil)
	ds := n.dsFor(t, keys, nil)
	p := startDnsdNetns(t, n.dnsdNet)
	u := startUnbound(t, p, n.dir, "127.0.0.3", ds, true)
	// ECS first (an answer to a query without it is for every subnet, and
	// unbound would keep it for all): unbound forwards the client's
	// subnet, dnsd steers by it, and the answer validates.
	for _, c := range []struct{ subnet, mirror string }{
		{"106.3.0.0/24", "jp"}, {"177.4.1.0/24", "br"}, {"81.1.2.128/25", "isp"}, {"2001:db8:84::/48", "au"},
	} {
		out := u.ask(t, p, "download.example.org", "A", "+subnet="+c.subnet)
		want := `download\.example\.org\.\s+\d+\s+IN\s+CNAME\s+` + c.mirror + `\.mirrors\.example\.org\.`
		if !adFlag.MatchString(out) || !regexp.MustCompile(want).MatchString(out) || !regexp.MustCompile(`CLIENT-SUBNET: \S+/\d+/[1-9]`).MatchString(out) {
			t.Errorf("+subnet=%s: want AD, the %s mirror and a scope:\n%s", c.subnet, c.mirror, out)
		}

	}
	for _, c := range dnssecCases {
		out := u.ask(t, p, c.args...)
		if !adFlag.MatchString(out) || !strings.Contains(out, "status: NOERROR") || !regexp.MustCompile(c.want).MatchString(out) {
			t.Errorf("%s: %v: want NOERROR, AD and %s:\n%s", c.name, c.args, c.want, out)
		}
	}
}

// rolloverState is one step of a key rollover: which keys sign and which
// are only published.
type rolloverState struct {
	name          string
	sign, publish []string
}

// rolloverQuestions are asked through the resolvers at every step.
func rolloverQuestions(step int) [][]string {
	return [][]string{
		{"mail.example.org", "A"},
		{"download.example.org", "A", "+subnet=106.3.0.0/24"},
		{"de2-fr.download.example.org", "A"},
		{fmt.Sprintf("nope%d.example.org", step), "A"},
		{"mail.example.org", "TXT"},
		{"example.org", "DNSKEY"},
	}
}

// TestDnssecRollover goes through a ZSK rollover by pre-publication and
// a KSK rollover by double signature (dnsd/README.md says how, step by
// step), reloading dnsd at each step, with validating resolvers whose
// caches hold what the previous step served: each keeps validating. A
// TTL passing is a cache flush: that is all waiting does to a cache. The
// shortcuts the steps are there to avoid fail, so the test can.
func TestDnssecRollover(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	needTool(t, "unbound-control", "unbound")
	n := newSignedNet(t)
	ksk, ksk2 := n.keygen(t, "ECDSAP256SHA256", true), n.keygen(t, "ECDSAP256SHA256", true)
	zsk1, zsk2 := n.keygen(t, "ECDSAP256SHA256", false), n.keygen(t, "ECDSAP256SHA256", false)
	dsK, dsK2 := n.dsFor(t, []string{ksk}, nil), n.dsFor(t, []string{ksk2}, nil)
	n.setKeys(t, []string{ksk, zsk1}, nil)
	p := startDnsdNetns(t, n.dnsdNet)
	loads := 1
	goTo := func(t *testing.T, s rolloverState) {
		t.Helper()
		n.setKeys(t, s.sign, s.publish)
		loads++
		waitLoads(t, p, loads)
	}
	step := 0
	// check asks every question of the step through u and wants them
	// all validated (AD), or all SERVFAIL (bogus) when bogus is set, but
	// for the DNSKEY set, which may come from the cache. The answers
	// must be signed by the ZSK of the state dnsd is in: they are fresh,
	// not from the cache.
	check := func(t *testing.T, u *unbound, what string, bogus bool, s rolloverState) {
		t.Helper()
		step++
		zsk := ""
		for _, k := range s.sign {
			if k == zsk1 || k == zsk2 {
				zsk = k[strings.LastIndexByte(k, '+')+1:]
				zsk = strings.TrimLeft(zsk, "0")
			}
		}
		for _, q := range rolloverQuestions(step) {
			out := u.ask(t, p, q...)
			switch {
			case bogus && q[1] == "DNSKEY":
			case bogus && !strings.Contains(out, "status: SERVFAIL"):
				t.Errorf("%s: %v: want SERVFAIL (bogus):\n%s", what, q, out)
			case !bogus && (!adFlag.MatchString(out) || !strings.Contains(out, "status: NOERROR")):
				t.Errorf("%s: %v: want NOERROR and AD:\n%s", what, q, out)
			case !bogus && q[1] != "DNSKEY":
				for _, m := range rrsigRe.FindAllStringSubmatch(out, -1) {
					if m[1] != "DNSKEY" && m[2] != zsk {
						t.Errorf("%s: %v: an RRSIG %s by key %s, want the ZSK of this state, %s:\n%s", what, q, m[1], m[2], zsk, out)
					}
				}
			}
		}
	}
	// forgetAnswers drops the cached answers but keeps the DNSKEY set
	// and the keys validated from it: what a resolver holds when the
	// answers' TTLs (60 s, 300 s) ran out before the DNSKEY's (3600 s).
	forgetAnswers := func(t *testing.T, u *unbound) {
		t.Helper()
		u.control(t, p, "flush_negative")
		u.control(t, p, "flush_bogus")
		u.control(t, p, "flush_zone", "mirrors.example.org") // the CNAMEs' targets
		for _, q := range append(rolloverQuestions(step), []string{"example.org"}) {
			u.control(t, p, "flush", q[0]) // A, AAAA, NS, SOA, CNAME, MX, ... but not DNSKEY
			u.control(t, p, "flush_type", q[0], "TXT")
			u.control(t, p, "flush_type", q[0], "NSEC")
		}
	}
	// transition warms u's cache in from, moves dnsd to to, and asks
	// again with the DNSKEY set of from still cached; then with nothing
	// cached (a TTL later).
	transition := func(t *testing.T, u *unbound, from, to rolloverState, bogus bool) {
		t.Helper()
		goTo(t, from)
		u.control(t, p, "flush_zone", "example.org")
		check(t, u, from.name, false, from)
		goTo(t, to)
		forgetAnswers(t, u)
		check(t, u, fmt.Sprintf("%s, then %s with %s's DNSKEY set cached", from.name, to.name, from.name), bogus, to)
		if !bogus {
			u.control(t, p, "flush_zone", "example.org")
			check(t, u, to.name+", nothing cached", false, to)
		}
	}

	t.Run("ZSK pre-publication", func(t *testing.T) {
		u := startUnbound(t, p, n.dir, "127.0.0.3", dsK, false)
		steps := []rolloverState{
			{"1. ZSK1 signs", []string{ksk, zsk1}, nil},
			{"2. ZSK2 published", []string{ksk, zsk1}, []string{zsk2}},
			{"3. ZSK2 signs, ZSK1 published", []string{ksk, zsk2}, []string{zsk1}},
			{"4. ZSK1 removed", []string{ksk, zsk2}, nil},
		}
		for i := range len(steps) - 1 {
			transition(t, u, steps[i], steps[i+1], false)
		}
		// Skipping step 2: answers signed by ZSK2 before resolvers hold
		// the DNSKEY set with it are bogus until that set's TTL runs out.
		transition(t, u, steps[0], steps[2], true)
	})

	t.Run("KSK double signature", func(t *testing.T) {
		// u has the parent's old DS (for KSK) cached, u2 its new one.
		u := startUnbound(t, p, n.dir, "127.0.0.4", dsK, false)
		u2 := startUnbound(t, p, n.dir, "127.0.0.5", dsK2, false)
		steps := []rolloverState{
			{"1. KSK signs the DNSKEY set", []string{ksk, zsk1}, nil},
			{"2. KSK2 signs it too; the parent gets KSK2's DS", []string{ksk, ksk2, zsk1}, nil},
			{"3. KSK removed", []string{ksk2, zsk1}, nil},
		}
		if got := n.dsFor(t, steps[1].sign, steps[1].publish); !slices.Equal(got, slices.Concat(dsK, dsK2)) {
			t.Fatalf("--print-ds at step 2: %q, want both DS, %q", got, slices.Concat(dsK, dsK2))
		}
		transition(t, u, steps[0], steps[1], false)
		// The parent changes its DS: resolvers have either cached.
		goTo(t, steps[1])
		u2.control(t, p, "flush_zone", "example.org")
		check(t, u2, steps[1].name+", the new DS", false, steps[1])
		transition(t, u2, steps[1], steps[2], false)
		// Removing KSK while a resolver still has the old DS cached
		// breaks it: wait the DS's TTL after the parent changed it.
		goTo(t, steps[2])
		u.control(t, p, "flush_zone", "example.org")
		check(t, u, steps[2].name+", the old DS still cached", true, steps[2])
	})
}

// waitLoads waits until dnsd has loaded n generations (the first load
// and n-1 reloads), failing on a failed reload.
func waitLoads(t *testing.T, p *dnsdProc, n int) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		log := p.logText()
		if strings.Contains(log, "reload failed") {
			t.Fatalf("dnsd failed to reload:\n%s", log)
		}
		if 1+strings.Count(log, "msg=reloaded") >= n {
			return
		}
	}
	t.Fatalf("dnsd never loaded %d generations:\n%s", n, p.logText())
}

func TestPrintDSAndCheckKeys(t *testing.T) {
	n := newSignedNet(t)
	if r := mirrorsteer(t, "dnsd", "-c", n.config, "--print-ds"); r.code != 1 || !strings.Contains(r.stderr, "the zone is not signed: there is no [dns.dnssec] table") {
		t.Errorf("--print-ds of an unsigned zone: exit %d, %s", r.code, r.stderr)
	}
	ksk := n.keygen(t, "ECDSAP256SHA256", true)
	// A private key that is not the public key's: dnssec-keygen's files
	// of two keys mixed up.
	other := n.keygen(t, "ECDSAP256SHA256", false)
	priv := filepath.Join(n.dir, ksk+".private")
	write(t, priv, readFile(t, filepath.Join(n.dir, other+".private")))
	n.setKeys(t, []string{ksk}, nil)
	line := strings.Count(n.base, "\n") + 3 // the keys line of [dns.dnssec]
	want := fmt.Sprintf("%s:%d:", n.config, line)
	for _, args := range [][]string{{"dnsd", "-c", n.config, "--print-ds"}, {"check", "-c", n.config}} {
		r := mirrorsteer(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "is not the private key of") {
			t.Errorf("%v with a wrong private key: exit %d, want 1 and an error at %s:\n%s", args, r.code, want, r.stderr)
		}
	}
}
