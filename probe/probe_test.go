package probe_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// clock is the probe's injected clock: tests move it, nobody sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// nxdomain answers every name "no such host", as a real resolver does for
// names that do not exist.
type nxdomain struct{}

func (nxdomain) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// timeout is short, but long enough for all of an endpoint's requests,
// two rsync processes included, under -race on a busy machine.
const timeout = 5 * time.Second

// start runs a local network and returns it, its inventory and a probe
// configuration that uses its resolver, CA and a clock at the origin's
// time.
func start(t *testing.T, specs ...localmirror.Spec) (*localmirror.Network, *inventory.Inventory, probe.Config, *clock) {
	t.Helper()
	return startNetwork(t, localmirror.Options{Mirrors: specs})
}

// startNetwork is start with more options than the mirrors.
func startNetwork(t *testing.T, opts localmirror.Options) (*localmirror.Network, *inventory.Inventory, probe.Config, *clock) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	opts.Time = now
	n, err := localmirror.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	inv, err := inventory.Parse("local.toml", []byte(n.Inventory()), ".")
	if err != nil {
		t.Fatalf("%v\n%s", err, n.Inventory())
	}
	clk := &clock{t: now.Add(time.Minute)}
	cfg := probe.Defaults()
	cfg.Timeout = timeout
	cfg.RetryDelay = 10 * time.Millisecond
	cfg.RootCAs = n.RootCAs()
	cfg.Resolver = &probe.StaticResolver{Hosts: n.Hosts(), Next: nxdomain{}}
	cfg.Now = clk.Now
	return n, inv, cfg, clk
}

// haveRsync fails the test when the rsync program is missing: .ci/run
// installs it, and a silent pass without it would hide the rsync checks.
func haveRsync(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is not installed (apt-get install rsync); the rsync checks need it")
	}
	return true
}

// repos describes an endpoint's repos: "all", "none", or the repos that
// are not fresh, e.g. "-debian".
func repos(e *state.Endpoint) string {
	var stale []string
	seen := map[string]bool{}
	for _, r := range e.Repos {
		if !r.Fresh && !seen[r.Repo] {
			seen[r.Repo] = true
			stale = append(stale, "-"+r.Repo)
		}
	}
	switch {
	case len(e.Repos) == 0:
		return "unchecked"
	case len(stale) == 0:
		return "all"
	case len(stale) == 4:
		return "none"
	}
	return strings.Join(stale, " ")
}

func TestEveryBehaviourIsClassified(t *testing.T) {
	rsync := haveRsync(t)
	files := []string{"http", "ftp"}
	if rsync {
		files = append(files, "rsync")
	}
	n, inv, cfg, _ := start(t,
		localmirror.Spec{Behaviour: localmirror.Healthy, IPv6: true},
		localmirror.Spec{Behaviour: localmirror.Stale, StaleBy: 30 * time.Hour},
		localmirror.Spec{Name: "stale-but-allowed", Behaviour: localmirror.Stale, StaleBy: 30 * time.Hour, MaxLag: 48 * time.Hour},
		localmirror.Spec{Behaviour: localmirror.Partial},
		localmirror.Spec{Behaviour: localmirror.WrongMetadata},
		localmirror.Spec{Behaviour: localmirror.NotFound},
		localmirror.Spec{Behaviour: localmirror.ServerError},
		localmirror.Spec{Behaviour: localmirror.Reset},
		localmirror.Spec{Behaviour: localmirror.Hang},
		localmirror.Spec{Behaviour: localmirror.SlowBody, Delay: timeout / 10}, // the stamp alone takes two timeouts
		localmirror.Spec{Behaviour: localmirror.HugeBody},
		localmirror.Spec{Behaviour: localmirror.RedirectLoop},
		localmirror.Spec{Behaviour: localmirror.RedirectPrivate},
		localmirror.Spec{Behaviour: localmirror.RedirectMetadata},
		localmirror.Spec{Behaviour: localmirror.RedirectOrigin},
		localmirror.Spec{Behaviour: localmirror.Ahead},
		localmirror.Spec{Behaviour: localmirror.BadCert},
		localmirror.Spec{Behaviour: localmirror.ExpiringCert},
		localmirror.Spec{Behaviour: localmirror.IPv6Down},
		localmirror.Spec{Behaviour: localmirror.Down},
		localmirror.Spec{Behaviour: localmirror.NoDNS},
		localmirror.Spec{Name: "files", Protocols: files, IPv6: true},
		localmirror.Spec{Name: "files-stale", Behaviour: localmirror.Stale, Protocols: files[1:]},
		localmirror.Spec{Name: "files-partial", Behaviour: localmirror.Partial, Protocols: files[1:]},
		localmirror.Spec{Name: "files-hang", Behaviour: localmirror.Hang, Protocols: files[1:]},
		localmirror.Spec{Name: "files-down", Behaviour: localmirror.Down, Protocols: files[1:]},
	)
	_ = n
	// That every slow mirror costs one timeout, all at once, is measured
	// by bench/probe.sh; wall time in a unit test only measures the load.
	snap, rep, err := probe.Run(context.Background(), inv, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		up      bool
		class   state.Class
		healthy bool
		repos   string
	}
	ok := want{true, "", true, "all"}
	down := func(class state.Class) want { return want{false, class, false, "unchecked"} }
	cases := []struct {
		mirror string
		proto  state.Protocol
		family state.Family
		want   want
	}{
		{"healthy", "http", state.IPv4, ok},
		{"healthy", "http", state.IPv6, ok},
		{"stale", "http", state.IPv4, want{true, "stale", false, "none"}},
		{"stale", "http", state.IPv6, down("no-address")},
		{"stale-but-allowed", "http", state.IPv4, want{true, "", true, "-arch -baseos -debian"}},
		{"partial", "http", state.IPv4, want{true, "", true, "-debian"}},
		{"wrong-metadata", "http", state.IPv4, want{true, "", true, "-arch -baseos -debian"}},
		{"404", "http", state.IPv4, down("http-status")},
		{"500", "http", state.IPv4, down("http-status")},
		{"reset", "http", state.IPv4, down("reset")},
		{"hang", "http", state.IPv4, down("timeout")},
		{"slow-body", "http", state.IPv4, down("timeout")},
		{"huge-body", "http", state.IPv4, down("protocol")},
		{"redirect-loop", "http", state.IPv4, down("redirect")},
		{"redirect-private", "http", state.IPv4, down("forbidden-address")},
		{"redirect-metadata", "http", state.IPv4, down("forbidden-address")},
		{"redirect-origin", "http", state.IPv4, down("redirects-to-origin")},
		{"ahead", "http", state.IPv4, want{true, "ahead", false, "none"}},
		{"bad-cert", "https", state.IPv4, down("tls")},
		{"expiring-cert", "https", state.IPv4, ok},
		{"ipv6-down", "http", state.IPv4, ok},
		{"ipv6-down", "http", state.IPv6, down("refused")},
		{"down", "http", state.IPv4, down("refused")},
		{"no-dns", "http", state.IPv4, down("dns")},
		{"no-dns", "http", state.IPv6, down("dns")},
		{"files", "ftp", state.IPv4, ok},
		{"files", "ftp", state.IPv6, ok},
		{"files-stale", "ftp", state.IPv4, want{true, "stale", false, "none"}},
		{"files-partial", "ftp", state.IPv4, want{true, "", true, "-debian"}},
		{"files-hang", "ftp", state.IPv4, down("timeout")},
		{"files-down", "ftp", state.IPv4, down("refused")},
	}
	if rsync {
		cases = append(cases, []struct {
			mirror string
			proto  state.Protocol
			family state.Family
			want   want
		}{
			{"files", "rsync", state.IPv4, ok},
			{"files", "rsync", state.IPv6, ok},
			{"files-stale", "rsync", state.IPv4, want{true, "stale", false, "none"}},
			{"files-partial", "rsync", state.IPv4, want{true, "", true, "-debian"}},
			{"files-hang", "rsync", state.IPv4, down("timeout")},
			{"files-down", "rsync", state.IPv4, down("refused")},
		}...)
	}
	for _, c := range cases {
		e := snap.Endpoint(c.mirror, c.proto, c.family)
		if e == nil {
			t.Errorf("%s %s %s: no endpoint", c.mirror, c.proto, c.family)
			continue
		}
		got := want{e.Up, e.Class, e.Healthy, repos(e)}
		if got != c.want {
			t.Errorf("%s %s %s: got %+v, want %+v (error %q)", c.mirror, c.proto, c.family, got, c.want, e.Error)
		}
	}
	if e := snap.Endpoint("stale", "http", state.IPv4); e.Lag.Duration != 30*time.Hour {
		t.Errorf("stale mirror: lag %v, want 30h", e.Lag)
	}
	if e := snap.Endpoint("healthy", "http", state.IPv4); e.LatencyMS <= 0 || e.LastGood.IsZero() || e.Successes != 1 {
		t.Errorf("healthy mirror: latency %v, last good %v, successes %d", e.LatencyMS, e.LastGood, e.Successes)
	}
	if e := snap.Endpoint("expiring-cert", "https", state.IPv4); time.Until(e.CertExpiry) > 73*time.Hour || len(rep.Expiring) != 1 || !strings.Contains(rep.Expiring[0], "expiring-cert") {
		t.Errorf("expiring certificate: expiry %v, report %q", e.CertExpiry, rep.Expiring)
	}
	if e := snap.Endpoint("redirect-private", "http", state.IPv4); !strings.Contains(e.Error, "10.255.255.1") {
		t.Errorf("redirect-private: error %q does not name the address", e.Error)
	}
	if e := snap.Endpoint("partial", "http", state.IPv4); !strings.Contains(e.Repos[5].Error, "404 Not Found for debian/dists/stable/InRelease") {
		t.Errorf("partial: errors %+v do not say 404", e.Repos)
	}
	if len(snap.Origin.Metadata) == 0 || snap.Origin.Stamp.IsZero() {
		t.Errorf("origin: %+v", snap.Origin)
	}
	// Every endpoint is in the snapshot, every one is written validly.
	if err := snap.Validate(); err != nil {
		t.Error(err)
	}
	var sb strings.Builder
	rep.WriteSummary(&sb)
	if !strings.Contains(sb.String(), "protocol") || !strings.Contains(sb.String(), "ftp") {
		t.Errorf("summary:\n%s", sb.String())
	}
}
