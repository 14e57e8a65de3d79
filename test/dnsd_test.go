package test

import (
	"bufio"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// dnsdNet is dnsd's test network (dnsd/testdata): eight mirrors on five
// continents, one of them an ISP's private mirror with a subnet and an
// ASN, every one listing download (https).
type dnsdNet struct {
	dir, config, state, city, asn string
	inv                           *inventory.Inventory
}

func newDnsdNet(t *testing.T, edit func(string, *state.Endpoint)) *dnsdNet {
	t.Helper()
	n := &dnsdNet{dir: t.TempDir()}
	for _, f := range []string{"mirrors.toml", "example.org.zone"} {
		if err := os.WriteFile(filepath.Join(n.dir, f), []byte(readFile(t, "../dnsd/testdata/"+f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n.config = filepath.Join(n.dir, "mirrors.toml")
	n.state = filepath.Join(n.dir, "state.json")
	var err error
	if n.inv, err = inventory.Load(n.config); err != nil {
		t.Fatal(err)
	}
	n.writeState(t, edit)
	if n.city, n.asn, err = geotest.Write(n.dir, geotest.Demo()); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *dnsdNet) writeState(t *testing.T, edit func(string, *state.Endpoint)) {
	t.Helper()
	if err := statetest.Healthy(n.inv, edit).Write(n.state); err != nil {
		t.Fatal(err)
	}
}

func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: apt-get install %s (.ci/run installs it)", name, pkg)
	}
}

// dnsdProc is a running mirrorsteer dnsd.
type dnsdProc struct {
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:port
	addr6   string // [::1]:port, "" without IPv6
	metrics string
	mu      sync.Mutex
	log     strings.Builder
}

func (p *dnsdProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLog waits until the log matches re.
func (p *dnsdProc) waitLog(t *testing.T, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if rx.MatchString(p.logText()) {
			return
		}
	}
	t.Fatalf("dnsd never logged %q:\n%s", re, p.logText())
}

// startDnsd runs the binary on free loopback ports, IPv4 and (when the
// machine has it) IPv6, and stops it when the test ends.
func startDnsd(t *testing.T, n *dnsdNet, extra ...string) *dnsdProc {
	t.Helper()
	return startDnsdCmd(t, n, nil, extra...)
}

// startDnsdNetns runs the binary as startDnsd does, but in a network
// namespace of its own (unshare -rn, lo up), where fixed ports such as
// 53 are free whatever the machine runs; p.inNetns runs a command there.
func startDnsdNetns(t *testing.T, n *dnsdNet, extra ...string) *dnsdProc {
	t.Helper()
	needTool(t, "unshare", "util-linux")
	needTool(t, "nsenter", "util-linux")
	needTool(t, "ip", "iproute2")
	return startDnsdCmd(t, n, []string{"unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$0" "$@"`}, extra...)
}

// inNetns returns a command that runs name with args in p's network
// namespace.
func (p *dnsdProc) inNetns(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", fmt.Sprint(p.cmd.Process.Pid), "-U", "-n", "--preserve-credentials", name}, args...)...)
}

func startDnsdCmd(t *testing.T, n *dnsdNet, wrap []string, extra ...string) *dnsdProc {
	t.Helper()
	args := []string{"dnsd", "-c", n.config, "-s", n.state, "--geoip-city", n.city, "--geoip-asn", n.asn,
		"-l", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--watch", "100ms"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil && wrap == nil {
		ln.Close()
		args = append(args, "-l", "[::1]:0")
	}
	argv := append(append(append(wrap[:len(wrap):len(wrap)], binary), args...), extra...)
	p := &dnsdProc{cmd: exec.Command(argv[0], argv[1:]...)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-done
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("dnsd log:\n%s", p.logText())
		}
	})
	p.waitLog(t, `msg=metrics addr=`)
	for _, m := range regexp.MustCompile(`msg=listening addr=(\S+)`).FindAllStringSubmatch(p.logText(), -1) {
		if strings.HasPrefix(m[1], "[") {
			p.addr6 = m[1]
		} else {
			p.addr = m[1]
		}
	}
	p.metrics = regexp.MustCompile(`msg=metrics addr=(\S+)`).FindStringSubmatch(p.logText())[1]
	return p
}

// dig runs dig (or kdig) against addr with args and returns its output.
func dig(t *testing.T, tool, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	all := append([]string{"@" + host, "-p", port, "+norec"}, args...)
	if tool == "kdig" {
		all = append(all, "+timeout=5", "+retry=0")
	} else {
		all = append(all, "+time=5", "+tries=1")
	}
	out, err := exec.Command(tool, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, all, err, out)
	}
	return string(out)
}

// short is dig +short: the first line of the answer.
func short(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out := strings.TrimSpace(dig(t, "dig", addr, append([]string{"+short"}, args...)...))
	line, _, _ := strings.Cut(out, "\n")
	return line
}

var subnetRe = regexp.MustCompile(`(?m)(?:CLIENT-SUBNET|SUBNET): (\S+)/(\d+)/(\d+)`)

func TestDnsdSteersLikeLookup(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	needTool(t, "kdig", "knot-dnsutils")
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n)
	for _, c := range []struct {
		ip, ecs string
		scope   int
		want    string // the country of the mirror, or its host
	}{
		{"81.1.2.200", "81.1.2.128/25", 25, "mirror.isp.example.de."}, // the ISP's subnet
		{"81.1.0.7", "81.1.0.0/24", 24, "mirror.isp.example.de."},     // the ISP's ASN
		{"81.1.200.7", "81.1.200.0/24", 24, "de"},                     // another AS in Germany
		{"106.3.0.1", "106.3.0.0/24", 24, "jp.example.net."},
		{"177.4.1.1", "177.4.1.0/24", 24, "br.example.net."},
		{"125.236.1.1", "125.236.1.0/24", 24, "au.example.net."}, // New Zealand: Australia is nearest
		{"73.2.3.4", "73.2.3.0/24", 24, "us.example.net."},
		{"41.0.0.9", "41.0.0.0/24", 24, ""}, // South Africa: no mirror on the continent
		{"2001:db8:81::1", "2001:db8:81::/48", 48, "jp.example.net."},
		{"2001:db8:82::1", "2001:db8:82::/56", 48, "br.example.net."},
		{"2a01:db8:1:8000::1", "2a01:db8:1:8000::/56", 49, "mirror.isp.example.de."},
	} {
		t.Run(c.ecs, func(t *testing.T) {
			t.Parallel()
			r := mirrorsteer(t, "lookup", "-c", n.config, "-s", n.state, "--geoip-city", n.city, "--geoip-asn", n.asn, "--ip", c.ip, "--json")
			var doc struct {
				Mirrors []struct{ Mirror, URL string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Mirrors) == 0 {
				t.Fatalf("lookup: %v %s %s", err, r.stdout, r.stderr)
			}
			lookup := n.inv.Mirror(doc.Mirrors[0].Mirror).Host("https") + "."
			bits := "32"
			if strings.Contains(c.ip, ":") {
				bits = "128"
			}
			for _, tool := range []string{"dig", "kdig"} {
				out := dig(t, tool, p.addr, "+subnet="+c.ip+"/"+bits, "download.example.org", "A")
				if !strings.Contains(out, "CNAME\t"+lookup) && !strings.Contains(out, "CNAME "+lookup) {
					t.Errorf("%s +subnet=%s/%s: lookup --ip says %s first; dnsd said:\n%s", tool, c.ip, bits, lookup, out)
				}
			}
			out := dig(t, "dig", p.addr, "+subnet="+c.ecs, "download.example.org", "AAAA")
			m := subnetRe.FindStringSubmatch(out)
			if m == nil || m[3] != fmt.Sprint(c.scope) {
				t.Errorf("+subnet=%s: scope %v, want %d:\n%s", c.ecs, m, c.scope, out)
			}
			if c.want != "" && !strings.Contains(out, "CNAME\t"+c.want) && !(len(c.want) == 2 && strings.Contains(out, "CNAME\t"+c.want)) {
				t.Errorf("+subnet=%s: want %s:\n%s", c.ecs, c.want, out)
			}
		})
	}
	t.Run("no ECS", func(t *testing.T) {
		// The source address decides (loopback is in NL in the demo
		// database), and the reply carries no ECS.
		out := dig(t, "dig", p.addr, "download.example.org")
		if subnetRe.MatchString(out) || !strings.Contains(out, "CNAME\tde") {
			t.Errorf("no ECS:\n%s", out)
		}
	})
	t.Run("IPv6 transport", func(t *testing.T) {
		if p.addr6 == "" {
			t.Fatal("no IPv6 loopback on this machine")
		}
		if got := short(t, p.addr6, "download.example.org", "AAAA", "+subnet=2001:db8:84::/48"); got != "au.example.net." {
			t.Errorf("over IPv6 transport: %q", got)
		}
	})
}

func TestDnsdZone(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	needTool(t, "kdig", "knot-dnsutils")
	n := newDnsdNet(t, func(m string, e *state.Endpoint) {
		if m == "fr.example.net" && e.Protocol == "ftp" { // pub: its only mirror is down
			e.Up, e.Healthy = false, false
		}
	})
	p := startDnsd(t, n)
	for _, c := range []struct {
		name string
		args []string
		want []string // regexps the output must match
		not  []string
	}{
		{"NXDOMAIN with the SOA", []string{"nope.example.org", "A"}, []string{`status: NXDOMAIN`, `flags: qr aa;`, `(?m)^example\.org\.\s+300\s+IN\s+SOA\s+ns1\.example\.org\. hostmaster\.example\.org\. \d+ 14400 3600 1209600 300`}, nil},
		{"NODATA", []string{"mail.example.org", "TXT"}, []string{`status: NOERROR`, `ANSWER: 0, AUTHORITY: 1`, `IN\s+SOA`}, nil},
		{"empty non-terminal", []string{"deep.example.org", "A"}, []string{`status: NOERROR`, `ANSWER: 0, AUTHORITY: 1`}, nil},
		{"REFUSED outside the zone, without AA", []string{"www.example.net", "A"}, []string{`status: REFUSED`}, []string{`flags: qr aa`}},
		{"NS with glue", []string{"example.org", "NS"}, []string{`ANSWER: 2`, `(?m)^ns1\.example\.org\.\s+3600\s+IN\s+A\s+127\.0\.0\.1`, `(?m)^ns1\.example\.org\.\s+3600\s+IN\s+AAAA\s+::1`}, nil},
		{"zone file records", []string{"example.org", "MX"}, []string{`MX\s+10 mail\.example\.org\.`}, nil},
		{"CNAME for any type", []string{"download.example.org", "TXT", "+subnet=106.3.0.0/24"}, []string{`CNAME\s+jp\.example\.net\.`, `flags: qr aa;`}, nil},
		{"ANY is minimal", []string{"example.org", "ANY"}, []string{`ANSWER: [12],`}, nil},
		{"BADVERS", []string{"+edns=1", "+noednsneg", "example.org", "SOA"}, []string{`status: BADVERS`, `EDNS: version: 0`}, nil},
		{"preference name", []string{"de2-fr.download.example.org", "A", "+subnet=106.3.0.0/24"}, []string{`CNAME\s+de2\.example\.net\.`, `SUBNET: 106\.3\.0\.0/24/0`}, nil},
		{"preference name, unknown label", []string{"xx-fr.download.example.org", "A"}, []string{`status: NXDOMAIN`}, nil},
		{"fallback when no mirror is healthy", []string{"pub.example.org", "A", "+subnet=81.1.0.0/24"}, []string{`CNAME\s+origin\.example\.org\.`, `SUBNET: 81\.1\.0\.0/24/0`}, nil},
		{"_whoami from loopback", []string{"_whoami.example.org", "TXT", "+subnet=81.1.0.0/24"}, []string{`country DE`, `asn 3320`, `download -> isp\.example\.de reason asn scope 24`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, tool := range []string{"dig", "kdig"} {
				if tool == "kdig" && c.args[0] == "+edns=1" {
					continue // kdig spells it +edns=1 too, but always negotiates down
				}
				out := dig(t, tool, p.addr, c.args...)
				for _, re := range c.want {
					if tool == "kdig" {
						re = kdigStyle(re)
					}
					if !regexp.MustCompile(re).MatchString(out) {
						t.Errorf("%s %v: no match for %s:\n%s", tool, c.args, re, out)
					}
				}
				for _, re := range c.not {
					if tool == "dig" && regexp.MustCompile(re).MatchString(out) {
						t.Errorf("%s %v: unexpected %s:\n%s", tool, c.args, re, out)
					}
				}
			}
		})
	}
	metrics := scrape(t, p)
	for _, want := range []string{`dnsd_fallback_total{name="pub"} 2`, `dnsd_queries_total{name="_zone",rcode="NXDOMAIN",type="A"}`, `dnsd_answers_total{mirror="jp.example.net",name="download",reason="country"}`, `dnsd_clients_total{country="JP"}`, `dnsd_reloads_total{result="ok"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// kdigStyle adapts a dig regexp to kdig's output.
func kdigStyle(re string) string {
	return strings.NewReplacer(`flags: qr aa;`, `Flags: qr aa;`, `ANSWER: 0, AUTHORITY: 1`, `ANSWER: 0; AUTHORITY: 1`, `ANSWER: [12],`, `ANSWER: [12];`).Replace(re)
}

func scrape(t *testing.T, p *dnsdProc) string {
	t.Helper()
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestDnsdTruncationAndTCP(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	needTool(t, "kdig", "knot-dnsutils")
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n, "--tcp-idle", "500ms", "--tcp-max", "3")
	out := dig(t, "dig", p.addr, "+ignore", "+bufsize=4096", "big.example.org", "TXT")
	if !regexp.MustCompile(`flags:[^;]* tc[ ;]`).MatchString(out) || !strings.Contains(out, "udp: 1232") {
		t.Errorf("UDP, big answer: want TC and payload 1232:\n%s", out)
	}
	out = dig(t, "dig", p.addr, "big.example.org", "TXT")
	if !strings.Contains(out, "Truncated, retrying in TCP mode") || !strings.Contains(out, "ANSWER: 1,") {
		t.Errorf("dig did not retry over TCP and get the answer:\n%s", out)
	}
	if out := dig(t, "kdig", p.addr, "big.example.org", "TXT"); !strings.Contains(out, "ANSWER: 1;") || !strings.Contains(out, "(TCP)") {
		t.Errorf("kdig did not retry over TCP:\n%s", out)
	}

	// RFC 7766: several queries on one connection, sent before reading.
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch []byte
	names := []string{"download.example.org.", "mail.example.org.", "nope.example.org."}
	for i, name := range names {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = uint16(100 + i)
		b, _ := m.Pack()
		batch = bin.BigEndian.AppendUint16(batch, uint16(len(b)))
		batch = append(batch, b...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for i := range names {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		b := make([]byte, bin.BigEndian.Uint16(l[:]))
		io.ReadFull(r, b)
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil || m.Id != uint16(100+i) || m.Question[0].Name != names[i] {
			t.Errorf("reply %d: %v %v", i, err, m)
		}
	}
	// Idle: the server closes the connection after --tcp-idle.
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF || time.Since(start) > 3*time.Second {
		t.Errorf("idle connection: %v after %v, want EOF after about 500ms", err, time.Since(start))
	}

	// The cap: with 3 open, a 4th is closed at once.
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond)
	extra, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("4th connection over --tcp-max 3: %v, want it closed", err)
	}
	if !strings.Contains(scrape(t, p), `dnsd_errors_total{kind="tcp_rejected"} 1`) {
		t.Error("the rejected connection was not counted")
	}
}

// Reload while queries run: every query gets a whole answer, from the
// old data or the new, never none; a bad file keeps the old data.
func TestDnsdReloadUnderLoad(t *testing.T) {
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n)
	var sent, failed, bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	valid := map[string]bool{}
	for _, m := range n.inv.Mirrors {
		valid[m.Host("https")+"."] = true
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			if w == 2 {
				cl.Net = "tcp"
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := new(dns.Msg)
				m.SetQuestion("download.example.org.", dns.TypeA)
				o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
				o.SetUDPSize(1232)
				o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(81, 1, byte(128+i%100), 0).To4()})
				m.Extra = append(m.Extra, o)
				sent.Add(1)
				r, _, err := cl.Exchange(m, p.addr)
				switch {
				case err != nil:
					failed.Add(1)
				case r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !valid[r.Answer[0].(*dns.CNAME).Target] || len(r.Extra) != 1:
					bad.Add(1)
				}
			}
		}()
	}
	reloads := func() string {
		return strings.Join(regexp.MustCompile(`dnsd_reloads_total\{result="(ok|failed)"\} \d+`).FindAllString(scrape(t, p), -1), ", ")
	}
	germans := func() map[string]bool {
		seen := map[string]bool{}
		cl := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		for i := range 40 {
			m := new(dns.Msg)
			m.SetQuestion("download.example.org.", dns.TypeA)
			o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(81, 1, byte(128+i), 0).To4()})
			m.Extra = append(m.Extra, o)
			r, _, err := cl.Exchange(m, p.addr)
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("%v %v", err, r)
			}
			seen[r.Answer[0].(*dns.CNAME).Target] = true
		}
		return seen
	}
	if !germans()["de2.example.net."] {
		t.Fatal("de2 never answered before the reload")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("waited 20s for %s", what)
			}
		}
	}
	failures := func() int { return strings.Count(p.logText(), `msg="reload failed`) }
	for round := range 3 {
		// de2 goes down: the watcher sees the new state.json.
		n.writeState(t, down("de2.example.net"))
		waitFor("de2 to go", func() bool { return !germans()["de2.example.net."] })
		// A broken state.json: logged, the old data keeps serving.
		before := failures()
		os.WriteFile(n.state+".tmp", []byte(`{"schema": 1, "taken": `), 0o644)
		os.Rename(n.state+".tmp", n.state)
		waitFor("the failed reload", func() bool { return failures() > before })
		if germans()["de2.example.net."] {
			t.Errorf("round %d: a bad state.json changed the answers", round)
		}
		// Back up, and new GeoIP files, with SIGHUP too.
		n.writeState(t, nil)
		geotest.Write(n.dir, geotest.Demo())
		p.cmd.Process.Signal(syscall.SIGHUP)
		waitFor("de2 to come back", func() bool { return germans()["de2.example.net."] })
	}
	close(stop)
	wg.Wait()
	t.Logf("%d queries during the reloads; %s", sent.Load(), reloads())
	if failed.Load() != 0 || bad.Load() != 0 || sent.Load() < 100 {
		t.Errorf("%d queries: %d unanswered, %d wrong", sent.Load(), failed.Load(), bad.Load())
	}
}

func down(names ...string) func(string, *state.Endpoint) {
	return func(m string, e *state.Endpoint) {
		for _, n := range names {
			if m == n {
				e.Up, e.Healthy = false, false
			}
		}
	}
}

func TestDnsdBadInputExits1(t *testing.T) {
	n := newDnsdNet(t, nil)
	os.WriteFile(n.state, []byte("{"), 0o644)
	r := mirrorsteer(t, "dnsd", "-c", n.config, "-s", n.state, "-l", "127.0.0.1:0", "--metrics", "")
	if r.code != 1 || !strings.Contains(r.stderr, "state.json") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if r := mirrorsteer(t, "dnsd", "-c", n.config); r.code != 2 || !strings.Contains(r.stderr, "say where to serve") {
		t.Errorf("no -l: exit %d: %s", r.code, r.stderr)
	}
}

// TestDnsdSteersLikeLookupName runs dnsd on the shipped example, where
// not every mirror serves every name (mirror.vie.example.at has http only
// and serves download-http; the private cloud mirror serves only
// download-http), and checks that for each name dnsd's CNAME is the first
// mirror of `lookup --name`, for clients all over the demo database
// (ECS from global addresses: loopback ECS is ignored, as it must be).
func TestDnsdSteersLikeLookupName(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n := &dnsdNet{dir: t.TempDir()}
	n.config = filepath.Join(n.dir, "mirrors.toml")
	n.state = filepath.Join(n.dir, "state.json")
	if err := os.WriteFile(n.config, []byte(readFile(t, example)), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if n.inv, err = inventory.Load(n.config); err != nil {
		t.Fatal(err)
	}
	n.writeState(t, func(m string, e *state.Endpoint) {
		// Down over IPv6 and over https: the answer must move.
		e.Healthy = !(m == "mirror.ams.example.nl" && e.Family == state.IPv6) && !(m == "mirror.tyo.example.jp" && e.Protocol == state.HTTPS)
	})
	if n.city, n.asn, err = geotest.Write(n.dir, geotest.Demo()); err != nil {
		t.Fatal(err)
	}
	p := startDnsd(t, n)
	for _, name := range []string{"download", "download-http"} {
		for _, ip := range []string{"81.1.2.3", "90.0.1.1", "106.3.0.1", "177.4.1.1", "125.236.1.1", "24.48.1.1", "198.51.100.7", "41.90.1.1", "2001:db8:81::1", "2a01:db8:1::5"} {
			r := mirrorsteer(t, "lookup", "-c", n.config, "-s", n.state, "--geoip-city", n.city, "--geoip-asn", n.asn, "--ip", ip, "--name", name, "--json")
			var doc struct{ Mirrors []struct{ Mirror string } }
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Mirrors) == 0 {
				t.Fatalf("lookup --ip %s --name %s: %v %s %s", ip, name, err, r.stdout, r.stderr)
			}
			proto := "https"
			if name == "download-http" {
				proto = "http"
			}
			want := n.inv.Mirror(doc.Mirrors[0].Mirror).Host(inventory.Protocol(proto)) + "."
			bits := "/32"
			if strings.Contains(ip, ":") {
				bits = "/128"
			}
			out := dig(t, "dig", p.addr, "+subnet="+ip+bits, name+".example.org", "A")
			if !strings.Contains(out, "CNAME\t"+want) {
				t.Errorf("%s for %s: lookup --name says %s first; dnsd said:\n%s", name, ip, want, out)
			}
		}
	}
}

// TestDnsdNotImplementedOpcodes asks with every opcode dnsd does not
// implement, with dig and with miekg/dns over UDP and TCP, with and
// without EDNS: the reply is NOTIMP with the query's opcode (RFC 1035
// section 4.1.1), so dig takes it ("Opcode mismatch" otherwise), and an
// OPT when the query had one (RFC 6891 section 6.1.1).
func TestDnsdNotImplementedOpcodes(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n)
	for _, op := range []struct {
		code int
		name string // as dig prints it
	}{{dns.OpcodeIQuery, "IQUERY"}, {dns.OpcodeStatus, "STATUS"}, {dns.OpcodeNotify, "NOTIFY"}, {dns.OpcodeUpdate, "UPDATE"}, {15, "RESERVED15"}} {
		for _, edns := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s EDNS %v", op.name, edns), func(t *testing.T) {
				flag := map[bool]string{true: "+edns=0", false: "+noedns"}[edns]
				out := dig(t, "dig", p.addr, fmt.Sprintf("+opcode=%d", op.code), flag, "example.org", "SOA")
				if strings.Contains(out, "mismatch") || !strings.Contains(out, "opcode: "+op.name+", status: NOTIMP") {
					t.Errorf("dig +opcode=%d %s: want opcode %s, status NOTIMP:\n%s", op.code, flag, op.name, out)
				}
				if strings.Contains(out, "OPT PSEUDOSECTION") != edns {
					t.Errorf("dig +opcode=%d %s: an OPT in the reply is %v, want %v:\n%s", op.code, flag, !edns, edns, out)
				}
				for _, network := range []string{"udp", "tcp"} {
					m := new(dns.Msg).SetQuestion("example.org.", dns.TypeSOA)
					m.Opcode = op.code
					if edns {
						m.SetEdns0(1232, false)
					}
					r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(m, p.addr)
					if err != nil {
						t.Fatalf("miekg/dns over %s: %v", network, err)
					}
					if r.Opcode != op.code || r.Rcode != dns.RcodeNotImplemented || (r.IsEdns0() != nil) != edns || len(r.Question) != 1 {
						t.Errorf("miekg/dns over %s, opcode %d, EDNS %v:\n%v", network, op.code, edns, r)
					}
				}
			})
		}
	}
}

// TestDnsdReloadNamesTooLong reloads a running dnsd with an inventory
// whose zone makes a name longer than DNS allows (255 octets): a zone of
// 248 octets, where download.<zone> is 257, and one of 245, where the
// default SOA mailbox hostmaster.<zone> is 256. Whichever layer refuses
// it (the inventory loader or dnsd's zone compiler), dnsd keeps running
// and answering from the zone it has, logs why and counts the failure;
// and takes the good file back.
func TestDnsdReloadNamesTooLong(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n)
	good := readFile(t, n.config)
	// label repeats a letter for a label of size octets (1 + size-1).
	label := func(size int) string { return strings.Repeat("z", size-1) }
	for _, tc := range []struct {
		name string
		zone string
		edit func(string) string
	}{
		{"download.<zone> of 257 octets", strings.Join([]string{label(64), label(64), label(64), label(55)}, ".") + ".", nil},
		{"hostmaster.<zone> of 256 octets", strings.Join([]string{label(64), label(64), label(64), label(52)}, ".") + ".", func(s string) string {
			// Only the name download, which fits (254 octets).
			s = regexp.MustCompile(`(?m)^names = .*$`).ReplaceAllString(s, `names = { download = "https" }`)
			return regexp.MustCompile(`(?m)^dns = .*$`).ReplaceAllString(s, `dns = ["download"]`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, `zone = "example.org."`, `zone = "`+tc.zone+`"`, 1)
			bad = regexp.MustCompile(`(?m)^zone_file = .*\n`).ReplaceAllString(bad, "")
			if tc.edit != nil {
				bad = tc.edit(bad)
			}
			before := strings.Count(p.logText(), `msg="reload failed`)
			if err := os.WriteFile(n.config, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			p.cmd.Process.Signal(syscall.SIGHUP)
			for end := time.Now().Add(20 * time.Second); strings.Count(p.logText(), `msg="reload failed`) == before; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("no failed reload logged:\n%s", p.logText())
				}
			}
			if last := p.logText()[strings.LastIndex(p.logText(), `msg="reload failed`):]; !strings.Contains(last, "255") {
				t.Errorf("the failed reload does not say which name is too long: %s", last)
			}
			for _, tcp := range []string{"+notcp", "+tcp"} {
				if got := short(t, p.addr, tcp, "download.example.org", "A", "+subnet=106.3.0.0/24"); got != "jp.example.net." {
					t.Errorf("after the failed reload, %s: download.example.org is %q, want the old zone's jp.example.net.", tcp, got)
				}
				if out := dig(t, "dig", p.addr, tcp, "nope.example.org", "A"); !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "hostmaster.example.org.") {
					t.Errorf("after the failed reload, %s: NXDOMAIN with the old SOA wanted:\n%s", tcp, out)
				}
			}
			if !regexp.MustCompile(`dnsd_reloads_total\{result="failed"\} [1-9]`).MatchString(scrape(t, p)) {
				t.Error("the failed reload was not counted")
			}
			// The good file back: reloaded.
			oks := strings.Count(p.logText(), `msg=reloaded`)
			if err := os.WriteFile(n.config, []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			p.cmd.Process.Signal(syscall.SIGHUP)
			p.waitLog(t, fmt.Sprintf(`(?s)(msg=reloaded.*){%d}`, oks+1))
		})
	}
}

// TestDnsdTCPPerSource: one address cannot take every TCP slot. With
// --tcp-per-source 2, a third connection from 127.0.0.2 is closed at
// once and counted, while 127.0.0.3 is served (RFC 7766 section 6.2.2).
func TestDnsdTCPPerSource(t *testing.T) {
	n := newDnsdNet(t, nil)
	p := startDnsd(t, n, "--tcp-per-source", "2", "--tcp-max", "10")
	served := func(from string) bool {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		dc := &dns.Conn{Conn: c}
		if err := dc.WriteMsg(new(dns.Msg).SetQuestion("mail.example.org.", dns.TypeA)); err != nil {
			return false
		}
		r, err := dc.ReadMsg()
		return err == nil && len(r.Answer) == 1
	}
	for i := range 2 {
		if !served("127.0.0.2") {
			t.Fatalf("connection %d from 127.0.0.2 was not served", i+1)
		}
	}
	if served("127.0.0.2") {
		t.Error("a 3rd connection from 127.0.0.2 was served, over --tcp-per-source 2")
	}
	if !served("127.0.0.3") {
		t.Error("127.0.0.3 was refused while 127.0.0.2 held its 2 connections")
	}
	if m := scrape(t, p); !strings.Contains(m, `dnsd_errors_total{kind="tcp_per_source"} 1`) || strings.Contains(m, `kind="tcp_rejected"`) {
		t.Errorf("want one tcp_per_source error and no tcp_rejected:\n%s", regexp.MustCompile(`(?m)^dnsd_errors_total.*$`).FindAllString(m, -1))
	}
	if r := mirrorsteer(t, "dnsd", "-c", n.config, "-l", "127.0.0.1:0", "--tcp-per-source", "0"); r.code != 2 || !strings.Contains(r.stderr, "--tcp-per-source 0") {
		t.Errorf("--tcp-per-source 0: exit %d: %s", r.code, r.stderr)
	}
}
