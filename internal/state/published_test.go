package state_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// What gen publishes is what a dnsd elsewhere needs to answer as the one
// beside the probe: every endpoint's verdict and freshness, for private
// mirrors too, and the address a public mirror was checked at (GeoIP
// places mirrors without lat/lon by it); nothing of where a private mirror
// is.
func TestPublishedCarriesWhatDnsdUses(t *testing.T) {
	inv, err := inventory.Load("../../mirrors.toml")
	if err != nil {
		t.Fatal(err)
	}
	var private *inventory.Mirror
	for _, m := range inv.Mirrors {
		if !m.Public {
			private = m
			break
		}
	}
	if private == nil {
		t.Fatal("the example has no private mirror")
	}
	public := inv.Mirrors[0]
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		e.Addr = netip.MustParseAddr("192.0.2.1")
		if e.Family == state.IPv6 {
			e.Addr = netip.MustParseAddr("2001:db8::1")
		}
		e.Error = "a sentence naming " + e.Addr.String()
		if m == public.Name && e.Family == state.IPv6 {
			e.Healthy, e.Up = false, false
		}
		if m == private.Name && e.Protocol == state.HTTP {
			e.Repos[0].Fresh = false
		}
	})
	data := marshal(t, state.Publish(inv, snap))
	got, err := state.ParsePublished("api/state.json", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !got.Taken.Equal(snap.Taken) {
		t.Errorf("taken %v, want %v", got.Taken, snap.Taken)
	}
	for _, m := range inv.Mirrors {
		for _, want := range snap.Mirrors[m.Name].Endpoints {
			e := got.Endpoint(m.Name, want.Protocol, want.Family)
			if e == nil {
				t.Errorf("%s %s %s: not published", m.Name, want.Protocol, want.Family)
				continue
			}
			if e.Healthy != want.Healthy || e.Up != want.Up || !e.Checked.Equal(want.Checked) {
				t.Errorf("%s %s %s: healthy %v up %v, want %v %v", m.Name, want.Protocol, want.Family, e.Healthy, e.Up, want.Healthy, want.Up)
			}
			for _, r := range want.Repos {
				if e.Fresh(r.Repo, r.Release, r.Arch) != r.Fresh {
					t.Errorf("%s %s %s: %s/%s/%s fresh %v, want %v", m.Name, want.Protocol, want.Family, r.Repo, r.Release, r.Arch, !r.Fresh, r.Fresh)
				}
			}
			switch {
			case m.Public && (e.Addr != want.Addr || e.Error != want.Error):
				t.Errorf("%s: public endpoint addr %v error %q, want %v %q", m.Name, e.Addr, e.Error, want.Addr, want.Error)
			case !m.Public && (e.Addr.IsValid() || e.Error != ""):
				t.Errorf("%s: private endpoint published addr %v error %q", m.Name, e.Addr, e.Error)
			}
		}
	}
	if n, want := bytes.Count(data, []byte("a sentence naming")), countEndpoints(snap, inv); n != want {
		t.Errorf("%d errors published, want the %d of public endpoints", n, want)
	}
	// A snapshot read back publishes the same bytes: nothing dnsd reads
	// is lost on the way.
	if again := marshal(t, state.Publish(inv, got)); !bytes.Equal(again, data) {
		t.Errorf("published, parsed and published again differs:\n%s\n---\n%s", data, again)
	}
}

func countEndpoints(s *state.Snapshot, inv *inventory.Inventory) int {
	n := 0
	for _, m := range inv.Mirrors {
		if m.Public {
			n += len(s.Mirrors[m.Name].Endpoints)
		}
	}
	return n
}

func TestParsePublishedRefuses(t *testing.T) {
	good := `{"schema": 2, "verified": true, "taken": "2026-11-23T08:00:00Z", "mirrors": [
  {"name": "a", "public": true, "endpoints": [
    {"protocol": "https", "family": "ipv4", "healthy": true, "up": true, "checked": "2026-11-23T08:00:01Z"}
  ]}
]}
`
	if _, err := state.ParsePublished("api/state.json", []byte(good)); err != nil {
		t.Fatalf("the good document: %v", err)
	}
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"an empty file", "", "file is empty"},
		{"a cut-off file names the place", good[:len(good)/2], "api/state.json:"},
		{"a newer schema says upgrade", strings.Replace(good, `"schema": 2`, `"schema": 3`, 1), "upgrade mirrorsteer"},
		{"an older schema says run a newer gen", strings.Replace(good, `"schema": 2`, `"schema": 1`, 1), "older than this mirrorsteer reads"},
		{"unverified says nothing of health", `{"schema": 2, "verified": false, "mirrors": []}`, `"verified": false`},
		{"no taken time", strings.Replace(good, `"taken": "2026-11-23T08:00:00Z", `, "", 1), "taken time is missing"},
		{"an unknown field with line and column", strings.Replace(good, `"healthy": true`, `"helthy": true`, 1), `api/state.json:3:45: mirrors[0].endpoints[0]: unknown field "helthy" (did you mean "healthy"?)`},
		{"a duplicate key", strings.Replace(good, `"up": true`, `"up": true, "up": false`, 1), "appears twice"},
		{"a bad family", strings.Replace(good, `"ipv4"`, `"ipv5"`, 1), "ipv5"},
		{"a bad protocol", strings.Replace(good, `"https"`, `"gopher"`, 1), "unknown protocol"},
		{"an address of the other family", strings.Replace(good, `"up": true`, `"up": true, "addr": "2001:db8::1"`, 1), "not an ipv4 address"},
		{"a mirror twice", strings.Replace(good, `]}
]}`, `]},
  {"name": "a", "public": true, "endpoints": []}
]}`, 1), `mirror "a" appears twice`},
		{"a negative lag", strings.Replace(good, `"up": true`, `"up": true, "lag_seconds": -5`, 1), "lag_seconds -5"},
		{"no checked time", strings.Replace(good, `, "checked": "2026-11-23T08:00:01Z"`, "", 1), "checked time is missing"},
	}
	for _, tc := range tests {
		s, err := state.ParsePublished("api/state.json", []byte(tc.doc))
		if err == nil || s != nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "api/state.json") {
			t.Errorf("%s: %v, want an error naming api/state.json with %q", tc.name, err, tc.want)
		}
	}
}

// ParseAny takes either file: dnsd may be given probe's state.json or
// gen's api/state.json.
func TestParseAny(t *testing.T) {
	probe, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := state.ParseAny("state.json", probe)
	if err != nil || len(s.Mirrors) == 0 {
		t.Fatalf("probe's file: %v", err)
	}
	pub := `{"schema": 2, "verified": true, "taken": "2026-11-23T08:00:00Z", "mirrors": []}`
	p, err := state.ParseAny("api/state.json", []byte(pub))
	if err != nil || !p.Taken.Equal(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("gen's file: %v", err)
	}
	newer := fmt.Sprintf(`{"schema": %d, "taken": "2026-11-23T08:00:00Z", "mirrors": {}}`, state.Schema+1)
	if _, err := state.ParseAny("x", []byte(newer)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a probe file of a newer schema: %v", err)
	}
}

// FuzzParsePublished checks that ParsePublished never panics and that
// what it accepts is a valid snapshot that publishes and parses back to
// the same health.
func FuzzParsePublished(f *testing.F) {
	f.Add([]byte(`{"schema": 2, "verified": true, "taken": "2026-11-23T08:00:00Z", "mirrors": [{"name": "a", "public": true, "endpoints": [{"protocol": "https", "family": "ipv4", "healthy": true, "up": true, "checked": "2026-11-23T08:00:01Z", "lag_seconds": 5, "addr": "192.0.2.1", "repos": [{"repo": "os", "fresh": true}]}]}]}`))
	f.Add([]byte(`{"schema": 2, "verified": false, "mirrors": []}`))
	f.Add([]byte(`{"schema": 2, "verified": true, "taken": "2026-11-23T08:00:00Z", "origin_stamp": "2026-11-23T07:00:00Z", "mirrors": [{"name": "p", "public": false, "endpoints": [{"protocol": "http", "family": "ipv6", "healthy": false, "up": false, "class": "timeout", "checked": "2026-11-23T08:00:01Z", "last_good": "2026-11-20T08:00:01Z"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := state.ParsePublished("fuzz.json", data)
		if err != nil {
			if s != nil {
				t.Fatal("a snapshot and an error")
			}
			if strings.HasPrefix(err.Error(), "fuzz.json: json:") {
				t.Fatalf("the walker let through what encoding/json rejects: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid snapshot: %v", err)
		}
		if _, err := s.Encode(); err != nil {
			t.Fatalf("accepted a snapshot that cannot be written: %v", err)
		}
	})
}

// BenchmarkParsePublished reads an api/state.json of 10,000 endpoints
// (2,500 mirrors, https and http over both families), what a dnsd
// fetching it by URL parses at each change.
func BenchmarkParsePublished(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("[network]\nname = \"x\"\norigin = \"https://origin.example.org/\"\nstamp = \"TIME\"\nmax_lag = \"12h\"\n[[repo]]\nname = \"os\"\npath = \"os/\"\nformat = \"files\"\n")
	for i := range 2500 {
		fmt.Fprintf(&doc, "[[mirror]]\nname = \"m%d\"\ncountry = \"DE\"\nhttps = \"https://m%d.example.org/\"\nhttp = \"http://m%d.example.org/\"\n", i, i, i)
	}
	inv, err := inventory.Parse("mirrors.toml", []byte(doc.String()), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := marshal(b, state.Publish(inv, statetest.Healthy(inv, nil)))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := state.ParsePublished("api/state.json", data); err != nil {
			b.Fatal(err)
		}
	}
}
