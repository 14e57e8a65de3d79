package state

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
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
