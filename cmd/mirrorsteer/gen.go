package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/signature"
	"golang.org/x/term"
)

// absPath makes a path given on the command line absolute, for a
// configuration file read elsewhere; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func runGen(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file`")
	statePath := fs.String("s", "", "the state snapshot `file` written by probe; without it nothing is verified")
	out := fs.String("o", "out", "the output `path`: a link to the current generation of the tree (kept in .<name>.trees/ beside it), swapped atomically")
	cityDB := fs.String("geoip-city", "", "MaxMind City `mmdb`: places mirrors without lat/lon at their address's location, and is the City database of the edge/ nginx snippet")
	asnDB := fs.String("geoip-asn", "", "MaxMind ASN `mmdb` the edge/ nginx snippet reads (default "+gen.DefaultEdgeASN+")")
	edgeSource := fs.String("edge-source", gen.DefaultEdgeSource, "nginx `variable` holding the client address in the edge/ snippet")
	var edgeTrust []netip.Prefix
	fs.Func("edge-trust", "`networks` (prefixes or addresses; repeat, or separate with commas) of the CDN or proxies whose location headers edge/nginx-http-headers.conf believes", func(s string) error {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			p, err := netip.ParsePrefix(f)
			if err != nil {
				a, aerr := netip.ParseAddr(f)
				if aerr != nil {
					return fmt.Errorf("%q is neither a prefix (192.0.2.0/24, 2001:db8::/32) nor an address", f)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			edgeTrust = append(edgeTrust, p.Masked())
		}
		return nil
	})
	originDir := fs.String("origin-dir", "", "local copy of the origin tree (`directory`): with it, dnf metalinks and RFC 5854 .meta4 files with hashes are written")
	signKey := fs.String("sign-key", "", "private key `file` (mirrorsteer keygen) to sign api/state.json with: writes api/state.json.sig, which dnsd --verify-key checks")
	statsPath := fs.String("stats", "", "dnsd's answer statistics (`file` of dnsd --stats-file): the site shows each mirror's share of answers beside its share of weight, per country; a missing file is a note on the site")
	hashCache := fs.String("hash-cache", "", "`file` remembering origin file hashes between runs (default: the output directory + \".hashes\")")
	if err := parse(fs, args); err != nil {
		return err
	}
	// A first run on 2,000 mirrors allocates about 90 MB around a live
	// heap of 20: collecting at three times the live heap rather than
	// twice saves a sixth of its user CPU for 10 MB more. GOGC, when
	// set, decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	start := time.Now()
	settings, err := genSettings(args)
	if err != nil {
		return err
	}
	// The same inputs as the run that wrote the tree, and the tree as it
	// left it: nothing to do (not even to read the inventory).
	if *originDir == "" {
		if st, said, ok := gen.Unchanged(*out, settings); ok {
			stderr.Write(said)
			reportGen(stdout, stderr, *out, *originDir, st, start)
			return nil
		}
	}
	// Everything read from here on is an input of the tree; what is said
	// about the inputs is said again by a rerun that finds them unchanged.
	in := &gen.Inputs{Settings: settings}
	if *cityDB != "" {
		id, err := fileio.Identify(*cityDB)
		if err != nil {
			in = nil // locateMirrors says what is wrong with it
		} else {
			in.Opened = map[string]fileio.ID{*cityDB: id}
		}
	}
	log := fileio.StartLog()
	defer log.Stop()
	var said bytes.Buffer
	warn := io.MultiWriter(stderr, &said)
	var key ed25519.PrivateKey
	if *signKey != "" {
		var err error
		if key, err = signature.LoadPrivateKey(*signKey); err != nil {
			return fmt.Errorf("--sign-key: %w", err)
		}
	}
	inv, snap, err := loadInputs(*config, *statePath, warn)
	if err != nil {
		return err
	}
	if err := locateMirrors(inv, snap, *cityDB, warn); err != nil {
		return err
	}
	if snap == nil {
		fmt.Fprintln(warn, "WARNING: no state snapshot (-s): NOTHING WAS VERIFIED. Every declared mirror is listed as healthy and in sync; run 'mirrorsteer probe' and pass its state.json.")
	}
	o := gen.Options{Inventory: inv, Snapshot: snap, Out: *out, OriginDir: *originDir, HashCache: *hashCache,
		Edge: gen.Edge{City: absPath(*cityDB), ASN: absPath(*asnDB), Source: *edgeSource, Trust: edgeTrust}, SignKey: key}
	if o.Answers, o.AnswersNote, err = loadAnswers(*statsPath, warn); err != nil {
		return err
	}
	if in != nil {
		in.Reads, in.Said = log.Stop(), said.Bytes()
		o.Inputs = in
	}
	if *originDir != "" {
		if fi, err := os.Stat(*originDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--origin-dir %s: not a directory; give the local copy of the origin tree", *originDir)
		}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Progress = stderr
	}
	st, err := gen.Run(o)
	if err != nil {
		return err
	}
	reportGen(stdout, stderr, *out, *originDir, st, start)
	return nil
}

// reportGen prints a run's warnings and its summary.
func reportGen(stdout, stderr io.Writer, out, originDir string, st gen.Stats, start time.Time) {
	for _, w := range st.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	extra := ""
	if originDir != "" {
		extra = fmt.Sprintf(", %d metalinks, %d meta4 (%d files hashed, %d from cache)", st.Metalinks, st.Meta4, st.Hashed, st.Reused)
	}
	fmt.Fprintf(stdout, "gen: %s: %d files, %d lists%s: %d written, %d unchanged, %d removed in %v\n",
		out, st.Files, st.Lists, extra, st.Written, st.Unchanged, st.Removed, time.Since(start).Round(time.Millisecond))
}

// genSettings returns gen's command line for gen.Inputs: its arguments as
// given (a flag's value as text may not show it: --edge-trust), and the
// working directory the paths among them are relative to.
func genSettings(args []string) ([]string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return append([]string{"wd=" + wd}, args...), nil
}

// loadAnswers reads gen --stats. A file that does not exist (yet: dnsd
// writes it) is a note on the site and a warning; one that does not
// load is an error, as any bad input is.
func loadAnswers(path string, stderr io.Writer) (*answerstats.Summary, string, error) {
	if path == "" {
		return nil, "", nil
	}
	s, err := answerstats.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		note := fmt.Sprintf("No answer statistics: %s does not exist (yet). dnsd --stats-file writes it.", path)
		fmt.Fprintln(stderr, "warning:", note)
		return nil, note, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("--stats: %w", err)
	}
	return s, "", nil
}
