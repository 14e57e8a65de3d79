package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

func run(t *testing.T, inv *inventory.Inventory, prev *state.Snapshot, cfg probe.Config) *state.Snapshot {
	t.Helper()
	snap, _, err := probe.Run(context.Background(), inv, prev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// What is written is what is read back.
	b, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := state.Parse("state.json", b)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestHysteresisLeavesAfterNFailuresAndReturnsAfterM(t *testing.T) {
	n, inv, cfg, clk := start(t, localmirror.Spec{Name: "flappy"})
	cfg.LeaveAfter, cfg.ReturnAfter = 2, 2
	m := n.Mirror("flappy")
	type step struct {
		behaviour localmirror.Behaviour
		up        bool
		healthy   bool
		failures  int
		successes int
	}
	steps := []step{
		{localmirror.Healthy, true, false, 0, 1},     // new: not yet back after one good run (M = 2)
		{localmirror.Healthy, true, true, 0, 2},      // in after two
		{localmirror.ServerError, false, true, 1, 0}, // one failure: still in
		{localmirror.Healthy, true, true, 0, 1},      // recovered: the count restarts
		{localmirror.ServerError, false, true, 1, 0},
		{localmirror.Reset, false, false, 2, 0}, // out after two in a row
		{localmirror.Healthy, true, false, 0, 1},
		{localmirror.Healthy, true, true, 0, 2}, // back after two good
	}
	var snap *state.Snapshot
	var firstGood time.Time
	for i, s := range steps {
		m.SetBehaviour(s.behaviour)
		clk.Advance(time.Hour)
		snap = run(t, inv, snap, cfg)
		e := snap.Endpoint("flappy", state.HTTP, state.IPv4)
		if e.Up != s.up || e.Healthy != s.healthy || e.Failures != s.failures || e.Successes != s.successes {
			t.Fatalf("run %d (%s): up %v healthy %v failures %d successes %d; want %+v (%s)", i+1, s.behaviour, e.Up, e.Healthy, e.Failures, e.Successes, s, e.Error)
		}
		if i == 3 {
			firstGood = e.LastGood
		}
		if i == 5 && !e.LastGood.Equal(firstGood) {
			t.Errorf("run %d: last_good %v, want the last good run's %v", i+1, e.LastGood, firstGood)
		}
		if s.up && !e.LastGood.Equal(clk.Now()) {
			t.Errorf("run %d: last_good %v, want now", i+1, e.LastGood)
		}
		// While down but kept healthy, its repos keep their freshness.
		if i == 2 && !e.Fresh("baseos", "9", "x86_64") {
			t.Errorf("run %d: a mirror kept through one failure lost its repos: %+v", i+1, e.Repos)
		}
	}
}

func TestStaleIsUnhealthyAtOnceAndOneVersionBehindIsLagging(t *testing.T) {
	n, inv, cfg, clk := start(t, localmirror.Spec{Name: "follower"}, localmirror.Spec{Name: "laggard"})
	t0 := n.Current().Time
	snap := run(t, inv, nil, cfg)
	for _, name := range []string{"follower", "laggard"} {
		if e := snap.Endpoint(name, state.HTTP, state.IPv4); !e.Healthy || !e.Fresh("baseos", "9", "x86_64") {
			t.Fatalf("%s is not healthy at the start: %+v", name, e)
		}
	}

	// The origin publishes a new version an hour later; only the follower
	// syncs. The laggard is one version behind: lagging an hour, fresh.
	clk.Advance(time.Hour)
	n.Publish(t0.Add(time.Hour))
	n.Mirror("follower").Sync()
	snap = run(t, inv, snap, cfg)
	lag := snap.Endpoint("laggard", state.HTTP, state.IPv4)
	if !lag.Healthy || lag.Lag.Duration != time.Hour || !lag.Fresh("baseos", "9", "x86_64") || !lag.Fresh("debian", "stable", "amd64") {
		t.Fatalf("one version behind: healthy %v lag %v repos %+v", lag.Healthy, lag.Lag, lag.Repos)
	}
	var versions int
	for _, m := range snap.Origin.Metadata {
		if m.Repo == "baseos" && m.Release == "9" && m.Arch == "x86_64" {
			versions++
		}
	}
	if versions != 2 {
		t.Errorf("the origin's history holds %d versions of baseos 9 x86_64, want 2: %+v", versions, snap.Origin.Metadata)
	}

	// 11 hours after the origin changed it is still fresh; 13 hours after,
	// the old version is too old (max_lag 12h) and has left the history,
	// although the stamp is only an hour behind.
	clk.Advance(11 * time.Hour)
	snap = run(t, inv, snap, cfg)
	if lag = snap.Endpoint("laggard", state.HTTP, state.IPv4); !lag.Fresh("baseos", "9", "x86_64") {
		t.Errorf("one version behind for 11h is not fresh: %+v", lag.Repos)
	}
	clk.Advance(2 * time.Hour)
	snap = run(t, inv, snap, cfg)
	lag = snap.Endpoint("laggard", state.HTTP, state.IPv4)
	if lag.Fresh("baseos", "9", "x86_64") || !strings.Contains(lag.Repos[1].Error, "does not match the origin") {
		t.Errorf("an old version stays fresh: %+v", lag.Repos)
	}
	if len(snap.Origin.Metadata) != len(inv.Variants())-2 { // isos have no metadata; the old versions are dropped
		t.Errorf("history not pruned: %d entries", len(snap.Origin.Metadata))
	}

	// The origin moves 20h ahead: the laggard's stamp is now too old, and
	// it is out at once, hysteresis or not.
	n.Publish(t0.Add(21 * time.Hour))
	n.Mirror("follower").Sync()
	snap = run(t, inv, snap, cfg)
	lag = snap.Endpoint("laggard", state.HTTP, state.IPv4)
	if lag.Healthy || lag.Class != state.ClassStale || !lag.Up {
		t.Errorf("a stale mirror stays healthy: %+v", lag)
	}
	if f := snap.Endpoint("follower", state.HTTP, state.IPv4); !f.Healthy || f.Lag.Duration != 0 {
		t.Errorf("follower: %+v", f)
	}

	// A mirror kept healthy through a failure is still judged by its last
	// stamp: when the origin moves on, it is out.
	n.Mirror("follower").SetBehaviour(localmirror.ServerError)
	n.Publish(t0.Add(40 * time.Hour))
	snap = run(t, inv, snap, cfg)
	if f := snap.Endpoint("follower", state.HTTP, state.IPv4); f.Healthy || f.Up || f.Fresh("baseos", "9", "x86_64") {
		t.Errorf("a down mirror whose last stamp is 19h old stays healthy: %+v", f)
	}
}

func TestOriginDownIsAnError(t *testing.T) {
	n, inv, cfg, _ := start(t, localmirror.Spec{Name: "fine"})
	n.Origin().SetBehaviour(localmirror.ServerError)
	_, _, err := probe.Run(context.Background(), inv, nil, cfg)
	var oe *probe.OriginError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "previous one is kept") {
		t.Fatalf("error %v, want an OriginError", err)
	}
	n.Origin().SetBehaviour(localmirror.Hang)
	_, _, err = probe.Run(context.Background(), inv, nil, cfg)
	if !errors.As(err, &oe) {
		t.Fatalf("hanging origin: error %v, want an OriginError", err)
	}
}

// counting is an HTTP server that serves a stamp under any path ending in
// /TIME after a pause, and counts requests in flight, overall and per
// host name.
type counting struct {
	mu       sync.Mutex
	inFlight map[string]int
	peak     map[string]int
	total    int
	peakAll  int
	requests map[string]int
	fail     map[string]int  // path: how many first requests answer 500
	hang     map[string]bool // path: never answers
	stamp    string
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.Split(r.Host, ":")[0]
	c.mu.Lock()
	c.inFlight[host]++
	c.peak[host] = max(c.peak[host], c.inFlight[host])
	c.total++
	c.peakAll = max(c.peakAll, c.total)
	c.requests[r.URL.Path]++
	fail := c.fail[r.URL.Path] >= c.requests[r.URL.Path]
	hang := c.hang[r.URL.Path]
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight[host]--
		c.total--
		c.mu.Unlock()
	}()
	if strings.HasPrefix(r.URL.Path, "/origin/") {
		fmt.Fprintln(w, c.stamp)
		return
	}
	if hang {
		<-r.Context().Done() // until the client gives up
		return
	}
	time.Sleep(20 * time.Millisecond) // the server is slow, the test waits for nothing
	if fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/TIME") {
		fmt.Fprintln(w, c.stamp)
		return
	}
	http.NotFound(w, r)
}

func countingNetwork(t *testing.T, mirrors string) (*counting, *inventory.Inventory, probe.Config) {
	c := &counting{inFlight: map[string]int{}, peak: map[string]int{}, requests: map[string]int{}, fail: map[string]int{}, hang: map[string]bool{}, stamp: time.Now().UTC().Format(time.RFC3339)}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	doc := fmt.Sprintf("[network]\nname = \"t\"\norigin = \"http://origin.test:%s/origin/\"\nstamp = \"TIME\"\nmax_lag = \"1h\"\n\n[[repo]]\nname = \"isos\"\npath = \"isos/\"\nformat = \"files\"\n\n%s", port, strings.ReplaceAll(mirrors, "PORT", port))
	inv, err := inventory.Parse("t.toml", []byte(doc), ".")
	if err != nil {
		t.Fatal(err)
	}
	cfg := probe.Defaults()
	cfg.Timeout = 2 * time.Second
	cfg.RetryDelay = 10 * time.Millisecond
	// Every name is IPv4 loopback only: IPv6 endpoints fail at once.
	cfg.Resolver = &probe.StaticResolver{Next: loopback{}}
	return c, inv, cfg
}

type loopback struct{}

func (loopback) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func TestConcurrencyBounds(t *testing.T) {
	var mirrors strings.Builder
	for i := range 8 {
		fmt.Fprintf(&mirrors, "[[mirror]]\nname = \"shared-%d\"\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://shared.test:PORT/m%d/\"\n\n", i, i)
		fmt.Fprintf(&mirrors, "[[mirror]]\nname = \"own-%d\"\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://own%d.test:PORT/m/\"\n\n", i, i)
	}
	c, inv, cfg := countingNetwork(t, mirrors.String())
	cfg.Concurrency, cfg.PerHost = 4, 2
	snap := run(t, inv, nil, cfg)
	if e := snap.Endpoint("shared-3", state.HTTP, state.IPv4); !e.Healthy {
		t.Fatalf("shared-3: %+v", e)
	}
	if c.peak["shared.test"] != 2 {
		t.Errorf("at most %d requests at once to one host, want 2 (per-host limit)", c.peak["shared.test"])
	}
	if c.peakAll != 4 {
		t.Errorf("at most %d requests at once, want 4 (the global limit, reached)", c.peakAll)
	}
}

func TestRetriesOnceWithJitterButNeverATimeout(t *testing.T) {
	mirrors := ""
	for _, name := range []string{"flaky", "broken"} {
		mirrors += fmt.Sprintf("[[mirror]]\nname = %q\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://%s.test:PORT/%s/\"\n\n", name, name, name)
	}
	c, inv, cfg := countingNetwork(t, mirrors)
	c.fail["/flaky/TIME"] = 1   // one 503, then fine
	c.fail["/broken/TIME"] = 99 // always 503
	snap := run(t, inv, nil, cfg)
	if e := snap.Endpoint("flaky", state.HTTP, state.IPv4); !e.Up || c.requests["/flaky/TIME"] != 2 {
		t.Errorf("flaky: up %v after %d requests; want up after 2", e.Up, c.requests["/flaky/TIME"])
	}
	if e := snap.Endpoint("broken", state.HTTP, state.IPv4); e.Up || e.Class != state.ClassHTTPStatus || c.requests["/broken/TIME"] != 2 {
		t.Errorf("broken: up %v class %s after %d requests; want down after 2", e.Up, e.Class, c.requests["/broken/TIME"])
	}

	// A hanging mirror is asked once: it costs one timeout, not two, and
	// nothing more is asked of it that run.
	c2, inv2, cfg2 := countingNetwork(t, "[[mirror]]\nname = \"hang\"\ncountry = \"DE\"\nprobe_networks = [\"127.0.0.0/8\"]\nhttp = \"http://hang.test:PORT/hang/\"\n")
	c2.hang["/hang/TIME"] = true
	cfg2.Timeout = 300 * time.Millisecond
	snap = run(t, inv2, nil, cfg2)
	if e := snap.Endpoint("hang", state.HTTP, state.IPv4); e.Class != state.ClassTimeout {
		t.Errorf("hang: %+v", e)
	}
	c2.mu.Lock()
	defer c2.mu.Unlock()
	asked := 0
	for p, n := range c2.requests {
		if strings.HasPrefix(p, "/hang/") {
			asked += n
		}
	}
	if c2.requests["/hang/TIME"] != 1 || asked != 1 {
		t.Errorf("the hanging mirror was asked %d times (%d for the stamp); want once: a timeout is never retried", asked, c2.requests["/hang/TIME"])
	}
}

func TestDeadlineKeepsUncheckedEndpoints(t *testing.T) {
	n, inv, cfg, clk := start(t, localmirror.Spec{Name: "a"}, localmirror.Spec{Name: "b"})
	prev := run(t, inv, nil, cfg)
	n.Mirror("a").SetBehaviour(localmirror.Hang)
	n.Mirror("b").SetBehaviour(localmirror.Hang)
	clk.Advance(time.Hour)
	cfg.Concurrency, cfg.Deadline = 1, timeout/2
	snap, rep, err := probe.Run(context.Background(), inv, prev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One endpoint ran into the deadline (a timeout, a failure); the ones
	// that never started keep their previous state.
	if rep.NotChecked == 0 {
		t.Fatalf("every endpoint was checked within %v", cfg.Deadline)
	}
	kept := 0
	for _, name := range []string{"a", "b"} {
		if e := snap.Endpoint(name, state.HTTP, state.IPv4); e.Checked.Equal(prev.Endpoint(name, state.HTTP, state.IPv4).Checked) && e.Healthy {
			kept++
		}
	}
	if kept == 0 {
		t.Error("no unchecked endpoint kept its previous state")
	}
}
