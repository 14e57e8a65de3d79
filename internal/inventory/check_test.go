package inventory

import (
	"strings"
	"testing"
)

// TestChecks: a component's Check runs on what loaded, also when the
// loader found errors, and its errors join the loader's at their keys'
// places, sorted; an error about a value the loader refused already is
// dropped, and a file that does not decode runs no Check.
func TestChecks(t *testing.T) {
	// timeout and retries are the keys the check below complains about.
	check := func(inv *Inventory) Errors {
		var errs Errors
		if inv.Probe.Timeout != "" {
			errs = append(errs, inv.Errorf("probe.timeout", "timeout %q", inv.Probe.Timeout))
		}
		if inv.Probe.Retries != nil {
			errs = append(errs, inv.Errorf("probe.retries", "retries %d", *inv.Probe.Retries))
		}
		if inv.DNS != nil {
			errs = append(errs, inv.Errorf("dns.zone_file", "zone file %q of zone %q", inv.DNS.ZoneFile, inv.DNS.Zone))
		}
		return errs
	}
	const head = "[network]\nname = \"t\"\norigin = \"https://origin.example.org/pub/\"\nstamp = \"TIME\"\nmax_lag = \"1h\"\n" +
		"[[repo]]\nname = \"r\"\npath = \"r/\"\nformat = \"files\"\n"
	tests := []struct {
		name string
		doc  string // after head, from line 10
		want []string
	}{
		{"a check's errors are placed at their keys",
			"[probe]\nretries = 3\n  timeout = \"1s\"\n",
			[]string{`t.toml:11:1: retries 3`, `t.toml:12:3: timeout "1s"`}},
		{"they join the loader's, sorted",
			"[probe]\nretries = 3\n\n[[mirror]]\nname = \"x\"\ncountry = \"XX\"\nhttps = \"https://x.example/\"\n",
			[]string{`t.toml:11:1: retries 3`, `t.toml:15:1: [[mirror]] "x": `}},
		{"a key the file leaves out is placed at its table",
			"[dns]\nzone = \"example.org.\"\nns = { ns1 = [\"192.0.2.53\"] }\nnames = { download = \"https\" }\n",
			[]string{`t.toml:10:2: zone file "" of zone "example.org."`}},
		{"a refused zone reaches the check as \"\"",
			"[dns]\nzone = \"exa mple.org\"\nns = { \"ns1.example.net.\" = [] }\nnames = { download = \"https\" }\nzone_file = \"z\"\n",
			[]string{`t.toml:11:1: [dns] zone "exa mple.org" is not a domain name`, `t.toml:14:1: zone file "z" of zone ""`}},
		{"a value already refused for its text is reported once",
			"[probe]\ntimeout = \"1\\ns\"\n",
			[]string{`t.toml:11:1: [probe] timeout "1\ns" has a line feed`}},
		{"a file that does not decode runs no check",
			"[probe]\nretries = \"3\"\n",
			[]string{`t.toml:11:11: [probe]: retries must be an integer, not a string`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(head+tt.doc), ".", check)
			es, _ := err.(Errors)
			if len(es) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, e := range es {
				if got := e.Error(); !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("error %d = %q, want %q...", i, got, tt.want[i])
				}
			}
		})
	}
}
