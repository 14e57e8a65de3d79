package test

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TestThreeVantagesMerge runs the real binary as three probes, each
// with its own --vantage, against mirrors on loopback that answer each
// vantage differently, merges the three snapshots and writes the tree
// from the merge (issue 14, item 2).
//
// Vantage c has lost its IPv4 route to the mirrors (their names resolve
// to an address where nothing listens, over IPv6 to the real one): it is
// cut off over IPv4 and counts over IPv6 only. So over IPv4 a and b
// decide, and a tie keeps a mirror; over IPv6 all three vote.
//
//	mirror      a      b      c     IPv4 verdict      IPv6 verdict
//	steady      ok     ok     ok    in                in
//	broken-ab   500    500    ok    out (2 of 2)      out (2 of 3)
//	broken-a    500    ok     ok    in (tie)          in (1 of 3)
//	stale-ab    stale  stale  ok    out               out, lag the median
//	content-bc  ok     wrong  wrong in, fresh (tie)   in, not fresh (2 of 3)
func TestThreeVantagesMerge(t *testing.T) {
	names := []string{"steady", "broken-ab", "broken-a", "stale-ab", "content-bc"}
	var specs []localmirror.Spec
	for _, n := range names {
		specs = append(specs, localmirror.Spec{Name: n, IPv6: true})
	}
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.0.0.160"), Mirrors: specs})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(cfg, []byte(n.Inventory()), 0o644); err != nil {
		t.Fatal(err)
	}

	// c reaches the origin, but each mirror's IPv4 address is one where
	// nothing listens.
	var cutOff []string
	for _, h := range slices.Sorted(maps.Keys(n.Hosts())) {
		addrs := []string{}
		for _, a := range n.Hosts()[h] {
			if a.Is4() && h != n.Origin().Host {
				a = netip.MustParseAddr("127.0.0.254")
			}
			addrs = append(addrs, a.String())
		}
		cutOff = append(cutOff, "--resolve", h+"="+strings.Join(addrs, ","))
	}
	runs := []struct {
		vantage   string
		behaviour map[string]localmirror.Behaviour
		resolve   []string
	}{
		{"a", map[string]localmirror.Behaviour{"broken-ab": localmirror.ServerError, "broken-a": localmirror.ServerError, "stale-ab": localmirror.Stale}, n.ResolveFlags()},
		{"b", map[string]localmirror.Behaviour{"broken-ab": localmirror.ServerError, "stale-ab": localmirror.Stale, "content-bc": localmirror.WrongMetadata}, n.ResolveFlags()},
		{"c", map[string]localmirror.Behaviour{"content-bc": localmirror.WrongMetadata}, cutOff},
	}
	var files []string
	for _, r := range runs {
		for _, m := range n.Mirrors() {
			m.SetBehaviour(cmpOr(r.behaviour[m.Name()], localmirror.Healthy))
		}
		out := filepath.Join(dir, r.vantage+".json")
		args := append([]string{"probe", "-c", cfg, "-o", out, "--vantage", r.vantage, "--timeout", "2s", "--quiet"}, r.resolve...)
		if res := mirrorsteer(t, args...); res.code != 0 {
			t.Fatalf("probe --vantage %s: exit %d\n%s%s", r.vantage, res.code, res.stdout, res.stderr)
		}
		s, err := state.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if s.Vantage != r.vantage {
			t.Fatalf("%s: vantage %q, want %q", out, s.Vantage, r.vantage)
		}
		files = append(files, out)
	}

	merged := filepath.Join(dir, "state.json")
	res := mirrorsteer(t, append([]string{"merge", "-o", merged}, files...)...)
	if res.code != 0 {
		t.Fatalf("merge: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"merge: 3 vantages, 10 endpoints of 5 mirrors: 6 healthy, 4 out, 4 where the counted vantages disagree; ",
		"wrote " + merged,
		"vantage  taken",
		"cut off over IPv4: it saw 5 of 5 IPv4 endpoints down",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("merge summary lacks %q:\n%s", want, res.stdout)
		}
	}
	snap, err := state.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string][2]bool{ // ipv4, ipv6
		"steady": {true, true}, "broken-ab": {false, false}, "broken-a": {true, true},
		"stale-ab": {false, false}, "content-bc": {true, true},
	}
	for m, want := range verdicts {
		for _, f := range state.Families {
			if e := snap.Endpoint(m, state.HTTP, f); e == nil || e.Healthy != want[f] {
				t.Errorf("%s over %s: %+v, want healthy %v", m, f, e, want[f])
			}
		}
	}
	if e := snap.Endpoint("stale-ab", state.HTTP, state.IPv6); e.Class != state.ClassStale || !e.Lag.Known || e.Lag.Duration < 29*time.Hour {
		t.Errorf("stale-ab over IPv6: class %q lag %v, want stale by the median 30h", e.Class, e.Lag)
	}
	if e := snap.Endpoint("content-bc", state.HTTP, state.IPv4); !e.Fresh("baseos", "9", "x86_64") {
		t.Errorf("content-bc over IPv4: a fresh, b not, c cut off: a tie keeps it fresh: %+v", e.Repos)
	}
	if e := snap.Endpoint("content-bc", state.HTTP, state.IPv6); e.Fresh("baseos", "9", "x86_64") {
		t.Errorf("content-bc over IPv6: b and c found its metadata wrong: %+v", e.Repos)
	}
	var c *state.Vantage
	for i := range snap.Merged.Vantages {
		if v := &snap.Merged.Vantages[i]; v.Name == "c" {
			c = v
		}
	}
	if c == nil || !slices.Equal(c.CutOff, []state.Family{state.IPv4}) || c.Status != state.VantageCounted {
		t.Errorf("vantage c: %+v, want counted and cut off over IPv4", c)
	}

	// gen, lookup and dnsd read the merge as they read one probe's.
	out := filepath.Join(dir, "out")
	if res := mirrorsteer(t, "gen", "-c", cfg, "-s", merged, "-o", out); res.code != 0 {
		t.Fatalf("gen: exit %d\n%s", res.code, res.stderr)
	}
	listed := func(rel string) []string {
		var hosts []string
		for _, line := range strings.Split(readFile(t, filepath.Join(out, rel)), "\n") {
			if m := regexp.MustCompile(`^http://([a-z-]+)\.mirrors\.test`).FindStringSubmatch(line); m != nil {
				hosts = append(hosts, m[1])
			}
		}
		slices.Sort(hosts)
		return hosts
	}
	if got, want := listed("mirrorlist/baseos/9/x86_64/global.txt"), []string{"broken-a", "content-bc", "steady"}; !slices.Equal(got, want) {
		t.Errorf("IPv4 global list: %v, want %v", got, want)
	}
	if got, want := listed("mirrorlist/baseos/9/x86_64/v6/global.txt"), []string{"broken-a", "steady"}; !slices.Equal(got, want) {
		t.Errorf("IPv6 global list: %v, want %v", got, want)
	}
	if res := mirrorsteer(t, "lookup", "-c", cfg, "-s", merged, "--country", "DE", "--repo", "baseos", "--release", "9", "--arch", "x86_64"); res.code != 0 || strings.Contains(res.stdout, "broken-ab") || !strings.Contains(res.stdout, "broken-a") {
		t.Errorf("lookup on the merge: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	// The site shows which vantage sees what.
	page := readFile(t, filepath.Join(out, "mirror", "broken-a.html"))
	for _, want := range []string{
		`<th scope="col">a</th><th scope="col">b</th><th scope="col">c</th><th scope="col">Verdict</th>`,
		// IPv4: a says down, b up, c does not count: a tie keeps it.
		`<th scope="row">http IPv4</th>
<td><span class="st st-down">down</span><p class="small">it answered with an HTTP error</p></td>
<td><span class="st st-up">up</span>`,
		`<td class="discounted"><span class="st st-down">down</span><p class="small">the connection was refused</p><p class="small">not counted: the vantage is cut off over IPv4</p></td>
<td><span class="st st-up">up</span></td>`,
		"<li><strong>c</strong>: snapshot taken",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("mirror/broken-a.html lacks\n%s\n----\n%s", want, page)
		}
	}
	if index := readFile(t, filepath.Join(out, "index.html")); !strings.Contains(index, "<strong>c</strong> (cut off over IPv4)") {
		t.Errorf("index.html does not say c is cut off")
	}
}

// TestMergeRefuses: what merge and probe --vantage refuse, each with the
// file it is about and exit 1, or exit 2 for a usage error; no merged
// file is written.
func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, vantage string, schema int) string {
		p := filepath.Join(dir, name)
		v := ""
		if vantage != "" {
			v = `"vantage": "` + vantage + `", `
		}
		data := `{"schema": ` + strconv.Itoa(schema) + `, ` + v + `"taken": "` + time.Now().UTC().Format(time.RFC3339) + `", "network": "n", "mirrors": {}}`
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.json", "fra1", 2)
	aAgain := write("a-again.json", "FRA1", 2)
	old := write("old.json", "", 1)
	newer := write("newer.json", "b", 3)
	b := write("b.json", "b", 2)
	merged := filepath.Join(dir, "state.json")
	tests := []struct {
		rule string
		args []string
		code int
		want string
	}{
		{"two snapshots of one vantage", []string{"merge", "-o", merged, a, aAgain}, 1,
			`a-again.json: vantage "FRA1" is also the vantage of ` + a},
		{"a snapshot of a probe without --vantage", []string{"merge", "-o", merged, a, old}, 1,
			old + ": no vantage name: it was probed without --vantage"},
		{"a schema from the future", []string{"merge", "-o", merged, a, newer}, 1,
			newer + ": schema version 3 is newer than this mirrorsteer understands (2); upgrade mirrorsteer"},
		{"a missing file", []string{"merge", "-o", merged, a, filepath.Join(dir, "absent.json")}, 1,
			"absent.json"},
		{"no files", []string{"merge", "-o", merged}, 2, "name the vantages' snapshots to merge"},
		{"the output is an input", []string{"merge", "-o", a, a, b}, 2, "-o " + a + " is also an input"},
		{"a bad max age", []string{"merge", "--max-age", "-5m", a}, 2, "--max-age -5m0s is not a positive duration"},
		{"a hostile vantage name", []string{"probe", "-c", example, "--vantage", "fra\x1b[2J"}, 2,
			`--vantage: vantage name "fra\x1b[2J" has "\x1b" at byte 4`},
		{"a probe writing another vantage's file", []string{"probe", "-c", example, "-o", a, "--vantage", "ams"}, 1,
			a + `: was written by the probe at vantage "fra1", and this is vantage "ams"; give each vantage its own -o file`},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			res := mirrorsteer(t, tt.args...)
			if res.code != tt.code || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", res.code, tt.code, tt.want, res.stderr)
			}
			if strings.ContainsRune(res.stderr, '\x1b') {
				t.Errorf("stderr carries a raw escape: %q", res.stderr)
			}
			if _, err := os.Stat(merged); err == nil {
				t.Error("a merge that failed wrote state.json")
			}
		})
	}

	// A good merge, then a probe pointed at it refuses to take it for its
	// own history.
	if res := mirrorsteer(t, "merge", a, b, "-o", merged); res.code != 0 {
		t.Fatalf("merge: exit %d\n%s", res.code, res.stderr)
	}
	res := mirrorsteer(t, "probe", "-c", example, "-o", merged, "--vantage", "fra1")
	if res.code != 1 || !strings.Contains(res.stderr, merged+": is a merge of several vantages (mirrorsteer merge), not this probe's previous run") {
		t.Errorf("probe over a merge: exit %d\n%s", res.code, res.stderr)
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
