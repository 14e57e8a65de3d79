package state

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sample is a valid snapshot in canonical form.
func sample() *Snapshot {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t.UTC()
	}
	return &Snapshot{
		Schema:  Schema,
		Taken:   at("2025-06-02T14:00:00Z"),
		Network: "example",
		Origin: Origin{
			Stamp:   at("2025-06-02T13:52:11Z"),
			Checked: at("2025-06-02T14:00:00.412Z"),
			Metadata: []Meta{
				{Repo: "BaseOS", Release: "9", Arch: "x86_64", Path: "9/BaseOS/x86_64/os/repodata/repomd.xml", Size: 3880,
					SHA256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", FirstSeen: at("2025-06-02T12:00:00Z"), Timestamp: 1748865302},
				{Repo: "BaseOS", Release: "9", Arch: "x86_64", Path: "9/BaseOS/x86_64/os/repodata/repomd.xml", Size: 3880,
					SHA256: "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d", FirstSeen: at("2025-05-30T20:00:00Z")},
			},
		},
		Mirrors: map[string]*Mirror{
			"mirror.example.de": {Endpoints: []Endpoint{
				{Protocol: HTTP, Family: IPv4, Up: true, Healthy: true, Checked: at("2025-06-02T14:00:01.004Z"),
					LastGood: at("2025-06-02T14:00:01.004Z"), Stamp: at("2025-06-02T13:52:11Z"), Lag: DurationOf(0),
					Successes: 96, LatencyMS: 21.4,
					Repos: []Repo{{Repo: "AppStream", Release: "9", Arch: "x86_64", Fresh: true}, {Repo: "BaseOS", Release: "9", Arch: "x86_64", Fresh: true}}},
				{Protocol: HTTPS, Family: IPv6, Up: true, Healthy: true, Checked: at("2025-06-02T14:00:01.377Z"),
					Stamp: at("2025-06-02T13:52:11Z"), Lag: DurationOf(90 * time.Minute), Successes: 2,
					CertExpiry: at("2025-08-14T23:59:59Z")},
				{Protocol: Rsync, Family: IPv4, Up: false, Healthy: true, Checked: at("2025-06-02T14:00:02.61Z"),
					Error: "connection refused", Class: "refused", Failures: 1},
			}},
			"mirror.example.jp": {},
			"ftp.example.edu & co <b>": {Endpoints: []Endpoint{
				{Protocol: FTP, Family: IPv6, Checked: at("2025-06-02T14:00:00.64Z"), Error: "no AAAA record", Class: "no-address", Failures: 240},
			}},
		},
	}
}

// shuffled is sample() in non-canonical form: times in another zone,
// lists out of order, empty lists non-nil, an unknown lag with a value.
func shuffled() *Snapshot {
	s := sample()
	zone := time.FixedZone("CEST", 2*3600)
	s.Taken = s.Taken.In(zone)
	s.Origin.Metadata[0], s.Origin.Metadata[1] = s.Origin.Metadata[1], s.Origin.Metadata[0]
	de := s.Mirrors["mirror.example.de"]
	de.Endpoints[0], de.Endpoints[2] = de.Endpoints[2], de.Endpoints[0]
	e := &de.Endpoints[2] // http/ipv4
	e.Checked = e.Checked.In(zone)
	e.Repos[0], e.Repos[1] = e.Repos[1], e.Repos[0]
	de.Endpoints[0].Repos = []Repo{}
	de.Endpoints[0].Lag = Duration{Duration: time.Hour} // not Known
	s.Mirrors["mirror.example.jp"].Endpoints = []Endpoint{}
	return s
}

func TestWriteRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := sample()
	if err := want.Write(path); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load after Write: %v\n%s", err, first)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(Write(s)) != s\ngot  %+v\nwant %+v", got, want)
	}
	if err := got.Write(path); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("second Write differs:\n%s\n---\n%s", first, second)
	}
	if !bytes.HasSuffix(first, []byte("}\n")) || !bytes.HasPrefix(first, []byte("{\n  \"schema\": 2,\n")) {
		t.Errorf("unexpected layout:\n%s", first)
	}
	if !bytes.Contains(first, []byte(`"ftp.example.edu & co <b>"`)) {
		t.Error("HTML characters escaped in output")
	}
	if !bytes.Contains(first, []byte(`"endpoints": []`)) || !bytes.Contains(first, []byte(`"repos": []`)) {
		t.Error("empty lists not written as []")
	}
}

func TestWriteCanonical(t *testing.T) {
	want, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := shuffled()
	before := s.clone()
	got, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("non-canonical snapshot encodes differently:\n%s\n---\n%s", got, want)
	}
	if !reflect.DeepEqual(s, before) {
		t.Error("Encode modified the snapshot")
	}
	// Schema is always written as Schema.
	s.Schema = 0
	if got, _ := s.Encode(); !bytes.Equal(got, want) {
		t.Error("Encode with Schema 0 differs")
	}
}

func TestWriteMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := sample().Write(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode())
	}
}

func TestWriteSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "state.json")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	if err := sample().Write(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink replaced: %v %v", fi, err)
	}
	if _, err := Load(target); err != nil {
		t.Errorf("target not written: %v", err)
	}
}

// setup writes an old state file and returns its path and contents.
func setup(t *testing.T) (path string, old []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state.json")
	s := sample()
	s.Network = "old"
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, old
}

// checkUntouched checks that path still holds old and that its directory
// holds nothing else.
func checkUntouched(t *testing.T, path string, old []byte) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, old) {
		t.Errorf("old file changed (err %v):\n%s", err, got)
	}
	checkOnly(t, path)
}

// checkOnly checks that path's directory holds only path: no temp files.
func checkOnly(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestWriteNoTempFile(t *testing.T) {
	path, _ := setup(t)
	for range 3 {
		if err := sample().Write(path); err != nil {
			t.Fatal(err)
		}
	}
	checkOnly(t, path)
}

func TestWriteInvalid(t *testing.T) {
	path, old := setup(t)
	s := sample()
	s.Mirrors["mirror.example.de"].Endpoints[1].Protocol = "htp"
	err := s.Write(path)
	if err == nil {
		t.Fatal("Write of an invalid snapshot succeeded")
	}
	for _, w := range []string{"not writing " + path, `mirrors["mirror.example.de"].endpoints[1]: unknown protocol "htp"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	checkUntouched(t, path, old)
}

// TestWriteFails makes the kernel fail the write and the rename, after
// the temporary file is created: the error names the file, and the old
// file (or what is in the way) stays as it was, with no temporary file
// beside it.
func TestWriteFails(t *testing.T) {
	data, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("short write", func(t *testing.T) {
		path, old := setup(t)
		// A file size limit below the snapshot's size: the write stops
		// half way with EFBIG (Go ignores SIGXFSZ).
		var limit syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
			t.Fatal(err)
		}
		low := limit
		low.Cur = uint64(len(data) / 2)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &low); err != nil {
			t.Fatal(err)
		}
		err := sample().Write(path)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(err, syscall.EFBIG) || !strings.HasPrefix(err.Error(), "state: write "+path+": ") {
			t.Errorf("Write error = %v, want EFBIG naming the path", err)
		}
		checkUntouched(t, path, old)
	})
	t.Run("rename", func(t *testing.T) {
		// A directory where the file should be: os.Rename refuses to
		// replace it.
		path := filepath.Join(t.TempDir(), "state.json")
		inside := filepath.Join(path, "keep")
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(inside, []byte("kept"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := sample().Write(path)
		if !errors.Is(err, fs.ErrExist) || !strings.HasPrefix(err.Error(), "state: write "+path+": ") {
			t.Errorf("Write error = %v, want 'file exists' naming the path", err)
		}
		if b, err := os.ReadFile(inside); err != nil || string(b) != "kept" {
			t.Errorf("what was in the way changed: %q, %v", b, err)
		}
		checkOnly(t, path)
	})
}

func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "state.json")
	if err := sample().Write(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Write into a missing directory: %v", err)
	}
}

// TestWriteConcurrentReaders checks that readers never see a partial file
// while the file is being rewritten.
func TestWriteConcurrentReaders(t *testing.T) {
	path, _ := setup(t)
	a, b := sample(), shuffled()
	b.Network = "b"
	for _, m := range []string{"m1", "m2", "m3"} { // make b a different size
		b.Mirrors[m] = &Mirror{Endpoints: sample().Mirrors["mirror.example.de"].Endpoints}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := Load(path); err != nil {
					t.Errorf("reader saw a bad file: %v", err)
					return
				}
			}
		})
	}
	for i := range 30 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if err := s.Write(path); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	checkOnly(t, path)
}
