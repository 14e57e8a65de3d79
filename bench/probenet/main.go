// Command probenet measures mirrorsteer probe on a large local network:
// N endpoints (mirrors over IPv4 and IPv6), a share of which hang. It
// prints the wall time and the probe's peak RSS and checks that the run
// finishes within 1.5 request timeouts: a hanging mirror must cost one
// timeout, in parallel with everything else.
//
//	go run ./bench/probenet -bin bin/mirrorsteer -endpoints 1000 -hang 0.05 -timeout 5s
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
	timeout := flag.Duration("timeout", 5*time.Second, "the probe's per-request timeout")
	flag.Parse()
	if err := run(*bin, *endpoints, *hang, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "probenet:", err)
		os.Exit(1)
	}
}

func run(bin string, endpoints int, hangShare float64, timeout time.Duration) error {
	mirrors := endpoints / 2
	hanging := int(float64(mirrors)*hangShare + 0.5)
	specs := make([]localmirror.Spec, mirrors)
	for i := range specs {
		specs[i] = localmirror.Spec{Name: fmt.Sprintf("m%04d", i), IPv6: true}
		if i%(mirrors/max(hanging, 1)) == 0 && hanging > 0 && countHang(specs[:i]) < hanging {
			specs[i].Behaviour = localmirror.Hang
		}
	}
	start := time.Now()
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr("127.1.0.0"), Mirrors: specs})
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Printf("network: origin and %d mirrors (%d hanging) on 127.1.x.y and ::1 started in %v\n", mirrors, countHang(specs), time.Since(start).Round(time.Millisecond))

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
	verdict := "ok"
	if wall > limit {
		verdict = "TOO SLOW"
	}
	fmt.Printf("probe: %d endpoints, %d hanging, timeout %v: wall %.2f s (%.2f timeouts; limit 1.5) peak RSS %.1f MiB, user %.2f s sys %.2f s: %s\n",
		mirrors*2, countHang(specs)*2, timeout, wall.Seconds(), wall.Seconds()/timeout.Seconds(), float64(ru.Maxrss)/1024,
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), verdict)
	if wall > limit {
		return fmt.Errorf("the run took %v, more than 1.5 × the %v timeout", wall, timeout)
	}
	return nil
}

func countHang(specs []localmirror.Spec) int {
	n := 0
	for _, s := range specs {
		if s.Behaviour == localmirror.Hang {
			n++
		}
	}
	return n
}
