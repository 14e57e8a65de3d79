package inventory

import (
	"fmt"
	"strings"
)

// folded remembers names by their lower-case form, to refuse two that
// differ only in case. Such names become nginx map keys (which ignore
// case), file names under out/ (which case-insensitive file systems and
// some CDNs take for one) and DNS labels (which are case-insensitive):
// two of them are one name there.
type folded map[string]foldedName

type foldedName struct {
	name string
	path string // key path, for where the first one stands
}

// add records s, found at path, and returns the name recorded before it
// that equals s but for case ("" when none, or when it is s itself: a
// plain duplicate is a mistake of its own).
func (f folded) add(s, path string) foldedName {
	k := strings.ToLower(s)
	if prev, ok := f[k]; ok && prev.name != s {
		return prev
	}
	if _, ok := f[k]; !ok {
		f[k] = foldedName{s, path}
	}
	return foldedName{}
}

// where names the place of the key path, file:line:column, for a message
// about a second place.
func (v *validator) where(path string) string {
	if p, ok := v.pos.at(path); ok {
		return fmt.Sprintf("%s:%d:%d", v.file, p.Line, p.Column)
	}
	return v.file
}

// caseClash reports that what (s, at path) differs only in case from the
// earlier prev, saying where prev is and why that matters for this kind
// of name.
func (v *validator) caseClash(path, what, s string, prev foldedName, why string) {
	v.errorf(path, "%s %q differs only in case from %q (%s); %s, so they would be one name: make them differ in more than case", what, s, prev.name, v.where(prev.path), why)
}
