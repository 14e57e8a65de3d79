package dnsd

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TestAnswerStatistics asks for download from clients in several
// countries and checks that every answer is counted under the mirror it
// named and the asker's country, in the summary and in Prometheus; that
// the counts survive a reload; and that a reload removing a mirror drops
// its counts but not the per-country totals.
func TestAnswerStatistics(t *testing.T) {
	f := newFixture(t, down("us.example.net"))
	byTarget := map[string]string{} // CNAME target -> mirror
	for _, m := range f.inv.Mirrors {
		byTarget[m.Host(inventory.HTTPS)+"."] = m.Name
	}
	byTarget[f.inv.DNS.Fallback] = ""
	askers := []struct {
		country string
		ecs     string // "" asks from the source address alone
		src     string
		n       int
	}{
		{"DE", "81.1.0.0/24", "127.0.0.1", 5},
		{"DE", "81.1.7.0/24", "127.0.0.1", 2},
		{"JP", "106.3.0.0/24", "127.0.0.1", 3},
		{"BR", "2001:db8:82::/48", "127.0.0.1", 2},
		{"NL", "", "127.0.0.1", 4},                   // loopback is the Netherlands in the demo database
		{"unknown", "198.18.0.0/24", "127.0.0.1", 1}, // in no record
	}
	want := map[string]answerstats.Counts{} // mirror -> country -> answers
	total := uint64(0)
	for _, a := range askers {
		opts := []opt{edns(1232)}
		if a.ecs != "" {
			opts = []opt{ecs(a.ecs)}
		}
		for range a.n {
			r := f.ask(t, question("download.example.org.", dns.TypeA, opts...), a.src)
			m, ok := byTarget[target(r)]
			if !ok {
				t.Fatalf("%s: answer %q is no mirror", a.ecs, target(r))
			}
			if want[m] == nil {
				want[m] = answerstats.Counts{}
			}
			want[m][a.country]++
			total++
		}
	}
	// Other names and other kinds of query count nothing.
	f.ask(t, question("mail.example.org.", dns.TypeA), "127.0.0.1")
	f.ask(t, question("nope.example.org.", dns.TypeA), "127.0.0.1")

	check := func(when string, want map[string]answerstats.Counts, total uint64) {
		t.Helper()
		s := f.h.Metrics().AnswerSummary(time.Now())
		var got *answerstats.Name
		for i := range s.Names {
			if s.Names[i].Name == "download" {
				got = &s.Names[i]
			} else if s.Names[i].Answers != 0 {
				t.Errorf("%s: %s has %d answers, asked none", when, s.Names[i].Name, s.Names[i].Answers)
			}
		}
		if got == nil || got.Answers != total {
			t.Fatalf("%s: download: %+v, want %d answers", when, got, total)
		}
		for _, m := range got.Mirrors {
			w := want[m.Mirror]
			if len(w) != len(m.Countries) {
				t.Errorf("%s: %s counted %v, want %v", when, m.Mirror, m.Countries, w)
			}
			for cc, n := range w {
				if m.Countries[cc] != n {
					t.Errorf("%s: %s %s: %d answers, want %d", when, m.Mirror, cc, m.Countries[cc], n)
				}
			}
		}
		if len(got.Mirrors) != len(want) {
			t.Errorf("%s: mirrors %+v, want %v", when, got.Mirrors, want)
		}
		// What dnsd writes, gen reads.
		path := t.TempDir() + "/stats.json"
		if err := s.Write(path); err != nil {
			t.Fatal(err)
		}
		if _, err := answerstats.Load(path); err != nil {
			t.Errorf("%s: the summary does not load: %v", when, err)
		}
	}
	check("first", want, total)

	// Prometheus: the same counts, and dnsd_clients_total per country.
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.h.Metrics())
	clients := func() string {
		var b strings.Builder
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "dnsd_clients_total" {
				for _, m := range mf.Metric {
					fmt.Fprintf(&b, "%s=%v ", m.Label[0].GetValue(), m.Counter.GetValue())
				}
			}
		}
		return b.String()
	}
	gathered := map[string]answerstats.Counts{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dnsd_answers_by_country_total" {
			continue
		}
		for _, m := range mf.Metric {
			l := map[string]string{}
			for _, p := range m.Label {
				l[p.GetName()] = p.GetValue()
			}
			if l["name"] != "download" {
				t.Errorf("answers counted for %q", l["name"])
			}
			if gathered[l["mirror"]] == nil {
				gathered[l["mirror"]] = answerstats.Counts{}
			}
			gathered[l["mirror"]][l["country"]] = uint64(m.Counter.GetValue())
		}
	}
	if fmt.Sprint(gathered) != fmt.Sprint(want) {
		t.Errorf("dnsd_answers_by_country_total %v, want %v", gathered, want)
	}
	before := clients()
	// dnsd_answers_total, by reason, adds up to each mirror's answers;
	// dnsd_queries_total to all of them.
	byReason := func() (map[string]uint64, uint64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		answers, queries := map[string]uint64{}, uint64(0)
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				l := map[string]string{}
				for _, p := range m.Label {
					l[p.GetName()] = p.GetValue()
				}
				switch {
				case mf.GetName() == "dnsd_answers_total" && l["name"] == "download":
					if l["mirror"] == "fallback" {
						l["mirror"] = ""
					}
					answers[l["mirror"]] += uint64(m.Counter.GetValue())
				case mf.GetName() == "dnsd_queries_total" && l["name"] == "download":
					queries += uint64(m.Counter.GetValue())
				}
			}
		}
		return answers, queries
	}
	wantAnswers := map[string]uint64{}
	for m, cs := range want {
		wantAnswers[m] = cs.Total()
	}
	if got, queries := byReason(); fmt.Sprint(got) != fmt.Sprint(wantAnswers) || queries != total {
		t.Errorf("dnsd_answers_total %v and dnsd_queries_total %d, want %v and %d", got, queries, wantAnswers, total)
	}

	// A reload keeps the counts.
	f.h.Swap(f.h.Zone())
	check("after a reload", want, total)

	// A reload without the German mirror drops it, and nothing else.
	gone := ""
	for m, cs := range want {
		if cs["DE"] > 0 {
			gone = m
		}
	}
	in := loadInputs(t, "testdata/mirrors.toml")
	var kept []*inventory.Mirror
	for _, m := range in.Inventory.Mirrors {
		if m.Name != gone {
			kept = append(kept, m)
		}
	}
	in.Inventory.Mirrors = kept
	in.Snapshot, in.GeoIP, in.HasCity, in.HasASN = f.snap, f.db, true, true
	z, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	f.h.Swap(z)
	total -= want[gone].Total()
	delete(want, gone)
	check("after "+gone+" was removed", want, total)
	if after := clients(); after != before {
		t.Errorf("dnsd_clients_total went from %s to %s: a removed mirror's answers still were answers", before, after)
	}
	// A counter never goes down: the removed mirror's stay.
	if got, _ := byReason(); fmt.Sprint(got) != fmt.Sprint(wantAnswers) {
		t.Errorf("after %s was removed: dnsd_answers_total %v, want %v", gone, got, wantAnswers)
	}
}

// TestCountingDoesNotAllocate: the statistics cost no allocation per
// answer, for a steered answer and for the constant one (one healthy
// mirror), which looks up the asker's country for them.
func TestCountingDoesNotAllocate(t *testing.T) {
	only := func(m string, e *state.Endpoint) {
		if m != "de1.example.net" {
			e.Up, e.Healthy = false, false
		}
	}
	for _, edit := range []func(string, *state.Endpoint){nil, only} {
		f := newFixture(t, edit)
		wire, err := question("download.example.org.", dns.TypeA, ecs("81.1.0.0/24")).Pack()
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, 0, 1500)
		src := netip.MustParseAddr("127.0.0.1")
		if n := testing.AllocsPerRun(200, func() { f.h.Serve(f.s, dst, wire, src, UDP) }); n != 0 {
			t.Errorf("%v allocations per answer", n)
		}
		// Every answer was for a German client, also the constant ones.
		for _, n := range f.h.Metrics().AnswerSummary(time.Now()).Names {
			for _, m := range n.Mirrors {
				if m.Countries["DE"] != m.Answers {
					t.Errorf("%s: %v, want every answer in DE", m.Mirror, m.Countries)
				}
			}
		}
	}
}

// BenchmarkServeOneHealthy measures an answer that does not depend on
// the asker (one healthy mirror): the statistics look its country up.
func BenchmarkServeOneHealthy(b *testing.B) {
	f := newFixture(b, func(m string, e *state.Endpoint) {
		if m != "de1.example.net" {
			e.Up, e.Healthy = false, false
		}
	})
	wire, err := question("download.example.org.", dns.TypeA, ecs("106.3.0.0/24")).Pack()
	if err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddr("127.0.0.1")
	s, dst := NewScratch(), make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		f.h.Serve(s, dst, wire, src, UDP)
	}
}

// BenchmarkCountAnswer measures what counting adds to an answer, alone:
// each goroutine a reader with its own stripe, all answering the same
// mirror and country (the worst case for a shared counter).
func BenchmarkCountAnswer(b *testing.B) {
	st := newAnswerStats(time.Now())
	c := newAnswerCounts(int(st.mask + 1))
	b.RunParallel(func(pb *testing.PB) {
		stripe := nextStripe.Add(1) & st.mask
		for pb.Next() {
			c.count(stripe, "DE", policy.Country)
		}
	})
}
