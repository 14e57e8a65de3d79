// Command gdnsdauto writes a gdnsd configuration that does dnsd's job for
// a world's inventory as far as gdnsd can: its geoip plugin in city auto
// mode, one datacenter per mirror at the mirror's position (placed from
// the City database as dnsd places it), each answering a CNAME to the
// mirror. gdnsd takes at most 254 datacenters a map, so a larger
// inventory is sampled evenly among the mirrors healthy over IPv4 and
// https. bench/dnsd-load.sh runs it beside dnsd: a heavier load for
// gdnsd than its 4-datacenter map, and nearer dnsd's own.
//
//	go run ./bench/gdnsdauto -c mirrors.toml -s state.json --geoip-city City.mmdb \
//	    -port 5300 -dir /tmp/gdnsd-auto
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/placement"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// maxDCs is gdnsd's limit of datacenters a map (gdnsd-plugin-geoip(8)).
const maxDCs = 254

func main() {
	config := flag.String("c", "mirrors.toml", "inventory `file`")
	stateFile := flag.String("s", "", "state snapshot `file`")
	city := flag.String("geoip-city", "", "GeoIP City `database`")
	port := flag.Int("port", 0, "`port` gdnsd listens on, on 127.0.0.1")
	dir := flag.String("dir", "", "`directory` for gdnsd's config, run and state directories")
	flag.Parse()
	if err := run(*config, *stateFile, *city, *port, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "gdnsdauto:", err)
		os.Exit(1)
	}
}

func run(config, stateFile, city string, port int, dir string) error {
	if city == "" || port == 0 || dir == "" {
		return fmt.Errorf("want -geoip-city, -port and -dir")
	}
	inv, err := inventory.Load(config)
	if err != nil {
		return err
	}
	var snap *state.Snapshot
	if stateFile != "" {
		if snap, err = state.LoadAny(stateFile); err != nil {
			return err
		}
	}
	db, err := geo.Open(city, "")
	if err != nil {
		return err
	}
	defer db.Close()
	placement.Place(inv, snap, db)
	var ok []*inventory.Mirror
	for _, m := range inv.Mirrors {
		if !m.HasCoord && !m.PlacedBy.IsValid() { // at its country's point only
			continue
		}
		if snap != nil {
			if e := snap.Endpoint(m.Name, state.HTTPS, state.IPv4); e == nil || !e.Healthy {
				continue
			}
		}
		ok = append(ok, m)
	}
	if len(ok) == 0 {
		return fmt.Errorf("%s: no mirror healthy over IPv4 and https has a position", config)
	}
	n := min(len(ok), maxDCs)
	var dcs, coords, dcmap strings.Builder
	for i := range n {
		m := ok[i*len(ok)/n]
		dc := fmt.Sprintf("m%03d", i)
		fmt.Fprintf(&dcs, " %s,", dc)
		fmt.Fprintf(&coords, "      %s => [ %.4f, %.4f ]\n", dc, m.Coord.Lat, m.Coord.Lon)
		fmt.Fprintf(&dcmap, "      %s => %s.\n", dc, m.Name)
	}
	for _, d := range []string{"etc/zones", "run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`options => { listen => [ 127.0.0.1:%d ], run_dir => %s, state_dir => %s, udp_threads => 2, tcp_threads => 1 }
plugins => { geoip => {
  maps => { auto => {
    geoip2_db => %s
    datacenters => [%s ]
    auto_dc_coords => {
%s    }
  } }
  resources => { dl => { map => auto, dcmap => {
%s  } } }
} }
`, port, filepath.Join(dir, "run"), filepath.Join(dir, "state"), city, strings.TrimSuffix(dcs.String(), ","), coords.String(), dcmap.String())
	zone := `$TTL 300
@        SOA ns1 hostmaster ( 1 7200 1800 259200 300 )
@        NS  ns1
ns1      A   127.0.0.1
download 60 DYNC geoip!dl
`
	if err := os.WriteFile(filepath.Join(dir, "etc/config"), []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/zones/example.org"), []byte(zone), 0o644); err != nil {
		return err
	}
	fmt.Printf("%d datacenters of %d mirrors healthy over IPv4 and https\n", n, len(ok))
	return nil
}
