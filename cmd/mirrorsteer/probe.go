package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// projectURL is named in the User-Agent of every probe request.
const projectURL = "https://github.com/mirrorsteer/mirrorsteer"

func runProbe(fset *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	cfg := probe.Defaults()
	config := fset.String("c", "mirrors.toml", "the inventory `file`")
	out := fset.String("o", "state.json", "the snapshot `file` to write; when it exists it is also the previous state that this run is merged with")
	bounds := probe.DefineFlags(fset, &cfg)
	caFile := fset.String("ca-file", "", "PEM `file` of extra CA certificates to trust for https")
	var resolve resolveFlag
	fset.Var(&resolve, "resolve", "use these addresses for a host name instead of DNS, like curl's --resolve: `host=addr[,addr]` (repeatable); they are held to the same rule as DNS answers (global addresses, or the mirror's probe_networks)")
	quiet := fset.Bool("quiet", false, "no progress output")
	fset.StringVar(&cfg.Vantage, "vantage", "", "the `name` of the place this probe runs from, recorded in the snapshot so that mirrorsteer merge can combine several places' (1 to 64 letters, digits, '.', '-', '_'); each vantage writes its own -o file")
	if err := parse(fset, args); err != nil {
		return err
	}
	if err := bounds.Check(); err != nil {
		return usagef("%v", err)
	}
	if cfg.Vantage != "" {
		if err := state.CheckVantage(cfg.Vantage); err != nil {
			return usagef("--vantage: %v", err)
		}
	}

	// probe reads no zone file: [dns] is dnsd's.
	inv, err := inventory.Load(*config, bounds.ApplyFile)
	if err != nil {
		return err
	}
	prev, err := state.Load(*out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		prev = nil
	case err != nil:
		return fmt.Errorf("%w\n%s: the previous snapshot is unreadable, so this run cannot be merged with it; fix it or move it away", err, *out)
	case prev.Merged != nil:
		// Its counters are the quorum's, not this place's.
		return fmt.Errorf("%s: is a merge of several vantages (mirrorsteer merge), not this probe's previous run; give probe its own -o file, and merge into another", *out)
	case prev.Vantage != "" && prev.Vantage != cfg.Vantage:
		// Hysteresis carries one place's history: mixing two places'
		// would let one's failures count against the other's run.
		return fmt.Errorf("%s: was written by the probe at vantage %q, and this is %s; give each vantage its own -o file (or pass --vantage %s)", *out, prev.Vantage, vantageName(cfg.Vantage), prev.Vantage)
	}

	cfg.UserAgent = fmt.Sprintf("mirrorsteer/%s (+%s)", version, projectURL)
	if *caFile != "" {
		pem, err := fileio.ReadFile(*caFile, fileio.MaxSmall)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-file %s: no PEM certificate in it", *caFile)
		}
		cfg.RootCAs = pool
	}
	if len(resolve) > 0 {
		cfg.Resolver = &probe.StaticResolver{Hosts: resolve}
	}
	if !*quiet {
		cfg.Progress = progress(stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	snap, rep, err := probe.Run(ctx, inv, prev, cfg)
	if err != nil {
		return err
	}
	if err := snap.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "probe: %d endpoints of %d mirrors in %v; wrote %s\n", rep.Endpoints, len(inv.Mirrors), rep.Duration.Round(time.Millisecond), *out)
	rep.WriteSummary(stdout)
	return nil
}

// vantageName names a probe's vantage in messages.
func vantageName(v string) string {
	if v == "" {
		return "one without --vantage"
	}
	return fmt.Sprintf("vantage %q", v)
}

// progress returns the probe's progress callback: a progress bar on a
// terminal, else (CI, a log file) a line at every 10%.
func progress(w io.Writer) func(done, total int) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var (
			once sync.Once
			bar  *progressbar.ProgressBar
		)
		return func(done, total int) {
			once.Do(func() {
				bar = progressbar.NewOptions(total,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("probe: endpoints"),
					progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
			})
			bar.Set(done)
			if done == total {
				bar.Finish()
			}
		}
	}
	start := time.Now()
	last := 0
	return func(done, total int) {
		if total == 0 {
			return
		}
		if tenth := done * 10 / total; tenth > last {
			last = tenth
			fmt.Fprintf(w, "probe: %3d%% (%d/%d endpoints, %v)\n", tenth*10, done, total, time.Since(start).Round(100*time.Millisecond))
		}
	}
}

// resolveFlag collects --resolve host=addr[,addr].
type resolveFlag map[string][]netip.Addr

func (r *resolveFlag) String() string { return "" }

func (r *resolveFlag) Set(s string) error {
	host, list, ok := strings.Cut(s, "=")
	if !ok || host == "" || list == "" {
		return fmt.Errorf("want host=addr[,addr], e.g. mirror.example.org=192.0.2.10,2001:db8::10")
	}
	if *r == nil {
		*r = resolveFlag{}
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range strings.Split(list, ",") {
		addr, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(a), "[]"))
		if err != nil {
			return fmt.Errorf("%q is not an IP address", a)
		}
		(*r)[host] = append((*r)[host], addr)
	}
	return nil
}
