package dnsd

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// zoneBase is an inventory with a zone file, its [dns] zone_file key on
// line 11.
const zoneBase = `[network]
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

[[repo]]
name = "baseos"
path = "os/"
format = "rpm"

[[mirror]]
name = "a.example.net"
country = "DE"
https = "https://a.example.net/pub/"
dns = ["download"]
`

const zoneRecords = `$TTL 3600
@        MX    10 mail
@        TXT   "v=spf1 -all"
mail     A     192.0.2.25
www      CNAME web.example.net.
a.b.deep AAAA  2001:db8::1
`

// writeZone writes doc and zone (when not "") into a directory and
// returns the path of doc.
func writeZone(t *testing.T, doc, zone string) string {
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
	return path
}

func TestReadZoneFile(t *testing.T) {
	in := loadInputs(t, writeZone(t, zoneBase, zoneRecords+"MAIL A 192.0.2.25\n"))
	if len(in.Records) != 5 {
		t.Fatalf("%d records, want 5 (the repeated one once): %v", len(in.Records), in.Records)
	}
	if mx, ok := in.Records[0].(*dns.MX); !ok || mx.Mx != "mail.example.org." || mx.Hdr.Ttl != 3600 {
		t.Errorf("first record %v, want the MX relative to the zone", in.Records[0])
	}
	if in.Records[4].Header().Name != "a.b.deep.example.org." {
		t.Errorf("last record %v, want the records in file order", in.Records[4])
	}
}

// The loader places the zone file and nothing else reads it: gen,
// lookup and probe load an inventory whose zone file is missing.
func TestOnlyDnsdReadsTheZoneFile(t *testing.T) {
	path := writeZone(t, zoneBase, "")
	if _, err := inventory.Load(path); err != nil {
		t.Errorf("the inventory alone: %v, want it loaded", err)
	}
	if _, err := inventory.Load(path, CheckZoneFile); err == nil || !strings.Contains(err.Error(), "cannot read it") {
		t.Errorf("with dnsd's check: %v, want the zone file refused", err)
	}
}

// TestZoneFileErrors: what dnsd makes itself may not be in the zone
// file, and every error is at the zone_file key's line in mirrors.toml,
// as one of the inventory's errors.
func TestZoneFileErrors(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string // edit of zoneBase
		zone      string
		wantError string
	}{
		{"a record on a steered name clashes", "", "", zoneRecords + "download CNAME elsewhere.example.net.\n",
			`download.example.org. CNAME clashes with the steered name "download" of [dns] names`},
		{"a record below a steered name clashes (preference names live there)", "", "", zoneRecords + "x.download A 192.0.2.9\n",
			`x.download.example.org. A clashes with the steered name "download"`},
		{"_whoami is dnsd's own", "", "", zoneRecords + "_whoami TXT \"me\"\n", `_whoami.example.org. TXT clashes with _whoami.example.org.`},
		{"the SOA comes from [dns]", "", "", zoneRecords + "@ SOA ns1 hostmaster 1 2 3 4 5\n", "the SOA comes from [dns]"},
		{"NS come from [dns] ns", "", "", zoneRecords + "sub NS ns.example.net.\n", "name servers come from [dns] ns"},
		{"glue comes from [dns] ns", "", "", zoneRecords + "ns1 A 192.0.2.1\n", "the addresses of name server ns1.example.org. come from [dns] ns"},
		{"a name server is no CNAME", "", "", zoneRecords + "ns1 CNAME www\n", "ns1.example.org. is a name server of [dns] ns and must not be a CNAME"},
		{"CNAME and other data", "", "", zoneRecords + "www A 192.0.2.80\n", "www.example.org. has a CNAME and other records"},
		{"the apex is no CNAME", "", "", "$TTL 60\n@ CNAME web.example.net.\n", "the zone apex cannot be a CNAME"},
		{"DNAME is not served", "", "", zoneRecords + "old DNAME example.net.\n", "DNAME is not served"},
		{"out of zone", "", "", zoneRecords + "host.example.net. A 192.0.2.1\n", "is outside the zone"},
		{"other classes are not served", "", "", zoneRecords + "chaos CH TXT \"x\"\n", "is of class CH"},
		{"wildcards are not served", "", "", zoneRecords + "* A 192.0.2.1\n", "is a wildcard"},
		{"syntax errors name the zone file's line", "", "", zoneRecords + "bad A 999.1.1.1\n", "dns: bad A A: \"999.1.1.1\" at line: 7:15"},
		{"missing zone file", `zone_file = "example.org.zone"`, `zone_file = "nope.zone"`, "", "cannot read it: no such file or directory; fix the path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := zoneBase
			if tt.old != "" {
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			path := writeZone(t, doc, tt.zone)
			_, err := inventory.Load(path, CheckZoneFile)
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantError)
			}
			var es inventory.Errors
			if !errors.As(err, &es) || len(es) != 1 || !strings.HasPrefix(es[0].Error(), path+":11:1: [dns] zone_file") {
				t.Errorf("want one error at %s:11:1, got %v", path, err)
			}
		})
	}
}

// TestHostileZoneFile loads the inventory's hostile fixture of names
// over 255 octets with dnsd's check: the zone file's records are
// refused among the loader's own errors, sorted by line (issue 9,
// item 4).
func TestHostileZoneFile(t *testing.T) {
	const file = "../internal/inventory/testdata/hostile/zone-file-long.toml"
	_, err := inventory.Load(file, CheckZoneFile)
	var es inventory.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load = %v, want it refused", err)
	}
	want := [][]string{
		{file + `:12:30: [dns] ns "name-server-one": name-server-one.xxx`, `is 256 octets in DNS wire form`},
		{file + `:14:1: [dns] zone_file ../internal/inventory/testdata/hostile/zone-file-long.zone: A record: its owner mail-server-two.xxx`, `is 256 octets in DNS wire form, 1 more than a name may have (255, RFC 1035 2.3.4); shorten it`},
		{file + `:14:1: [dns] zone_file ../internal/inventory/testdata/hostile/zone-file-long.zone: www.xxx`, `CNAME: a name in its data is more than 255 octets in DNS wire form`},
		{file + `:15:1: [dns] hostmaster dns-administrator.example.org.aaa`, `is 256 octets in DNS wire form`},
	}
	if len(es) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, e := range es {
		got := e.Error()
		if !strings.HasPrefix(got, want[i][0]) || !strings.Contains(got, want[i][1]) {
			t.Errorf("error %d = %q,\nwant %q ... %q", i, got, want[i][0], want[i][1])
		}
	}
}

// A zone file dnsd refuses fails its start, and a reload to one keeps
// the zone being served, with the same message as mirrorsteer check.
func TestLoaderRefusesABadZoneFile(t *testing.T) {
	bad := zoneRecords + "download A 192.0.2.9\n"
	path := writeZone(t, zoneBase, bad)
	const want = `:11:1: [dns] zone_file `
	const what = `download.example.org. A clashes with the steered name "download"`
	_, checked := inventory.Load(path, CheckZoneFile)
	if checked == nil || !strings.Contains(checked.Error(), what) {
		t.Fatalf("check: %v", checked)
	}
	_, err := NewLoader(Sources{Config: path}, slog.New(slog.DiscardHandler), nil).Start()
	if err == nil || err.Error() != checked.Error() || !strings.Contains(err.Error(), path+want) {
		t.Errorf("start: %v\nwant what check says: %v", err, checked)
	}

	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "example.org.zone"), []byte(zoneRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLoader(Sources{Config: path}, slog.New(slog.DiscardHandler), nil)
	h, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	before := h.Zone()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "example.org.zone"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err == nil || err.Error() != checked.Error() {
		t.Errorf("reload: %v\nwant what check says: %v", err, checked)
	}
	if h.Zone() != before {
		t.Error("a reload to a bad zone file replaced the zone")
	}
}

// FuzzReadZoneFile feeds ReadZoneFile arbitrary zone files. Whatever is
// in one, it must not panic; every error is one line at the zone_file
// key's place in mirrors.toml; and what it accepts Compile serves: every
// record packs and none is where dnsd answers itself. Found inputs go to
// testdata/fuzz/FuzzReadZoneFile:
//
//	go test -run '^$' -fuzz FuzzReadZoneFile ./dnsd/
func FuzzReadZoneFile(f *testing.F) {
	for _, name := range []string{"testdata/example.org.zone", "../internal/inventory/testdata/hostile/zone-file-long.zone"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(zoneRecords))
	f.Add([]byte(zoneRecords + "download CNAME x.example.net.\n_whoami TXT \"x\"\n* A 192.0.2.1\n"))
	f.Add([]byte("$ORIGIN download.example.org.\n$TTL 60\nx A 192.0.2.1\n"))
	f.Add([]byte("$TTL 60\n\\068OWNLOAD A 192.0.2.1\nns1 CNAME www\n$INCLUDE /etc/passwd\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(path, []byte(zoneBase), 0o644); err != nil {
		f.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		f.Fatal(err)
	}
	zone := filepath.Join(dir, "example.org.zone")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(zone, data, 0o644); err != nil {
			t.Fatal(err)
		}
		records, errs := ReadZoneFile(inv)
		if len(errs) > 0 {
			if records != nil {
				t.Errorf("records and errors: %v", records)
			}
			for _, e := range errs {
				if msg := e.Error(); !strings.HasPrefix(msg, path+":11:1: [dns] zone_file") || strings.Contains(msg, "\n") {
					t.Errorf("error %q is not one line at zone_file", msg)
				}
			}
			return
		}
		for _, rr := range records {
			owner := rr.Header().Name
			if !dns.IsSubDomain("example.org.", owner) || dns.IsSubDomain("download.example.org.", owner) || dns.IsSubDomain("_whoami.example.org.", owner) {
				t.Errorf("accepted %s, where dnsd does not serve the zone file", rr)
			}
		}
		if _, err := Compile(Inputs{Inventory: inv, Records: records}); err != nil {
			t.Errorf("Compile refuses what ReadZoneFile accepted: %v", err)
		}
	})
}
