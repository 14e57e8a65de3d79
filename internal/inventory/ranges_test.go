package inventory

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestReadRanges(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []netip.Prefix
	}{
		{"plain text with comments and blank lines",
			"# ranges of Example ISP\n\n192.0.2.0/24\n  2001:db8::/32   # v6\r\n198.51.100.0/25\n\n",
			prefixes("192.0.2.0/24", "198.51.100.0/25", "2001:db8::/32")},
		{"plain text: duplicates removed, sorted",
			"203.0.113.0/24\n192.0.2.0/24\n203.0.113.0/24\n",
			prefixes("192.0.2.0/24", "203.0.113.0/24")},
		{"plain text with only comments",
			"# nothing yet\n",
			nil},
		{"AWS ip-ranges.json", `{
  "syncToken": "1700000000",
  "createDate": "2024-01-01-00-00-00",
  "prefixes": [
    {"ip_prefix": "192.0.2.0/24", "region": "eu-central-1", "service": "AMAZON", "network_border_group": "eu-central-1"},
    {"ip_prefix": "198.51.100.0/24", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"}
  ],
  "ipv6_prefixes": [
    {"ipv6_prefix": "2001:db8:1000::/36", "region": "eu-central-1", "service": "AMAZON", "network_border_group": "eu-central-1"}
  ]
}`,
			prefixes("192.0.2.0/24", "198.51.100.0/24", "2001:db8:1000::/36")},
		{"Google cloud.json", `{
  "syncToken": "1700000000000",
  "creationTime": "2024-01-01T00:00:00.000000",
  "prefixes": [
    {"ipv4Prefix": "203.0.113.0/24", "service": "Google Cloud", "scope": "europe-west3"},
    {"ipv6Prefix": "2001:db8:4000::/40", "service": "Google Cloud", "scope": "europe-west3"}
  ]
}`,
			prefixes("203.0.113.0/24", "2001:db8:4000::/40")},
		{"JSON array of strings",
			`["192.0.2.0/24", "not a prefix", "2001:db8::/32"]`,
			prefixes("192.0.2.0/24", "2001:db8::/32")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "ranges", tt.content)
			got, err := ReadRanges(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadRangesErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // the error starts with the file's path, then these
	}{
		{"bad line names its line", "192.0.2.0/24\n# fine\n192.0.2.0/33\n",
			[]string{":3: ", `"192.0.2.0/33" is not a CIDR prefix`}},
		{"address without length", "192.0.2.1\n",
			[]string{":1: ", `"192.0.2.1" is not a CIDR prefix`}},
		{"host bits suggest the masked prefix", "\n192.0.2.1/24\n",
			[]string{":2: ", `"192.0.2.1/24" has host bits set; write 192.0.2.0/24`}},
		{"line too long", "192.0.2.0/24\n" + strings.Repeat("1", 70_000) + "\n10.0.0.0/8\n",
			[]string{":2: ", "line longer than 64 KiB"}},
		{"JSON without any prefix", `{"prefixes": [], "syncToken": "1"}`,
			[]string{"no CIDR prefix found in the JSON document"}},
		{"broken JSON", `{"prefixes": [`,
			[]string{"not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "ranges", tt.content)
			_, err := ReadRanges(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), path) {
				t.Errorf("error does not start with the path %s: %v", path, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
		})
	}
}

func TestReadRangesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-ranges.txt")
	_, err := ReadRanges(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
}

func TestReadRangesTooLarge(t *testing.T) {
	path := writeFile(t, t.TempDir(), "huge.json", "")
	// Sparse: no data is written, so this is fast; one byte over the limit.
	if err := os.Truncate(path, fileio.MaxRanges+1); err != nil {
		t.Fatal(err)
	}
	_, err := ReadRanges(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("error = %v, want larger than 64 MiB", err)
	}
}

// TestSubnetFiles checks that a mirror's subnet_files are read relative to
// the directory of mirrors.toml and merged with its subnets.
func TestSubnetFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ranges"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ranges/isp.txt", "192.0.2.0/25\n198.51.100.0/24\n")
	abs := writeFile(t, t.TempDir(), "cloud.json", `{"prefixes": [{"ip_prefix": "203.0.113.0/24"}]}`)
	doc := add("subnets = [\"192.0.2.0/25\", \"2001:db8::/32\"]\nsubnet_files = [\"ranges/isp.txt\", \"" + abs + "\"]\n")
	path := writeFile(t, dir, "mirrors.toml", doc)

	// Run from elsewhere: the relative name must not depend on the
	// working directory.
	t.Chdir(t.TempDir())
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("192.0.2.0/25", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
	if got := inv.Mirrors[0].Subnets; !slices.Equal(got, want) {
		t.Errorf("subnets = %v, want %v", got, want)
	}
}

func TestSubnetFileErrorPointsAtTheKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.txt", "192.0.2.0/24\nnonsense\n")
	doc := add("subnet_files = [\"bad.txt\"]\n")
	_, err := Parse("mirrors.toml", []byte(doc), dir)
	line, col := position(t, doc, `"bad.txt"`)
	want := filepath.Join(dir, "bad.txt") + `:2: "nonsense" is not a CIDR prefix`
	if err == nil || !strings.HasPrefix(err.Error(), "mirrors.toml:") || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %s", err, want)
	}
	if errs := err.(Errors); errs[0].Line != line || errs[0].Column != col {
		t.Errorf("error at %d:%d, want %d:%d", errs[0].Line, errs[0].Column, line, col)
	}
}
