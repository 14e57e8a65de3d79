package gen

import (
	"encoding/xml"
	"net/url"
	"testing"
)

// FuzzEscapePath checks that any origin path gen publishes a .meta4 for
// comes out of its URL as exactly that path: no query, no fragment, no
// other host, and the same after XML escaping and parsing.
func FuzzEscapePath(f *testing.F) {
	for _, s := range []string{"iso/hash#frag.iso", "a b.iso", "100%.iso", "?.iso", "dir #1/x&y.iso", "ünï.iso",
		"a/../b", "%2e%2e/x", "x?y#z", "//host/x", "a;b,c=d@e:f+g$h", "\\x", "<>\"'.iso"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if unpublishable(rel) != "" {
			return
		}
		const base = "https://mirror.test/pub/"
		raw := base + escapePath(rel)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if u.Host != "mirror.test" || u.Path != "/pub/"+rel || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("%q parses as host %q path %q query %q fragment %q, want the path /pub/%s", raw, u.Host, u.Path, u.RawQuery, u.Fragment, rel)
		}
		var doc struct {
			URL string `xml:"url"`
		}
		text := "<m><url>" + string(appendEscaped(nil, raw)) + "</url></m>"
		if err := xml.Unmarshal([]byte(text), &doc); err != nil || doc.URL != raw {
			t.Fatalf("%q in XML: %q, %v", raw, doc.URL, err)
		}
	})
}
