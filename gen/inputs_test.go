package gen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// inputsFixture is a run's inputs on disk: an inventory that names a
// subnet file, a snapshot, and a file read in place.
type inputsFixture struct {
	dir, config, subnets, state, opened, out string
	settings                                 []string
}

func newInputsFixture(t *testing.T) *inputsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &inputsFixture{
		dir:     dir,
		config:  filepath.Join(dir, "mirrors.toml"),
		subnets: filepath.Join(dir, "de1.txt"),
		state:   filepath.Join(dir, "state.json"),
		opened:  filepath.Join(dir, "City.mmdb"),
		out:     filepath.Join(dir, "out"),
	}
	f.settings = []string{"-c=" + f.config, "-s=" + f.state, "-o=" + f.out}
	doc := strings.Replace(header+mirrors, "asn = 3320\n", "asn = 3320\nsubnet_files = [\"de1.txt\"]\n", 1)
	write(t, f.config, doc)
	write(t, f.subnets, "192.0.2.0/24\n")
	write(t, f.opened, "a database")
	inv, err := inventory.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	b, err := statetest.Healthy(inv, nil).Encode()
	if err != nil {
		t.Fatal(err)
	}
	write(t, f.state, string(b))
	return f
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs gen as the command does: the inputs read under a fileio.Log,
// recorded with the tree.
func (f *inputsFixture) run(t *testing.T, settings []string, edit func(*gen.Options)) gen.Stats {
	t.Helper()
	id, err := fileio.Identify(f.opened)
	if err != nil {
		t.Fatal(err)
	}
	log := fileio.StartLog()
	fileio.ReadFile(filepath.Join(f.dir, "stats.json"), 1<<20) // optional, and missing
	inv, err := inventory.Load(f.config)
	if err != nil {
		log.Stop()
		t.Fatal(err)
	}
	snap, err := state.Load(f.state)
	reads := log.Stop()
	if err != nil {
		t.Fatal(err)
	}
	o := gen.Options{Inventory: inv, Snapshot: snap, Out: f.out, Inputs: &gen.Inputs{
		Settings: settings, Reads: reads, Opened: map[string]fileio.ID{f.opened: id}, Said: []byte("what loading said\n"),
	}}
	if edit != nil {
		edit(&o)
	}
	return run(t, o)
}

// TestUnchanged checks that gen.Unchanged finds a run unchanged exactly
// when its settings, every file it read (the inventory, a subnet file
// the inventory names, the snapshot), every file it opened in place, the
// program and the tree are as the run that wrote the tree left them.
func TestUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *inputsFixture) (settings []string)
		want   bool
	}{
		{"nothing changed", func(t *testing.T, f *inputsFixture) []string { return f.settings }, true},
		{"the inventory written again with the same bytes", func(t *testing.T, f *inputsFixture) []string {
			b, _ := os.ReadFile(f.config)
			os.Remove(f.config)
			write(t, f.config, string(b))
			return f.settings
		}, true},
		{"a setting changed", func(t *testing.T, f *inputsFixture) []string {
			return append(f.settings[:len(f.settings):len(f.settings)], "-edge-source=$http_x_real_ip")
		}, false},
		{"the inventory changed", func(t *testing.T, f *inputsFixture) []string {
			b, _ := os.ReadFile(f.config)
			write(t, f.config, strings.Replace(string(b), `name = "Test Linux"`, `name = "Test Linuy"`, 1))
			return f.settings
		}, false},
		{"a subnet file the inventory names changed", func(t *testing.T, f *inputsFixture) []string {
			write(t, f.subnets, "198.51.100.0/24\n")
			return f.settings
		}, false},
		{"a subnet file the inventory names is gone", func(t *testing.T, f *inputsFixture) []string {
			os.Remove(f.subnets)
			return f.settings
		}, false},
		{"the snapshot changed", func(t *testing.T, f *inputsFixture) []string {
			b, _ := os.ReadFile(f.state)
			write(t, f.state, strings.Replace(string(b), "2026-11-23T08:00:00Z", "2026-11-23T08:00:01Z", 1))
			return f.settings
		}, false},
		{"a file that was missing is there", func(t *testing.T, f *inputsFixture) []string {
			write(t, filepath.Join(f.dir, "stats.json"), "{}")
			return f.settings
		}, false},
		{"a file read in place was written", func(t *testing.T, f *inputsFixture) []string {
			write(t, f.opened, "a Database")
			return f.settings
		}, false},
		{"a list in the tree was edited", func(t *testing.T, f *inputsFixture) []string {
			p := filepath.Join(f.out, "mirrorlist/os/1/x86_64/DE.txt")
			b, _ := os.ReadFile(p)
			write(t, p, string(b)+"https://evil.example/\n")
			return f.settings
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newInputsFixture(t)
			first := f.run(t, f.settings, nil)
			settings := tc.change(t, f)
			st, said, ok := gen.Unchanged(f.out, settings)
			if ok != tc.want {
				t.Fatalf("Unchanged = %v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			if st.Files != first.Files || st.Unchanged != first.Files || st.Written != 0 || st.Lists != first.Lists || st.Bytes != first.Bytes {
				t.Errorf("Unchanged reports %+v; the run reported %+v", st, first)
			}
			if string(said) != "what loading said\n" {
				t.Errorf("Unchanged says %q, want what the run's loading said", said)
			}
		})
	}
}

// TestUnchangedOnlyWithInputs checks that a run that did not record its
// inputs, or that read an origin copy (which is not among them), is
// never found unchanged.
func TestUnchangedOnlyWithInputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gen.Options)
	}{
		{"no Inputs", func(o *gen.Options) { o.Inputs = nil }},
		{"an origin copy", func(o *gen.Options) { o.OriginDir = t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newInputsFixture(t)
			f.run(t, f.settings, nil)
			if _, _, ok := gen.Unchanged(f.out, f.settings); !ok {
				t.Fatal("the recorded run is not unchanged")
			}
			f.run(t, f.settings, tc.edit)
			if _, _, ok := gen.Unchanged(f.out, f.settings); ok {
				t.Error("Unchanged after a run with " + tc.name)
			}
		})
	}
}
