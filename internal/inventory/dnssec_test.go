package inventory

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDNSSECKeys(t *testing.T) {
	doc := dnsBase + `
[dns.dnssec]
keys = ["keys/Kexample.org.+013+10676.key", "/etc/keys/Kexample.org.+013+18081"]
publish = ["keys/Kexample.org.+013+52474.private"]
validity = "72h"
`
	inv, err := loadDNS(t, doc, dnsZone)
	if err != nil {
		t.Fatal(err)
	}
	s := inv.DNS.DNSSEC
	dir := filepath.Dir(inv.File)
	want := []DNSSECKey{
		{filepath.Join(dir, "keys/Kexample.org.+013+10676"), true, "dns.dnssec.keys.0"},
		{"/etc/keys/Kexample.org.+013+18081", true, "dns.dnssec.keys.1"},
		{filepath.Join(dir, "keys/Kexample.org.+013+52474"), false, "dns.dnssec.publish.0"},
	}
	if len(s.Keys) != len(want) {
		t.Fatalf("keys %+v, want %+v", s.Keys, want)
	}
	for i := range want {
		if s.Keys[i] != want[i] {
			t.Errorf("key %d: %+v, want %+v (the pair's path without .key or .private, relative to mirrors.toml)", i, s.Keys[i], want[i])
		}
	}
	if s.Validity != 72*time.Hour {
		t.Errorf("validity %s", s.Validity)
	}
	if inv, err := loadDNS(t, dnsBase, dnsZone); err != nil || inv.DNS.DNSSEC != nil {
		t.Errorf("without [dns.dnssec]: %v %+v, want an unsigned zone", err, inv.DNS.DNSSEC)
	}
	inv, err = loadDNS(t, dnsBase+"\n[dns.dnssec]\nkeys = [\"K1\"]\n", dnsZone)
	if err != nil || inv.DNS.DNSSEC.Validity != DefaultValidity {
		t.Errorf("default validity: %v %+v", err, inv.DNS.DNSSEC)
	}
}

func TestDNSSECKeyErrors(t *testing.T) {
	tests := []struct {
		name, table string
		line        int // after the table's header
		want        string
	}{
		{"keys are required", `publish = ["K1"]`, 0, `[dns.dnssec] keys is missing; name the key files that sign the zone`},
		{"a key is a path", `keys = ["K1", ".key"]`, 1, `[dns.dnssec] keys: ".key" is not a key file`},
		{"a key is listed once", `keys = ["K1", "K1.key"]`, 1, `"K1.key" is already in keys`},
		{"and signs or is published, not both", "keys = [\"K1\"]\npublish = [\"K1.private\"]", 2, `[dns.dnssec] publish: "K1.private" is already in keys`},
		{"validity is a duration", "keys = [\"K1\"]\nvalidity = \"14d\"", 2, `validity "14d" is not a duration from 1h to 8784h (366 days); write e.g. "336h" (14 days)`},
		{"of an hour at least", "keys = [\"K1\"]\nvalidity = \"30m\"", 2, `validity "30m" is not a duration from 1h`},
		{"unknown keys are refused", "keys = [\"K1\"]\nalgorithm = 13", 2, `unknown key "algorithm"`},
	}
	header := strings.Count(dnsBase, "\n") + 2
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadDNS(t, dnsBase+"\n[dns.dnssec]\n"+tt.table+"\n", dnsZone)
			es, ok := err.(Errors)
			if !ok || len(es) != 1 || !strings.Contains(es[0].Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if es[0].Line != header+tt.line {
				t.Errorf("line %d, want %d", es[0].Line, header+tt.line)
			}
		})
	}
}
