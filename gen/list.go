package gen

import (
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// list is one mirror list as a format writer sees it.
type list struct {
	inv     *inventory.Inventory
	v       *inventory.Variant
	family  inventory.Family
	who     string
	choices []policy.Choice
}

// formats maps each repository format to the function that renders a list
// in it, appending to dst. Each lives in its own file.
var formats = map[inventory.Format]func(dst []byte, l *list) []byte{
	inventory.FormatRPM:   appendRPM,
	inventory.FormatDeb:   appendDeb,
	inventory.FormatArch:  appendArch,
	inventory.FormatFiles: appendFiles,
}

// urls returns the repository URL of every entry (policy.Choice.URL:
// https where it is healthy, else http). An empty list gets the origin: a client with no list
// at all fails, and the origin is always there, if slower.
func (l *list) urls() []string {
	p := l.v.Path()
	out := make([]string, 0, len(l.choices))
	for _, c := range l.choices {
		out = append(out, c.URL()+p)
	}
	if len(out) == 0 {
		out = append(out, l.inv.Network.Origin+p)
	}
	return out
}

// describe is the one-line description in a list's comment header.
func (l *list) describe() string {
	s := "repo=" + l.v.Repo.Name
	if l.v.Release != "" {
		s += " release=" + l.v.Release
	}
	if l.v.Arch != "" {
		s += " arch=" + l.v.Arch
	}
	s += " family=" + l.family.String() + " for " + l.who + " (" + l.inv.Network.Name + ")"
	if len(l.choices) == 0 {
		s += "; no healthy mirror, the origin only"
	}
	return s
}
