package state

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is when the newest snapshot of a merge test is taken.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seen is what one vantage saw of one endpoint, for building snapshots.
type seen struct {
	mirror      string
	family      Family
	up, healthy bool
	class       Class
	lag         time.Duration // -1: unknown
	checkedAgo  time.Duration // before the vantage's snapshot was taken
	repos       []Repo
}

// ok is a good check of mirror's https/ipv4 endpoint, lag 1h.
func ok(mirror string) seen {
	return seen{mirror: mirror, up: true, healthy: true, lag: time.Hour}
}

// down is a failed check, out by the vantage's own hysteresis.
func down(mirror string) seen {
	return seen{mirror: mirror, class: ClassTimeout, lag: -1}
}

func (s seen) v6() seen                     { s.family = IPv6; return s }
func (s seen) withClass(c Class) seen       { s.class = c; return s }
func (s seen) withLag(d time.Duration) seen { s.lag = d; return s }
func (s seen) ago(d time.Duration) seen     { s.checkedAgo = d; return s }
func (s seen) repo(name string, fresh bool) seen {
	r := Repo{Repo: name, Fresh: fresh}
	if !fresh {
		r.Error = "its " + name + " metadata is no version the origin had"
	}
	s.repos = append(slices.Clone(s.repos), r)
	return s
}

// stale is an answer whose stamp is too old: up, not healthy.
func stale(mirror string, lag time.Duration) seen {
	return seen{mirror: mirror, up: true, class: ClassStale, lag: lag}
}

// vantage is a source: vantage name's snapshot, taken age before t0.
func vantage(name string, age time.Duration, sees ...seen) Source {
	taken := t0.Add(-age)
	s := &Snapshot{Schema: Schema, Taken: taken, Network: "test", Vantage: name,
		Origin:  Origin{Stamp: taken.Add(-10 * time.Minute), Checked: taken},
		Mirrors: map[string]*Mirror{}}
	for _, x := range sees {
		e := Endpoint{Protocol: HTTPS, Family: x.family, Up: x.up, Healthy: x.healthy,
			Checked: taken.Add(time.Second - x.checkedAgo), Class: x.class, Repos: slices.Clone(x.repos)}
		if x.up {
			e.Successes = 1
			e.LatencyMS = 40
		} else {
			e.Failures = 2
		}
		if x.class != "" {
			e.Error = name + " saw " + string(x.class)
		}
		if x.lag >= 0 {
			e.Lag = DurationOf(x.lag)
			e.Stamp = s.Origin.Stamp.Add(-x.lag)
		}
		m := s.Mirrors[x.mirror]
		if m == nil {
			m = &Mirror{}
			s.Mirrors[x.mirror] = m
		}
		m.Endpoints = append(m.Endpoints, e)
	}
	return Source{File: name + ".json", Snapshot: s}
}

// allDown is every endpoint of mirrors over family f seen down.
func allDown(f Family, mirrors ...string) []seen {
	var out []seen
	for _, m := range mirrors {
		s := down(m)
		s.family = f
		out = append(out, s)
	}
	return out
}

func allOK(f Family, mirrors ...string) []seen {
	var out []seen
	for _, m := range mirrors {
		s := ok(m)
		s.family = f
		out = append(out, s)
	}
	return out
}

func cat(lists ...[]seen) []seen { return slices.Concat(lists...) }

var five = []string{"m1", "m2", "m3", "m4", "m5"}

func TestMergeQuorum(t *testing.T) {
	tests := []struct {
		rule    string
		sources []Source
		// want is the verdict per endpoint: "m1" is https/ipv4, "m1/v6"
		// https/ipv6; an endpoint with no verdict must be absent.
		want map[string]bool
		// status and cutOff are the vantages' ("a": "stale"); vantages
		// left out must be counted and not cut off.
		status map[string]VantageStatus
		cutOff map[string][]Family
		check  func(t *testing.T, s *Snapshot)
	}{
		{
			rule:    "a strict majority of the vantages saying down takes an endpoint out",
			sources: []Source{vantage("a", 0, down("m1"), ok("m2")), vantage("b", 0, down("m1"), ok("m2")), vantage("c", 0, ok("m1"), ok("m2"))},
			want:    map[string]bool{"m1": false, "m2": true},
		},
		{
			rule:    "one vantage of three saying down is outvoted",
			sources: []Source{vantage("a", 0, down("m1"), ok("m2")), vantage("b", 0, ok("m1"), ok("m2")), vantage("c", 0, ok("m1"), ok("m2"))},
			want:    map[string]bool{"m1": true, "m2": true},
		},
		{
			rule:    "a tie of two keeps the endpoint",
			sources: []Source{vantage("a", 0, down("m1"), ok("m2"), ok("m3")), vantage("b", 0, ok("m1"), ok("m2"), ok("m3"))},
			want:    map[string]bool{"m1": true, "m2": true, "m3": true},
		},
		{
			rule: "a tie of four keeps the endpoint, three of four take it out",
			sources: []Source{
				vantage("a", 0, down("m1"), down("m2"), ok("m3"), ok("m4")),
				vantage("b", 0, down("m1"), down("m2"), ok("m3"), ok("m4")),
				vantage("c", 0, ok("m1"), down("m2"), ok("m3"), ok("m4")),
				vantage("d", 0, ok("m1"), ok("m2"), ok("m3"), ok("m4")),
			},
			want: map[string]bool{"m1": true, "m2": false, "m3": true, "m4": true},
		},
		{
			rule: "a vantage that sees everything down while the others see it up is cut off and discounted",
			sources: []Source{
				vantage("a", 0, allDown(IPv4, five...)...),
				vantage("b", 0, cat(allOK(IPv4, "m1", "m2", "m3", "m4"), allDown(IPv4, "m5"))...),
				vantage("c", 0, allOK(IPv4, five...)...),
			},
			// Counting a, m5 (a down, b down, c up) would be out.
			want:   map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true, "m5": true},
			cutOff: map[string][]Family{"a": {IPv4}},
			check: func(t *testing.T, s *Snapshot) {
				a := s.Merged.Vantages[0]
				if !strings.Contains(a.Note, "cut off over IPv4: it saw 5 of 5 IPv4 endpoints down, and most other vantages saw 4 of the 5") {
					t.Errorf("a's note: %q", a.Note)
				}
				sg := s.Sightings("m5", HTTPS, IPv4)
				if sg[0].Counted || !strings.Contains(sg[0].Note, "cut off over IPv4") || !sg[1].Counted || !sg[2].Counted {
					t.Errorf("m5 sightings: %+v", sg)
				}
			},
		},
		{
			rule: "an outage every vantage sees takes the mirrors out and cuts no one off",
			sources: []Source{
				vantage("a", 0, allDown(IPv4, five...)...),
				vantage("b", 0, allDown(IPv4, five...)...),
				vantage("c", 0, allDown(IPv4, five...)...),
			},
			want: map[string]bool{"m1": false, "m2": false, "m3": false, "m4": false, "m5": false},
		},
		{
			rule: "most mirrors down for everyone is a real outage, not a cut-off vantage",
			sources: []Source{
				vantage("a", 0, cat(allDown(IPv4, "m1", "m2", "m3", "m4"), allOK(IPv4, "m5"))...),
				vantage("b", 0, cat(allDown(IPv4, "m1", "m2", "m3", "m4"), allOK(IPv4, "m5"))...),
				vantage("c", 0, allDown(IPv4, five...)...),
			},
			want: map[string]bool{"m1": false, "m2": false, "m3": false, "m4": false, "m5": true},
		},
		{
			rule: "a vantage that lost IPv6 is cut off over IPv6 only; its IPv4 views still count",
			sources: []Source{
				vantage("a", 0, cat(allDown(IPv6, five...), []seen{down("m1"), ok("m2"), ok("m3"), ok("m4"), ok("m5")})...),
				vantage("b", 0, cat(allOK(IPv6, five...), []seen{down("m1"), ok("m2"), ok("m3"), ok("m4"), ok("m5")})...),
				vantage("c", 0, cat(allDown(IPv6, "m1"), allOK(IPv6, "m2", "m3", "m4", "m5"), allOK(IPv4, five...))...),
			},
			want: map[string]bool{
				"m1": false, "m2": true, "m3": true, "m4": true, "m5": true,
				"m1/v6": true, "m2/v6": true, "m3/v6": true, "m4/v6": true, "m5/v6": true, // m1/v6: a discounted, b up, c down: a tie
			},
			cutOff: map[string][]Family{"a": {IPv6}},
		},
		{
			rule: "a stale vantage is ignored",
			sources: []Source{
				vantage("a", 2*time.Hour, down("m1"), ok("m2")),
				vantage("b", 0, down("m1"), ok("m2")),
				vantage("c", 5*time.Minute, ok("m1"), ok("m2")),
			},
			want:   map[string]bool{"m1": true, "m2": true},
			status: map[string]VantageStatus{"a": VantageStale},
			check: func(t *testing.T, s *Snapshot) {
				if !s.Taken.Equal(t0) {
					t.Errorf("taken %v, want the newest snapshot's %v", s.Taken, t0)
				}
				if n := s.Merged.Vantages[0].Note; !strings.Contains(n, "taken 2h0m0s before the newest snapshot, more than the max age of 45m0s") {
					t.Errorf("a's note: %q", n)
				}
			},
		},
		{
			rule: "an endpoint a vantage did not reach recently does not count for it",
			sources: []Source{
				vantage("a", 0, down("m1").ago(time.Hour), ok("m2")),
				vantage("b", 0, down("m1"), ok("m2")),
				vantage("c", 0, ok("m1"), ok("m2")),
			},
			want: map[string]bool{"m1": true, "m2": true},
			check: func(t *testing.T, s *Snapshot) {
				if sg := s.Sightings("m1", HTTPS, IPv4); sg[0].Counted || !strings.Contains(sg[0].Note, "more than the max age") {
					t.Errorf("a's old check of m1: %+v", sg[0])
				}
			},
		},
		{
			rule: "an endpoint only one vantage checked is that vantage's verdict",
			sources: []Source{
				vantage("a", 0, ok("m1")),
				vantage("b", 0, ok("m1")),
				vantage("c", 0, ok("m1"), down("only-down"), ok("only-up")),
			},
			want: map[string]bool{"m1": true, "only-down": false, "only-up": true},
		},
		{
			rule: "an endpoint only a cut-off vantage checked takes its view",
			sources: []Source{
				vantage("a", 0, cat(allDown(IPv4, five...), allDown(IPv4, "only-a"))...),
				vantage("b", 0, allOK(IPv4, five...)...),
				vantage("c", 0, allOK(IPv4, five...)...),
			},
			want:   map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true, "m5": true, "only-a": false},
			cutOff: map[string][]Family{"a": {IPv4}},
			check: func(t *testing.T, s *Snapshot) {
				if sg := s.Sightings("only-a", HTTPS, IPv4); !sg[0].Counted || !strings.Contains(sg[0].Note, "counted although the vantage is cut off") || sg[1].Endpoint != nil {
					t.Errorf("only-a sightings: %+v", sg)
				}
			},
		},
		{
			rule: "an endpoint no vantage checked recently keeps the newest check",
			sources: []Source{
				vantage("a", 3*time.Hour, ok("gone")),
				vantage("b", 2*time.Hour, down("gone")),
				vantage("c", 0, ok("m1")),
			},
			want:   map[string]bool{"m1": true, "gone": false},
			status: map[string]VantageStatus{"a": VantageStale, "b": VantageStale},
		},
		{
			rule: "a vantage whose clock is ahead counts for nothing and is not the reference",
			sources: []Source{
				vantage("a", 0, ok("m1")),
				vantage("b", 10*time.Minute, ok("m1")),
				vantage("c", -3*time.Hour, down("m1"), down("only-c")),
			},
			want:   map[string]bool{"m1": true},
			status: map[string]VantageStatus{"c": VantageFuture},
			check: func(t *testing.T, s *Snapshot) {
				if !s.Taken.Equal(t0) {
					t.Errorf("taken %v, want a's %v", s.Taken, t0)
				}
				if _, ok := s.Mirrors["only-c"]; ok {
					t.Error("a mirror only the vantage from the future saw is in the merge")
				}
			},
		},
		{
			rule: "lag is the median vantage's, with its stamp",
			sources: []Source{
				vantage("a", 0, ok("m1").withLag(time.Hour), ok("m2").withLag(time.Hour)),
				vantage("b", 0, ok("m1").withLag(30*time.Hour), ok("m2").withLag(5*time.Hour)),
				vantage("c", 0, ok("m1").withLag(5*time.Hour), down("m2")),
			},
			want: map[string]bool{"m1": true, "m2": true},
			check: func(t *testing.T, s *Snapshot) {
				e := s.Endpoint("m1", HTTPS, IPv4)
				if e.Lag != DurationOf(5*time.Hour) || !e.Stamp.Equal(s.Origin.Stamp.Add(-5*time.Hour)) {
					t.Errorf("m1: lag %v stamp %v, want the median 5h", e.Lag, e.Stamp)
				}
				// Two known lags: the lower middle one, in the mirror's favour.
				if e := s.Endpoint("m2", HTTPS, IPv4); e.Lag != DurationOf(time.Hour) {
					t.Errorf("m2: lag %v, want 1h", e.Lag)
				}
			},
		},
		{
			rule: "stale by a majority is out, and shown as stale",
			sources: []Source{
				vantage("a", 0, stale("m1", 30*time.Hour)),
				vantage("b", 0, stale("m1", 31*time.Hour)),
				vantage("c", 0, ok("m1")),
			},
			want: map[string]bool{"m1": false},
			check: func(t *testing.T, s *Snapshot) {
				e := s.Endpoint("m1", HTTPS, IPv4)
				if !e.Up || e.Class != ClassStale || e.Error != "a saw stale" || e.Lag != DurationOf(30*time.Hour) {
					t.Errorf("m1: %+v", e)
				}
			},
		},
		{
			rule: "content is what a majority saw, per repository",
			sources: []Source{
				vantage("a", 0, ok("m1").repo("baseos", true).repo("appstream", false).repo("extras", true)),
				vantage("b", 0, ok("m1").repo("baseos", false).repo("appstream", true).repo("extras", false)),
				vantage("c", 0, ok("m1").repo("baseos", false).repo("appstream", true)),
			},
			want: map[string]bool{"m1": true},
			check: func(t *testing.T, s *Snapshot) {
				e := s.Endpoint("m1", HTTPS, IPv4)
				want := []Repo{
					{Repo: "appstream", Fresh: true},
					{Repo: "baseos", Error: "its baseos metadata is no version the origin had"},
					{Repo: "extras", Fresh: true}, // one of two: a tie
				}
				if !slices.Equal(e.Repos, want) {
					t.Errorf("repos %+v, want %+v", e.Repos, want)
				}
			},
		},
		{
			rule: "what the merge shows of an endpoint is the most common failure among those that agree",
			sources: []Source{
				vantage("a", 0, down("m1").withClass(ClassRefused)),
				vantage("b", 0, down("m1")),
				vantage("c", 0, down("m1")),
				vantage("d", 0, ok("m1")),
			},
			want: map[string]bool{"m1": false},
			check: func(t *testing.T, s *Snapshot) {
				if e := s.Endpoint("m1", HTTPS, IPv4); e.Class != ClassTimeout || e.Error != "b saw timeout" || e.Up || e.Failures != 2 {
					t.Errorf("m1: %+v", e)
				}
			},
		},
		{
			rule: "a vantage seeing half of the endpoints down is not cut off: it takes most",
			sources: []Source{
				vantage("a", 0, down("m1"), down("m2"), ok("m3"), ok("m4")),
				vantage("b", 0, ok("m1"), ok("m2"), down("m3"), down("m4")),
			},
			want: map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true},
		},
		{
			rule: "two cut-off vantages of three are a majority: the quorum tolerates a minority",
			sources: []Source{
				vantage("a", 0, allDown(IPv4, five...)...),
				vantage("b", 0, allDown(IPv4, five...)...),
				vantage("c", 0, allOK(IPv4, five...)...),
			},
			want: map[string]bool{"m1": false, "m2": false, "m3": false, "m4": false, "m5": false},
		},
		{
			rule: "two cut-off vantages of four are discounted",
			sources: []Source{
				vantage("a", 0, allDown(IPv4, five...)...),
				vantage("b", 0, allDown(IPv4, five...)...),
				vantage("c", 0, cat(allOK(IPv4, "m1", "m2", "m3", "m4"), allDown(IPv4, "m5"))...),
				vantage("d", 0, allOK(IPv4, five...)...),
			},
			want:   map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true, "m5": true},
			cutOff: map[string][]Family{"a": {IPv4}, "b": {IPv4}},
		},
		{
			rule:    "one vantage is its own verdict",
			sources: []Source{vantage("solo", 0, down("m1"), ok("m2"), stale("m3", 20*time.Hour))},
			want:    map[string]bool{"m1": false, "m2": true, "m3": false},
		},
		{
			rule: "a mirror mentioned without endpoints stays mentioned",
			sources: func() []Source {
				a := vantage("a", 0, ok("m1"))
				a.Snapshot.Mirrors["new"] = &Mirror{}
				return []Source{a, vantage("b", 0, ok("m1"))}
			}(),
			want: map[string]bool{"m1": true},
			check: func(t *testing.T, s *Snapshot) {
				if m, ok := s.Mirrors["new"]; !ok || m == nil || len(m.Endpoints) != 0 {
					t.Errorf("new: %+v (present %v)", m, ok)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			s, err := Merge(tt.sources, MergeOptions{Now: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for name, m := range s.Mirrors {
				for _, e := range m.Endpoints {
					k := name
					if e.Family == IPv6 {
						k += "/v6"
					}
					got[k] = e.Healthy
				}
			}
			for k, want := range tt.want {
				if g, ok := got[k]; !ok || g != want {
					t.Errorf("%s: healthy %v (present %v), want %v", k, g, ok, want)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("%s: in the merge, want no verdict", k)
				}
			}
			for _, v := range s.Merged.Vantages {
				if want := cmpOr(tt.status[v.Name], VantageCounted); v.Status != want {
					t.Errorf("vantage %s: status %s, want %s (%s)", v.Name, v.Status, want, v.Note)
				}
				if want := tt.cutOff[v.Name]; !slices.Equal(v.CutOff, want) {
					t.Errorf("vantage %s: cut off over %v, want %v (%s)", v.Name, v.CutOff, want, v.Note)
				}
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			// What gen, lookup and dnsd read back is what was merged.
			data, err := s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("merged.json", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if again, _ := back.Encode(); !bytes.Equal(again, data) {
				t.Error("the merged snapshot does not survive a write and a read")
			}
		})
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// TestMergeIsDeterministic: the order the files are named in changes no
// byte, so merging the same files again gives the same snapshot and the
// same dnsd serial.
func TestMergeIsDeterministic(t *testing.T) {
	srcs := []Source{
		vantage("c", time.Minute, down("m1"), ok("m2").repo("baseos", false), stale("m3", 20*time.Hour)),
		vantage("a", 0, down("m1"), ok("m2").repo("baseos", true), ok("m3").withLag(3*time.Hour)),
		vantage("b", 2*time.Minute, ok("m1"), ok("m2").repo("baseos", false), ok("m3").withLag(2*time.Hour)),
	}
	var first []byte
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		var in []Source
		for _, i := range order {
			in = append(in, srcs[i])
		}
		s, err := Merge(in, MergeOptions{Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(data, first) {
			t.Errorf("order %v gives other bytes:\n%s\nthan:\n%s", order, data, first)
		}
	}
	// The inputs are not changed.
	if srcs[0].Snapshot.Mirrors["m1"].Endpoints[0].Healthy {
		t.Error("merge changed an input")
	}
}

func TestMergeRefuses(t *testing.T) {
	merged, err := Merge([]Source{vantage("a", 0, ok("m1"))}, MergeOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	unnamed := vantage("x", 0, ok("m1"))
	unnamed.Snapshot.Vantage = ""
	other := vantage("b", 0, ok("m1"))
	other.Snapshot.Network = "another"
	hostile := vantage("x", 0, ok("m1"))
	hostile.Snapshot.Vantage = "evil\x1b[2J"
	invalid := vantage("b", 0, ok("m1"))
	invalid.Snapshot.Mirrors["m1"].Endpoints[0].Failures = -1
	tests := []struct {
		rule    string
		sources []Source
		want    string
	}{
		{"nothing to merge", nil, "no snapshots to merge"},
		{"a snapshot without a vantage names its file", []Source{vantage("a", 0), unnamed},
			"x.json: no vantage name: it was probed without --vantage; run probe --vantage NAME"},
		{"two snapshots of one vantage, ignoring case", []Source{vantage("fra1", 0), vantage("FRA1", 0)},
			`FRA1.json: vantage "FRA1" is also the vantage of fra1.json (names are compared ignoring case); give each probe its own --vantage name`},
		{"a merge of merges", []Source{vantage("b", 0), {File: "merged.json", Snapshot: merged}},
			`merged.json: already a merge (of "a"); merge the vantages' own snapshots instead`},
		{"two networks", []Source{vantage("a", 0), other},
			`b.json: network "another", but a.json is of network "test": these snapshots are of different mirror networks`},
		{"a hostile vantage name is quoted", []Source{hostile},
			`x.json: vantage name "evil\x1b[2J" has "\x1b" at byte 5`},
		{"an invalid snapshot", []Source{vantage("a", 0), invalid},
			`b.json: mirrors["m1"].endpoints[0]: failures is -1`},
		{"every snapshot from the future", []Source{vantage("a", -time.Hour), vantage("b", -2*time.Hour)},
			"every snapshot was taken more than 5m0s after this machine's clock"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := Merge(tt.sources, MergeOptions{Now: t0})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant %q", err, tt.want)
			}
		})
	}
	if _, err := Merge([]Source{vantage("a", 0)}, MergeOptions{Now: t0, MaxAge: -time.Minute}); err == nil || !strings.Contains(err.Error(), "max age -1m0s is negative") {
		t.Errorf("negative max age: %v", err)
	}
}

func TestCheckVantage(t *testing.T) {
	tests := []struct {
		rule, name string
		want       string // "" for valid
	}{
		{"a short name", "fra1", ""},
		{"dots, dashes and underscores inside", "us-east.2_b", ""},
		{"64 bytes", strings.Repeat("v", 64), ""},
		{"empty", "", "vantage name is empty"},
		{"65 bytes", strings.Repeat("v", 65), "is 65 bytes long"},
		{"a leading dot", ".hidden", `has "." at byte 1`},
		{"a leading dash, which reads as a flag", "-v", `has "-" at byte 1`},
		{"a slash, which would make a path", "a/b", `has "/" at byte 2`},
		{"a space", "fra 1", `has " " at byte 4`},
		{"a newline, which would add lines to logs", "a\nb", `has "\n" at byte 2`},
		{"an escape sequence", "a\x1b[31m", `has "\x1b" at byte 2`},
		{"a bidirectional override", "a\u202eb", `has "\u202e" at byte 2`},
		{"HTML", "<b>", `has "<" at byte 1`},
		{"not UTF-8", "a\xffb", `has "\ufffd" at byte 2`},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := CheckVantage(tt.name)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			case err != nil && strings.ContainsAny(err.Error(), "\n\x1b\u202e"):
				t.Errorf("the error carries the raw character: %q", err)
			}
		})
	}
}

// BenchmarkMerge merges three vantages of 10,000 endpoints each (5,000
// mirrors over https, IPv4 and IPv6, with 4 repos each), one of them cut
// off over IPv6.
func BenchmarkMerge(b *testing.B) {
	var srcs []Source
	for i, name := range []string{"a", "b", "c"} {
		var sees []seen
		for m := range 5000 {
			mirror := "mirror-" + strconv.Itoa(m)
			for _, f := range Families {
				s := ok(mirror)
				if (m+i)%7 == 0 || i == 2 && f == IPv6 {
					s = down(mirror)
				}
				s.family = f
				for _, r := range []string{"baseos", "appstream", "extras", "crb"} {
					s = s.repo(r, (m+i)%11 != 0)
				}
				sees = append(sees, s)
			}
		}
		srcs = append(srcs, vantage(name, time.Duration(i)*time.Minute, sees...))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Merge(srcs, MergeOptions{Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
}
