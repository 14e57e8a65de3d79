package test

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

// reportWorld is a small network around the eastern Mediterranean, where
// the continent line runs between Egypt (AF) and Israel (AS), and a
// private mirror with a subnet; its GeoIP databases place a client in
// Cairo, one in the private mirror's subnet and two in Germany.
func reportWorld(t *testing.T) (dir, cfg, city, asn string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "mirrors.toml")
	err := os.WriteFile(cfg, []byte(`[network]
name = "Report"
origin = "https://origin.test/pub/"
stamp = "TIME"
max_lag = "12h"

[policy]
min = 2
max = 4

[[repo]]
name = "iso"
path = "iso/"
format = "files"

[[mirror]]
name = "tn"
country = "TN"
https = "https://tn.test/pub/"
lat = 36.80
lon = 10.18

[[mirror]]
name = "il"
country = "IL"
https = "https://il.test/pub/"
lat = 32.09
lon = 34.78

[[mirror]]
name = "de-1"
country = "DE"
https = "https://de-1.test/pub/"
lat = 50.11
lon = 8.68

[[mirror]]
name = "de-2"
country = "DE"
https = "https://de-2.test/pub/"
lat = 52.52
lon = 13.40

[[mirror]]
name = "corp"
country = "DE"
https = "https://corp.test/pub/"
asn = 64500
subnets = ["192.0.2.0/24"]
public = false
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix
	city, asn, err = geotest.Write(dir, []geotest.Net{
		{Prefix: pfx("198.18.0.0/24"), Country: "EG", Continent: "AF", Lat: 30.06, Lon: 31.25, HasCoord: true, ASN: 8452, Org: "Cairo Access"},
		{Prefix: pfx("192.0.2.0/24"), Country: "DE", Continent: "EU", Lat: 50.11, Lon: 8.68, HasCoord: true, ASN: 64500, Org: "Corp"},
		{Prefix: pfx("198.18.1.0/24"), Country: "DE", Continent: "EU", Lat: 52.52, Lon: 13.40, HasCoord: true, ASN: 3320, Org: "Access DE"},
		{Prefix: pfx("198.18.2.0/24"), Country: "DE", Continent: "EU", Lat: 48.14, Lon: 11.58, HasCoord: true, ASN: 3320, Org: "Access DE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, cfg, city, asn
}

func TestLookupReport(t *testing.T) {
	dir, cfg, city, asn := reportWorld(t)
	clients := filepath.Join(dir, "clients.txt")
	if err := os.WriteFile(clients, []byte("# sample\n198.18.0.7  # Cairo\n\n192.0.2.9\n198.18.1.1\n198.18.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mirrorsteer(t, "lookup", "-c", cfg, "--geoip-city", city, "--geoip-asn", asn, "--report", clients)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"quality report: 4 clients from " + clients + " (4 IPv4, 0 IPv6), 5 mirrors",
		"in-country first pick: 1.000 (2 of 2 clients",
		"subnet first pick: 1.000 (1 of 1 clients",
		// Cairo's nearest mirror is Tel Aviv (400 km) across the continent
		// line, and the policy gives it (a continent tier gave Tunis, 2,100
		// km: far off).
		"first picks by reason: subnet 1, country 2, world 1;",
		"far-off first picks (more than 1000 km beyond the nearest healthy mirror): 0.00% (0 of 4 clients located by coordinates; 0 known only by country or less are not measured)\n",
		"private leaks (a private mirror offered outside its ASNs and subnets): 0",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, re := range []string{`(?m)^ +DE +2 +2 `, `(?m)^ +private leaks +0 +0 +met$`, `(?m)^ +far-off first picks +<= 0\.5% +0\.00% +met$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("report does not match %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "farthest first picks") {
		t.Errorf("no first pick is far off, yet the report lists the farthest:\n%s", r.stdout)
	}
}

func TestLookupReportRefusesABadSample(t *testing.T) {
	dir, cfg, city, asn := reportWorld(t)
	clients := filepath.Join(dir, "clients.txt")
	if err := os.WriteFile(clients, []byte("198.18.0.7\n\nexample.org # a host name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mirrorsteer(t, "lookup", "-c", cfg, "--geoip-city", city, "--geoip-asn", asn, "--report", clients)
	if r.code != 1 || !strings.Contains(r.stderr, clients+`:3: "example.org" is not an IP address`) || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming line 3", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"--report", clients, "--ip", "198.18.0.7", "--geoip-city", city},
		{"--report", clients},
	} {
		r := mirrorsteer(t, append([]string{"lookup", "-c", cfg}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "--report") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error about --report", args, r.code, r.stderr)
		}
	}
}
