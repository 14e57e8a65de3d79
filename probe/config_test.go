package probe_test

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// boundsHead is an inventory up to its [probe] table, which starts on
// line 11.
const boundsHead = `[network]
name = "t"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "1h"

[[repo]]
name = "isos"
path = "isos/"
format = "files"
[probe]
`

// loadProbe loads boundsHead with the [probe] table body and probe's
// flags set from args, as mirrorsteer probe does; it returns the Config
// and the errors of the flags and of the file.
func loadProbe(t *testing.T, body string, args ...string) (cfg probe.Config, flagErr, fileErr error) {
	t.Helper()
	cfg = probe.Defaults()
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bounds := probe.DefineFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	flagErr = bounds.Check()
	_, fileErr = inventory.Parse("mirrors.toml", []byte(boundsHead+body), ".", bounds.ApplyFile)
	return cfg, flagErr, fileErr
}

// TestBoundsAreOneSet: mirrors.toml's [probe] keys and the flags are
// held to the same range, and refused in the same words, the file's at
// the key's line and column. Before, --retries 11, --per-host 5000 and
// --max-body 1TiB ran while the file refused them.
func TestBoundsAreOneSet(t *testing.T) {
	tests := []struct {
		key, flag string
		low, high string // the lowest and highest values allowed
		below     string // a value below, "" when the lowest is 0
		above     string // a value above, "" when there is no ceiling
		rng       string // the range in the error
	}{
		{"concurrency", "concurrency", "1", "100000", "0", "100001", "use 1 to 100000"},
		{"per_host", "per-host", "1", "1000", "0", "5000", "use 1 to 1000"},
		{"retries", "retries", "0", "10", "-1", "11", "use 0 to 10"},
		{"max_body", "max-body", "4096", "17179869184", "4095", "1099511627776", "use 4096 to 17179869184 bytes"},
		{"leave_after", "leave-after", "1", "1000", "0", "1001", "use 1 to 1000"},
		{"return_after", "return-after", "1", "1000", "0", "1001", "use 1 to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			for _, v := range []string{tt.low, tt.high} {
				if _, flagErr, fileErr := loadProbe(t, tt.key+" = "+v+"\n", "--"+tt.flag, v); flagErr != nil || fileErr != nil {
					t.Errorf("%s: flag %v, file %v; want both accepted", v, flagErr, fileErr)
				}
			}
			for _, v := range []string{tt.below, tt.above} {
				_, flagErr, fileErr := loadProbe(t, tt.key+" = "+v+"\n", "--"+tt.flag, v)
				wantFlag := fmt.Sprintf("--%s %s is out of range; %s", tt.flag, v, tt.rng)
				wantFile := fmt.Sprintf("mirrors.toml:12:1: [probe] %s = %s is out of range; %s", tt.key, v, tt.rng)
				if flagErr == nil || flagErr.Error() != wantFlag {
					t.Errorf("flag: %v, want %q", flagErr, wantFlag)
				}
				if fileErr == nil || fileErr.Error() != wantFile {
					t.Errorf("file: %v, want %q", fileErr, wantFile)
				}
			}
		})
	}
}

func TestDurationBounds(t *testing.T) {
	for _, key := range []string{"timeout", "deadline"} {
		t.Run(key, func(t *testing.T) {
			cfg, flagErr, fileErr := loadProbe(t, key+" = \"0s\"\n", "--"+key, "-1s")
			if want := "--" + key + " -1s is not a positive duration; write e.g. 12h, 90m or 1h30m"; flagErr == nil || flagErr.Error() != want {
				t.Errorf("flag: %v, want %q", flagErr, want)
			}
			if want := `mirrors.toml:12:1: [probe] ` + key + ` "0s" is not a positive duration; write e.g. "12h", "90m" or "1h30m"`; fileErr == nil || fileErr.Error() != want {
				t.Errorf("file: %v, want %q", fileErr, want)
			}
			if _, _, fileErr := loadProbe(t, key+" = \"soon\"\n"); fileErr == nil || !strings.Contains(fileErr.Error(), `"soon" is not a positive duration`) {
				t.Errorf("file: %v, want \"soon\" refused", fileErr)
			}
			cfg, flagErr, fileErr = loadProbe(t, key+" = \"90s\"\n")
			if flagErr != nil || fileErr != nil {
				t.Fatal(flagErr, fileErr)
			}
			if got := map[string]time.Duration{"timeout": cfg.Timeout, "deadline": cfg.Deadline}[key]; got != 90*time.Second {
				t.Errorf("%s = %v, want the file's 90s", key, got)
			}
		})
	}
}

// A flag given wins over [probe], and [probe] over the default; a key
// the file leaves out keeps the default.
func TestFlagWinsOverFileOverDefault(t *testing.T) {
	cfg, flagErr, fileErr := loadProbe(t, "timeout = \"5s\"\nconcurrency = 8\nmax_body = 8192\nretries = 0\n", "--concurrency", "3")
	if flagErr != nil || fileErr != nil {
		t.Fatal(flagErr, fileErr)
	}
	d := probe.Defaults()
	if cfg.Concurrency != 3 || cfg.Timeout != 5*time.Second || cfg.MaxBody != 8192 || cfg.Retries != 0 || cfg.Deadline != d.Deadline || cfg.PerHost != d.PerHost {
		t.Errorf("config %+v", cfg)
	}
	// A file value out of range is refused even when a flag overrides
	// it: the next run without the flag would use it.
	if _, _, fileErr := loadProbe(t, "concurrency = 0\n", "--concurrency", "3"); fileErr == nil {
		t.Error("concurrency = 0 accepted because a flag overrode it")
	}
}

// CheckFile reports the [probe] errors among the loader's own, all at
// once and sorted, as mirrorsteer check prints them.
func TestCheckFileReportsWithTheLoader(t *testing.T) {
	doc := strings.Replace(boundsHead, `max_lag = "1h"`, `max_lag = "soon"`, 1) + "per_host = 0\nretries = 99\nweight = 1\n"
	_, err := inventory.Parse("mirrors.toml", []byte(doc), ".", probe.CheckFile)
	want := []string{
		`mirrors.toml:5:1: [network] max_lag "soon" is not a positive duration`,
		`mirrors.toml:12:1: [probe] per_host = 0 is out of range; use 1 to 1000`,
		`mirrors.toml:13:1: [probe] retries = 99 is out of range; use 0 to 10`,
		`mirrors.toml:14:1: [probe]: unknown key "weight"`,
	}
	got := strings.Split(fmt.Sprint(err), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want %q", i, got[i], want[i])
		}
	}
}
