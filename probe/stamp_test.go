package probe

import (
	"strconv"
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	want := time.Date(2025, 6, 2, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"unix time", "1748872800", want},
		{"unix time with newline", "1748872800\n", want},
		{"unix time with fraction", "1748872800.25\n", want.Add(250 * time.Millisecond)},
		{"RFC 3339 UTC", "2025-06-02T14:00:00Z", want},
		{"RFC 3339 with offset is converted to UTC", "2025-06-02T16:00:00+02:00\n", want},
		{"RFC 3339 with fraction", "2025-06-02T14:00:00.5Z", want.Add(500 * time.Millisecond)},
		{"date -u output", "Mon Jun  2 14:00:00 UTC 2025\n", want},
		{"first non-empty line counts", "\n\n  1748872800  \nsynced by mirror.example.org\n", want},
		{"byte order mark", "\xef\xbb\xbf1748872800", want},
	}
	for _, tc := range tests {
		got, err := ParseStamp([]byte(tc.in))
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%s: ParseStamp(%q) = %v, %v; want %v", tc.name, tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "\n \n", "yesterday", "1748872800000000", "-1", "2025-06-02", "Mon Jun  2 14:00:00 CEST 2025", "<html>404</html>", "0x1234"} {
		if got, err := ParseStamp([]byte(bad)); err == nil {
			t.Errorf("ParseStamp(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParseStamp: never panics, always UTC within 1970..9999, and a time
// it writes as either format reads back the same.
func FuzzParseStamp(f *testing.F) {
	for _, s := range []string{"1748872800", "1748872800.25\n", "2025-06-02T16:00:00+02:00", "Mon Jun  2 14:00:00 UTC 2025", "\xef\xbb\xbf\n 0 \n", "9999-12-31T23:59:59Z"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseStamp(b)
		if err != nil {
			return
		}
		if got.Location() != time.UTC || got.Year() < 1970 || got.Year() > 9999 {
			t.Fatalf("ParseStamp(%q) = %v", b, got)
		}
		again, err := ParseStamp([]byte(got.Format(time.RFC3339Nano)))
		if err != nil || !again.Equal(got) {
			t.Fatalf("RFC 3339 round trip of %v: %v, %v", got, again, err)
		}
		if got.Nanosecond() == 0 {
			again, err = ParseStamp([]byte(strconv.FormatInt(got.Unix(), 10)))
			if err != nil || !again.Equal(got) {
				t.Fatalf("unix round trip of %v: %v, %v", got, again, err)
			}
		}
	})
}

func TestMetadataTimestamp(t *testing.T) {
	tests := []struct {
		path, in string
		want     int64
	}{
		{"9/BaseOS/x86_64/os/repodata/repomd.xml", "<repomd>\n  <revision>1748865302</revision>\n", 1748865302},
		{"repodata/repomd.xml", "<repomd><revision>not a number</revision>", 0},
		{"debian/dists/stable/InRelease", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nDate: Sat, 10 May 2025 09:16:27 UTC\n", 1746868587},
		{"debian/dists/stable/Release", "Date: Sat, 10 May 2025 09:16:27 +0000\n", 1746868587},
		{"debian/dists/stable/Release", "Date: sometime\n", 0},
		{"archlinux/core/os/x86_64/core.db", "\x1f\x8b", 0},
	}
	for _, tc := range tests {
		if got := metadataTimestamp(tc.path, []byte(tc.in)); got != tc.want {
			t.Errorf("metadataTimestamp(%s, %q) = %d, want %d", tc.path, tc.in, got, tc.want)
		}
	}
}

// FuzzMetadataTimestamp: never panics, never negative.
func FuzzMetadataTimestamp(f *testing.F) {
	f.Add("repodata/repomd.xml", []byte("<revision>1748865302</revision>"))
	f.Add("dists/stable/InRelease", []byte("Date: Sat, 10 May 2025 09:16:27 UTC\n"))
	f.Fuzz(func(t *testing.T, path string, b []byte) {
		if ts := metadataTimestamp(path, b); ts < 0 {
			t.Fatalf("metadataTimestamp(%q, %q) = %d", path, b, ts)
		}
	})
}
