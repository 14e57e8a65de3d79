package probe

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// TestReadmeTableIsTheClasses: the README's table of error classes names
// exactly state's classes, in the same order, so what an operator reads
// is what probe writes and the site describes.
func TestReadmeTableIsTheClasses(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "### Error classes")
	if !ok {
		t.Fatal(`README.md has no "### Error classes" section`)
	}
	var got []state.Class
	for _, line := range strings.Split(table, "\n")[1:] {
		if !strings.HasPrefix(line, "| `") {
			if len(got) > 0 {
				break
			}
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		got = append(got, state.Class(name))
	}
	if !slices.Equal(got, state.Classes) {
		t.Errorf("README.md's table lists\n\t%q\nstate.Classes are\n\t%q", got, state.Classes)
	}
}
