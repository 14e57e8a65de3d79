package dnsd

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// listen serves f's handler on 127.0.0.1:0 (UDP and TCP) until the test
// ends; edit may change the server before it starts.
func listen(t *testing.T, f *fixture, cfg ServerConfig, edit func(*Server)) *Server {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	s, err := Listen(f.h, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(s)
	}
	s.Serve()
	t.Cleanup(s.Close)
	return s
}

func TestAcceptDelay(t *testing.T) {
	var got []time.Duration
	d := time.Duration(0)
	for range 11 {
		d = acceptDelay(d)
		got = append(got, d)
	}
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays after failed Accepts %v, want %v (net/http's: 5 ms doubling to 1 s)", got, want)
	}
}

// failingListener is a real listener whose Accept fails as it does when
// the process is out of file descriptors, as often as fails says before
// each connection it lets through.
type failingListener struct {
	net.Listener
	mu    sync.Mutex
	fails []int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.fails) > 0 && l.fails[0] > 0 {
		l.fails[0]--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: syscall.EMFILE}
	}
	if len(l.fails) > 0 {
		l.fails = l.fails[1:]
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// A failing Accept is retried after a delay that grows while it keeps
// failing and starts again from 5 ms after a success.
func TestAcceptBackoff(t *testing.T) {
	f := newFixture(t, nil)
	var mu sync.Mutex
	var slept []time.Duration
	s := listen(t, f, ServerConfig{}, func(s *Server) {
		s.tcp[0] = &failingListener{Listener: s.tcp[0], fails: []int{4, 2}}
		s.sleep = func(d time.Duration) {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
		}
	})
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	for i := range 2 {
		r, _, err := c.Exchange(question("mail.example.org.", dns.TypeA), s.Addrs()[0].String())
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("query %d over TCP after failed Accepts: %v %v", i, err, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	ms := time.Millisecond
	if want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 5 * ms, 10 * ms}; !slices.Equal(slept, want) {
		t.Errorf("waited %v after the failed Accepts, want %v", slept, want)
	}
	if got := f.h.Metrics().errorCount("tcp_accept"); got != 6 {
		t.Errorf("dnsd_errors_total{kind=\"tcp_accept\"} %d, want 6", got)
	}
}

// errorCount is dnsd_errors_total{kind}.
func (m *Metrics) errorCount(kind string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.errors[kind]; c != nil {
		return c.Load()
	}
	return 0
}

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"an IPv4 address is a source", "192.0.2.7:53000", "192.0.2.7/32"},
		{"an IPv4-mapped address is its IPv4 address", "[::ffff:192.0.2.7]:53000", "192.0.2.7/32"},
		{"an IPv6 /64 is a source", "[2001:db8:1:2:3:4:5:6]:53000", "2001:db8:1:2::/64"},
		{"the zone of a link-local address does not count", "[fe80::1%eth0]:53000", "fe80::/64"},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		if got := sourceOf(net.TCPAddrFromAddrPort(ap)); got != netip.MustParsePrefix(tc.want) {
			t.Errorf("%s: %s is source %s, want %s", tc.name, tc.addr, got, tc.want)
		}
	}
}

// tcpFrom connects to server from the address local (port 0) and
// returns the connection and whether the server answers a query on it:
// false when it closed it at once.
func tcpFrom(t *testing.T, local, server string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(local), 0)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", server)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", server, local, err)
	}
	t.Cleanup(func() { c.Close() })
	dc := &dns.Conn{Conn: c}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := dc.WriteMsg(question("mail.example.org.", dns.TypeA)); err != nil {
		return c, false
	}
	r, err := dc.ReadMsg()
	return c, err == nil && len(r.Answer) == 1
}

// checkPerSource holds --tcp-per-source connections from a, sees one
// more from a (same source as a2) refused and one from b served, and,
// once a frees one, a's next served.
func checkPerSource(t *testing.T, m *Metrics, server, a, a2, b string) {
	t.Helper()
	var held []net.Conn
	for i := range 2 {
		c, ok := tcpFrom(t, []string{a, a2}[i], server)
		if !ok {
			t.Fatalf("connection %d from %s's source was not served", i+1, a)
		}
		held = append(held, c)
	}
	if _, ok := tcpFrom(t, a2, server); ok {
		t.Errorf("a 3rd connection from %s (same source as %s) was served, over the limit of 2", a2, a)
	}
	if _, ok := tcpFrom(t, b, server); !ok {
		t.Errorf("a connection from another source, %s, was refused", b)
	}
	if got := m.errorCount("tcp_per_source"); got != 1 {
		t.Errorf("dnsd_errors_total{kind=\"tcp_per_source\"} %d, want 1", got)
	}
	held[0].Close()
	for end := time.Now().Add(10 * time.Second); ; {
		if _, ok := tcpFrom(t, a, server); ok {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%s freed a connection, and its next is still refused", a)
		}
		time.Sleep(10 * time.Millisecond) // until the server has seen the close
	}
}

// One source cannot hold every TCP slot: beyond TCPPerSource its
// connections are closed at once, and other sources are served (RFC
// 7766 section 6.2.2). Real connections from 127.0.0.2 and 127.0.0.3.
func TestTCPPerSource(t *testing.T) {
	f := newFixture(t, nil)
	s := listen(t, f, ServerConfig{TCPPerSource: 2, TCPMax: 10}, nil)
	checkPerSource(t, f.h.Metrics(), s.Addrs()[0].String(), "127.0.0.2", "127.0.0.2", "127.0.0.3")
}

// An IPv6 /64 is one source, whichever of its addresses connect. The
// test runs in a network namespace of its own, where it can put
// addresses of two /64s on lo.
func TestTCPPerSourceIPv6(t *testing.T) {
	if !inNetns(t, "2001:db8:0:1::a", "2001:db8:0:1::b", "2001:db8:0:2::a") {
		return
	}
	f := newFixture(t, nil)
	s := listen(t, f, ServerConfig{Listen: []string{"[::1]:0"}, TCPPerSource: 2, TCPMax: 10}, nil)
	checkPerSource(t, f.h.Metrics(), s.Addrs()[0].String(), "2001:db8:0:1::a", "2001:db8:0:1::b", "2001:db8:0:2::a")
}

// inNetns runs the calling test again in a new network namespace
// (unshare -rn) with lo up and addrs on it, and reports whether this is
// that run; the outer run passes or fails with it.
func inNetns(t *testing.T, addrs ...string) bool {
	t.Helper()
	const env = "DNSD_TEST_NETNS"
	if os.Getenv(env) == t.Name() {
		for _, a := range addrs {
			if out, err := exec.Command("ip", "addr", "add", a, "dev", "lo", "nodad").CombinedOutput(); err != nil {
				t.Fatalf("ip addr add %s dev lo: %v\n%s", a, err, out)
			}
		}
		return true
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (util-linux, iproute2; .ci/run installs them)", tool)
		}
	}
	cmd := exec.Command("unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$@"`, "sh", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return false
}
