package site_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
	"github.com/mirrorsteer/mirrorsteer/site"
)

// BenchmarkRender renders the site of 2,000 mirrors in every country,
// 5% of them down, with a snapshot: about 2,250 pages.
func BenchmarkRender(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`[network]
name = "Bench Linux"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "12h"

[[repo]]
name = "baseos"
path = "{release}/BaseOS/{arch}/os/"
releases = ["9", "10"]
archs = ["x86_64", "aarch64"]
format = "rpm"

[[repo]]
name = "debian"
path = "debian/"
format = "deb"
`)
	all := country.All()
	for i := range 2000 {
		c := all[i*7%len(all)]
		fmt.Fprintf(&doc, "\n[[mirror]]\nname = \"m%04d.%s.example.net\"\ncountry = %q\nhttps = \"https://m%04d.example.net/pub/\"\nhttp = \"http://m%04d.example.net/pub/\"\nweight = %d\n",
			i, strings.ToLower(string(c.Code)), c.Code, i, i, 10+i%300)
		if i%10 == 0 {
			fmt.Fprintf(&doc, "asn = %d\n", 64512+i%500)
		}
	}
	inv, err := inventory.Parse("bench.toml", []byte(doc.String()), ".")
	if err != nil {
		b.Fatal(err)
	}
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		if m[3] == '5' && m[2] == '0' {
			e.Up, e.Healthy, e.Class, e.Error = false, false, "timeout", "no answer within 10s"
		}
	})
	d := site.Data{Inventory: inv, Snapshot: snap, Lists: lists(inv, snap)}
	var pages, bytes atomic.Int64
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		pages.Store(0)
		bytes.Store(0)
		err := site.Render(d, func(p string, data []byte) error {
			pages.Add(1)
			bytes.Add(int64(len(data)))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// CPU time, which on a shared machine says more than the wall.
	b.ReportMetric(float64(cpuTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(pages.Load()), "files")
	b.ReportMetric(float64(bytes.Load())/(1<<20), "MiB")
}

// cpuTime is the CPU time the process has used, user and system, in
// nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
