package gen

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// TestNoteNamesTheProgram checks that a note is the same inputs only for
// the program that wrote it, with the same settings in the same order,
// and that what it recorded comes back, whatever bytes it holds.
func TestNoteNamesTheProgram(t *testing.T) {
	p := filepath.Join(t.TempDir(), "odd \"name\"\n.toml")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := fileio.StartLog()
	fileio.ReadFile(p, 10)
	in := Inputs{Settings: []string{"-c=a b", "-o=\"out\""}, Reads: l.Stop(), Said: []byte("line 1\n\tline \"2\"\n")}
	note := in.note("build-1", &Stats{Lists: 7, Metalinks: 3, Warnings: []string{"w\n1", "w2"}})
	for _, tc := range []struct {
		name     string
		program  string
		settings []string
		want     bool
	}{
		{"the same program and settings", "build-1", in.Settings, true},
		{"another program", "build-2", in.Settings, false},
		{"no program ID", "", in.Settings, false},
		{"the settings in another order", "build-1", []string{in.Settings[1], in.Settings[0]}, false},
		{"one setting fewer", "build-1", in.Settings[:1], false},
	} {
		st, said, ok := sameInputs(note, tc.program, tc.settings)
		if ok != tc.want {
			t.Errorf("%s: sameInputs = %v, want %v", tc.name, ok, tc.want)
			continue
		}
		if ok && (string(said) != string(in.Said) || st.Lists != 7 || st.Metalinks != 3 || !slices.Equal(st.Warnings, []string{"w\n1", "w2"})) {
			t.Errorf("%s: got back %+v and %q", tc.name, st, said)
		}
	}
}
