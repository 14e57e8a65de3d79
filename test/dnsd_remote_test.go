package test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/signature"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// snapServer is an https server on loopback (a kernel port, the
// httptest CA) that publishes files and their signatures as a CDN would,
// with ETags and 304s, and misbehaves on purpose when told to.
type snapServer struct {
	*httptest.Server
	ca string // the CA certificate, PEM, for --ca-file

	mu       sync.Mutex
	files    map[string][]byte // by URL path
	mode     map[string]string // by URL path: "", "truncated" or "hang"
	notMod   int               // 304s sent
	withINM  int               // requests that came with If-None-Match
	arrived  chan string       // each hanging request, as it arrives
	left     chan time.Duration
	released chan struct{}
}

func newSnapServer(t *testing.T) *snapServer {
	t.Helper()
	s := &snapServer{files: map[string][]byte{}, mode: map[string]string{}, arrived: make(chan string, 8), left: make(chan time.Duration, 8), released: make(chan struct{})}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(s.released)
		s.Close()
	})
	return s
}

func (s *snapServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	mode := s.mode[r.URL.Path]
	if r.Header.Get("If-None-Match") != "" {
		s.withINM++
	}
	s.mu.Unlock()
	switch {
	case mode == "hang":
		start := time.Now()
		s.arrived <- r.URL.Path
		select {
		case <-r.Context().Done():
			s.left <- time.Since(start)
		case <-s.released:
		}
		return
	case !ok:
		http.NotFound(w, r)
		return
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		s.mu.Lock()
		s.notMod++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if mode == "truncated" {
		// The length of the whole, half of it, and the connection closed.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Write(body)
}

// put publishes body at path, with sig at path.sig (none when sig is nil),
// served as mode says.
func (s *snapServer) put(path string, body, sig []byte, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
	if sig == nil {
		delete(s.files, path+signature.Suffix)
	} else {
		s.files[path+signature.Suffix] = sig
	}
	s.mode[path] = mode
}

func (s *snapServer) counts() (notModified, withINM int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notMod, s.withINM
}

// published is api/state.json as gen writes it, of a snapshot of n taken
// at taken, edited by edit.
func published(t *testing.T, inv *inventory.Inventory, taken time.Time, edit func(string, *state.Endpoint)) []byte {
	t.Helper()
	snap := statetest.Healthy(inv, edit)
	snap.Taken = taken
	b, err := json.MarshalIndent(state.Publish(inv, snap), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// keygen makes a key pair with the real binary and returns the paths of
// its files and the private key.
func keygen(t *testing.T, dir, name string) (priv, pub string, key ed25519.PrivateKey) {
	t.Helper()
	base := filepath.Join(dir, name)
	if r := mirrorsteer(t, "keygen", "-o", base); r.code != 0 || !strings.Contains(r.stdout, base+".pub") {
		t.Fatalf("keygen: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(base + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keygen: the private key file is %v, %v; want mode 0600", fi.Mode(), err)
	}
	key, err = signature.LoadPrivateKey(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	return base + ".key", base + ".pub", key
}

// steered asks p for download.example.org on behalf of the ECS subnet
// and returns the CNAME target.
func steered(t *testing.T, p *dnsdProc, subnet string) string {
	t.Helper()
	pfx := netip.MustParsePrefix(subnet)
	m := new(dns.Msg).SetQuestion("download.example.org.", dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	family := uint16(1)
	if pfx.Addr().Is6() {
		family = 2
	}
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(pfx.Bits()), Address: net.IP(pfx.Addr().AsSlice())})
	m.Extra = append(m.Extra, o)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, p.addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("download.example.org for %s: %v\n%v", subnet, err, r)
	}
	return r.Answer[0].(*dns.CNAME).Target
}

// metric returns the value of the sample of p's metrics that starts with
// series (name and labels), -1 when there is none.
func metric(t *testing.T, p *dnsdProc, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape(t, p))
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func fetches(input, result string) string {
	return fmt.Sprintf(`dnsd_fetches_total{input=%q,result=%q}`, input, result)
}

// waitMetric waits until the series has grown past before.
func waitMetric(t *testing.T, p *dnsdProc, series string, before float64) float64 {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if v := metric(t, p, series); v > before {
			return v
		}
	}
	t.Fatalf("%s never grew past %v:\n%s", series, before, p.logText())
	return 0
}

const german = "81.1.200.0/24" // Germany, not the ISP: de1 or de2 while they are up

// TestDnsdSnapshotByURL runs dnsd on a snapshot it fetches over https
// from a server on loopback that serves, in turn, a good snapshot, the
// same again (304), a newer one, an older one validly signed (a replay),
// a tampered one, a truncated one, one cut short with a consistent
// length, one signed by another key, nothing at all (it hangs), and a
// good one again. dnsd answers from the newest good snapshot throughout,
// and its metrics and log say why it refused each of the others. Each
// fetch is set off with SIGHUP (--poll 0) so that each step is one fetch.
func TestDnsdSnapshotByURL(t *testing.T) {
	n := newDnsdNet(t, nil)
	_, pub, key := keygen(t, n.dir, "snap")
	_, _, otherKey := keygen(t, n.dir, "other")
	srv := newSnapServer(t)
	// Snapshots of the last hours: dnsd refuses one from the future.
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	germansDown := func(m string, e *state.Endpoint) {
		if strings.HasPrefix(m, "de") {
			e.Up, e.Healthy = false, false
		}
	}
	a := published(t, n.inv, t0, nil)
	b := published(t, n.inv, t0.Add(time.Hour), germansDown)
	c := published(t, n.inv, t0.Add(2*time.Hour), nil)
	future := published(t, n.inv, t0.Add(5*time.Hour), nil)
	const path = "/api/state.json"
	srv.put(path, a, signature.Sign(key, a), "")
	n.state = srv.URL + path
	p := startDnsd(t, n, "--verify-key", pub, "--ca-file", srv.ca, "--poll", "0", "--fetch-timeout", "2s")

	state := func(result string) string { return fetches("state", result) }
	hup := func() { p.cmd.Process.Signal(syscall.SIGHUP) }
	isGerman := func(target string) bool { return strings.HasPrefix(target, "de") }
	taken := func() float64 { return metric(t, p, "dnsd_snapshot_taken_timestamp_seconds") }

	// Good: the answers are the snapshot's, the private ISP mirror's
	// included (gen publishes private mirrors' health, not their place).
	if got := steered(t, p, german); !isGerman(got) {
		t.Fatalf("good snapshot: a German client got %s", got)
	}
	if got := steered(t, p, "81.1.2.128/25"); got != "mirror.isp.example.de." {
		t.Errorf("good snapshot: the ISP's subnet got %s, want its private mirror", got)
	}
	if v := taken(); v != float64(t0.Unix()) {
		t.Errorf("snapshot taken %v, want %d", v, t0.Unix())
	}
	if v := metric(t, p, `dnsd_fetch_success_timestamp_seconds{input="state"}`); v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last successful fetch at %v", v)
	}

	t.Run("unchanged: a conditional request and a 304", func(t *testing.T) {
		notMod, _ := srv.counts()
		hup()
		waitMetric(t, p, state("not_modified"), 0)
		if after, inm := srv.counts(); after != notMod+1 || inm == 0 {
			t.Errorf("the server sent %d 304s to %d conditional requests, want one more 304", after-notMod, inm)
		}
	})
	t.Run("newer: the answers follow it", func(t *testing.T) {
		srv.put(path, b, signature.Sign(key, b), "")
		hup()
		waitMetric(t, p, state("ok"), 1)
		if got := steered(t, p, german); isGerman(got) {
			t.Errorf("the German mirrors are down in the newer snapshot; a German client got %s", got)
		}
		if v := taken(); v != float64(t0.Add(time.Hour).Unix()) {
			t.Errorf("snapshot taken %v after the newer one", v)
		}
	})
	// Each refusal below keeps the newer snapshot: no German mirror.
	refused := []struct {
		name     string
		body     []byte
		sig      []byte
		mode     string
		reason   string
		log      string
		checkLog bool
	}{
		{"older, validly signed (a replay): stale", a, signature.Sign(key, a), "", "stale", "is older than the one in use", true},
		{"a tampered byte: signature", bytes.Replace(c, []byte(`"taken": "2`), []byte(`"taken": "3`), 1), signature.Sign(key, c), "", "signature", "does not match", true},
		{"cut short of its Content-Length: truncated", c, signature.Sign(key, c), "truncated", "truncated", "unexpected EOF", true},
		{"cut short with a consistent length: signature", c[:len(c)/2], signature.Sign(key, c), "", "signature", fmt.Sprintf("(%d bytes,", len(c)/2), true},
		{"signed by another key: signature", c, signature.Sign(otherKey, c), "", "signature", "signed by another key than --verify-key", true},
		{"no signature: signature", c, nil, "", "signature", "no signature at " + srv.URL + path + ".sig", true},
		{"taken in the future (a wrong clock), validly signed: invalid", future, signature.Sign(key, future), "", "invalid", "ahead of this machine's clock", true},
		{"not a snapshot, validly signed: invalid", []byte(`{"schema": 2, "verified": false, "mirrors": []}`), signature.Sign(key, []byte(`{"schema": 2, "verified": false, "mirrors": []}`)), "", "invalid", "gen wrote it without a snapshot", true},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			srv.put(path, tc.body, tc.sig, tc.mode)
			before := metric(t, p, state(tc.reason))
			hup()
			waitMetric(t, p, state(tc.reason), before)
			if got := steered(t, p, german); isGerman(got) {
				t.Errorf("refused, yet a German client got %s", got)
			}
			if v := taken(); v != float64(t0.Add(time.Hour).Unix()) {
				t.Errorf("snapshot taken %v, want the newer one's still", v)
			}
			if tc.checkLog {
				p.waitLog(t, regexp.QuoteMeta(tc.log))
			}
		})
	}
	t.Run("hanging: given up at the deadline, answering meanwhile", func(t *testing.T) {
		srv.put(path, c, signature.Sign(key, c), "hang")
		before := metric(t, p, state("timeout"))
		hup()
		select {
		case <-srv.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("no request reached the hanging server")
		}
		// The fetch hangs now; dnsd answers from the snapshot it has.
		for range 5 {
			if got := steered(t, p, german); isGerman(got) {
				t.Fatalf("during the hanging fetch a German client got %s", got)
			}
		}
		select {
		case d := <-srv.left:
			// dnsd left, not the server: within its 2s deadline (plus
			// the time a loaded machine needs to notice).
			if d < 2*time.Second || d > 15*time.Second {
				t.Errorf("dnsd gave up after %v; --fetch-timeout is 2s", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("dnsd never gave up the hanging fetch")
		}
		waitMetric(t, p, state("timeout"), before)
		p.waitLog(t, `no whole answer within 2s`)
	})
	t.Run("good again: taken up", func(t *testing.T) {
		srv.put(path, c, signature.Sign(key, c), "")
		before := metric(t, p, state("ok"))
		hup()
		waitMetric(t, p, state("ok"), before)
		if got := steered(t, p, german); !isGerman(got) {
			t.Errorf("the German mirrors are back up; a German client got %s", got)
		}
		if v := taken(); v != float64(t0.Add(2*time.Hour).Unix()) {
			t.Errorf("snapshot taken %v after the last good one", v)
		}
	})
}

// TestDnsdPollsSnapshotURL: without SIGHUP, dnsd polls the URL with
// conditional requests (304s while nothing changes) and takes a newer
// snapshot up by itself.
func TestDnsdPollsSnapshotURL(t *testing.T) {
	n := newDnsdNet(t, nil)
	_, pub, key := keygen(t, n.dir, "snap")
	srv := newSnapServer(t)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	a := published(t, n.inv, t0, nil)
	srv.put("/api/state.json", a, signature.Sign(key, a), "")
	n.state = srv.URL + "/api/state.json"
	p := startDnsd(t, n, "--verify-key", pub, "--ca-file", srv.ca, "--poll", "100ms")
	waitMetric(t, p, fetches("state", "not_modified"), 2)
	if notMod, _ := srv.counts(); notMod < 3 {
		t.Errorf("%d 304s", notMod)
	}
	b := published(t, n.inv, t0.Add(time.Minute), func(m string, e *state.Endpoint) {
		if strings.HasPrefix(m, "de") {
			e.Healthy = false
		}
	})
	srv.put("/api/state.json", b, signature.Sign(key, b), "")
	waitMetric(t, p, fetches("state", "ok"), 1)
	if got := steered(t, p, german); strings.HasPrefix(got, "de") {
		t.Errorf("after the poll took the newer snapshot, a German client got %s", got)
	}
}

// TestDnsdFromGenPublishedSnapshot: gen --sign-key publishes
// api/state.json and its signature (openssl verifies it), and a dnsd that
// fetches them answers every client exactly as the dnsd that reads
// probe's state.json beside gen: private mirrors, mirrors down over one
// family or protocol and all.
func TestDnsdFromGenPublishedSnapshot(t *testing.T) {
	needTool(t, "openssl", "openssl")
	edit := func(m string, e *state.Endpoint) {
		switch {
		case m == "de2.example.net" && e.Family == state.IPv4:
			e.Healthy = false
		case m == "jp.example.net" && e.Family == state.IPv6:
			e.Healthy = false
		case m == "us.example.net":
			e.Healthy, e.Up = false, false
		}
	}
	n := newDnsdNet(t, edit)
	// Taken an hour ago, whatever the machine's clock says.
	snap := statetest.Healthy(n.inv, edit)
	snap.Taken = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	if err := snap.Write(n.state); err != nil {
		t.Fatal(err)
	}
	priv, pub, _ := keygen(t, n.dir, "snap")
	out := filepath.Join(n.dir, "out")
	if r := mirrorsteer(t, "gen", "-c", n.config, "-s", n.state, "-o", out, "--sign-key", priv); r.code != 0 {
		t.Fatalf("gen --sign-key: exit %d: %s", r.code, r.stderr)
	}
	file := filepath.Join(out, "api", "state.json")
	if o, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", file, "-sigfile", file+".sig").CombinedOutput(); err != nil || !strings.Contains(string(o), "Signature Verified Successfully") {
		t.Fatalf("openssl does not verify gen's signature: %v\n%s", err, o)
	}
	body, _ := os.ReadFile(file)
	sig, _ := os.ReadFile(file + ".sig")
	srv := newSnapServer(t)
	srv.put("/api/state.json", body, sig, "")

	local := startDnsd(t, n)
	fetched := *n
	fetched.state = srv.URL + "/api/state.json"
	remote := startDnsd(t, &fetched, "--verify-key", pub, "--ca-file", srv.ca)
	for _, subnet := range []string{"81.1.2.128/25", "81.1.0.0/24", "81.1.200.0/24", "106.3.0.0/24", "177.4.1.0/24", "125.236.1.0/24", "73.2.3.0/24", "41.0.0.0/24", "90.0.1.0/24", "2001:db8:81::/48", "2001:db8:82::/48", "2a01:db8:1:8000::/56"} {
		if a, b := steered(t, local, subnet), steered(t, remote, subnet); a != b {
			t.Errorf("%s: the dnsd beside probe answers %s, the one fetching gen's api/state.json %s", subnet, a, b)
		}
	}
}

// TestDnsdInventoryByURL: mirrors.toml by URL too, signed by the
// operator (mirrorsteer sign, or openssl), with the snapshot a local file.
func TestDnsdInventoryByURL(t *testing.T) {
	needTool(t, "openssl", "openssl")
	needTool(t, "dig", "bind9-dnsutils")
	n := newDnsdNet(t, nil)
	priv, pub, _ := keygen(t, n.dir, "snap")
	good := strings.Replace(readFile(t, n.config), `zone_file = "example.org.zone"`, fmt.Sprintf("zone_file = %q", filepath.Join(n.dir, "example.org.zone")), 1)
	cfg := filepath.Join(n.dir, "remote.toml")
	sign := func(data string) []byte {
		t.Helper()
		os.WriteFile(cfg, []byte(data), 0o644)
		if r := mirrorsteer(t, "sign", "--key", priv, cfg); r.code != 0 || !strings.Contains(r.stdout, cfg+".sig") {
			t.Fatalf("sign: exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		b, _ := os.ReadFile(cfg + ".sig")
		return b
	}
	srv := newSnapServer(t)
	srv.put("/mirrors.toml", []byte(good), sign(good), "")
	n.config = srv.URL + "/mirrors.toml"
	p := startDnsd(t, n, "--verify-key", pub, "--ca-file", srv.ca, "--poll", "0")
	// The TTL of the steered name's CNAME is [dns] ttl.
	ttl := func() string {
		t.Helper()
		f := strings.Fields(dig(t, "dig", p.addr, "+noall", "+answer", "download.example.org", "A"))
		if len(f) < 2 {
			t.Fatal("no answer for download.example.org")
		}
		return f[1]
	}
	if got := ttl(); got != "60" {
		t.Fatalf("TTL %s, want the inventory's 60", got)
	}
	hup := func() { p.cmd.Process.Signal(syscall.SIGHUP) }
	input := func(result string) string { return fetches("config", result) }

	t.Run("a change signed with openssl is taken up", func(t *testing.T) {
		changed := strings.Replace(good, "ttl = 60", "ttl = 120", 1)
		os.WriteFile(cfg, []byte(changed), 0o644)
		if o, err := exec.Command("openssl", "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", cfg, "-out", cfg+".sig").CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, o)
		}
		sig, _ := os.ReadFile(cfg + ".sig")
		srv.put("/mirrors.toml", []byte(changed), sig, "")
		hup()
		waitMetric(t, p, input("ok"), 1)
		if got := ttl(); got != "120" {
			t.Errorf("TTL %s after the change to 120", got)
		}
	})
	for _, tc := range []struct {
		name, body string
		sig        []byte
		reason     string
		log        string
	}{
		{"a tampered inventory", strings.Replace(good, "ttl = 60", "ttl = 5", 1), sign(good), "signature", "does not match"},
		{"an unsigned inventory", good, nil, "signature", "no signature at"},
		{"a relative file name in it", strings.Replace(good, filepath.Join(n.dir, "example.org.zone"), "example.org.zone", 1), sign(strings.Replace(good, filepath.Join(n.dir, "example.org.zone"), "example.org.zone", 1)), "invalid", `zone_file \"example.org.zone\" is relative`},
		{"a bad key in it, with its line", strings.Replace(good, "negative_ttl = 300", "negative_tll = 300", 1), sign(strings.Replace(good, "negative_ttl = 300", "negative_tll = 300", 1)), "invalid", `mirrors.toml:20:1: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.put("/mirrors.toml", []byte(tc.body), tc.sig, "")
			b := metric(t, p, input(tc.reason))
			hup()
			waitMetric(t, p, input(tc.reason), b)
			p.waitLog(t, regexp.QuoteMeta(tc.log))
			if got := ttl(); got != "120" {
				t.Errorf("refused, yet the TTL is %s, not the last good inventory's 120", got)
			}
		})
	}
}

// TestDnsdURLStartAndUsage: a URL dnsd cannot fetch at start is exit 1
// with the reason; a URL without a key, or a key without a URL, exit 2.
func TestDnsdURLStartAndUsage(t *testing.T) {
	n := newDnsdNet(t, nil)
	_, pub, _ := keygen(t, n.dir, "snap")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String() + "/api/state.json"
	ln.Close()
	srv := newSnapServer(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an unreachable URL at start", []string{"-s", closed, "--verify-key", pub}, 1, "connection refused"},
		{"a missing file at start", []string{"-s", srv.URL + "/nothing.json", "--verify-key", pub, "--ca-file", srv.ca}, 1, "HTTP status 404"},
		{"a server no CA vouches for", []string{"-s", srv.URL + "/nothing.json", "--verify-key", pub}, 1, "certificate"},
		{"a URL without a key", []string{"-s", srv.URL + "/api/state.json"}, 2, "--verify-key snapshot.pub"},
		{"a key without a URL", []string{"-s", n.state, "--verify-key", pub}, 2, "neither -c nor -s is one"},
		{"plain http", []string{"-s", "http://127.0.0.1:1/api/state.json", "--verify-key", pub}, 1, "only https URLs are fetched"},
		{"a private key given to verify", []string{"-s", srv.URL + "/api/state.json", "--verify-key", filepath.Join(n.dir, "snap.key")}, 1, "is a private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mirrorsteer(t, append([]string{"dnsd", "-c", n.config, "-l", "127.0.0.1:0"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}
