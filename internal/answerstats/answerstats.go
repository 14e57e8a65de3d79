// Package answerstats is the answer statistics file dnsd writes
// (--stats-file) and gen shows on the status site (--stats): for every
// steered name, how many answers sent clients of each country to each
// mirror, counted since dnsd started.
//
// The counts are cumulative since Started, like the Prometheus counters
// they come from: a write that fails or is skipped loses nothing, a
// reader gets the rate over any window by subtracting two files, and a
// share of answers over days is steadier than over one interval. dnsd
// starts from zero when it restarts; Started says when.
//
// The file is written atomically (internal/fileio) and read with a
// bound; Load refuses anything it could misread, naming the file and the
// place in it.
package answerstats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// Schema is the version of the file format this package reads and
// writes.
const Schema = 1

// MaxSize bounds the file: 4 names of 2,000 mirrors answered in every
// country take about 30 MiB.
const MaxSize = 64 << 20

// Unknown is the country of answers to clients GeoIP does not place.
const Unknown = "unknown"

// Summary is the whole file.
type Summary struct {
	Schema int `json:"schema"`
	// Started is when dnsd started counting; Written when it wrote this.
	Started time.Time `json:"started"`
	Written time.Time `json:"written"`
	// Names has one entry per steered name, sorted by name.
	Names []Name `json:"names"`
}

// Name is the answers for one steered name (a label of [dns] names).
type Name struct {
	Name string `json:"name"`
	// Answers is every answer for the name, the fallback's included.
	Answers uint64 `json:"answers"`
	// Mirrors are the mirrors that were answered, sorted by name.
	Mirrors []Mirror `json:"mirrors"`
	// Fallback counts, by country, the answers with the fallback target
	// (no mirror was healthy for the asker).
	Fallback Counts `json:"fallback,omitempty"`
}

// Mirror is one mirror's answers for one name.
type Mirror struct {
	Mirror  string `json:"mirror"`
	Answers uint64 `json:"answers"`
	// Countries counts the answers by the asker's GeoIP country (an ISO
	// 3166-1 code or XK, or Unknown).
	Countries Counts `json:"countries"`
}

// Counts are answers by country.
type Counts map[string]uint64

// Total is the sum of c.
func (c Counts) Total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// Write writes s to path atomically, deterministically (sorted, indented,
// a trailing newline).
func (s *Summary) Write(path string) error {
	s.Schema = Schema
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fileio.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads and checks the file at path.
func Load(path string) (*Summary, error) {
	data, err := fileio.ReadFile(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse checks data, read from the file named name.
func Parse(name string, data []byte) (*Summary, error) {
	failAt := func(where, format string, args ...any) error {
		return fmt.Errorf("%s: %s; it is not a mirrorsteer dnsd --stats-file (or was changed by hand): let dnsd write it again", where, fmt.Sprintf(format, args...))
	}
	fail := func(format string, args ...any) error { return failAt(name, format, args...) }
	at := func(off int64) string {
		line, col := position(data, off)
		return fmt.Sprintf("%s:%d:%d", name, line, col)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Summary
	if err := dec.Decode(&s); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, failAt(at(se.Offset), "invalid JSON: %v", err)
		case errors.As(err, &te):
			return nil, failAt(at(te.Offset), "%s: want %s, found a JSON %s", te.Field, te.Type, te.Value)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fail("the file is empty or cut short")
		}
		return nil, fail("%v", err)
	}
	if dec.More() {
		return nil, fail("more than one JSON value")
	}
	switch {
	case s.Schema <= 0:
		return nil, fail("no schema version")
	case s.Schema > Schema:
		return nil, fmt.Errorf("%s: schema version %d is newer than this mirrorsteer understands (%d); upgrade mirrorsteer", name, s.Schema, Schema)
	case s.Started.IsZero() || s.Written.IsZero():
		return nil, fail("started and written are required")
	case s.Written.Before(s.Started):
		return nil, fail("written %s is before started %s", s.Written.Format(time.RFC3339), s.Started.Format(time.RFC3339))
	}
	for i, n := range s.Names {
		at := fmt.Sprintf("names[%d]", i)
		if !plain(n.Name, 63) {
			return nil, fail("%s: name %q is not a DNS label", at, n.Name)
		}
		if i > 0 && s.Names[i-1].Name >= n.Name {
			return nil, fail("%s: name %q is out of order or twice", at, n.Name)
		}
		sum, err := checkCounts(n.Fallback)
		if err != nil {
			return nil, fail("%s.fallback: %v", at, err)
		}
		for j, m := range n.Mirrors {
			mat := fmt.Sprintf("%s.mirrors[%d]", at, j)
			if !plain(m.Mirror, 255) {
				return nil, fail("%s: mirror %q is not a mirror name", mat, m.Mirror)
			}
			if j > 0 && n.Mirrors[j-1].Mirror >= m.Mirror {
				return nil, fail("%s: mirror %q is out of order or twice", mat, m.Mirror)
			}
			total, err := checkCounts(m.Countries)
			if err != nil {
				return nil, fail("%s.countries: %v", mat, err)
			}
			if total != m.Answers {
				return nil, fail("%s: answers %d, but its countries add up to %d", mat, m.Answers, total)
			}
			sum += total
		}
		if sum != n.Answers {
			return nil, fail("%s: answers %d, but its mirrors and fallback add up to %d", at, n.Answers, sum)
		}
	}
	return &s, nil
}

// checkCounts checks the country keys of c and returns its sum, or an
// error when a key is no country or the sum overflows.
func checkCounts(c Counts) (uint64, error) {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sum uint64
	for _, k := range keys {
		if k != Unknown && !country.Code(k).Valid() {
			return 0, fmt.Errorf("%q is neither a country code nor %q", k, Unknown)
		}
		if sum+c[k] < sum {
			return 0, fmt.Errorf("the counts overflow")
		}
		sum += c[k]
	}
	return sum, nil
}

// plain reports whether s is a non-empty name of at most max bytes
// without control, space or format characters.
func plain(s string, max int) bool {
	return s != "" && len(s) <= max && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar
	})
}

// position returns the 1-based line and column of byte offset off.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
