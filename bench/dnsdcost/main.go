// Command dnsdcost measures what dnsd's handler costs per query in its own
// CPU, without the kernel: it loads a zone as dnsd does (inventory, state,
// GeoIP databases), packs one query per prefix of a list (one Client
// Subnet each, as ecsload sends them), and answers them in turn through
// Handler.Serve on one goroutine. It prints nanoseconds and allocations
// per query for the whole list in random order and for its first prefix
// alone, so the difference is what a different asker per query costs
// (cache misses in the GeoIP index and the compiled policy). Times are
// the thread's CPU time, so that a busy machine's waits are not counted
// (its jobs still share the caches: compare runs of one sitting).
//
//	go run ./bench/dnsdcost -c mirrors.toml -s state.json \
//	    --geoip-city City.mmdb --geoip-asn ASN.mmdb -prefixes prefixes.txt
//
// -cpuprofile writes a profile of the random-order loop.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
)

func main() {
	var src dnsd.Sources
	flag.StringVar(&src.Config, "c", "mirrors.toml", "inventory `file`")
	flag.StringVar(&src.State, "s", "", "state snapshot `file`")
	flag.StringVar(&src.City, "geoip-city", "", "GeoIP City `database`")
	flag.StringVar(&src.ASN, "geoip-asn", "", "GeoIP ASN `database`")
	prefixes := flag.String("prefixes", "", "`file` of prefixes, one per line (ecsload -mkprefixes)")
	name := flag.String("name", "download.example.org.", "steered `name` to ask for")
	n := flag.Int("n", 3_000_000, "queries per measurement")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the random-order loop to `file`")
	flag.Parse()
	if err := run(src, *prefixes, *name, *n, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "dnsdcost:", err)
		os.Exit(1)
	}
}

func run(src dnsd.Sources, prefixFile, name string, n int, profile string) error {
	ps, err := readPrefixes(prefixFile)
	if err != nil {
		return err
	}
	h, err := dnsd.NewLoader(src, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).Start()
	if err != nil {
		return err
	}
	wires := make([][]byte, len(ps))
	for i, p := range ps {
		if wires[i], err = query(name, p); err != nil {
			return err
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(wires), func(i, j int) { wires[i], wires[j] = wires[j], wires[i] })
	// One after the other in memory, read in order: the hardware
	// prefetches them, as the kernel hands a reader a datagram it has
	// just written. What is measured is the asker, not the packet.
	var all []byte
	for _, w := range wires {
		all = append(all, w...)
	}
	for i, off := 0, 0; i < len(wires); i++ {
		wires[i], off = all[off:off+len(wires[i])], off+len(wires[i])
	}
	fmt.Printf("%d prefixes, %d queries each\n", len(ps), n)
	measure("one fixed ECS", h, wires[:1], n, "", true)
	measure("  the same, one at a time", h, wires[:1], n, "", false)
	measure("a different ECS per query", h, wires, n, profile, true)
	measure("  the same, one at a time", h, wires, n, "", false)
	return nil
}

func measure(title string, h *dnsd.Handler, wires [][]byte, n int, profile string, batched bool) {
	s, dst, msg := dnsd.NewScratch(), make([]byte, 0, 1500), make([]byte, 1500)
	src := netip.MustParseAddr("127.0.0.1")
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	fail := func() {
		fmt.Fprintln(os.Stderr, "dnsdcost: no reply")
		os.Exit(1)
	}
	// Each query is copied into one buffer first, as the kernel writes
	// a datagram into the reader's: it is in the cache when parsed.
	serve := func(w []byte) []byte {
		return h.Serve(s, dst, msg[:copy(msg, w)], src, dnsd.UDP)
	}
	for i := range min(n, 100_000) { // warm up
		serve(wires[i%len(wires)])
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err == nil {
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	// The thread's CPU time, not the wall clock: on a machine shared
	// with other jobs, time spent waiting for a core is not the
	// handler's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadTime()
	// As dnsd's UDP readers do: a batch read at once and answered by
	// ServeBatch; or each alone by Serve.
	const batchSize = 32
	batch, replies := make([][]byte, 0, batchSize), make([][]byte, batchSize)
	srcs := make([]netip.Addr, batchSize)
	for i := range srcs {
		srcs[i] = src
		replies[i] = make([]byte, 0, 1500)
	}
	for i := 0; i < n; {
		if !batched {
			if out := serve(wires[i%len(wires)]); len(out) == 0 {
				fail()
			}
			i++
			continue
		}
		batch = batch[:0]
		for ; len(batch) < batchSize && i < n; i++ {
			w := wires[i%len(wires)]
			batch = append(batch, bufs[len(batch)][:copy(bufs[len(batch)], w)])
		}
		h.ServeBatch(s, replies[:len(batch)], batch, srcs[:len(batch)], dnsd.UDP)
		for _, r := range replies[:len(batch)] {
			if len(r) == 0 {
				fail()
			}
		}
	}
	d := threadTime() - t0
	runtime.ReadMemStats(&m1)
	fmt.Printf("%-28s %7.0f ns/query %5.2f allocs/query\n", title, float64(d.Nanoseconds())/float64(n), float64(m1.Mallocs-m0.Mallocs)/float64(n))
}

// threadTime is the CPU time the calling thread has used.
func threadTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

func readPrefixes(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ps []netip.Prefix
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no prefixes", path)
	}
	return ps, nil
}

func query(name string, p netip.Prefix) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	fam := uint16(1)
	if p.Addr().Is6() {
		fam = 2
	}
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	m.Extra = append(m.Extra, o)
	return m.Pack()
}
