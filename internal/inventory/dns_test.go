package inventory

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dnsBase is an inventory whose [dns] table uses every key dnsd reads.
const dnsBase = `[network]
name = "Test Linux"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "12h"

[dns]
zone = "example.org."
ns = { ns1 = ["192.0.2.53"] }
names = { download = "https" }
zone_file = "example.org.zone"
fallback = "fallback.example.net."
whoami = ["192.0.2.0/24", "2001:db8::53"]
hostmaster = "dns-admin.example.org"
negative_ttl = 120

[[repo]]
name = "baseos"
path = "os/"
format = "rpm"

[[mirror]]
name = "a.example.net"
label = "A1"
country = "DE"
https = "https://a.example.net/pub/"
dns = ["download"]
`

const dnsZone = `$TTL 3600
@        MX    10 mail
@        TXT   "v=spf1 -all"
mail     A     192.0.2.25
www      CNAME web.example.net.
a.b.deep AAAA  2001:db8::1
`

// loadDNS writes doc and zone (when not "") into a directory and loads doc.
func loadDNS(t *testing.T, doc, zone string) (*Inventory, error) {
	t.Helper()
	dir := t.TempDir()
	if zone != "" {
		if err := os.WriteFile(filepath.Join(dir, "example.org.zone"), []byte(zone), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestDNSKeysForDnsd(t *testing.T) {
	inv, err := loadDNS(t, dnsBase, dnsZone)
	if err != nil {
		t.Fatal(err)
	}
	d := inv.DNS
	if d.Fallback != "fallback.example.net." || d.Hostmaster != "dns-admin.example.org." || d.NegativeTTL != 120 {
		t.Errorf("fallback %q hostmaster %q negative_ttl %d", d.Fallback, d.Hostmaster, d.NegativeTTL)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::53/128")}
	if len(d.Whoami) != 2 || d.Whoami[0] != want[0] || d.Whoami[1] != want[1] {
		t.Errorf("whoami %v, want %v", d.Whoami, want)
	}
	// The loader only places the zone file; dnsd reads it
	// (dnsd/zonefile_test.go).
	if want := filepath.Join(filepath.Dir(inv.File), "example.org.zone"); d.ZoneFile != want {
		t.Errorf("zone file %q, want %q, relative to mirrors.toml", d.ZoneFile, want)
	}
	if m := inv.Mirror("a.example.net"); m.Label != "a1" {
		t.Errorf("label %q, want it lower-cased", m.Label)
	}
}

func TestDNSDefaults(t *testing.T) {
	doc := strings.NewReplacer("zone_file = \"example.org.zone\"\n", "", "fallback = \"fallback.example.net.\"\n", "",
		"hostmaster = \"dns-admin.example.org\"\n", "", "negative_ttl = 120\n", "").Replace(dnsBase)
	inv, err := loadDNS(t, doc, "")
	if err != nil {
		t.Fatal(err)
	}
	d := inv.DNS
	if d.Fallback != "origin.example.org." || d.Hostmaster != "hostmaster.example.org." || d.NegativeTTL != DefaultNegativeTTL || d.ZoneFile != "" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestDNSKeyErrors(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string // edit of dnsBase
		zone      string
		wantLine  int // 0: any
		wantError string
	}{
		// What the zone file may hold is dnsd's (dnsd/zonefile_test.go).
		{"negative ttl range", "negative_ttl = 120", "negative_ttl = 0", dnsZone, 15, "negative_ttl = 0 is out of range"},
		{"fallback must be a host name", `fallback = "fallback.example.net."`, `fallback = "https://x/"`, dnsZone, 12, "is not a host name"},
		{"whoami must be a prefix", `whoami = ["192.0.2.0/24", "2001:db8::53"]`, `whoami = ["192.0.2.1/24"]`, dnsZone, 13, `has host bits set; write "192.0.2.0/24"`},
		{"hostmaster must be a mailbox", `hostmaster = "dns-admin.example.org"`, `hostmaster = "dns-admin@example.org"`, dnsZone, 14, "not a mailbox in DNS form"},
		{"label has no hyphen", `label = "A1"`, `label = "a-1"`, dnsZone, 0, `label "a-1" is not a mirror label`},
		{"labels are unique", "", "", dnsZone, 0, `label "a1" is already the label of mirror "a.example.net"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := dnsBase
			if tt.old != "" {
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			if tt.name == "labels are unique" {
				doc += "\n[[mirror]]\nname = \"b.example.net\"\nlabel = \"a1\"\ncountry = \"FR\"\nhttps = \"https://b.example.net/pub/\"\n"
			}
			_, err := loadDNS(t, doc, tt.zone)
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantError)
			}
			if es, ok := err.(Errors); !ok || len(es) != 1 || (tt.wantLine != 0 && es[0].Line != tt.wantLine) {
				t.Errorf("want one error at line %d, got %v", tt.wantLine, err)
			}
		})
	}
}

func TestDNSFallbackNeededWhenOriginIsAnAddress(t *testing.T) {
	doc := strings.Replace(strings.Replace(dnsBase, "https://origin.example.org/pub/", "https://192.0.2.7/pub/", 1), "fallback = \"fallback.example.net.\"\n", "", 1)
	if _, err := loadDNS(t, doc, dnsZone); err == nil || !strings.Contains(err.Error(), "add fallback = ") {
		t.Errorf("error %v, want a request for fallback", err)
	}
}
