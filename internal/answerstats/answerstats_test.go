package answerstats_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func example() *answerstats.Summary {
	return &answerstats.Summary{Started: t0, Written: t0.Add(time.Hour), Names: []answerstats.Name{{
		Name: "download", Answers: 7,
		Mirrors: []answerstats.Mirror{
			{Mirror: "de.example.net", Answers: 5, Countries: answerstats.Counts{"DE": 4, "unknown": 1}},
			{Mirror: "fr.example.net", Answers: 1, Countries: answerstats.Counts{"FR": 1}},
		},
		Fallback: answerstats.Counts{"JP": 1},
	}}}
}

func TestWriteThenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	if err := example().Write(path); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	s, err := answerstats.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) || !strings.HasSuffix(string(first), "}\n") {
		t.Errorf("not the same bytes twice:\n%s\n%s", first, again)
	}
	if s.Names[0].Mirrors[0].Countries["DE"] != 4 || !s.Started.Equal(t0) {
		t.Errorf("loaded %+v", s)
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := os.ReadFile(writeExample(t))
	edit := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("the example has no %q", old)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	tests := []struct {
		rule, data, want string
	}{
		{"not JSON", "{\"schema\": 1,", "the file is empty or cut short"},
		{"a syntax error names line and column", edit(`"answers": 7,`, `"answers": 7,,`), "stats.json:8:21: invalid JSON"},
		{"an unknown field", edit(`"answers": 7,`, `"answers": 7, "answres": 1,`), `unknown field "answres"`},
		{"a negative count", edit(`"DE": 4`, `"DE": -4`), "stats.json:14:21: names.mirrors.countries: want uint64, found a JSON number -4"},
		{"a newer schema", edit(`"schema": 1`, `"schema": 2`), "schema version 2 is newer than this mirrorsteer understands (1); upgrade mirrorsteer"},
		{"no schema", edit(`"schema": 1,`, ``), "no schema version"},
		{"no start", edit(`"started": "2026-11-28T10:00:00Z",`, ``), "started and written are required"},
		{"written before started", edit(`"written": "2026-11-28T11:00:00Z"`, `"written": "2026-11-28T09:00:00Z"`), "is before started"},
		{"a country that is none", edit(`"DE": 4`, `"XX": 4`), `names[0].mirrors[0].countries: "XX" is neither a country code nor "unknown"`},
		{"a mirror name with markup and a newline", edit(`"mirror": "fr.example.net"`, `"mirror": "<b>\n"`), `names[0].mirrors[1]: mirror "<b>\n" is not a mirror name`},
		{"a mirror twice", edit(`"mirror": "fr.example.net"`, `"mirror": "de.example.net"`), `mirror "de.example.net" is out of order or twice`},
		{"counts that do not add up", edit(`"answers": 5,`, `"answers": 6,`), "answers 6, but its countries add up to 5"},
		{"a name total that does not add up", edit(`"answers": 7,`, `"answers": 8,`), "answers 8, but its mirrors and fallback add up to 7"},
		{"counts that overflow", edit(`"DE": 4`, `"DE": 18446744073709551615`), "the counts overflow"},
		{"two values", string(good) + "{}", "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := answerstats.Parse("stats.json", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "stats.json") {
				t.Errorf("got %v\nwant an error naming stats.json with %q", err, tt.want)
			}
		})
	}
}

func TestLoadIsBounded(t *testing.T) {
	if _, err := answerstats.Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero") {
		t.Errorf("an endless file: %v", err)
	}
}

func writeExample(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "stats.json")
	if err := example().Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func FuzzParse(f *testing.F) {
	good, err := os.ReadFile(writeExampleF(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"schema":1,"started":"2026-11-28T10:00:00Z","written":"2026-11-28T10:00:00Z","names":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := answerstats.Parse("f.json", data)
		if err != nil {
			return
		}
		// What loads is consistent: every total adds up.
		for _, n := range s.Names {
			sum := n.Fallback.Total()
			for _, m := range n.Mirrors {
				if m.Countries.Total() != m.Answers {
					t.Fatalf("%s: inconsistent counts loaded", m.Mirror)
				}
				sum += m.Answers
			}
			if sum != n.Answers {
				t.Fatalf("%s: inconsistent totals loaded", n.Name)
			}
		}
	})
}

func writeExampleF(f *testing.F) string {
	path := filepath.Join(f.TempDir(), "stats.json")
	if err := example().Write(path); err != nil {
		f.Fatal(err)
	}
	return path
}
