package test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TestMirrorsWithoutACountryArePlacedFromTheirAddress runs the pipeline
// on mirrors mirrors.toml gives no country: probe records the loopback
// addresses it connected to (the inventory allows loopback with
// probe_networks), and a test City database puts one in Germany and one
// in Japan. check warns that they are unplaced; gen, lookup and dnsd with
// --geoip-city place them there and agree; without it they are in no
// country's list; the site says where the place came from.
func TestMirrorsWithoutACountryArePlacedFromTheirAddress(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.0.0.160"), Mirrors: []localmirror.Spec{
		{Name: "berlin"}, {Name: "tokyo"}, {Name: "paris", Country: "FR"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	berlin, tokyo := n.Mirror("berlin").Addr, n.Mirror("tokyo").Addr
	dir := t.TempDir()
	inv := n.Inventory()
	for _, m := range []string{"berlin", "tokyo", "paris"} {
		re := regexp.MustCompile(`(name    = "` + m + `"\n)country = "[A-Z]{2}"\n`)
		keep := "${1}"
		if m == "paris" {
			keep = "${1}country = \"FR\"\n"
		}
		inv = re.ReplaceAllString(inv, keep+"dns = [\"download\"]\n")
	}
	inv += "[dns]\nzone = \"example.org.\"\nns = { ns1 = [\"127.0.0.1\"] }\nnames = { download = \"http\" }\n"
	if strings.Count(inv, "dns = [") != 3 || strings.Count(inv, "country = ") != 1 {
		t.Fatalf("inventory not as the test means it:\n%s", inv)
	}
	cfg := filepath.Join(dir, "mirrors.toml")
	os.WriteFile(cfg, []byte(inv), 0o644)
	city, asn, err := geotest.Write(dir, []geotest.Net{
		{Prefix: netip.PrefixFrom(berlin, 32), Country: "DE", Continent: "EU", Lat: 52.52, Lon: 13.40, HasCoord: true},
		{Prefix: netip.PrefixFrom(tokyo, 32), Country: "JP", Continent: "AS", Lat: 35.68, Lon: 139.69, HasCoord: true},
		{Prefix: netip.MustParsePrefix("81.1.0.0/16"), Country: "DE", Continent: "EU", Lat: 48.14, Lon: 11.58, HasCoord: true, ASN: 3320},
		{Prefix: netip.MustParsePrefix("106.3.0.0/16"), Country: "JP", Continent: "AS", Lat: 34.69, Lon: 135.50, HasCoord: true, ASN: 2516},
		{Prefix: netip.MustParsePrefix("90.0.0.0/16"), Country: "FR", Continent: "EU", Lat: 48.86, Lon: 2.35, HasCoord: true, ASN: 3215},
	})
	if err != nil {
		t.Fatal(err)
	}

	// check: a warning per unplaced mirror, and success.
	r := mirrorsteer(t, "check", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, `"berlin" is unplaced (no country, no lat/lon)`) || !strings.Contains(r.stdout, "--geoip-city") || !strings.Contains(r.stdout, "no country:   2") {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// probe records where it connected.
	statePath := filepath.Join(dir, "state.json")
	r = mirrorsteer(t, append([]string{"probe", "-c", cfg, "-o", statePath, "--timeout", "5s", "--ca-file", n.CAFile()}, n.ResolveFlags()...)...)
	if r.code != 0 {
		t.Fatalf("probe: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	snap, err := state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if e := snap.Endpoint("berlin", state.HTTP, state.IPv4); e == nil || e.Addr != berlin || !e.Healthy {
		t.Fatalf("berlin's endpoint: %+v, want healthy at %v", e, berlin)
	}

	type row struct{ Mirror, Country, Reason string }
	lookup := func(args ...string) []row {
		t.Helper()
		r := mirrorsteer(t, append([]string{"lookup", "-c", cfg, "-s", statePath, "--json", "--name", "download"}, args...)...)
		if r.code != 0 {
			t.Fatalf("lookup %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var doc struct{ Mirrors []row }
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("lookup --json: %v\n%s", err, r.stdout)
		}
		return doc.Mirrors
	}
	// Without a City database nothing places them: Germany gets Paris
	// first, the unplaced two after it, in no country's tier.
	if got := lookup("--country", "DE"); len(got) != 3 || got[0].Mirror != "paris" || got[1].Country != "" || got[1].Reason != "world" {
		t.Errorf("DE without --geoip-city: %+v", got)
	}
	// With it, each is in its country's tier.
	for _, c := range []struct{ cc, first string }{{"DE", "berlin"}, {"JP", "tokyo"}, {"FR", "paris"}} {
		got := lookup("--country", c.cc, "--geoip-city", city)
		if len(got) == 0 || got[0].Mirror != c.first || got[0].Country != c.cc || got[0].Reason != "country" {
			t.Errorf("%s with --geoip-city: %+v, want %s first, in the country tier", c.cc, got, c.first)
		}
	}

	// gen places them the same way, says so, and the lists and the site
	// show it.
	out := filepath.Join(dir, "out")
	r = mirrorsteer(t, "gen", "-c", cfg, "-s", statePath, "--geoip-city", city, "-o", out)
	if r.code != 0 || !strings.Contains(r.stderr, "placed 2 mirror(s)") || !strings.Contains(r.stderr, `mirror "berlin": country DE and position 52.52,13.40 from `+berlin.String()+" (GeoIP)") {
		t.Fatalf("gen: exit %d\n%s", r.code, r.stderr)
	}
	firstURL := func(key string) string {
		list := readFile(t, filepath.Join(out, "urls", "isos", "9", "x86_64", key+".txt"))
		for _, l := range strings.Split(list, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				return l
			}
		}
		return ""
	}
	if got := firstURL("DE"); !strings.Contains(got, "berlin.mirrors.test") {
		t.Errorf("DE list starts with %q, want berlin", got)
	}
	if got := firstURL("JP"); !strings.Contains(got, "tokyo.mirrors.test") {
		t.Errorf("JP list starts with %q, want tokyo", got)
	}
	page := readFile(t, filepath.Join(out, "mirror", "berlin.html"))
	if !strings.Contains(page, "placed from address "+berlin.String()+" (GeoIP)") || !strings.Contains(page, "Germany (DE)") {
		t.Errorf("berlin's page does not say where its place came from:\n%s", page)
	}
	// Without --geoip-city gen says they stay unplaced.
	r = mirrorsteer(t, "gen", "-c", cfg, "-s", statePath, "-o", filepath.Join(dir, "out2"))
	if r.code != 0 || !strings.Contains(r.stderr, "2 mirror(s) are unplaced") {
		t.Errorf("gen without --geoip-city: exit %d\n%s", r.code, r.stderr)
	}

	// dnsd answers every asker what lookup --ip shows first.
	p := startDnsd(t, &dnsdNet{dir: dir, config: cfg, state: statePath, city: city, asn: asn})
	for _, ip := range []string{"81.1.2.3", "106.3.4.5", "90.0.1.2"} {
		want := lookup("--ip", ip, "--geoip-city", city, "--geoip-asn", asn)
		got := short(t, p.addr, "download.example.org", "A", "+subnet="+ip+"/32")
		if len(want) == 0 || got != want[0].Mirror+".mirrors.test." {
			t.Errorf("%s: dnsd answers %q, lookup --ip gives %+v", ip, got, want)
		}
	}
}
