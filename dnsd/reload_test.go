package dnsd

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// syncBuffer is a log sink goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A running server reloaded with an inventory whose names are too long
// for DNS keeps answering from the zone it has, over UDP and TCP, and
// says why, in its log and its metrics; on SIGHUP (Reload) and when the
// watcher sees the file change. The inventory is made bad after the
// loader read it (Prepare), so this is dnsd's own defence, whatever the
// inventory loader lets through.
func TestReloadKeepsZoneWhenNamesAreTooLong(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mirrors.toml", "example.org.zone"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var long atomic.Bool
	logs := &syncBuffer{}
	m := NewMetrics()
	l := NewLoader(Sources{Config: filepath.Join(dir, "mirrors.toml"), Prepare: func(inv *inventory.Inventory, _ *state.Snapshot) error {
		if long.Load() {
			moveZone(inv, nameOf(248, "z", ".")) // download.<zone> is 257 octets
		}
		return nil
	}}, slog.New(slog.NewTextHandler(logs, nil)), m)
	h, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	s := listen(t, &fixture{h: h}, ServerConfig{}, nil)
	addr := s.Addrs()[0].String()
	answers := func(when string) {
		t.Helper()
		for _, network := range []string{"udp", "tcp"} {
			for _, q := range []*dns.Msg{question("mail.example.org.", dns.TypeA), question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24"))} {
				r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(q, addr)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("%s, %s over %s: %v\n%v", when, q.Question[0].Name, network, err, r)
				}
			}
		}
	}
	answers("before the reload")

	long.Store(true)
	if err := l.Reload(); err == nil || !strings.Contains(err.Error(), "[dns] names: download") {
		t.Errorf("Reload: %v, want an error about the name download.<zone>", err)
	}
	answers("after the failed reload")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Watch(ctx, 10*time.Millisecond)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "mirrors.toml"), later, later); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); m.reloadFailed.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the watcher did not reload the changed file:\n%s", logs)
		}
	}
	answers("after the failed reload by the watcher")
	if ok, failed := m.reloadOK.Load(), m.reloadFailed.Load(); ok != 1 || failed != 2 {
		t.Errorf("dnsd_reloads_total ok %d failed %d, want 1 and 2", ok, failed)
	}
	if n := strings.Count(logs.String(), `msg="reload failed; still serving the previous data"`); n != 2 || !strings.Contains(logs.String(), "over the 255 a name may have") {
		t.Errorf("%d failed reloads logged, want 2 saying why:\n%s", n, logs)
	}
}

// A panic while loading (a bug some input brings out) fails the load
// like a bad file: the server keeps its zone.
func TestReloadSurvivesAPanic(t *testing.T) {
	var boom atomic.Bool
	m := NewMetrics()
	l := NewLoader(Sources{Config: "testdata/mirrors.toml", Prepare: func(*inventory.Inventory, *state.Snapshot) error {
		if boom.Load() {
			panic("boom")
		}
		return nil
	}}, slog.New(slog.DiscardHandler), m)
	h, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	before := h.Zone()
	boom.Store(true)
	if err := l.Reload(); err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "bug") {
		t.Errorf("Reload: %v, want the panic as an error", err)
	}
	if h.Zone() != before || m.reloadFailed.Load() != 1 {
		t.Errorf("the zone changed (%v) or the failure was not counted (%d)", h.Zone() != before, m.reloadFailed.Load())
	}
}

// A reload runs at a lower priority than the readers, on a thread of its
// own that ends with it, so queries keep their share of the CPU while a
// big GeoIP database is indexed and no other goroutine inherits the
// priority.
func TestReloadRunsBehindTheReaders(t *testing.T) {
	nice := func() int {
		prio, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - prio // the raw system call's value
	}
	var mu sync.Mutex
	var seen []int
	l := NewLoader(Sources{Config: "testdata/mirrors.toml", Prepare: func(*inventory.Inventory, *state.Snapshot) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, nice())
		return nil
	}}, slog.New(slog.DiscardHandler), nil)
	if _, err := l.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{0, reloadNice}; !slices.Equal(seen, want) {
		t.Errorf("the loads ran at nice %v, want %v (start, reload)", seen, want)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if n := nice(); n != 0 {
		t.Errorf("after the reload a thread runs at nice %d", n)
	}
}
