package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileFixtures loads each attack of testdata/hostile (issue 9,
// items 2, 4 and 6: text that would land raw in an output, names dnsd
// cannot pack, names that differ only in case) and checks that it is
// refused with exactly these errors, in this order. Each want is a part of
// one error line, from its line and column on.
func TestHostileFixtures(t *testing.T) {
	tests := []struct {
		file string
		rule string
		want []string
	}{
		{"name-newline.toml", "a line feed in [network] name would add lines to every list",
			[]string{`:4:1: [network] name "Example Linux\nhttps://evil.example/pub/\nServer = https://evil.example/$repo/os/$arch" has a line feed (U+000A): control characters break the line-based lists`}},
		{"sponsor-escape.toml", "a carriage return and an escape sequence are control characters",
			[]string{`:19:1: [[mirror]] "a.example.net": sponsor "Example\r\x1b[2KUniversity" has a carriage return (U+000D)`}},
		{"sponsor-bidi.toml", "a bidirectional override would show another text than is stored",
			[]string{`:19:1: [[mirror]] "a.example.net": sponsor "Example \u202emoc.live" has a bidirectional override (U+202E): it makes text display in another order`}},
		{"sponsor-line-separator.toml", "U+2028 and C1 controls count as line breaks",
			[]string{`:19:1: [[mirror]] "a.example.net": sponsor "Example\u2028University" has a line separator (U+2028)`,
				`:25:1: [[mirror]] "b.example.net": sponsor "Example\u0085Hosting" has a control character (U+0085)`}},
		{"repo-path-newline.toml", "a line feed in a repository path is reported once, as text",
			[]string{`:11:1: [[repo]] "arch": path "archlinux/$repo/os/$arch\nServer = https://evil.example/$repo/os/$arch" has a line feed (U+000A)`}},
		{"keys-newline.toml", "keys the operator chooses are text too, reported once each",
			[]string{`:10:1: [policy] neighbours key "N\nZ" has a line feed (U+000A)`,
				`:14:8: [dns] ns key "ns1\n" has a line feed (U+000A)`,
				`:15:11: [dns] names key "down\u202eload" has a bidirectional override (U+202E)`}},
		{"hostmaster-escape.toml", "an escape in the hostmaster could put any octet into the RNAME",
			[]string{`:13:1: [dns] hostmaster "host\\010master.example.org." is not a mailbox in DNS form`}},
		{"url-space.toml", "a base URL with a space, and the escaped URL to write",
			[]string{`:18:1: [[mirror]] "a.example.net": https "https://a.example.net/my pub/" has a space, which a URL cannot hold as it is (lists carry URLs raw, and clients split lines at spaces); write "https://a.example.net/my%20pub/"`}},
		{"url-port.toml", "ports that do not exist",
			[]string{`:18:1: [[mirror]] "a.example.net": https "https://a.example.net:99999/pub/": port 99999 does not exist; ports are 1 to 65535`,
				`:19:1: [[mirror]] "a.example.net": http "http://a.example.net:0/pub/": port 0 does not exist`,
				`:20:1: [[mirror]] "a.example.net": ftp "ftp://a.example.net:/pub/": the port after ":" is empty`,
				`:21:1: [[mirror]] "a.example.net": rsync "rsync://a.example.net:0873/pub/": port 0873 has leading zeros, which some clients read as octal; write 873`}},
		{"sponsor-url-credentials.toml", "credentials in sponsor_url would be published",
			[]string{`:20:1: [[mirror]] "a.example.net": sponsor_url "https://admin:hunter2@sponsor.example/" carries credentials`}},
		{"url-dollar.toml", "a $ in a base URL would be expanded by pacman and dnf",
			[]string{`:18:1: [[mirror]] "a.example.net": https "https://a.example.net/$repo/pub/" has a "$", which pacman reads as the start of a variable`, `write it as %24: "https://a.example.net/%24repo/pub/"`}},
		{"url-host.toml", "hosts that are not host names",
			[]string{`:18:1: [[mirror]] "a.example.net": https "https://bücher.example/pub/": the host "bücher.example" is not ASCII; write it in the form resolvers look up, xn--`,
				`:19:1: [[mirror]] "a.example.net": http "http://[fe80::1%25eth0]/pub/": the address fe80::1%eth0 has a zone (%eth0)`,
				`:20:1: [[mirror]] "a.example.net": ftp "ftp://a..example.net/pub/": the host "a..example.net" is not a host name`,
				`:21:1: [[mirror]] "a.example.net": rsync "rsync://a.example.net./pub/": the host "a.example.net." ends with a dot; write it without`}},
		{"origin-and-paths.toml", "the origin's port, and characters a URL cannot hold in the stamp, a repository path and a base URL",
			[]string{`:6:1: [network] origin "https://origin.example.org:65536/pub/": port 65536 does not exist`,
				`:7:1: [network] stamp "last sync" has a space; it is appended to URLs as it is and read as a file path`,
				`:12:1: [[repo]] "baseos": path "{release}/Base OS/{arch}/os/" has a space;`,
				`:19:1: [[repo]] "isos": path "isos/\"><x>/" has '"';`,
				`:25:1: [[mirror]] "a.example.net": https "https://a.example.net/pub/<script>/" has '<', which a URL cannot hold as it is`, `write "https://a.example.net/pub/%3Cscript%3E/"`}},
		{"repo-nginx-keyword.toml", "repository names nginx's map reads as its own words",
			[]string{`:11:1: [[repo]] name "include" is a word nginx's map reads as its own`,
				`:16:1: [[repo]] name "default" is a word nginx's map reads as its own`}},

		// Item 4: the two cases, and the other names dnsd derives.
		{"zone-248.toml", "a 248-octet zone: the steered name, _whoami and the default hostmaster do not fit",
			[]string{`:11:1: [dns] zone: dnsd answers _whoami.<zone>, and _whoami.xxx`, `is 256 octets in DNS wire form, 1 more than a name may have (255, RFC 1035 2.3.4); shorten the zone`,
				`:11:1: [dns] zone: the SOA's hostmaster (RNAME) is hostmaster.<zone> unless set, and hostmaster.xxx`, `is 259 octets in DNS wire form`,
				`:13:11: [dns] names: the steered name download.xxx`, `is 257 octets in DNS wire form, 2 more than a name may have`}},
		{"zone-245.toml", "a 245-octet zone: the default hostmaster is 256 octets",
			[]string{`:11:1: [dns] zone: the SOA's hostmaster (RNAME) is hostmaster.<zone> unless set, and hostmaster.xxx`, `is 256 octets in DNS wire form, 1 more than a name may have (255, RFC 1035 2.3.4); set a shorter mailbox`}},
		// The zone file's records are dnsd's to refuse: dnsd's
		// TestHostileZoneFile loads this file with its check.
		{"zone-file-long.toml", "a name server and an explicit hostmaster that do not fit",
			[]string{`:12:30: [dns] ns "name-server-one": name-server-one.xxx`, `is 256 octets in DNS wire form`,
				`:15:1: [dns] hostmaster dns-administrator.example.org.aaa`, `is 256 octets in DNS wire form`}},

		// Item 6.
		{"repos-case.toml", "repositories, releases and archs that differ only in case",
			[]string{`:18:1: [[repo]] "baseos" differs only in case from "BaseOS" (testdata/hostile/repos-case.toml:11:1); repository names are nginx map keys`,
				`:20:25: [[repo]] "baseos" release "el9" differs only in case from "EL9" (testdata/hostile/repos-case.toml:20:18)`,
				`:21:20: [[repo]] "baseos" arch "X86_64" differs only in case from "x86_64" (testdata/hostile/repos-case.toml:21:10)`}},
		{"mirrors-case.toml", "mirrors that differ only in case",
			[]string{`:28:1: [[mirror]] "Mirror.Example.net" differs only in case from "mirror.example.net" (testdata/hostile/mirrors-case.toml:21:1); mirror names name the status site's pages`}},
	}
	files, err := filepath.Glob("testdata/hostile/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d fixtures in testdata/hostile, %d cases: give each fixture its case", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			file := filepath.Join("testdata", "hostile", tt.file)
			_, err := Load(file)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) = %v, want it refused", file, err)
			}
			// Each error is one line; wants that are not at the start of
			// one continue the line before.
			var lines [][]string
			for _, w := range tt.want {
				if strings.HasPrefix(w, ":") {
					lines = append(lines, nil)
				}
				lines[len(lines)-1] = append(lines[len(lines)-1], w)
			}
			if len(errs) != len(lines) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(lines), err)
			}
			for i, e := range errs {
				got := e.Error()
				if strings.Contains(got, "\n") {
					t.Errorf("error %d spans lines: %q", i, got)
				}
				if !strings.HasPrefix(got, file+lines[i][0]) {
					t.Errorf("error %d = %q,\nwant it to start with %q", i, got, file+lines[i][0])
				}
				for _, w := range lines[i][1:] {
					if !strings.Contains(got, w) {
						t.Errorf("error %d = %q,\nwant it to contain %q", i, got, w)
					}
				}
			}
		})
	}
}

// TestRefusedInputs checks more ways in, one mistake each: every string
// of the file is checked for text no output can hold, every URL for what
// makes it another URL or none, and every name that lands where case is
// ignored for a twin.
func TestRefusedInputs(t *testing.T) {
	const origin = `origin = "https://origin.example.org/pub/"`
	const https = `https = "https://a.example.net/pub/"`
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) // 250 characters
	tests := []struct {
		name string
		doc  string
		at   string // the error's position: the first byte of this text
		want string
	}{
		// Text.
		{"NUL in a mirror name", edit(`name = "a.example.net"`, `name = "a.example\u0000.net"`), `name = "a.example\`,
			`[[mirror]] name "a.example\x00.net" has a control character (U+0000)`},
		{"DEL in the stamp", edit(`stamp = "TIME"`, `stamp = "TI\u007fME"`), `stamp`,
			`[network] stamp "TI\x7fME" has a control character (U+007F)`},
		{"tab in a sponsor (apt lists separate fields with tabs)", add("sponsor = \"Example\\tHosting\"\n"), `sponsor`,
			`[[mirror]] "a.example.net": sponsor "Example\tHosting" has a tab (U+0009)`},
		{"paragraph separator in the network name", edit(`name = "Test Linux"`, `name = "Test\u2029Linux"`), `name = "Test`,
			`[network] name "Test\u2029Linux" has a paragraph separator (U+2029)`},
		{"isolate in a release", edit(`releases = ["9"]`, `releases = ["\u20669"]`), `"\u20669"]`,
			`[[repo]] "baseos": releases "\u20669" has a bidirectional override (U+2066)`},
		{"line feed in an asn string", add("asn = \"AS3320\\n\"\n"), `asn`,
			`[[mirror]] "a.example.net": asn "AS3320\n" has a line feed`},
		{"line feed in a subnet file name", add("subnet_files = [\"a\\nb.txt\"]\n"), `"a\nb`,
			`[[mirror]] "a.example.net": subnet_files "a\nb.txt" has a line feed`},
		{"line feed in an origin_only pattern", add("[metalink]\norigin_only = [\"*.asc\\n\"]\n"), `"*.asc`,
			`[metalink] origin_only "*.asc\n" has a line feed`},
		{"line feed in a URL is reported as text, once", edit(https, `https = "https://a.example.net/pub/\n"`), `https =`,
			`[[mirror]] "a.example.net": https "https://a.example.net/pub/\n" has a line feed`},

		// URLs.
		{"quote in a base URL", edit(https, `https = "https://a.example.net/p\"ub/"`), `https =`,
			`https "https://a.example.net/p\"ub/" has '"', which a URL cannot hold as it is`},
		{"bracket in a base URL's path", edit(https, `https = "https://a.example.net/[pub]/"`), `https =`,
			`has '[', which a URL cannot hold as it is`},
		{"non-ASCII in a base URL's path is written escaped", edit(https, `https = "https://a.example.net/pübl/"`), `https =`,
			`write "https://a.example.net/p%C3%BCbl/"`},
		{"credentials without a password", edit(https, `https = "https://anonymous@a.example.net/pub/"`), `https =`,
			`carries credentials`},
		{"credentials in the origin", edit(origin, `origin = "https://u:p@origin.example.org/pub/"`), `origin =`,
			`[network] origin "https://u:p@origin.example.org/pub/" carries credentials`},
		{"space in sponsor_url", add("sponsor_url = \"https://sponsor.example/about us\"\n"), `sponsor_url`,
			`sponsor_url "https://sponsor.example/about us" has a space, which ends a link in plain text; write it as %20: "https://sponsor.example/about%20us"`},
		{"port out of range in sponsor_url", add("sponsor_url = \"https://sponsor.example:70000/\"\n"), `sponsor_url`,
			`port 70000 does not exist`},
		{"a numeric top-level domain", edit(https, `https = "https://192.0.2.256/pub/"`), `https =`,
			`the host "192.0.2.256" is neither an IP address nor a host name`},
		{"a host name too long for DNS", edit(https, `https = "https://`+long+`.net/pub/"`), `https =`,
			`the host is 254 characters long, more than a host name can be (253)`},
		{"a label over 63 characters", edit(https, `https = "https://`+strings.Repeat("a", 64)+`.example.net/pub/"`), `https =`,
			`is not a host name; use letters, digits and "-" in labels of 1 to 63 characters`},
		{"an underscore in a host", edit(https, `https = "https://a_b.example.net/pub/"`), `https =`,
			`the host "a_b.example.net" is not a host name`},
		{"a repository called hostnames", edit(`name = "baseos"`, `name = "Hostnames"`), `name = "Hostnames"`,
			`[[repo]] name "Hostnames" is a word nginx's map reads as its own`},

		// DNS names.
		{"an absolute name server too long", edit(`ns1 = ["192.0.2.53"]`, `ns1 = ["192.0.2.53"], "`+long+`.net." = []`), `"aaa`,
			`[dns] ns "aaa`},
		{"an explicit fallback too long", edit(`names = { download = "https" }`, `names = { download = "https" }`+"\nfallback = \"x"+long[1:]+".net.\""), `fallback`,
			`is 256 octets in DNS wire form, 1 more than a name may have (255, RFC 1035 2.3.4); give a shorter host name`},
		{"a zone of 256 octets", edit(`zone = "example.org."`, `zone = "`+long+`.org."`), `zone`,
			`[dns] zone ` + long + `.org. is 256 octets in DNS wire form`},

		// Case.
		{"labels that differ only in case name both places", add(`label = "fau"` + "\n" + strings.Replace(mirrorB, "country", "label = \"FAU\"\ncountry", 1)), `label = "FAU"`,
			`[[mirror]] "b.example.net": label "FAU" is already the label of mirror "a.example.net" (mirrors.toml:31:1)`},
		{"repositories differ only in case", add("\n[[repo]]\nname = \"BaseOS\"\npath = \"iso/\"\nformat = \"files\"\n"), `name = "BaseOS"`,
			`[[repo]] "BaseOS" differs only in case from "baseos" (mirrors.toml:20:1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v, want Errors", err)
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1:\n%v", len(errs), err)
			}
			line, col := position(t, tt.doc, tt.at)
			prefix := fmt.Sprintf("mirrors.toml:%d:%d: ", line, col)
			if got := errs[0].Error(); !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Errorf("error %q,\nwant it at %q and containing %q", got, prefix, tt.want)
			}
		})
	}
}

// TestAcceptedInputs checks what the rules above must not refuse: text
// in any script, markup that the outputs escape, and every form a real
// base URL takes.
func TestAcceptedInputs(t *testing.T) {
	const https = `https = "https://a.example.net/pub/"`
	zone240 := strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 63) + "." + strings.Repeat("y", 42) + ".org."
	tests := []struct {
		name string
		doc  string
	}{
		{"a name in another script, with a right-to-left mark", edit(`name = "Test Linux"`, `name = "مرآة Linux\u200f — Ünïcødé 日本"`)},
		{"markup in a sponsor (the site and the API escape it)", add("sponsor = \"<script>alert(1)</script> & Co\"\n")},
		{"markup in sponsor_url (the site and the API escape it)", add("sponsor_url = \"https://evil.example.net/\\\"><script>alert(1)</script>\"\n")},
		{"a query and a fragment in sponsor_url", add("sponsor_url = \"https://sponsor.example/?ref=mirror&lang=de#about\"\n")},
		{"a base URL with a port, escapes and sub-delimiters", edit(https, `https = "https://a.example.net:8443/~user/%7Epub/a+b/(x);y=1,z!/'q'*@/"`)},
		{"an IPv6 base URL", noDNS(edit(https, `https = "https://[2001:db8::1]:443/pub/"`))},
		{"an IPv4-mapped IPv6 base URL", noDNS(edit(https, `https = "https://[::ffff:192.0.2.1]/pub/"`))},
		{"an IPv4 base URL", noDNS(edit(https, `https = "https://192.0.2.1/pub/"`))},
		{"an upper-case scheme and host", edit(https, `https = "HTTPS://A.Example.NET/pub/"`)},
		{"a repository path with sub-delimiters", edit(`path = "{release}/BaseOS/{arch}/os/"`, `path = "{release}/Base+OS/{arch}/os~1/"`)},
		{"a hostmaster with a dot in its local part", edit(`names = { download = "https" }`, `names = { download = "https" }`+"\nhostmaster = \"john\\\\.doe.example.org\"")},
		{"a zone of 240 octets whose derived names fit", edit(`zone = "example.org."`, `zone = "`+zone240+`"`)},
		{"releases that differ in more than case", edit(`releases = ["9"]`, `releases = ["9", "9-stream", "el9"]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parse(t, tt.doc); err != nil {
				t.Errorf("refused:\n%v", err)
			}
		})
	}
}

// noDNS removes the base mirror's dns key, for a base URL with an address:
// a CNAME needs a host name.
func noDNS(doc string) string { return strings.Replace(doc, "dns = [\"download\"]\n", "", 1) }

func TestWireLen(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{".", 1},
		{"org.", 5},
		{"example.org.", 13},
		{"example.org", 13},
		{`john\.doe.example.org.`, 22},
		{`a\010b.org.`, 9},
	}
	for _, tt := range tests {
		if got := wireLen(tt.name); got != tt.want {
			t.Errorf("wireLen(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestShippedInventoriesPass loads every inventory the repository ships or
// tests with outside this package, which the rules above must not break.
func TestShippedInventoriesPass(t *testing.T) {
	for _, f := range []string{"../../mirrors.toml", "../../dnsd/testdata/mirrors.toml"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

// TestPreferenceNameTooLongWarns checks the warning for a mirror label
// whose preference name (<label>.<name>.<zone>) cannot fit in a query:
// legal, but useless.
func TestPreferenceNameTooLongWarns(t *testing.T) {
	zone240 := strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 63) + "." + strings.Repeat("y", 42) + ".org."
	doc := edit(`zone = "example.org."`, `zone = "`+zone240+`"`)
	for _, tt := range []struct {
		label string
		want  bool
	}{{"a", false}, {"abcdefgh", true}} {
		inv, err := parse(t, strings.Replace(doc, `dns = ["download"]`, `dns = ["download"]`+"\n"+`label = "`+tt.label+`"`, 1))
		if err != nil {
			t.Fatal(err)
		}
		ws := strings.Join(inv.Warnings(), "\n")
		if got := strings.Contains(ws, `[[mirror]] "a.example.net": its preference name `+tt.label+`.download.`); got != tt.want {
			t.Errorf("label %q: warned %v, want %v:\n%s", tt.label, got, tt.want, ws)
		}
	}
}
