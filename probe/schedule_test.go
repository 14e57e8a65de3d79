package probe_test

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// barrierResolver holds every lookup of host until want of them wait at
// once (or their endpoint's time runs out), and records how many did.
type barrierResolver struct {
	probe.Resolver
	host string
	want int

	mu      sync.Mutex
	waiting int
	peak    int
	full    chan struct{}
}

func (r *barrierResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == r.host {
		r.mu.Lock()
		r.waiting++
		r.peak = max(r.peak, r.waiting)
		if r.waiting == r.want {
			close(r.full)
		}
		r.mu.Unlock()
		select {
		case <-r.full:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return r.Resolver.LookupNetIP(ctx, network, host)
}

// TestAllOfAMirrorsEndpointsAreCheckedAtOnce: a mirror's endpoints (here
// http, https, ftp and rsync over IPv4 and IPv6, all on one host name)
// are checked at the same time by default, so a dead mirror costs one
// timeout, not one per pair of endpoints (4 with a per-host limit of 2).
// Counted: every lookup of the host waits until all 8 wait.
func TestAllOfAMirrorsEndpointsAreCheckedAtOnce(t *testing.T) {
	haveRsync(t)
	n, inv, cfg, _ := start(t, localmirror.Spec{Name: "everything", Protocols: []string{"http", "https", "ftp", "rsync"}, IPv6: true})
	r := &barrierResolver{Resolver: cfg.Resolver, host: n.Mirror("everything").Host, want: 8, full: make(chan struct{})}
	cfg.Resolver = r
	snap := run(t, inv, nil, cfg)
	if r.peak != 8 {
		t.Errorf("%d of the mirror's 8 endpoints were checked at once, want all 8", r.peak)
	}
	for _, p := range state.Protocols {
		for _, f := range state.Families {
			if e := snap.Endpoint("everything", p, f); e == nil || !e.Healthy {
				t.Errorf("everything %s %s: %+v, want healthy", p, f, e)
			}
		}
	}
}

// orderResolver records the hosts looked up, in order.
type orderResolver struct {
	probe.Resolver
	mu    sync.Mutex
	hosts []string
}

func (r *orderResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, strings.Split(host, ".")[0])
	r.mu.Unlock()
	return r.Resolver.LookupNetIP(ctx, network, host)
}

// TestAnEndpointThatTimedOutLastRunStartsFirst: an endpoint that hangs
// holds its place for a whole timeout, so one that hung the run before
// starts first and ends with the others, not a timeout after them.
func TestAnEndpointThatTimedOutLastRunStartsFirst(t *testing.T) {
	_, inv, cfg, clk := start(t, localmirror.Spec{Name: "a"}, localmirror.Spec{Name: "b"}, localmirror.Spec{Name: "c"})
	prev := run(t, inv, nil, cfg)
	prev.Endpoint("c", state.HTTP, state.IPv4).Class = state.ClassTimeout
	clk.Advance(time.Minute)
	r := &orderResolver{Resolver: cfg.Resolver}
	cfg.Resolver, cfg.Concurrency = r, 1
	run(t, inv, prev, cfg)
	// Each mirror's IPv4 and IPv6 endpoints; origin is the origin's,
	// before any.
	if want := []string{"origin", "c", "a", "a", "b", "b", "c"}; !slices.Equal(r.hosts, want) {
		t.Errorf("hosts looked up in the order %v, want %v", r.hosts, want)
	}
}

// TestARunHoldsGoroutinesOnlyForTheChecksItRuns: 600 endpoints checked 4
// at a time take a few goroutines each, not one each from the start,
// waiting for their turn with a stack apiece.
func TestARunHoldsGoroutinesOnlyForTheChecksItRuns(t *testing.T) {
	var mirrors strings.Builder
	for i := range 300 {
		fmt.Fprintf(&mirrors, "[[mirror]]\nname = \"m%d\"\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://m%d.test:PORT/m/\"\n\n", i, i)
	}
	_, inv, cfg := countingNetwork(t, mirrors.String())
	cfg.Concurrency = 4
	base := runtime.NumGoroutine()
	peak := 0
	var mu sync.Mutex
	cfg.Progress = func(done, total int) {
		mu.Lock()
		peak = max(peak, runtime.NumGoroutine())
		mu.Unlock()
	}
	snap := run(t, inv, nil, cfg)
	if e := snap.Endpoint("m299", state.HTTP, state.IPv4); !e.Healthy {
		t.Fatalf("m299: %+v", e)
	}
	// Per check: itself, its connection's two, the server's one or two.
	if extra := peak - base; extra > 4*8 {
		t.Errorf("%d goroutines more than before the run, for 600 endpoints 4 at a time: want at most %d", extra, 4*8)
	}
}

// TestConcurrencyIsWhatTheOpenFileLimitAllows: with 256 files, a run
// checks 64 endpoints at once, not the 2048 asked for, and says so,
// rather than failing its checks with "too many open files".
func TestConcurrencyIsWhatTheOpenFileLimitAllows(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	var mirrors strings.Builder
	for i := range 100 {
		fmt.Fprintf(&mirrors, "[[mirror]]\nname = \"m%d\"\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://m%d.test:PORT/m/\"\n\n", i, i)
	}
	c, inv, cfg := countingNetwork(t, mirrors.String())
	_, rep, err := probe.Run(context.Background(), inv, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "64 endpoints checked at once, not 200: the open-file limit (256, ulimit -n; 3 per endpoint) allows no more"
	if rep.Concurrency != 64 || len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], want) {
		t.Errorf("concurrency %d, warnings %q; want 64 and %q", rep.Concurrency, rep.Warnings, want)
	}
	if c.peakAll > 64 {
		t.Errorf("%d requests at once, want at most 64", c.peakAll)
	}
}
