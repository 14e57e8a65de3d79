package gen

import (
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// list is one mirror list as a format writer sees it.
type list struct {
	inv     *inventory.Inventory
	v       *inventory.Variant
	path    string // v.Path(), the repository's path below a base URL
	family  inventory.Family
	who     string
	choices []policy.Choice
	bases   []string // choices[i].URL()
}

// formats maps each repository format to the function that renders a list
// in it, appending to dst. Each lives in its own file.
var formats = map[inventory.Format]func(dst []byte, l *list) []byte{
	inventory.FormatRPM:   appendRPM,
	inventory.FormatDeb:   appendDeb,
	inventory.FormatArch:  appendArch,
	inventory.FormatFiles: appendFiles,
}

// urls returns how many repository URLs the list has: one an entry, or
// the origin alone for an empty list. A client with no list at all fails,
// and the origin is always there, if slower.
func (l *list) urls() int { return max(len(l.choices), 1) }

// appendURL appends the i-th repository URL, i < l.urls(): the base URL
// of the entry (policy.Choice.URL: https where it is healthy, else http)
// or of the origin, and the repository's path.
func (l *list) appendURL(dst []byte, i int) []byte {
	if len(l.choices) == 0 {
		dst = append(dst, l.inv.Network.Origin...)
	} else {
		dst = append(dst, l.bases[i]...)
	}
	return append(dst, l.path...)
}

// appendDescription appends the one-line description in a list's
// comment header.
func (l *list) appendDescription(dst []byte) []byte {
	dst = append(dst, "repo="...)
	dst = append(dst, l.v.Repo.Name...)
	if l.v.Release != "" {
		dst = append(dst, " release="...)
		dst = append(dst, l.v.Release...)
	}
	if l.v.Arch != "" {
		dst = append(dst, " arch="...)
		dst = append(dst, l.v.Arch...)
	}
	dst = append(dst, " family="...)
	dst = append(dst, l.family.String()...)
	dst = append(dst, " for "...)
	dst = append(dst, l.who...)
	dst = append(dst, " ("...)
	dst = append(dst, l.inv.Network.Name...)
	dst = append(dst, ')')
	if len(l.choices) == 0 {
		dst = append(dst, "; no healthy mirror, the origin only"...)
	}
	return dst
}
