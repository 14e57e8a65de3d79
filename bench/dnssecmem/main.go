// Command dnssecmem reports what signing a zone costs dnsd in memory and
// time: it compiles the zone of an inventory unsigned and signed (with
// the keys its [dns.dnssec] names), keeping both, and prints the heap
// each takes, the signatures' own octets, and how long signing and
// re-signing take.
//
//	go run ./bench/dnssecmem -c mirrors.toml [-s state.json]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

func main() {
	config := flag.String("c", "", "inventory `file` with a [dns.dnssec] table")
	statePath := flag.String("s", "", "state snapshot `file` (optional)")
	flag.Parse()
	if err := run(*config, *statePath); err != nil {
		fmt.Fprintln(os.Stderr, "dnssecmem:", err)
		os.Exit(1)
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func run(config, statePath string) error {
	var records []dns.RR
	var keys *dnsd.Keys
	inv, err := inventory.Load(config, func(inv *inventory.Inventory) inventory.Errors {
		var errs, kerrs inventory.Errors
		records, errs = dnsd.ReadZoneFile(inv)
		keys, kerrs = dnsd.ReadKeys(inv)
		return append(errs, kerrs...)
	})
	if err != nil {
		return err
	}
	if keys == nil {
		return fmt.Errorf("%s has no [dns.dnssec] table", config)
	}
	var snap *state.Snapshot
	if statePath != "" {
		if snap, err = state.Load(statePath); err != nil {
			return err
		}
	}
	in := dnsd.Inputs{Inventory: inv, Records: records, Snapshot: snap}
	base := heap()
	t0 := time.Now()
	unsigned, err := dnsd.Compile(in)
	if err != nil {
		return err
	}
	tUnsigned := time.Since(t0)
	h1 := heap()
	in.Keys = keys
	t0 = time.Now()
	signed, err := dnsd.Compile(in)
	if err != nil {
		return err
	}
	tSigned := time.Since(t0)
	h2 := heap()
	t0 = time.Now()
	if _, err := signed.Resign(time.Now()); err != nil {
		return err
	}
	tResign := time.Since(t0)
	mirrors := 0
	for _, m := range inv.Mirrors {
		if len(m.DNS) > 0 {
			mirrors++
		}
	}
	u, s := h1-base, h2-h1
	fmt.Printf("%d mirrors answering %d names; keys %s\n", mirrors, len(inv.DNS.Names), keys.Describe())
	fmt.Printf("zone unsigned: %.2f MiB of heap, compiled in %s\n", float64(u)/(1<<20), tUnsigned.Round(time.Millisecond))
	fmt.Printf("zone signed:   %.2f MiB of heap, compiled and signed in %s (re-signing alone %s)\n", float64(s)/(1<<20), tSigned.Round(time.Millisecond), tResign.Round(time.Millisecond))
	fmt.Printf("signing adds %.2f MiB, of which the RRSIGs in wire form are %.2f MiB\n", float64(int64(s)-int64(u))/(1<<20), float64(signed.SignatureOctets())/(1<<20))
	runtime.KeepAlive(unsigned)
	runtime.KeepAlive(signed)
	return nil
}
