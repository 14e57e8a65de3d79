// Command probenet measures mirrorsteer probe on a large local network:
// N endpoints (mirrors over IPv4 and IPv6), a share of which hang and a
// share of which stream an endless body for every metadata file. It
// prints the wall time and the probe's peak RSS and checks that the run
// finishes within 1.5 endpoint timeouts (a hanging mirror must cost one
// timeout, in parallel with everything else) and, with -max-rss, that
// the peak RSS stays under it (an endless body must cost no memory).
//
//	go run ./bench/probenet -bin bin/mirrorsteer -endpoints 1000 -hang 0.05 -timeout 5s
//	go run ./bench/probenet -bin bin/mirrorsteer -endpoints 80 -hang 0 -endless 1 -max-rss 100
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

func main() {
	bin := flag.String("bin", "bin/mirrorsteer", "the mirrorsteer `binary`")
	endpoints := flag.Int("endpoints", 1000, "endpoints to probe (mirrors × 2 families)")
	hang := flag.Float64("hang", 0.05, "share of endpoints that hang")
	endless := flag.Float64("endless", 0, "share of endpoints that stream an endless body for every metadata file")
	timeout := flag.Duration("timeout", 5*time.Second, "the probe's per-endpoint timeout")
	concurrency := flag.Int("concurrency", 0, "the probe's --concurrency (0: its default)")
	maxRSS := flag.Float64("max-rss", 0, "fail when the probe's peak RSS is over this many MiB (0: no limit)")
	flag.Parse()
	if err := run(*bin, *endpoints, *hang, *endless, *timeout, *concurrency, *maxRSS); err != nil {
		fmt.Fprintln(os.Stderr, "probenet:", err)
		os.Exit(1)
	}
}

func run(bin string, endpoints int, hangShare, endlessShare float64, timeout time.Duration, concurrency int, maxRSS float64) error {
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
		return err
	}
	defer n.Close()
	fmt.Printf("network: origin and %d mirrors (%d hanging, %d endless) on 127.1.x.y and ::1 started in %v\n", mirrors, hanging, endless, time.Since(start).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "probenet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "mirrors.toml")
	if err := os.WriteFile(cfg, []byte(n.Inventory()), 0o644); err != nil {
		return err
	}
	// The default concurrency (256) and per-host limit (2); the host names
	// resolve through --resolve.
	args := append([]string{"probe", "-c", cfg, "-o", filepath.Join(dir, "state.json"), "--quiet",
		"--timeout", timeout.String()}, n.ResolveFlags()...)
	if concurrency > 0 {
		args = append(args, "--concurrency", fmt.Sprint(concurrency))
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start = time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Print(out.String())
	limit := timeout + timeout/2
	rss := float64(ru.Maxrss) / 1024
	verdict := "ok"
	if wall > limit {
		verdict = "TOO SLOW"
	}
	if maxRSS > 0 && rss > maxRSS {
		verdict = "TOO MUCH MEMORY"
	}
	fmt.Printf("probe: %d endpoints, %d hanging, %d endless, timeout %v: wall %.2f s (%.2f timeouts; limit 1.5) peak RSS %.1f MiB, user %.2f s sys %.2f s: %s\n",
		mirrors*2, hanging*2, endless*2, timeout, wall.Seconds(), wall.Seconds()/timeout.Seconds(), rss,
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), verdict)
	if wall > limit {
		return fmt.Errorf("the run took %v, more than 1.5 × the %v timeout", wall, timeout)
	}
	if maxRSS > 0 && rss > maxRSS {
		return fmt.Errorf("the probe's peak RSS was %.1f MiB, more than %.0f MiB", rss, maxRSS)
	}
	return nil
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
