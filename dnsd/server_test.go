package dnsd

import (
	"net"
	"slices"
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
