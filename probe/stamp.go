package probe

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxStamp is the largest stamp file read: a stamp is one line.
const maxStamp = 4096

// ParseStamp reads the sync time from the content of a stamp file. The
// first non-empty line is a unix time in seconds (optionally with a
// fraction: "1748872331" or "1748872331.25"), an RFC 3339 time
// ("2025-06-02T14:00:00Z", any offset), or the output of `date -u`
// ("Mon Jun  2 14:00:00 UTC 2025"). Surrounding space and a UTF-8 byte order
// mark are ignored. The result is in UTC and between the years 1970 and
// 9999.
func ParseStamp(b []byte) (time.Time, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var line string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	if line == "" {
		return time.Time{}, errors.New("the stamp file is empty")
	}
	t, err := parseStampLine(line)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("the stamp %s is outside the years 1970 to 9999", quoteShort(line))
	}
	return t.UTC(), nil
}

var unixStamp = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,9})?$`)

func parseStampLine(line string) (time.Time, error) {
	if unixStamp.MatchString(line) {
		sec, frac, _ := strings.Cut(line, ".")
		s, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("the stamp %s is not a unix time: %w", quoteShort(line), err)
		}
		var ns int64
		if frac != "" {
			ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		}
		return time.Unix(s, ns), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, line); err == nil {
		return t, nil
	}
	// date -u, as sync scripts write it: only with an explicit UTC zone,
	// since Go invents offsets for unknown zone abbreviations.
	for _, layout := range []string{"Mon Jan _2 15:04:05 UTC 2006", "Mon Jan _2 15:04:05 GMT 2006", "Mon _2 Jan 15:04:05 UTC 2006"} {
		if t, err := time.Parse(layout, line); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read the stamp %s as a time; it must be a unix time (\"1748872331\") or RFC 3339 (\"2025-06-02T14:00:00Z\")", quoteShort(line))
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}
