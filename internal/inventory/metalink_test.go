package inventory

import (
	"strings"
	"testing"
)

const metalinkBase = `[network]
name = "T"
origin = "https://o.test/"
stamp = "TIME"
max_lag = "1h"

[[repo]]
name = "r"
path = "r/"
format = "files"

[[mirror]]
name = "m"
country = "DE"
https = "https://m.test/"
`

func TestMetalinkKeys(t *testing.T) {
	tests := []struct {
		name    string
		toml    string
		minSize int64
		err     string
	}{
		{"defaults", "", DefaultMinSize, ""},
		{"bytes", "[metalink]\nmin_size = 4096\n", 4096, ""},
		{"MiB", "[metalink]\nmin_size = \"2MiB\"\n", 2 << 20, ""},
		{"KiB", "[metalink]\nmin_size = \"512KiB\"\n", 512 << 10, ""},
		{"zero: every file", "[metalink]\nmin_size = 0\n", 0, ""},
		{"not a size", "[metalink]\nmin_size = \"big\"\n", 0, `mirrors.toml:2:1: [metalink] min_size "big" is not a size`},
		{"negative", "[metalink]\nmin_size = -1\n", 0, "min_size = -1 is negative"},
		{"bad glob", "[metalink]\norigin_only = [\"[\"]\n", 0, `mirrors.toml:2:16: [metalink] origin_only "[" is not a glob pattern`},
		{"unknown key", "[metalink]\nmin_sise = 1\n", 0, `unknown key "min_sise" (did you mean "min_size"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse("mirrors.toml", []byte(tt.toml+"\n"+metalinkBase), t.TempDir())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inv.Metalink.MinSize != tt.minSize {
				t.Errorf("min_size = %d, want %d", inv.Metalink.MinSize, tt.minSize)
			}
		})
	}
}

func TestIsOriginOnly(t *testing.T) {
	m := Metalink{OriginOnly: DefaultOriginOnly}
	for rel, want := range map[string]bool{
		"9/isos/x86_64/Example-9.iso":             false,
		"9/isos/x86_64/Example-9.iso.asc":         true,
		"9/isos/x86_64/CHECKSUMS":                 true,
		"9/isos/x86_64/README":                    false,
		"9/isos/x86_64/SHA256SUMS":                true,
		"9/BaseOS/x86_64/os/repodata/repomd.xml":  true,
		"9/BaseOS/x86_64/os/Packages/a-1.0.rpm":   false,
		"debian/dists/stable/InRelease":           true,
		"debian/pool/main/a/a_1.0_amd64.deb":      false,
		"archlinux/core/os/x86_64/core.db":        true,
		"archlinux/core/os/x86_64/core.db.tar.gz": true,
		"myrepodata/x":                            false,
	} {
		if got := m.IsOriginOnly(rel); got != want {
			t.Errorf("IsOriginOnly(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestDNSNameNeedsAHostName(t *testing.T) {
	doc := metalinkBase + `
[dns]
zone = "example.org."
ns = { ns1 = ["192.0.2.53"] }
names = { download = "https" }

[[mirror]]
name = "lit"
country = "DE"
https = "https://192.0.2.7/pub/"
dns = ["download"]
`
	_, err := Parse("mirrors.toml", []byte(doc), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `mirrors.toml:26:8: [[mirror]] "lit": dns name "download" answers with a CNAME to the host of the https URL, but that is an address (192.0.2.7)`) {
		t.Errorf("error %v", err)
	}
}
