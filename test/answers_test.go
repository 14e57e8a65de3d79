package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// TestAnswerStatisticsFromDnsdToTheSite runs a real dnsd, asks it with
// dig from clients in several countries (ECS), and checks the counts in
// its metrics and in the JSON file it writes, then that gen --stats shows
// each mirror's share of answers beside its share of weight; a missing
// file is a note, a bad one an error naming it, and what it names is
// escaped.
func TestAnswerStatisticsFromDnsdToTheSite(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n := newDnsdNet(t, nil)
	statsPath := filepath.Join(n.dir, "stats.json")
	p := startDnsd(t, n, "--stats-file", statsPath, "--stats-interval", "50ms")
	byHost := map[string]string{}
	for _, m := range n.inv.Mirrors {
		byHost[m.Host(inventory.HTTPS)+"."] = m.Name
	}
	askers := []struct {
		cc, subnet string
		n          int
	}{
		{"DE", "81.1.0.0/24", 4},
		{"JP", "106.3.0.0/24", 3},
		{"BR", "177.4.0.0/24", 2},
		{"FR", "90.0.0.0/24", 1},
	}
	want := map[string]map[string]uint64{} // mirror -> country -> answers
	total := uint64(0)
	for _, a := range askers {
		for range a.n {
			got := short(t, p.addr, "download.example.org", "A", "+subnet="+a.subnet)
			m, ok := byHost[got]
			if !ok {
				t.Fatalf("%s: dnsd answered %q, no mirror's host", a.subnet, got)
			}
			if want[m] == nil {
				want[m] = map[string]uint64{}
			}
			want[m][a.cc]++
			total++
		}
	}

	// Prometheus: one series per name, mirror and country.
	metrics := scrape(t, p)
	for m, cs := range want {
		for cc, k := range cs {
			line := fmt.Sprintf(`dnsd_answers_by_country_total{country=%q,mirror=%q,name="download"} %d`, cc, m, k)
			if !strings.Contains(metrics, line+"\n") {
				t.Errorf("metrics lack %s", line)
			}
		}
	}
	if !strings.Contains(metrics, `dnsd_clients_total{country="DE"} 4`+"\n") {
		t.Errorf("dnsd_clients_total{country=\"DE\"} is not 4:\n%s", grep(metrics, "dnsd_clients_total"))
	}

	// The file: written every 50ms, so it soon holds every answer.
	var s *answerstats.Summary
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		s, err = answerstats.Load(statsPath)
		if err == nil && len(s.Names) > 0 && s.Names[0].Name == "download" && s.Names[0].Answers == total {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%s never held the %d answers: %v %+v", statsPath, total, err, s)
		}
	}
	for _, m := range s.Names[0].Mirrors {
		for cc, k := range want[m.Mirror] {
			if m.Countries[cc] != k {
				t.Errorf("%s: %s %s: %d answers, want %d", statsPath, m.Mirror, cc, m.Countries[cc], k)
			}
		}
		if len(m.Countries) != len(want[m.Mirror]) {
			t.Errorf("%s: %s: %v, want %v", statsPath, m.Mirror, m.Countries, want[m.Mirror])
		}
	}

	// gen shows them: the answers page and the German mirror's page.
	out := filepath.Join(n.dir, "out")
	r := mirrorsteer(t, "gen", "-c", n.config, "-s", n.state, "--stats", statsPath, "-o", out)
	if r.code != 0 {
		t.Fatalf("gen --stats: exit %d\n%s", r.code, r.stderr)
	}
	page := readFile(t, filepath.Join(out, "answers.html"))
	de := ""
	for m, cs := range want {
		if cs["DE"] > 0 {
			de = m
		}
	}
	// Every German client went to one mirror: 100% of Germany's answers.
	deRow := regexp.MustCompile(`<a href="mirror/` + regexp.QuoteMeta(de) + `.html">` + regexp.QuoteMeta(de) + `</a></th><td>4</td><td>100.0%</td><td>100.0%</td>`)
	if !strings.Contains(page, "Germany</a> (DE): 4 answers") || !deRow.MatchString(page) || !strings.Contains(page, strconv.FormatUint(total, 10)+" answers") {
		t.Errorf("answers.html lacks Germany's table (%s with 4 answers, 100%% of them and of the weight):\n%s", de, page)
	}
	mp := readFile(t, filepath.Join(out, "mirror", de+".html"))
	if !strings.Contains(mp, `<td>download.example.org.</td><td><a href="../country/DE.html">Germany</a></td><td>4</td><td>100.0%</td>`) {
		t.Errorf("%s's page lacks its German answers:\n%s", de, mp)
	}
	if !strings.Contains(readFile(t, filepath.Join(out, "index.html")), `href="answers.html"`) {
		t.Error("index.html does not link the answers page")
	}

	// A missing file is a note, not an error.
	r = mirrorsteer(t, "gen", "-c", n.config, "-s", n.state, "--stats", filepath.Join(n.dir, "none.json"), "-o", out)
	if r.code != 0 || !strings.Contains(r.stderr, "none.json does not exist") ||
		!strings.Contains(readFile(t, filepath.Join(out, "answers.html")), "No answer statistics: "+filepath.Join(n.dir, "none.json")+" does not exist (yet)") {
		t.Errorf("gen --stats with a missing file: exit %d\n%s", r.code, r.stderr)
	}

	// A bad file is an error naming it; the tree stays as it was.
	bad := filepath.Join(n.dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(readFile(t, statsPath), `"answers": `+strconv.FormatUint(total, 10), `"answers": 1`, 1)), 0o644)
	r = mirrorsteer(t, "gen", "-c", n.config, "-s", n.state, "--stats", bad, "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, bad+": names[0]: answers 1, but its mirrors and fallback add up to") {
		t.Errorf("gen --stats with a bad file: exit %d\n%s", r.code, r.stderr)
	}

	// What a valid file names is escaped.
	odd := filepath.Join(n.dir, "odd.json")
	s.Names[0].Mirrors = slices.Insert(s.Names[0].Mirrors, 0, answerstats.Mirror{Mirror: "<i>gone</i>", Answers: 1, Countries: answerstats.Counts{"DE": 1}}) // "<" sorts first
	s.Names[0].Answers++
	if err := s.Write(odd); err != nil {
		t.Fatal(err)
	}
	if r = mirrorsteer(t, "gen", "-c", n.config, "-s", n.state, "--stats", odd, "-o", out); r.code != 0 {
		t.Fatalf("gen --stats with a removed mirror: exit %d\n%s", r.code, r.stderr)
	}
	if page := readFile(t, filepath.Join(out, "answers.html")); strings.Contains(page, "<i>gone") || !strings.Contains(page, "&lt;i&gt;gone&lt;/i&gt; <span class=\"small\">(no longer in mirrors.toml)") {
		t.Errorf("a mirror name from the file is not escaped:\n%s", grep(page, "gone"))
	}
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
