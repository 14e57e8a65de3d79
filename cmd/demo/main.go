// Command demo runs the whole mirrorsteer pipeline on this machine, with
// no network: it starts an origin and a dozen local mirrors that misbehave
// in different ways (internal/localmirror), writes their mirrors.toml,
// probes them with the real binary, runs gen into out/, prints the
// summary and a few lookups, and stops everything it started.
//
//	go run ./cmd/demo -bin bin/mirrorsteer -dir demo/local -out out
//
// `make demo` runs it. The demo is a list of steps run in order; each
// step is a function registered with addStep, so a later step (starting
// dnsd and printing dig commands, printing the status site's URL) is one
// more file with an init function:
//
//	func init() { addStep(50, "dnsd", func(d *demo) error { ... }) }
//
// A step that starts something registers its stop with d.onStop.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

// demo is the state the steps share.
type demo struct {
	// Bin is the mirrorsteer binary; Dir the demo's working directory
	// (mirrors.toml, state.json); Out the tree gen writes.
	Bin, Dir, Out string
	// Config and State are the paths of the demo's mirrors.toml and
	// state.json, set by the network and probe steps; Origin the local
	// copy of the origin tree gen hashes.
	Config, State, Origin string
	// Net is the running local network, set by the network step.
	Net *localmirror.Network
	// Stdout receives everything the demo prints.
	Stdout io.Writer

	stops []func()
}

// onStop registers f to run when the demo ends, in reverse order.
func (d *demo) onStop(f func()) { d.stops = append(d.stops, f) }

func (d *demo) stop() {
	for i := len(d.stops) - 1; i >= 0; i-- {
		d.stops[i]()
	}
	d.stops = nil
}

// step is one stage of the demo; steps run by ascending order.
type step struct {
	order int
	name  string
	run   func(*demo) error
}

var steps []step

// addStep registers a step. The built-in ones use orders 10 (network), 20
// (probe), 30 (gen), 40 (lookups); leave room around them.
func addStep(order int, name string, run func(*demo) error) {
	steps = append(steps, step{order, name, run})
}

// header prints a step's title.
func (d *demo) header(format string, args ...any) {
	fmt.Fprintf(d.Stdout, "\n== %s\n", fmt.Sprintf(format, args...))
}

// mirrorsteer runs the binary with args, its output going to the demo's.
func (d *demo) mirrorsteer(args ...string) error {
	fmt.Fprintf(d.Stdout, "$ mirrorsteer %s\n", shortArgs(args))
	cmd := exec.Command(d.Bin, args...)
	cmd.Stdout, cmd.Stderr = d.Stdout, d.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mirrorsteer %s: %w", args[0], err)
	}
	return nil
}

// shortArgs prints a command line with the --resolve flags folded.
func shortArgs(args []string) string {
	var out []string
	n := 0
	for i := 0; i < len(args); i++ {
		if args[i] == "--resolve" && i+1 < len(args) {
			n++
			i++
			continue
		}
		out = append(out, args[i])
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("--resolve ... (%d host names of the local network)", n))
	}
	return strings.Join(out, " ")
}

func main() {
	d := &demo{Stdout: os.Stdout}
	flag.StringVar(&d.Bin, "bin", "bin/mirrorsteer", "the mirrorsteer `binary` to run")
	flag.StringVar(&d.Dir, "dir", "demo/local", "the `directory` for the demo's mirrors.toml and state.json")
	flag.StringVar(&d.Out, "out", "out", "the output `directory` gen writes")
	flag.Parse()
	if abs, err := filepath.Abs(d.Bin); err == nil {
		d.Bin = abs
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	// Stop what was started on ^C too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		d.stop()
		os.Exit(130)
	}()
	code := 0
	slices.SortStableFunc(steps, func(a, b step) int { return cmp.Compare(a.order, b.order) })
	for _, s := range steps {
		if err := s.run(d); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %s: %v\n", s.name, err)
			code = 1
			break
		}
	}
	d.stop()
	os.Exit(code)
}
