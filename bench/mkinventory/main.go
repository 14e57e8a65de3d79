// Command mkinventory writes a synthetic mirrors.toml of N mirrors spread
// over the world's countries, for benchmarks of gen and the policy: five
// repositories (two rpm, one deb, one pacman, one of plain files), each
// with -releases releases and -archs architectures where it has them.
//
//	go run ./bench/mkinventory -n 2000 > /tmp/big.toml
//	go run ./bench/mkinventory -n 400 -releases 2 -archs 2 > /tmp/400.toml
//
// The output is deterministic for given flags.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// The releases and architectures -releases and -archs take from.
var (
	allReleases    = []string{"9", "10", "11", "12", "13", "14", "15", "16"}
	allDebReleases = []string{"stable", "testing", "oldstable", "unstable", "experimental", "oldoldstable", "backports", "security"}
	allArchs       = []string{"x86_64", "aarch64", "ppc64le", "s390x", "riscv64", "i686", "armv7hl", "loongarch64"}
	allDebArchs    = []string{"amd64", "arm64", "ppc64el", "s390x", "riscv64", "i386", "armhf", "loong64"}
)

func main() {
	n := flag.Int("n", 2000, "number of mirrors")
	seed := flag.Uint64("seed", 1, "random seed")
	releases := flag.Int("releases", 2, fmt.Sprintf("releases of each repository that has them (1-%d)", len(allReleases)))
	archs := flag.Int("archs", 2, fmt.Sprintf("architectures of each repository that has them (1-%d)", len(allArchs)))
	flag.Parse()
	if *releases < 1 || *releases > len(allReleases) || *archs < 1 || *archs > len(allArchs) {
		fmt.Fprintf(os.Stderr, "mkinventory: -releases must be 1 to %d and -archs 1 to %d\n", len(allReleases), len(allArchs))
		os.Exit(2)
	}
	list := func(s []string, k int) string { return `["` + strings.Join(s[:k], `", "`) + `"]` }
	r := rand.New(rand.NewPCG(*seed, 0))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, `[network]
name = "Synthetic Linux"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "12h"

[policy.neighbours]
NZ = ["AU", "SG", "JP"]
IE = ["GB"]

[[repo]]
name = "baseos"
path = "{release}/BaseOS/{arch}/os/"
releases = %[1]s
archs = %[2]s
format = "rpm"

[[repo]]
name = "appstream"
path = "{release}/AppStream/{arch}/os/"
releases = %[1]s
archs = %[2]s
format = "rpm"

[[repo]]
name = "debian"
path = "debian/"
releases = %[3]s
archs = %[4]s
format = "deb"

[[repo]]
name = "arch"
path = "archlinux/$repo/os/$arch"
archs = ["x86_64"]
format = "arch"

[[repo]]
name = "isos"
path = "{release}/isos/{arch}/"
releases = %[1]s
archs = %[2]s
format = "files"
`, list(allReleases, *releases), list(allArchs, *archs), list(allDebReleases, *releases), list(allDebArchs, *archs))
	// Mirrors cluster where networks have them: most in a few dozen
	// countries, a long tail elsewhere.
	all := country.All()
	busy := all[:0:0]
	for _, c := range all {
		switch c.Code {
		case "US", "DE", "FR", "GB", "NL", "JP", "CN", "BR", "CA", "AU", "SE", "RU", "IN", "KR", "PL", "IT", "ES", "CH", "FI", "CZ":
			busy = append(busy, c)
		}
	}
	for i := range *n {
		c := all[r.IntN(len(all))]
		if r.IntN(10) < 7 {
			c = busy[r.IntN(len(busy))]
		}
		host := fmt.Sprintf("m%04d.%s.example.net", i, c.Code)
		fmt.Fprintf(w, "\n[[mirror]]\nname = %q\ncountry = %q\n", host, c.Code)
		fmt.Fprintf(w, "lat = %.2f\nlon = %.2f\n", clamp(c.Coord.Lat+r.NormFloat64()*2, 90), clamp(c.Coord.Lon+r.NormFloat64()*2, 180))
		fmt.Fprintf(w, "https = \"https://%s/pub/\"\n", host)
		if r.IntN(2) == 0 {
			fmt.Fprintf(w, "http = \"http://%s/pub/\"\n", host)
		}
		if r.IntN(10) == 0 {
			fmt.Fprintf(w, "asn = %d\n", 64512+r.IntN(500))
		}
		fmt.Fprintf(w, "weight = %d\n", 10+r.IntN(300))
	}
}

func clamp(v, lim float64) float64 { return max(-lim, min(lim, v)) }
