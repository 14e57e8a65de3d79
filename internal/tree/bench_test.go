package tree

import (
	"fmt"
	"path/filepath"
	"testing"
)

// benchFiles returns n small files spread over directories, like the
// mirror lists and JSON documents gen writes.
func benchFiles(n int) (paths []string, data [][]byte) {
	for i := range n {
		paths = append(paths, fmt.Sprintf("lists/%02d/mirrors-%d.txt", i%100, i))
		data = append(data, fmt.Appendf(nil, "https://mirror-%d.example.org/pub/\nhttps://mirror-%d.example.net/\n", i, i*7))
	}
	return paths, data
}

func benchGeneration(b *testing.B, dir string, paths []string, data [][]byte) Stats {
	w, err := Begin(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Abort()
	for i, p := range paths {
		if err := w.WriteFile(p, data[i]); err != nil {
			b.Fatal(err)
		}
	}
	st, err := w.Commit()
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkWrite20k writes 20,000 small files: "new" into an empty target
// every iteration (all written and fsynced), "unchanged" the same files over
// the tree they already form (all hard-linked, nothing written or synced).
func BenchmarkWrite20k(b *testing.B) {
	const n = 20000
	paths, data := benchFiles(n)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		root := b.TempDir()
		i := 0
		for b.Loop() {
			i++
			st := benchGeneration(b, filepath.Join(root, fmt.Sprint("out", i)), paths, data)
			if st.Written != n+1 {
				b.Fatalf("%+v", st)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/file")
	})
	b.Run("unchanged", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "out")
		benchGeneration(b, dir, paths, data)
		b.ReportAllocs()
		for b.Loop() {
			st := benchGeneration(b, dir, paths, data)
			if st.Written != 0 || st.Unchanged != n+1 {
				b.Fatalf("%+v", st)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/file")
	})
}

// BenchmarkUnchanged20k checks a generation of 20,000 files with
// Unchanged: an lstat a file.
func BenchmarkUnchanged20k(b *testing.B) {
	const n = 20000
	paths, data := benchFiles(n)
	dir := filepath.Join(b.TempDir(), "out")
	w, err := Begin(dir)
	if err != nil {
		b.Fatal(err)
	}
	for i, p := range paths {
		if err := w.WriteFile(p, data[i]); err != nil {
			b.Fatal(err)
		}
	}
	w.SetNote([]byte("inputs"))
	if _, err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Unchanged(dir, func([]byte) bool { return true }); !ok {
			b.Fatal("not unchanged")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/file")
}
