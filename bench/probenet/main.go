// Command probenet measures mirrorsteer probe on a large local network:
// N endpoints (mirrors over IPv4 and IPv6), a share of which hang and a
// share of which stream an endless body for every metadata file, the
// rest healthy, all real HTTP servers on 127.1.x.y and ::1. It runs the
// probe binary on it and prints, per run, the endpoints, how many hang
// and stream, the wall time of the process, that time over the probe's
// per-endpoint timeout, its peak RSS, and whether the targets are met:
// the run within 1.5 timeouts (a hanging mirror costs one timeout, in
// parallel with everything else), the peak RSS within -max-rss (an
// endless body costs no memory).
//
// With -runs 2 the second run starts from the first's state.json, as
// probe run from cron does: the endpoints that timed out start first.
//
//	go run ./bench/probenet -bin bin/mirrorsteer -endpoints 10000 -hang 0.05 -endless 0.05
//	go run ./bench/probenet -bin bin/mirrorsteer -endpoints 80 -hang 0 -endless 1 -max-rss 100
//
// It exits 1 when a run misses a target. The probe and the servers share
// the machine: its load, and what each used of the CPU, are printed with
// the figures.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

func main() {
	bin := flag.String("bin", "bin/mirrorsteer", "the mirrorsteer `binary`")
	endpoints := flag.Int("endpoints", 10000, "endpoints to probe (mirrors × 2 families)")
	hang := flag.Float64("hang", 0.05, "share of endpoints that hang")
	endless := flag.Float64("endless", 0.05, "share of endpoints that stream an endless body for every metadata file")
	timeout := flag.Duration("timeout", 30*time.Second, "the probe's per-endpoint --timeout (30s is its default)")
	concurrency := flag.Int("concurrency", 0, "the probe's --concurrency (0: its default)")
	maxRSS := flag.Float64("max-rss", 300, "the target for the probe's peak RSS, in MiB")
	runs := flag.Int("runs", 1, "runs, each from the previous one's state.json")
	progress := flag.Bool("progress", false, "show the probe's progress lines (with their times)")
	keep := flag.Bool("keep", false, "keep the inventory and the snapshot, and say where")
	flag.Parse()
	b := bench{bin: *bin, timeout: *timeout, concurrency: *concurrency, maxRSS: *maxRSS, progress: *progress, keep: *keep}
	ok, err := b.run(*endpoints, *hang, *endless, *runs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probenet:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

type bench struct {
	bin         string
	timeout     time.Duration
	concurrency int
	maxRSS      float64
	progress    bool
	keep        bool
}

func (b *bench) run(endpoints int, hangShare, endlessShare float64, runs int) (ok bool, err error) {
	mirrors := endpoints / 2
	specs := make([]localmirror.Spec, mirrors)
	for i := range specs {
		specs[i] = localmirror.Spec{Name: fmt.Sprintf("m%05d", i), IPv6: true}
	}
	// Spread each kind evenly over the inventory, as a real network's
	// troubles are.
	spread(specs, int(float64(mirrors)*hangShare+0.5), localmirror.Hang)
	spread(specs, int(float64(mirrors)*endlessShare+0.5), localmirror.EndlessMetadata)
	hanging, endless := count(specs, localmirror.Hang), count(specs, localmirror.EndlessMetadata)
	start := time.Now()
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.1.0.0"), Mirrors: specs})
	if err != nil {
		return false, fmt.Errorf("starting %d mirrors (%d listening sockets; ulimit -n?): %w", mirrors, 2*mirrors, err)
	}
	defer n.Close()
	fmt.Printf("network: origin and %d mirrors (%d hanging, %d endless, %d healthy) on 127.1.x.y and ::1, started in %v\n",
		mirrors, hanging, endless, mirrors-hanging-endless, time.Since(start).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "probenet-")
	if err != nil {
		return false, err
	}
	if b.keep {
		fmt.Printf("kept: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cfg := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(cfg, []byte(n.Inventory()), 0o644); err != nil {
		return false, err
	}
	// The host names resolve through --resolve; every other bound is
	// probe's default unless given.
	args := append([]string{"probe", "-c", cfg, "-o", filepath.Join(dir, "state.json"), "--timeout", b.timeout.String()}, n.ResolveFlags()...)
	if b.concurrency > 0 {
		args = append(args, "--concurrency", fmt.Sprint(b.concurrency))
	}
	if !b.progress {
		args = append(args, "--quiet")
	}
	ok = true
	for r := 1; r <= runs; r++ {
		what := "no previous state"
		if r > 1 {
			what = "from the previous run's state.json"
		}
		fmt.Printf("== run %d (%s)\n", r, what)
		met, err := b.probe(args, mirrors*2, hanging*2, endless*2)
		if err != nil {
			return false, err
		}
		ok = ok && met
	}
	return ok, nil
}

// probe runs the probe once and prints its figures; met says whether
// they are within the targets.
func (b *bench) probe(args []string, endpoints, hanging, endless int) (met bool, err error) {
	load := loadAverage()
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	cmd := exec.Command(b.bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return false, fmt.Errorf("%v\n%s", err, out.String())
	}
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Print(out.String())
	rss := float64(ru.Maxrss) / 1024
	ratio := wall.Seconds() / b.timeout.Seconds()
	met = ratio <= 1.5 && rss <= b.maxRSS
	fmt.Printf("figures: endpoints %d, hanging %d, endless %d, timeout %v: wall %.2f s, wall/timeout %.2f (target 1.5), peak RSS %.1f MiB (target %.0f); target met: %s\n",
		endpoints, hanging, endless, b.timeout, wall.Seconds(), ratio, rss, b.maxRSS, yes(met))
	fmt.Printf("         CPU: probe %.2f s, servers %.2f s; load average %s before the run (%d cores, shared)\n",
		cpu(ru), cpu(&after)-cpu(&before), load, runtime.NumCPU())
	return met, nil
}

func cpu(ru *syscall.Rusage) float64 {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// loadAverage is the machine's 1-minute load average, "?" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// spread gives n of the healthy specs behaviour b, evenly spaced.
func spread(specs []localmirror.Spec, n int, b localmirror.Behaviour) {
	for k := range n {
		i := k * len(specs) / n
		for specs[i].Behaviour != "" {
			i = (i + 1) % len(specs)
		}
		specs[i].Behaviour = b
	}
}

func count(specs []localmirror.Spec, b localmirror.Behaviour) int {
	n := 0
	for _, s := range specs {
		if s.Behaviour == b {
			n++
		}
	}
	return n
}
