package layout_test

import (
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// FuzzParseKey: whatever lookup --list is given, a key ParseKey accepts
// spells back to a name that parses to the same key, and that name is one
// plain file name: lookup never names a file outside a list directory.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"global", "DE", "de", "AS", "AS3320-DE", "as3320-de", "AS3320", "AS03320-DE", "AS4294967296-DE", "AS1-XK", "../DE", "", "US-CA", "us-ca", "GB-ENG", "AS-1", "US-", "US-CALI", "US-../"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := layout.ParseKey(s)
		if err != nil {
			return
		}
		name := k.String()
		if !strings.EqualFold(name, s) {
			t.Errorf("ParseKey(%q) = %v: the name differs beyond case", s, name)
		}
		back, err := layout.ParseKey(name)
		if err != nil || back != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %v back", name, back, err, k)
		}
		if strings.ContainsAny(name, "/\\.") || tree.CheckPath("d/"+name+".txt") != nil {
			t.Errorf("key %q is not a plain file name", name)
		}
	})
}
