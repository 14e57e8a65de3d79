// Command mkinventory writes a synthetic mirrors.toml of N mirrors spread
// over the world's countries, for benchmarks of gen and the policy.
//
//	go run ./bench/mkinventory -n 2000 > /tmp/big.toml
//
// The output is deterministic for a given -n and -seed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

func main() {
	n := flag.Int("n", 2000, "number of mirrors")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	r := rand.New(rand.NewPCG(*seed, 0))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprint(w, `[network]
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
releases = ["9", "10"]
archs = ["x86_64", "aarch64"]
format = "rpm"

[[repo]]
name = "appstream"
path = "{release}/AppStream/{arch}/os/"
releases = ["9", "10"]
archs = ["x86_64", "aarch64"]
format = "rpm"

[[repo]]
name = "debian"
path = "debian/"
releases = ["stable", "testing"]
archs = ["amd64", "arm64"]
format = "deb"

[[repo]]
name = "arch"
path = "archlinux/$repo/os/$arch"
archs = ["x86_64"]
format = "arch"

[[repo]]
name = "isos"
path = "{release}/isos/{arch}/"
releases = ["9", "10"]
archs = ["x86_64", "aarch64"]
format = "files"
`)
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
