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
	d := probe.Defaults()
	config := fset.String("c", "mirrors.toml", "the inventory `file`")
	out := fset.String("o", "state.json", "the snapshot `file` to write; when it exists it is also the previous state that this run is merged with")
	timeout := fset.Duration("timeout", d.Timeout, "per-endpoint `timeout`: all of an endpoint's requests, lookup to last byte (each of the origin's requests has its own); [probe] timeout")
	deadline := fset.Duration("deadline", d.Deadline, "bound on the whole `run`; endpoints not started by then keep their state; [probe] deadline")
	concurrency := fset.Int("concurrency", d.Concurrency, "endpoints checked at once; [probe] concurrency")
	perHost := fset.Int("per-host", d.PerHost, "endpoints of one host checked at once; [probe] per_host")
	retries := fset.Int("retries", d.Retries, "retries of a request that was reset or got a 5xx (never of a timeout); [probe] retries")
	maxBody := fset.Int64("max-body", d.MaxBody, "most `bytes` read of any origin file (a mirror's is read no further than the origin's largest recent version); [probe] max_body")
	leave := fset.Int("leave-after", d.LeaveAfter, "consecutive failed runs that take a healthy endpoint out; [probe] leave_after")
	ret := fset.Int("return-after", d.ReturnAfter, "consecutive good runs that bring an endpoint back; [probe] return_after")
	caFile := fset.String("ca-file", "", "PEM `file` of extra CA certificates to trust for https")
	var resolve resolveFlag
	fset.Var(&resolve, "resolve", "use these addresses for a host name instead of DNS, like curl's --resolve: `host=addr[,addr]` (repeatable); they are held to the same rule as DNS answers (global addresses, or the mirror's probe_networks)")
	quiet := fset.Bool("quiet", false, "no progress output")
	if err := parse(fset, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkBounds(*timeout, *deadline, *concurrency, *perHost, *leave, *ret, *retries, *maxBody); err != nil {
		return err
	}

	inv, err := inventory.Load(*config)
	if err != nil {
		return err
	}
	prev, err := state.Load(*out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		prev = nil
	case err != nil:
		return fmt.Errorf("%w\n%s: the previous snapshot is unreadable, so this run cannot be merged with it; fix it or move it away", err, *out)
	}

	cfg := d
	p := inv.Probe
	pick := func(flagName string, flagVal int, file *int) int {
		if set[flagName] || file == nil {
			return flagVal
		}
		return *file
	}
	cfg.Timeout = *timeout
	if !set["timeout"] && p.Timeout > 0 {
		cfg.Timeout = p.Timeout
	}
	cfg.Deadline = *deadline
	if !set["deadline"] && p.Deadline > 0 {
		cfg.Deadline = p.Deadline
	}
	cfg.MaxBody = *maxBody
	if !set["max-body"] && p.MaxBody > 0 {
		cfg.MaxBody = p.MaxBody
	}
	cfg.Concurrency = pick("concurrency", *concurrency, p.Concurrency)
	cfg.PerHost = pick("per-host", *perHost, p.PerHost)
	cfg.Retries = pick("retries", *retries, p.Retries)
	cfg.LeaveAfter = pick("leave-after", *leave, p.LeaveAfter)
	cfg.ReturnAfter = pick("return-after", *ret, p.ReturnAfter)
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

const maxStampBytes = 4096

// checkBounds rejects flag values no run can use ([probe] values are
// checked when the inventory loads).
func checkBounds(timeout, deadline time.Duration, concurrency, perHost, leave, ret, retries int, maxBody int64) error {
	switch {
	case timeout <= 0, deadline <= 0:
		return usagef("--timeout and --deadline must be positive")
	case concurrency < 1, perHost < 1, leave < 1, ret < 1:
		return usagef("--concurrency, --per-host, --leave-after and --return-after must be at least 1")
	case retries < 0, maxBody < maxStampBytes:
		return usagef("--retries must be 0 or more and --max-body at least %d", maxStampBytes)
	}
	return nil
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
