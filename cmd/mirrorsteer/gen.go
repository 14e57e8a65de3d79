package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"golang.org/x/term"
)

func runGen(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file`")
	statePath := fs.String("s", "", "the state snapshot `file` written by probe; without it nothing is verified")
	out := fs.String("o", "out", "the output `directory`, replaced atomically")
	cityDB := fs.String("geoip-city", "", "MaxMind City `mmdb` to place mirrors without lat/lon at their address's location")
	if err := parse(fs, args); err != nil {
		return err
	}
	start := time.Now()
	inv, snap, err := loadInputs(*config, *statePath, stderr)
	if err != nil {
		return err
	}
	if err := locateMirrors(inv, snap, *cityDB, stderr); err != nil {
		return err
	}
	if snap == nil {
		fmt.Fprintln(stderr, "WARNING: no state snapshot (-s): NOTHING WAS VERIFIED. Every declared mirror is listed as healthy and in sync; run 'mirrorsteer probe' and pass its state.json.")
	}
	o := gen.Options{Inventory: inv, Snapshot: snap, Out: *out}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Progress = stderr
	}
	st, err := gen.Run(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gen: %s: %d files, %d lists: %d written, %d unchanged, %d removed in %v\n",
		*out, st.Files, st.Lists, st.Written, st.Unchanged, st.Removed, time.Since(start).Round(time.Millisecond))
	return nil
}
