package importer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// checkLoads fails when r's output does not load: whatever a source
// holds, the import writes a file mirrorsteer check accepts, or nothing.
func checkLoads(t *testing.T, r *Result) {
	data, err := r.TOML(AlmaLinuxHead, "mirrors.toml", ".")
	if err != nil {
		t.Fatalf("TOML: %v", err)
	}
	inv, err := inventory.Parse("mirrors.toml", data, ".")
	if err != nil {
		t.Fatalf("the output does not load:\n%v\n%s", err, data)
	}
	if len(inv.Mirrors) != len(r.Mirrors) {
		t.Fatalf("%d mirrors loaded, %d written", len(inv.Mirrors), len(r.Mirrors))
	}
	for _, n := range r.Notes {
		if n.Source == "" || n.Text == "" {
			t.Fatalf("note without a source or text: %+v", n)
		}
	}
}

func addDir(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseAlmaLinux(f *testing.F) {
	addDir(f, "testdata/almalinux/mirrors.d/*.yml")
	f.Add([]byte("a: &a [*a, *a]\nname: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Result{Format: "almalinux"}
		r.ParseAlmaLinux("m.yml", data)
		checkLoads(t, r)
	})
}

func FuzzParseMirrorZ(f *testing.F) {
	addDir(f, "testdata/mirrorz/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Result{Format: "mirrorz"}
		r.ParseMirrorZ("site.d.json", data, MirrorZ{Cname: "almalinux", Country: "CN"})
		checkLoads(t, r)
	})
}
