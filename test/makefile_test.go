package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMakeFuzzListsEveryTarget checks that make fuzz runs every fuzz
// target of the repository: it runs what make fuzz-list prints, which
// must be every func FuzzX(*testing.F) in a _test.go file, found here
// with go/parser as the go command finds them.
func TestMakeFuzzListsEveryTarget(t *testing.T) {
	needTool(t, "make", "make")
	cmd := exec.Command("make", "-s", "--no-print-directory", "fuzz-list")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make fuzz-list: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	slices.Sort(got)
	var want []string
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != ".." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir // what the go command ignores
		}
		if d.IsDir() || !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || len(fn.Type.Params.List) != 1 {
				continue
			}
			star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
			if sel, ok2 := star.X.(*ast.SelectorExpr); !ok || !ok2 || sel.Sel.Name != "F" {
				continue
			}
			dir, _ := filepath.Rel("..", filepath.Dir(path))
			want = append(want, "./"+filepath.ToSlash(dir)+" "+fn.Name.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("make fuzz-list prints\n\t%s\nthe fuzz targets are\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if !slices.Contains(want, "./dnsd FuzzParse") || !slices.Contains(want, "./dnsd FuzzServe") {
		t.Errorf("the fuzz targets of dnsd's parser are missing from %v", want)
	}
}
