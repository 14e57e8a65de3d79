package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// object renders a JSON object with ordered members, applying overrides given as
// key, raw-value pairs: an existing key is replaced (or removed if the value
// is ""), a new key is appended.
func object(base [][2]string, overrides ...string) string {
	fs := append([][2]string(nil), base...)
	for i := 0; i < len(overrides); i += 2 {
		k, v := overrides[i], overrides[i+1]
		found := false
		for j := range fs {
			if fs[j][0] == k {
				fs[j][1], found = v, true
			}
		}
		if !found {
			fs = append(fs, [2]string{k, v})
		}
	}
	var parts []string
	for _, f := range fs {
		if f[1] != "" {
			parts = append(parts, fmt.Sprintf("%q: %s", f[0], f[1]))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// ep is a valid https/ipv4 endpoint with overrides.
func ep(overrides ...string) string {
	return object([][2]string{
		{"protocol", `"https"`},
		{"family", `"ipv4"`},
		{"up", "true"},
		{"healthy", "true"},
		{"checked", `"2025-06-02T14:00:02Z"`},
		{"stamp", `"2025-06-02T13:47:11Z"`},
		{"lag", `"5m0s"`},
		{"failures", "0"},
		{"successes", "3"},
		{"latency_ms", "40.5"},
		{"repos", `[{"repo": "BaseOS", "release": "9", "arch": "x86_64", "fresh": true}]`},
	}, overrides...)
}

// meta is a valid origin metadata entry with overrides.
func meta(overrides ...string) string {
	return object([][2]string{
		{"repo", `"BaseOS"`},
		{"release", `"9"`},
		{"arch", `"x86_64"`},
		{"path", `"9/BaseOS/x86_64/os/repodata/repomd.xml"`},
		{"size", "3880"},
		{"sha256", `"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"`},
		{"first_seen", `"2025-06-02T12:00:00Z"`},
	}, overrides...)
}

// doc is a valid state file whose mirror "mirror.example.de" has the given
// endpoint as endpoints[2] and whose origin has the given metadata entry.
func doc(endpoint, metadata string) string {
	return `{
  "schema": 1,
  "taken": "2025-06-02T14:00:00Z",
  "network": "example",
  "origin": {
    "stamp": "2025-06-02T13:52:11Z",
    "checked": "2025-06-02T14:00:00Z",
    "metadata": [` + metadata + `]
  },
  "mirrors": {
    "mirror.example.de": {
      "endpoints": [
        ` + ep("protocol", `"http"`) + `,
        ` + ep("protocol", `"http"`, "family", `"ipv6"`) + `,
        ` + endpoint + `
      ]
    },
    "mirror.example.jp": {"endpoints": []}
  }
}
`
}

func docEP(overrides ...string) string   { return doc(ep(overrides...), meta()) }
func docMeta(overrides ...string) string { return doc(ep(), meta(overrides...)) }

const where = `mirrors["mirror.example.de"].endpoints[2]`

// vantageJSON is a valid vantage of a merge, with overrides.
func vantageJSON(overrides ...string) string {
	return object([][2]string{
		{"name", `"fra1"`},
		{"taken", `"2025-06-02T13:59:00Z"`},
		{"status", `"counted"`},
		{"cut_off", `["ipv6"]`},
		{"note", `"cut off over IPv6"`},
		{"mirrors", `{"mirror.example.de": {"endpoints": [` + ep() + `]}}`},
	}, overrides...)
}

// docMerged is a valid state file with "merged" holding the given
// vantages, or its overrides of a merge.
func docMerged(vantages string, overrides ...string) string {
	m := object([][2]string{{"max_age", `"45m0s"`}, {"vantages", "[" + vantages + "]"}}, overrides...)
	return strings.Replace(docEP(), "\n  }\n}\n", "\n  },\n  \"merged\": "+m+"\n}\n", 1)
}

// TestParseVantages: a snapshot without a vantage (schema 1, an older
// probe) still loads; one with a vantage, and a merge with what each
// vantage saw, load and write back the same.
func TestParseVantages(t *testing.T) {
	old, err := Parse("state.json", []byte(docEP()))
	if err != nil || old.Schema != 1 || old.Vantage != "" || old.Merged != nil {
		t.Fatalf("schema 1 snapshot: %v %+v", err, old)
	}
	named, err := Parse("state.json", []byte(strings.Replace(docEP(), `"schema": 1,`, `"schema": 2, "vantage": "fra1",`, 1)))
	if err != nil || named.Vantage != "fra1" {
		t.Fatalf("snapshot with a vantage: %v %+v", err, named)
	}
	merged, err := Parse("state.json", []byte(docMerged(vantageJSON()+", "+vantageJSON("name", `"ams-2"`, "status", `"stale"`, "cut_off", ""))))
	if err != nil {
		t.Fatal(err)
	}
	m := merged.Merged
	if m == nil || m.MaxAge != DurationOf(45*time.Minute) || len(m.Vantages) != 2 {
		t.Fatalf("merged: %+v", m)
	}
	// Canonical: sorted by name.
	if v := m.Vantages[0]; v.Name != "ams-2" || v.Status != VantageStale || v.CutOff != nil {
		t.Errorf("vantages[0]: %+v", v)
	}
	if v := m.Vantages[1]; v.Name != "fra1" || !slices.Equal(v.CutOff, []Family{IPv6}) || v.Mirrors["mirror.example.de"].Endpoint(HTTPS, IPv4) == nil {
		t.Errorf("vantages[1]: %+v", v)
	}
	for _, s := range []*Snapshot{named, merged} {
		data, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("state.json", data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		s.Schema = Schema
		if !reflect.DeepEqual(back, s) {
			t.Errorf("round trip changed it:\n%s", data)
		}
	}
}

func TestParseValid(t *testing.T) {
	s, err := Parse("state.json", []byte(docEP()))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Endpoint("mirror.example.de", HTTPS, IPv4); got == nil || got.Lag != DurationOf(5*time.Minute) {
		t.Errorf("https/ipv4 endpoint = %+v", got)
	}
	// Canonical: empty lists are nil, the map is there.
	if m := s.Mirrors["mirror.example.jp"]; m == nil || m.Endpoints != nil {
		t.Errorf("mirror.example.jp = %+v, want empty endpoints", m)
	}
}

func TestParseAddr(t *testing.T) {
	s, err := Parse("state.json", []byte(docEP("addr", `"192.0.2.7"`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Endpoint("mirror.example.de", HTTPS, IPv4).Addr; got != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("addr = %v", got)
	}
	b, err := s.Encode()
	if err != nil || !strings.Contains(string(b), `"addr": "192.0.2.7"`) {
		t.Errorf("Encode lost the address: %v\n%s", err, b)
	}
}

func TestParseErrors(t *testing.T) {
	valid := docEP()
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		// Not JSON.
		{"empty", "", []string{"state.json: file is empty", "re-run mirrorsteer probe"}},
		{"blank", " \n\t", []string{"state.json: file is empty"}},
		{"not json", "schema = 1\n", []string{"state.json:1:1: invalid character 's'", "not valid JSON", "fix the syntax"}},
		{"missing comma", "{\n  \"schema\": 1\n  \"taken\": \"2025-06-02T14:00:00Z\"\n}\n",
			[]string{"state.json:3:3: invalid character '\"' after object key:value pair", "fix the syntax"}},
		{"truncated", valid[:len(valid)/2], []string{"state.json:", "unexpected end of file", "truncated", "re-run mirrorsteer probe"}},
		{"truncated at end", "{\n  \"schema\": 1,\n", []string{"state.json:3:1: unexpected end of file", "truncated"}},
		{"trailing garbage", valid + "}\n", []string{"state.json:", "after top-level value", "not valid JSON"}},
		{"top level array", "[1, 2]", []string{"state.json: top level is an array, not an object: not a mirrorsteer state file?"}},
		{"top level null", "null", []string{`state.json: no "schema" field: not a mirrorsteer state file?`}},

		// Schema version.
		{"schema missing", `{"taken": "2025-06-02T14:00:00Z", "mirrors": {}}`,
			[]string{`state.json: no "schema" field: not a mirrorsteer state file?`, `"schema": 2`}},
		{"other json file", `{"name": "mirrorsteer", "version": "1.0"}`,
			[]string{`state.json: no "schema" field: not a mirrorsteer state file?`}},
		{"schema null", strings.Replace(valid, `"schema": 1`, `"schema": null`, 1),
			[]string{`no "schema" field: not a mirrorsteer state file?`}},
		{"schema 0", strings.Replace(valid, `"schema": 1`, `"schema": 0`, 1),
			[]string{"state.json: schema version 0: not a mirrorsteer state file?"}},
		{"schema negative", strings.Replace(valid, `"schema": 1`, `"schema": -1`, 1),
			[]string{"state.json: schema version -1: not a mirrorsteer state file?"}},
		{"schema string", strings.Replace(valid, `"schema": 1`, `"schema": "1"`, 1),
			[]string{`state.json: schema: want a whole version number like 2, found the string "1"`}},
		{"schema fraction", strings.Replace(valid, `"schema": 1`, `"schema": 1.5`, 1),
			[]string{`state.json: schema: want a whole version number like 2, found the number 1.5`}},
		{"schema newer", strings.Replace(valid, `"schema": 1`, `"schema": 3`, 1),
			[]string{"state.json: schema version 3 is newer than this mirrorsteer understands (2); upgrade mirrorsteer"}},
		{"schema newer with new fields", strings.Replace(valid, `"schema": 1`, `"schema": 3, "weights": {}`, 1),
			[]string{"state.json: schema version 3 is newer than this mirrorsteer understands (2); upgrade mirrorsteer"}},

		// Snapshot level.
		{"taken missing", strings.Replace(valid, `"taken": "2025-06-02T14:00:00Z",`, ``, 1),
			[]string{"state.json: taken time is missing", `set "taken"`}},
		{"taken zero", strings.Replace(valid, `"taken": "2025-06-02T14:00:00Z"`, `"taken": "0001-01-01T00:00:00Z"`, 1),
			[]string{"state.json: taken time is missing", `set "taken"`}},
		{"taken not a time", strings.Replace(valid, `"taken": "2025-06-02T14:00:00Z"`, `"taken": "yesterday"`, 1),
			[]string{`state.json:3:12: taken: cannot read "yesterday" as a time; want an RFC 3339 time string`}},
		{"unknown top-level field", strings.Replace(valid, `"network"`, `"netwrok"`, 1),
			[]string{`state.json:4:3: top level: unknown field "netwrok" (did you mean "network"?); fix or remove it`}},
		{"mirrors not an object", strings.Replace(valid, `"mirrors": {`, `"mirrors": [], "x": {`, 1),
			[]string{`state.json:10:14: mirrors: want an object, found an array`}},
		{"mirror null", strings.Replace(valid, `"mirror.example.jp": {"endpoints": []}`, `"mirror.example.jp": null`, 1),
			[]string{`state.json: mirrors["mirror.example.jp"]: mirror is null`, "remove the entry"}},
		{"mirror name empty", strings.Replace(valid, `"mirror.example.jp"`, `""`, 1),
			[]string{`state.json: mirrors[""]: mirror name is empty`, "mirrors.toml"}},
		{"duplicate mirror", strings.Replace(valid, `"mirror.example.jp": {"endpoints": []}`, `"mirror.example.jp": {"endpoints": []}, "mirror.example.de": {"endpoints": []}`, 1),
			[]string{`state.json:18:45: mirrors: "mirror.example.de" appears twice (first at 11:5); merge the two or remove one`}},
		{"duplicate field", docEP("Healthy", "false"),
			[]string{where + `: "Healthy" appears twice (first at 15:`, "merge the two or remove one"}},
		{"duplicate top-level field", strings.Replace(valid, `"network": "example"`, `"network": "example", "taken": "2025-06-02T14:00:00Z"`, 1),
			[]string{`state.json:4:25: top level: "taken" appears twice (first at 3:3)`}},
		{"unknown mirror field", strings.Replace(valid, `"mirror.example.jp": {"endpoints": []}`, `"mirror.example.jp": {"endpoints": [], "country": "JP"}`, 1),
			[]string{`mirrors["mirror.example.jp"]: unknown field "country"; fix or remove it`}},

		// Endpoints.
		{"unknown protocol", docEP("protocol", `"htp"`),
			[]string{where + `: unknown protocol "htp"; use one of "http", "https", "ftp", "rsync"`}},
		{"unknown family", docEP("family", `"ip4"`),
			[]string{`state.json:15:41: ` + where + `.family: unknown family "ip4"; use "ipv4" or "ipv6"`}},
		{"unknown class", docEP("up", "false", "class", `"timout"`),
			[]string{`state.json:15:302: ` + where + `.class: unknown class "timout" (did you mean "timeout"?); use one of "dns", "no-address",`, `"ahead" (probe/README.md says what each means)`}},
		{"class of another program", docEP("up", "false", "class", `"content"`),
			[]string{where + `.class: unknown class "content"; use one of`}},
		{"class a number", docEP("class", `7`),
			[]string{where + `.class: want a class name like "timeout", found the number 7`}},
		{"missing protocol", docEP("protocol", ""),
			[]string{where + `: unknown protocol ""; use one of`}},
		{"duplicate endpoint", docEP("protocol", `"http"`, "family", `"ipv6"`),
			[]string{where + `: duplicate endpoint http over ipv6 (also endpoints[1]); keep one entry per protocol and family`}},
		{"checked missing", docEP("checked", ""),
			[]string{where + `: checked time is missing; set "checked"`}},
		{"checked zero", docEP("checked", `"0001-01-01T00:00:00Z"`),
			[]string{where + `: checked time is missing; set "checked"`}},
		{"checked not a time", docEP("checked", `"14:00"`),
			[]string{`mirrors["mirror.example.de"].endpoints[2].checked: cannot read "14:00" as a time; want an RFC 3339 time string like`}},
		{"checked a number", docEP("checked", `1748872800`),
			[]string{`mirrors["mirror.example.de"].endpoints[2].checked: cannot read 1748872800 as a time; want an RFC 3339`}},
		{"time out of range", docEP("last_good", `"0000-01-01T00:00:00+00:01"`),
			[]string{where + `.last_good: time 0000-01-01T00:00:00+00:01 is out of range`}},
		{"negative failures", docEP("failures", "-1", "successes", "0"),
			[]string{where + `: failures is -1; counts of consecutive runs must be 0 or more`}},
		{"negative successes", docEP("successes", "-2"),
			[]string{where + `: successes is -2; counts of consecutive runs must be 0 or more`}},
		{"both counters", docEP("failures", "2"),
			[]string{where + `: failures is 2 and successes is 3`, "set one of them to 0"}},
		{"failures a string", docEP("failures", `"3"`),
			[]string{where + `.failures: want a whole number, found the string "3"`}},
		{"failures fraction", docEP("failures", `1.5`),
			[]string{where + `.failures: want a whole number, found the number 1.5`}},
		{"up a string", docEP("up", `"yes"`),
			[]string{where + `.up: want true or false, found the string "yes"`}},
		{"negative lag", docEP("lag", `"-5m0s"`),
			[]string{where + `: lag is -5m0s; a lag must be 0 or more`}},
		{"bad lag", docEP("lag", `"90 minutes"`),
			[]string{where + `.lag: cannot read "90 minutes" as a duration; write a Go duration like "1h30m0s"`}},
		{"lag a number", docEP("lag", `5400`),
			[]string{where + `.lag: want a Go duration string like "1h30m0s" (or "" for unknown), found the number 5400`}},
		{"addr of the other family", docEP("addr", `"2001:db8::1"`),
			[]string{where + `: addr 2001:db8::1 is not an ipv4 address`}},
		{"addr not an address", docEP("addr", `"mirror.example.de"`),
			[]string{where + `.addr`}},
		{"negative latency", docEP("latency_ms", `-3`),
			[]string{where + `: latency_ms is -3; it must be a number of milliseconds, 0 or more`}},
		{"unknown endpoint field", docEP("helthy", "true"),
			[]string{where + `: unknown field "helthy" (did you mean "healthy"?); fix or remove it`}},
		{"unknown endpoint field far off", docEP("weight", "3"),
			[]string{where + `: unknown field "weight"; fix or remove it, the fields are listed in internal/state/README.md`}},
		{"endpoints not a list", strings.Replace(valid, `"mirror.example.jp": {"endpoints": []}`, `"mirror.example.jp": {"endpoints": {}}`, 1),
			[]string{`mirrors["mirror.example.jp"].endpoints: want an array, found an object`}},

		// Repos.
		{"repo name missing", docEP("repos", `[{"release": "9", "fresh": true}]`),
			[]string{where + `.repos[0]: repo name is missing`}},
		{"duplicate repo", docEP("repos", `[{"repo": "BaseOS", "release": "9", "fresh": true}, {"repo": "BaseOS", "release": "9", "fresh": false}]`),
			[]string{where + `.repos[1]: duplicate entry for "BaseOS" release "9" (also repos[0]); keep one entry per repo, release and arch`}},
		{"unknown repo field", docEP("repos", `[{"repo": "BaseOS", "frsh": true}]`),
			[]string{where + `.repos[0]: unknown field "frsh" (did you mean "fresh"?)`}},

		// Vantages.
		{"vantage with an escape sequence", strings.Replace(valid, `"network": "example"`, `"network": "example", "vantage": "a\u001b[2J"`, 1),
			[]string{`state.json: vantage: vantage name "a\x1b[2J" has "\x1b" at byte 2; use 1 to 64 ASCII letters`}},
		{"vantage a number", strings.Replace(valid, `"network": "example"`, `"network": "example", "vantage": 3`, 1),
			[]string{`state.json:4:36: vantage: want a string, found the number 3`}},
		{"a merge with a vantage of its own", strings.Replace(docMerged(vantageJSON()), `"network": "example"`, `"network": "example", "vantage": "x"`, 1),
			[]string{`state.json: vantage: a merged snapshot has no vantage of its own (it has "x")`}},
		{"merge without max_age", docMerged(vantageJSON(), "max_age", ""),
			[]string{`state.json: merged.max_age: unknown; give how recent a check must be to count`}},
		{"merge without vantages", docMerged(""),
			[]string{`state.json: merged.vantages: empty; a merge has at least one vantage`}},
		{"merged vantage status unknown", docMerged(vantageJSON("status", `"cut"`)),
			[]string{`state.json: merged.vantages[0].status: unknown status "cut"; use "counted", "stale" or "future"`}},
		{"merged vantage twice, ignoring case", docMerged(vantageJSON() + ", " + vantageJSON("name", `"FRA1"`)),
			[]string{`state.json: merged.vantages[1].name: vantage "FRA1" is also vantages[0]`}},
		{"merged vantage name hostile", docMerged(vantageJSON("name", `"<script>"`)),
			[]string{`state.json: merged.vantages[0].name: vantage name "<script>" has "<" at byte 1`}},
		{"merged vantage taken missing", docMerged(vantageJSON("taken", "")),
			[]string{`state.json: merged.vantages[0]: taken time is missing`}},
		{"merged vantage cut off over an unknown family", docMerged(vantageJSON("cut_off", `["ipv5"]`)),
			[]string{`merged.vantages[0].cut_off[0]: unknown family "ipv5"; use "ipv4" or "ipv6"`}},
		{"merged vantage cut off twice over one family", docMerged(vantageJSON("cut_off", `["ipv4", "ipv4"]`)),
			[]string{`state.json: merged.vantages[0].cut_off[1]: ipv4 is listed twice`}},
		{"merged vantage with a bad endpoint", docMerged(vantageJSON("mirrors", `{"m": {"endpoints": [`+ep("failures", "-1", "successes", "0")+`]}}`)),
			[]string{`state.json: merged.vantages[0].mirrors["m"].endpoints[0]: failures is -1`}},
		{"merged vantage unknown field", docMerged(vantageJSON("stauts", `"counted"`)),
			[]string{`merged.vantages[0]: unknown field "stauts" (did you mean "status"?)`}},

		// Origin metadata.
		{"bad sha256", docMeta("sha256", `"CA97"`),
			[]string{`state.json: origin.metadata[0]: sha256 "CA97" is not a SHA-256 digest; write it as 64 lowercase hex digits`}},
		{"negative size", docMeta("size", `-1`),
			[]string{`state.json: origin.metadata[0]: size is -1; a file size must be 0 or more bytes`}},
		{"missing path", docMeta("path", ``),
			[]string{`state.json: origin.metadata[0]: path is missing`}},
		{"missing meta repo", docMeta("repo", ``),
			[]string{`state.json: origin.metadata[0]: repo name is missing`}},
		{"negative timestamp", docMeta("timestamp", `-5`),
			[]string{`state.json: origin.metadata[0]: timestamp is -5; it must be 0 or more`}},
		{"unknown meta field", docMeta("sha1", `"x"`),
			[]string{`origin.metadata[0]: unknown field "sha1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("state.json", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", s)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "state.json:") {
				t.Errorf("error %q does not start with the file name", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n\t%v\ndoes not contain\n\t%s", err, w)
				}
			}
		})
	}
}

// TestParseErrorPosition checks that line:column points at the offending
// key or value.
func TestParseErrorPosition(t *testing.T) {
	for _, tt := range []struct{ in, at string }{
		{docEP("helthy", "true"), `"helthy"`},
		{docEP("failures", `"3"`), `"3"`},
		{docMeta("first_seen", `"soon"`), `"soon"`},
		{docEP("lag", `"1 day"`), `"1 day"`},
		{docEP("class", `"slow"`), `"slow"`},
	} {
		_, err := Parse("state.json", []byte(tt.in))
		if err == nil {
			t.Fatalf("Parse accepted %s", tt.in)
		}
		want := "state.json:" + position([]byte(tt.in), strings.Index(tt.in, tt.at)) + ": "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\n")
	for off, want := range []string{"1:1", "1:2", "1:3", "2:1", "2:2", "2:3", "3:1"} {
		if got := position(data, off); got != want {
			t.Errorf("position(%d) = %s, want %s", off, got, want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(t.TempDir() + "/state.json")
	if err == nil || !strings.Contains(err.Error(), "state.json: no such file") || !strings.Contains(err.Error(), "run mirrorsteer probe") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestExample checks that testdata/example.json is valid and in canonical
// form, so it can serve as the reference for the README.
func TestExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Mirrors) != 3 {
		t.Errorf("example has %d mirrors, want 3", len(s.Mirrors))
	}
	out, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("testdata/example.json is not in canonical form; Encode gives:\n%s", out)
	}

	de := s.Endpoint("mirror.example.de", HTTPS, IPv6)
	if de == nil || !de.Healthy || de.Lag != DurationOf(0) || !de.Fresh("BaseOS", "9", "aarch64") {
		t.Errorf("mirror.example.de https/ipv6 = %+v", de)
	}
	if s.Endpoint("mirror.example.de", FTP, IPv4) != nil {
		t.Error("mirror.example.de has an ftp endpoint")
	}
	edu := s.Mirrors["ftp.example.edu"].Endpoint(HTTP, IPv4)
	if edu.Fresh("BaseOS", "9", "x86_64") || !edu.Fresh("AppStream", "9", "x86_64") || edu.Fresh("AppStream", "9", "") {
		t.Errorf("ftp.example.edu http/ipv4 freshness wrong: %+v", edu.Repos)
	}
	if lag := edu.Lag; lag.String() != "65h42m11s" {
		t.Errorf("lag = %v", lag)
	}
	jp := s.Endpoint("mirror.example.jp", HTTP, IPv4)
	if jp.Lag.Known || jp.Lag.String() != "unknown" || jp.Up || !jp.Healthy {
		t.Errorf("mirror.example.jp http/ipv4 = %+v", jp)
	}
}

func TestAccessorsNil(t *testing.T) {
	var s *Snapshot
	var m *Mirror
	var e *Endpoint
	if s.Endpoint("x", HTTP, IPv4) != nil || m.Endpoint(HTTP, IPv4) != nil || e.Fresh("BaseOS", "", "") {
		t.Error("nil receivers should give nil/false")
	}
	s = &Snapshot{}
	if s.Endpoint("x", HTTP, IPv4) != nil {
		t.Error("absent mirror should give nil")
	}
}

func TestValid(t *testing.T) {
	for _, p := range Protocols {
		if !p.Valid() {
			t.Errorf("%q not valid", p)
		}
	}
	for _, f := range Families {
		if !f.Valid() {
			t.Errorf("%q not valid", f)
		}
	}
	for _, p := range []Protocol{"", "HTTP", "htp", "ipv4"} {
		if p.Valid() {
			t.Errorf("%q valid", p)
		}
	}
	for _, f := range []Family{2, 255} {
		if f.Valid() {
			t.Errorf("%d valid", f)
		}
	}
	for _, c := range []Class{"", "content", "Timeout", "timeout "} {
		if c.Valid() {
			t.Errorf("class %q valid", c)
		}
	}
}

// TestClasses: every class has a description of its own, and a snapshot
// holds any of them (and none) through a write and a load.
func TestClasses(t *testing.T) {
	seen := map[string]Class{}
	for _, c := range Classes {
		d := c.Description()
		if !c.Valid() || d == "" {
			t.Errorf("class %q has no description", c)
		}
		if other, dup := seen[d]; dup {
			t.Errorf("classes %q and %q have the same description %q", other, c, d)
		}
		seen[d] = c
	}
	if len(Classes) != 15 {
		t.Errorf("%d classes, want the 15 of probe/README.md's table", len(Classes))
	}
	path := t.TempDir() + "/state.json"
	for _, c := range append([]Class{""}, Classes...) {
		s := sample()
		s.Mirrors["mirror.example.de"].Endpoints[2].Class = c
		if err := s.Write(path); err != nil {
			t.Fatalf("class %q: %v", c, err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatalf("class %q: %v", c, err)
		}
		if g := got.Mirrors["mirror.example.de"].Endpoints[2].Class; g != c {
			t.Errorf("wrote class %q, read %q", c, g)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Duration
	}{
		{`"1h30m0s"`, DurationOf(90 * time.Minute)},
		{`"90s"`, DurationOf(90 * time.Second)},
		{`"0s"`, DurationOf(0)},
		{`""`, Duration{}},
		{`null`, Duration{}},
	} {
		var d Duration
		if err := json.Unmarshal([]byte(tt.in), &d); err != nil || d != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tt.in, d, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in   Duration
		want string
	}{
		{DurationOf(90 * time.Minute), `"1h30m0s"`},
		{DurationOf(0), `"0s"`},
		{Duration{}, `""`},
	} {
		if got, err := json.Marshal(tt.in); err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	// Unknown is omitted from endpoints; known zero is not.
	b, _ := json.Marshal(Endpoint{})
	if strings.Contains(string(b), `"lag"`) {
		t.Errorf("unknown lag not omitted: %s", b)
	}
	b, _ = json.Marshal(Endpoint{Lag: DurationOf(0)})
	if !strings.Contains(string(b), `"lag":"0s"`) {
		t.Errorf("zero lag omitted: %s", b)
	}
}

// BenchmarkParse parses a large network: 300 mirrors, 5 endpoints each,
// 12 repos per endpoint.
func BenchmarkParse(b *testing.B) {
	s := sample()
	s.Mirrors = make(map[string]*Mirror)
	for i := range 300 {
		m := &Mirror{}
		for _, p := range Protocols {
			for _, f := range Families[:1+i%2] {
				e := sample().Mirrors["mirror.example.de"].Endpoints[0]
				e.Protocol, e.Family, e.Repos = p, f, nil
				for r := range 12 {
					e.Repos = append(e.Repos, Repo{Repo: fmt.Sprintf("repo%d", r), Release: "9", Arch: "x86_64", Fresh: true})
				}
				m.Endpoints = append(m.Endpoints, e)
			}
		}
		s.Mirrors[fmt.Sprintf("mirror%03d.example.org", i)] = m
	}
	data, err := s.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("state.json", data); err != nil {
			b.Fatal(err)
		}
	}
}
