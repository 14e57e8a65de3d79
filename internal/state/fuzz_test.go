package state

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// can be written and read back unchanged: Encode succeeds, Parse accepts
// the result, gives an equal snapshot, and encodes it to the same bytes.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("testdata/example.json"); err == nil {
		f.Add(example)
	}
	f.Add([]byte(docEP()))
	f.Add([]byte(docEP("lag", `""`, "last_good", `"2025-06-02T16:00:00+02:00"`)))
	f.Add([]byte(`{"schema": 1, "taken": "2025-06-02T14:00:00Z", "mirrors": {}}`))
	f.Add([]byte(docEP("up", "false", "class", `"timeout"`, "error", `"no answer in time"`, "failures", "1", "successes", "0")))
	f.Add([]byte(docEP("class", `null`)))
	f.Add([]byte(docMerged(vantageJSON() + ", " + vantageJSON("name", `"b"`, "status", `"future"`))))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.json", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a snapshot and an error: %v", err)
			}
			if strings.HasPrefix(err.Error(), "fuzz.json: json:") {
				t.Fatalf("the walker let through what encoding/json rejects: %v", err)
			}
			return
		}
		out, err := s.Encode()
		if err != nil {
			t.Fatalf("Parse accepted it but Encode fails: %v", err)
		}
		s2, err := Parse("fuzz.json", out)
		if err != nil {
			t.Fatalf("Parse rejects what Encode wrote: %v\n%s", err, out)
		}
		s.Schema = Schema // an older version is written as the current one
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the snapshot:\n%+v\n%+v", s, s2)
		}
		out2, err := s2.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("second Encode differs:\n%s\n---\n%s", out, out2)
		}
	})
}

// FuzzMerge builds up to four vantages' snapshots from the input (which
// endpoints each saw, up or not, healthy or not, with which class, lag,
// check time and content, and when each was taken) and checks that Merge
// never panics, that every verdict follows the rule over the sightings it
// reports, that the result survives a write and a read, and that the
// order of the inputs changes no byte.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 0x0f, 0x0f, 0x0f, 0x0f, 0x8f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f})
	f.Add([]byte{2, 0, 0x40, 0x01, 0x03, 0x07, 0x0f, 0x1f, 0x2f, 0x3f, 0x4f, 0x5f, 0x6f, 0x7f, 0xff})
	f.Add([]byte{4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		n := 1 + int(data[0])%4
		data = data[1:]
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		classes := []Class{"", ClassTimeout, ClassRefused, ClassStale}
		var srcs []Source
		for i := range n {
			age := time.Duration(next()%8) * 10 * time.Minute // 0 to 70 minutes
			if next()%16 == 0 {
				age = -time.Hour // a clock ahead
			}
			var sees []seen
			for _, m := range []string{"m1", "m2", "m3"} {
				for _, fam := range Families {
					b := next()
					if b&1 == 0 {
						continue // not checked
					}
					s := seen{mirror: m, family: fam, up: b&2 != 0, healthy: b&4 != 0, class: classes[b>>3&3], lag: -1,
						checkedAgo: time.Duration(b>>5&1) * time.Hour}
					if b&0x40 != 0 {
						s.lag = time.Duration(b>>3&7) * time.Hour
					}
					if s.class == "" && !s.up {
						s.class = ClassTimeout
					}
					s = s.repo("baseos", b&0x80 != 0)
					sees = append(sees, s)
				}
			}
			srcs = append(srcs, vantage(string(rune('a'+i)), age, sees...))
		}
		s, err := Merge(srcs, MergeOptions{Now: t0})
		if err != nil {
			if !strings.Contains(err.Error(), "after this machine's clock") {
				t.Fatal(err)
			}
			return
		}
		for name, m := range s.Mirrors {
			for _, e := range m.Endpoints {
				counted, out := 0, 0
				for _, sg := range s.Sightings(name, e.Protocol, e.Family) {
					if sg.Counted {
						counted++
						if !sg.Endpoint.Healthy {
							out++
						}
					}
				}
				if counted == 0 || e.Healthy != (2*out <= counted) {
					t.Fatalf("%s %s %s: healthy %v, %d of %d counted say out", name, e.Protocol, e.Family, e.Healthy, out, counted)
				}
			}
		}
		data1, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("merged.json", data1)
		if err != nil {
			t.Fatalf("%v\n%s", err, data1)
		}
		if data2, _ := back.Encode(); !bytes.Equal(data1, data2) {
			t.Fatal("the merge does not survive a write and a read")
		}
		slices.Reverse(srcs)
		r, err := Merge(srcs, MergeOptions{Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if data3, _ := r.Encode(); !bytes.Equal(data1, data3) {
			t.Fatal("the order of the inputs changed the merge")
		}
	})
}
