package test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TestProbeMergesAndKeepsStateWhenTheOriginIsDown runs the real binary
// against local mirrors: a first run, a second that merges with it, a run
// with the origin down that must fail and leave state.json alone, and gen
// from the snapshot.
func TestProbeMergesAndKeepsStateWhenTheOriginIsDown(t *testing.T) {
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.0.0.120"), Mirrors: []localmirror.Spec{
		{Name: "good", IPv6: true, Protocols: []string{"http", "https"}},
		{Behaviour: localmirror.Stale},
		{Behaviour: localmirror.Hang},
		{Behaviour: localmirror.IPv6Down},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mirrors.toml")
	os.WriteFile(cfg, []byte(n.Inventory()), 0o644)
	statePath := filepath.Join(dir, "state.json")
	args := append([]string{"probe", "-c", cfg, "-o", statePath, "--timeout", "1s", "--ca-file", n.CAFile()}, n.ResolveFlags()...)

	r := mirrorsteer(t, args...)
	if r.code != 0 {
		t.Fatalf("probe exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"probe: 10 endpoints of 4 mirrors", "protocol  family  up  stale  down  healthy", "timeout 1", "stale 1", "no-address 2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	// Not a terminal: progress is a line per 10%, as CI logs want.
	if !strings.Contains(r.stderr, "probe: 100% (10/10 endpoints") {
		t.Errorf("progress lines missing:\n%s", r.stderr)
	}
	snap, err := state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if e := snap.Endpoint("good", state.HTTPS, state.IPv6); e == nil || !e.Healthy || e.Successes != 1 || e.CertExpiry.IsZero() {
		t.Fatalf("good https ipv6: %+v", e)
	}
	if e := snap.Endpoint("ipv6-down", state.HTTP, state.IPv6); e == nil || e.Class != "refused" {
		t.Errorf("ipv6-down over ipv6: %+v", e)
	}

	// The second run merges with the first: counts go on.
	if r := mirrorsteer(t, args...); r.code != 0 {
		t.Fatalf("second probe exit %d: %s", r.code, r.stderr)
	}
	snap, err = state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if e := snap.Endpoint("good", state.HTTP, state.IPv4); e.Successes != 2 {
		t.Errorf("second run: good has %d successes, want 2", e.Successes)
	}
	if e := snap.Endpoint("hang", state.HTTP, state.IPv4); e.Failures != 2 || e.Healthy {
		t.Errorf("second run: hang has %d failures, healthy %v", e.Failures, e.Healthy)
	}

	// gen reads the snapshot: only healthy mirrors are listed.
	out := filepath.Join(dir, "out")
	if r := mirrorsteer(t, "gen", "-c", cfg, "-s", statePath, "-o", out); r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	list := readFile(t, filepath.Join(out, "mirrorlist", "baseos", "9", "x86_64", "global.txt"))
	if !strings.Contains(list, "good.mirrors.test") || strings.Contains(list, "stale.mirrors.test") || strings.Contains(list, "hang.mirrors.test") {
		t.Errorf("global list:\n%s", list)
	}

	// The origin goes down: exit 1, one line naming it, state.json as it was.
	before := readFile(t, statePath)
	n.Origin().SetBehaviour(localmirror.ServerError)
	r = mirrorsteer(t, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "origin "+n.Origin().URLs["http"]) || !strings.Contains(r.stderr, "previous one is kept") {
		t.Errorf("origin down: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if readFile(t, statePath) != before {
		t.Error("a run that could not reach the origin changed state.json")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// TestProbeUsageErrors: a flag out of its bound is a usage error, in the
// words and with the range of the [probe] key it overrides (issue 10,
// item 3: --retries 11 and --per-host 5000 used to run). The inventory
// named does not exist: the flags are refused before it is read.
func TestProbeUsageErrors(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent.toml")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--resolve", "nonsense"}, "want host=addr"},
		{[]string{"--timeout", "0s"}, "--timeout 0s is not a positive duration"},
		{[]string{"--per-host", "0"}, "--per-host 0 is out of range; use 1 to 1000"},
		{[]string{"--per-host", "5000"}, "--per-host 5000 is out of range; use 1 to 1000"},
		{[]string{"--retries", "11", "--max-body", "100"}, "--retries 11 is out of range; use 0 to 10\n--max-body 100 is out of range; use 4096 to 17179869184 bytes"},
		{[]string{"stray"}, `unexpected argument "stray"`},
	} {
		args := append([]string{"probe", "-c", absent}, tt.args...)
		if r := mirrorsteer(t, args...); r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("mirrorsteer %v: exit %d, want 2 and %q\n%s", args, r.code, tt.want, r.stderr)
		}
	}
}
