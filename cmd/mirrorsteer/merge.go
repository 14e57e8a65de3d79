package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

func runMerge(fset *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	out := fset.String("o", "state.json", "the merged snapshot `file`, for gen, lookup and dnsd; not one of the inputs")
	maxAge := fset.Duration("max-age", state.DefaultMaxAge, "how recent a vantage's check must be, before the newest snapshot, to count")
	// Flags may come after the files too: merge a.json b.json -o s.json.
	var files []string
	for {
		if err := fset.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return flagError{err}
		}
		if fset.NArg() == 0 {
			break
		}
		files = append(files, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(files) == 0 {
		return usagef("name the vantages' snapshots to merge, each written by probe --vantage NAME")
	}
	if *maxAge <= 0 {
		return usagef("--max-age %v is not a positive duration; write e.g. 45m or 2h", *maxAge)
	}
	outInfo, err := os.Stat(*out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("-o %s: %w", *out, err)
	}
	srcs := make([]state.Source, len(files))
	for i, f := range files {
		if in, err := os.Stat(f); err == nil && outInfo != nil && os.SameFile(in, outInfo) || filepath.Clean(f) == filepath.Clean(*out) {
			return usagef("-o %s is also an input: a vantage's snapshot is its probe's history; write the merge to another file", *out)
		}
		snap, err := state.Load(f)
		if err != nil {
			return err
		}
		srcs[i] = state.Source{File: f, Snapshot: snap}
	}
	now := time.Now()
	snap, err := state.Merge(srcs, state.MergeOptions{MaxAge: *maxAge, Now: now})
	if err != nil {
		return err
	}
	if err := snap.Write(*out); err != nil {
		return err
	}
	writeMergeSummary(stdout, snap, *out)
	if age := now.Sub(snap.Taken); age > *maxAge {
		fmt.Fprintf(stderr, "merge: the newest snapshot was taken %v ago, more than --max-age %v: are the probes running?\n", age.Round(time.Second), *maxAge)
	}
	return nil
}

// writeMergeSummary says what came out and how each vantage counted.
func writeMergeSummary(w io.Writer, snap *state.Snapshot, out string) {
	endpoints, healthy, disputed := 0, 0, 0
	for name, m := range snap.Mirrors {
		for _, e := range m.Endpoints {
			endpoints++
			if e.Healthy {
				healthy++
			}
			var yes, no int
			for _, sg := range snap.Sightings(name, e.Protocol, e.Family) {
				switch {
				case !sg.Counted:
				case sg.Endpoint.Healthy:
					yes++
				default:
					no++
				}
			}
			if yes > 0 && no > 0 {
				disputed++
			}
		}
	}
	fmt.Fprintf(w, "merge: %d vantages, %d endpoints of %d mirrors: %d healthy, %d out, %d where the counted vantages disagree; wrote %s\n",
		len(snap.Merged.Vantages), endpoints, len(snap.Mirrors), healthy, endpoints-healthy, disputed, out)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "vantage\ttaken\tstatus\tdown\tnote")
	for _, v := range snap.Merged.Vantages {
		down, total := 0, 0
		for _, m := range v.Mirrors {
			for _, e := range m.Endpoints {
				total++
				if !e.Up {
					down++
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d of %d\t%s\n", v.Name, v.Taken.Format("2006-01-02 15:04:05Z"), v.Status, down, total, v.Note)
	}
	tw.Flush()
}
