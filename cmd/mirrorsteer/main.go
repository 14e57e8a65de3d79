// Command mirrorsteer sends download clients to a mirror that is up, in
// sync, carries what they ask for and is close to them. See README.md.
//
// Exit status: 0 on success, 1 on bad input or a failed run, 2 on a usage
// error. Errors go to standard error, one line each.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	args    string
	summary string
	run     func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"check", "-c mirrors.toml", "validate the inventory and print a summary and warnings", runCheck},
		{"gen", "-c mirrors.toml [-s state.json] -o out/ [--geoip-city F]", "write the static tree: mirror lists for every client, JSON API, manifest", runGen},
		{"probe", "-c mirrors.toml -o state.json [--vantage NAME] [--timeout D --deadline D --concurrency N --per-host N --retries N] [--resolve host=addr] [--ca-file F]", "check every mirror per protocol and address family and write the state snapshot", runProbe},
		{"merge", "-o state.json [--max-age 45m] VANTAGE.json...", "combine the snapshots of probes run in several places (probe --vantage) into one by a quorum", runMerge},
		{"import", "--from almalinux|mirrorz [--head F] [--cname NAME --country CC] -o mirrors.toml PATH...", "write a mirrors.toml from AlmaLinux's mirrors.d or MirrorZ's mirrorz.d.json, repairing and reporting", runImport},
		{"lookup", "-c mirrors.toml [-s state.json] [--geoip-city F --geoip-asn F] (--ip ADDR | --list KEY | --country CC | --asn N) [--repo R --release V --arch A | --name LABEL] [--v6] [--json]", "show the ordered mirror list a client gets, with reasons: a list file's, the one an edge serves, or the policy's for an address", runLookup},
		{"dnsd", "-c mirrors.toml [-s state.json] [--geoip-city F --geoip-asn F] -l 127.0.0.1:5353 [--metrics 127.0.0.1:9153] [--verify-key F.pub]", "serve the [dns] zone: steered names answer the best healthy mirror for each asker", runDnsd},
		{"keygen", "-o NAME", "write a signing key pair: NAME.key for gen --sign-key and sign, NAME.pub for dnsd --verify-key", runKeygen},
		{"sign", "--key NAME.key FILE...", "write FILE.sig, the detached signature dnsd checks when it fetches FILE by URL", runSign},
		{"version", "", "print the version", func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := fs.Parse(args); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "mirrorsteer", version)
			return nil
		}},
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		help(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				fs := newFlagSet(c, stdout)
				c.run(fs, []string{"-h"}, stdout, stderr)
				return 0
			}
		}
		help(stdout)
		return 0
	}
	c := find(name)
	if c == nil {
		fmt.Fprintf(stderr, "mirrorsteer: unknown command %q; run 'mirrorsteer help' for the list\n", name)
		return 2
	}
	fs := newFlagSet(c, stderr)
	err := c.run(fs, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mirrorsteer %s: %v\n", c.name, err)
		fmt.Fprintf(stderr, "usage: mirrorsteer %s %s (see 'mirrorsteer %s -h')\n", c.name, c.args, c.name)
		return 2
	case isFlagError(err):
		// The flag package has printed the error and the usage.
		return 2
	default:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
}

// flagError marks errors from FlagSet.Parse, which has already reported them.
type flagError struct{ error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func find(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mirrorsteer "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mirrorsteer %s %s\n\n%s.\n\nFlags (-flag and --flag are the same):\n", c.name, c.args, capitalize(c.summary))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func help(w io.Writer) {
	fmt.Fprintf(w, "mirrorsteer %s: send every download client to a mirror that is up, in sync and close.\n\nUsage: mirrorsteer <command> [flags]\n\nCommands:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n\nRun 'mirrorsteer <command> -h' for a command's flags.\nExit status: 0 ok, 1 bad input or failed run, 2 usage error.\n", "help", "show this help, or a command's: mirrorsteer help gen")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
