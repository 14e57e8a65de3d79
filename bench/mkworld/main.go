// Command mkworld writes a synthetic but realistic mirror network and the
// GeoIP databases to judge mirrorsteer's policy on, deterministically for
// a given seed:
//
//	go run ./bench/mkworld -o /tmp/world
//	mirrorsteer lookup -c /tmp/world/mirrors.toml -s /tmp/world/state.json \
//	    --geoip-city /tmp/world/GeoIP2-City.mmdb --geoip-asn /tmp/world/GeoLite2-ASN.mmdb \
//	    --report /tmp/world/clients.txt
//
// It writes into the directory:
//
//   - mirrors.toml: 449 mirrors in 73 countries, weighted like a real
//     distribution's network (many in the US and Germany, one in many small
//     countries), most with an ASN (their access provider, a hosting
//     company, or a provider spanning a region), some with subnets, 23
//     private ones, none with coordinates;
//   - state.json: a probe snapshot in which 4% of the mirrors are down and
//     a third have no working IPv6, each endpoint with the address it was
//     checked at (so --geoip-city places mirrors at their city, as it does
//     for a real network that probe has seen);
//   - GeoIP2-City.mmdb and GeoLite2-ASN.mmdb: -networks networks (an IPv4
//     /24 each, every fourth with an IPv6 /48 too) in every country and
//     territory GeoIP reports, Kosovo (XK) included, spread over each
//     country's most populous cities (GeoNames, see cities.csv and
//     README.md); 5% are located to their country only, as real
//     databases do for some networks;
//   - clients.txt: the client sample, one address a line with what the
//     databases say of it as a comment: -per-country clients in every
//     country, -per-asn in every ASN a mirror declares, and the rest up to
//     -clients drawn over all networks.
//
// -networks 1000000 writes a City database of a million networks over
// every country, for load tests: 1.19 million records (IPv4 and IPv6,
// neighbours with the same record merged), 8.6 MB, in 48 s with 1.1 GiB
// peak memory on the project's 2-core machine.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

//go:embed cities.csv
var citiesCSV []byte

// mirrorCounts is how many mirrors each country has, in the proportions
// of a large Linux distribution's public mirror list: 426 public mirrors
// in 73 countries (with the 23 private ones, 449). Egypt, Cyprus, Christmas Island and Palau have none on
// purpose: their nearest mirrors are across a continent line.
const mirrorCounts = `US 60 DE 50 FR 20 GB 16 NL 15 CN 14 JP 13 CA 11 RU 11 SE 9 BR 9 AU 7
CH 8 IT 8 PL 8 CZ 8 AT 6 FI 6 ES 6 KR 6 TW 6 IN 6 ID 5 SG 5 HK 4 DK 4 NO 4
RO 4 BG 4 UA 4 TR 4 ZA 4 BE 3 PT 3 GR 3 HU 3 IL 3 IE 3 IR 3 TH 3 VN 3 NZ 3
AR 3 CL 3 MX 3 KE 2 LT 2 LV 2 EE 2 SK 2 SI 2 HR 2 RS 2 BY 2 KZ 2 MY 2 PH 2
CO 2 BD 2 GH 1 NG 1 TN 1 MA 1 MD 1 IS 1 LU 1 GE 1 AM 1 AE 1 SA 1 EC 1 UY 1 PE 1`

// accessShares are the shares of a country's networks its ten access
// providers have (a Zipf distribution, as market shares roughly are).
var accessShares = []float64{1, 1. / 2, 1. / 3, 1. / 4, 1. / 5, 1. / 6, 1. / 7, 1. / 8, 1. / 9, 1. / 10}

// weights are what mirrors declare, as often as in a real inventory:
// most keep the default.
var weights = []int{100, 100, 100, 100, 50, 200, 200, 500, 1000}

// regional ASNs span several countries. Mirrors in the first countries
// listed under mirrors declare them; clients anywhere in the list are in
// them.
var regional = []struct {
	asn       uint32
	org       string
	countries []country.Code
	mirrors   []country.Code // countries whose first mirror declares it
	share     float64        // of each country's networks
}{
	{36900, "Pan-African Backbone", []country.Code{"ZA", "KE", "GH", "NG", "EG", "TZ", "UG", "CI"}, []country.Code{"KE", "GH"}, 0.25},
	{38900, "Straits Telecom", []country.Code{"SG", "ID", "MY", "TH", "PH"}, []country.Code{"ID"}, 0.2},
	{24900, "Hosting Europe", []country.Code{"DE", "FI", "NL", "FR", "US", "SG"}, []country.Code{"DE", "FI"}, 0.06},
	{16500, "Cloud Worldwide", []country.Code{"US", "IE", "DE", "JP", "SG", "BR", "IN", "ZA", "AU", "GB", "FR", "KR", "CA", "SE"}, nil, 0.05},
}

type city struct {
	cc       country.Code
	name     string
	coord    country.Coord
	pop      float64
	pointsAt bool // no city: the country's point
}

type network struct {
	v4, v6 netip.Prefix
	city   *city
	asn    uint32
	onlyCC bool // located to the country only
}

type world struct {
	r        *rand.Rand
	cities   map[country.Code][]*city
	nets     []*network
	byCC     map[country.Code][]*network
	byASN    map[uint32][]*network
	asnOrg   map[uint32]string
	access   map[country.Code][]uint32
	next4    uint32
	next6    uint64
	declared []uint32
	mirrors  []*mirror
}

func main() {
	out := flag.String("o", "", "the `directory` to write into (created)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed writes the same bytes")
	nNets := flag.Int("networks", 50000, "networks in the GeoIP databases")
	nClients := flag.Int("clients", 20000, "clients in the sample, at least")
	perCountry := flag.Int("per-country", 4, "clients in every country")
	perASN := flag.Int("per-asn", 4, "clients in every ASN a mirror declares")
	nPrivate := flag.Int("private", 23, "private mirrors")
	scale := flag.Int("scale", 1, "mirrors per country times this (9 makes about 4,000)")
	dns := flag.Bool("dns", false, "give the inventory a [dns] table (zone example.org., download.example.org answered by every mirror over https), for dnsd")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mkworld -o DIR [-seed N] [-networks N] [-clients N] [-per-country N] [-per-asn N] [-private N] [-scale N] [-dns]")
		os.Exit(2)
	}
	if *scale < 1 {
		fmt.Fprintln(os.Stderr, "mkworld: -scale must be at least 1")
		os.Exit(2)
	}
	if err := run(*out, *seed, *nNets, *nClients, *perCountry, *perASN, *nPrivate, *scale, *dns); err != nil {
		fmt.Fprintln(os.Stderr, "mkworld:", err)
		os.Exit(1)
	}
}

func run(dir string, seed uint64, nNets, nClients, perCountry, perASN, nPrivate, scale int, dns bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w := &world{
		r:      rand.New(rand.NewPCG(seed, 0x6d6b776f726c64)),
		byCC:   map[country.Code][]*network{},
		byASN:  map[uint32][]*network{},
		asnOrg: map[uint32]string{},
		access: map[country.Code][]uint32{},
		next4:  1 << 24, // 1.0.0.0
		next6:  0x2a00_0000_0000,
	}
	var err error
	if w.cities, err = loadCities(); err != nil {
		return err
	}
	w.networks(nNets)
	toml, err := w.inventory(nPrivate, scale, dns)
	if err != nil {
		return err
	}
	if err := fileio.WriteFile(filepath.Join(dir, "mirrors.toml"), toml, 0o644); err != nil {
		return err
	}
	inv, err := inventory.Parse(filepath.Join(dir, "mirrors.toml"), toml, dir)
	if err != nil {
		return fmt.Errorf("the generated inventory does not load: %w", err)
	}
	if err := w.snapshot(inv).Write(filepath.Join(dir, "state.json")); err != nil {
		return err
	}
	if _, _, err := geotest.Write(dir, w.geoNets()); err != nil {
		return err
	}
	clients := w.clients(nClients, perCountry, perASN)
	if err := fileio.WriteFile(filepath.Join(dir, "clients.txt"), clients, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mkworld: %s: %d mirrors, %d networks, %d clients\n", dir, len(inv.Mirrors), len(w.nets), bytes.Count(clients, []byte("\n"))-2)
	return nil
}

// loadCities reads cities.csv and gives every country of the table at
// least one place: a country without a town of 1,000 people (Bouvet
// Island, ...) gets its representative point.
func loadCities() (map[country.Code][]*city, error) {
	recs, err := csv.NewReader(bytes.NewReader(citiesCSV)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("cities.csv: %w", err)
	}
	out := map[country.Code][]*city{}
	for i, rec := range recs[1:] {
		lat, err1 := strconv.ParseFloat(rec[2], 64)
		lon, err2 := strconv.ParseFloat(rec[3], 64)
		pop, err3 := strconv.ParseFloat(rec[4], 64)
		cc := country.Code(rec[0])
		if err1 != nil || err2 != nil || err3 != nil || !cc.Valid() {
			return nil, fmt.Errorf("cities.csv:%d: bad row %q", i+2, rec)
		}
		out[cc] = append(out[cc], &city{cc: cc, name: rec[1], coord: country.Coord{Lat: lat, Lon: lon}, pop: max(pop, 1000)})
	}
	for _, info := range country.All() {
		if len(out[info.Code]) == 0 {
			out[info.Code] = []*city{{cc: info.Code, name: info.Name, coord: info.Coord, pop: 1000, pointsAt: true}}
		}
	}
	return out, nil
}

// networks allocates n networks over every country, at least 3 each, in
// proportion to (population of its listed cities)^0.8 times (1 + its
// mirrors): a network's users are where people are and, for a software
// distribution, where its mirrors are (volunteers run them where users
// ask). Inside a country networks go to its cities by population. Each country has ten access
// ASNs (accessShares); regional ASNs take their share first.
func (w *world) networks(n int) {
	ccs := w.countries()
	weight := make([]float64, len(ccs))
	total := 0.0
	mirrors := map[country.Code]float64{}
	fields := strings.Fields(mirrorCounts)
	for i := 0; i < len(fields); i += 2 {
		n, _ := strconv.Atoi(fields[i+1])
		mirrors[country.Code(fields[i])] = float64(n)
	}
	for i, cc := range ccs {
		pop := 0.0
		for _, c := range w.cities[cc] {
			pop += c.pop
		}
		weight[i] = math.Pow(pop, 0.8) * (1 + mirrors[cc])
		total += weight[i]
	}
	for i, cc := range ccs {
		for j := range len(accessShares) {
			asn := 200000 + uint32(i)*16 + uint32(j)
			w.access[cc] = append(w.access[cc], asn)
			w.asnOrg[asn] = fmt.Sprintf("Access %s %d", cc, j+1)
		}
	}
	for _, g := range regional {
		w.asnOrg[g.asn] = g.org
	}
	for i, cc := range ccs {
		k := max(3, int(math.Round(float64(n-3*len(ccs))*weight[i]/total))+3)
		cities := w.cities[cc]
		cityWeight := make([]float64, len(cities))
		for j, c := range cities {
			cityWeight[j] = c.pop
		}
		for range k {
			asn := w.access[cc][pick(w.r, accessShares)]
			for _, g := range regional {
				if slices.Contains(g.countries, cc) && w.r.Float64() < g.share {
					asn = g.asn
					break
				}
			}
			w.addNet(cities[pick(w.r, cityWeight)], asn).onlyCC = w.r.Float64() < 0.05
		}
	}
}

// addNet adds a network in c of asn: an IPv4 /24, and for one in four
// an IPv6 /48.
func (w *world) addNet(c *city, asn uint32) *network {
	nw := &network{v4: w.alloc4(), city: c, asn: asn}
	if w.r.IntN(4) == 0 {
		nw.v6 = w.alloc6()
	}
	w.nets = append(w.nets, nw)
	w.byCC[c.cc] = append(w.byCC[c.cc], nw)
	w.byASN[asn] = append(w.byASN[asn], nw)
	return nw
}

// countries returns every code of the country table, sorted.
func (w *world) countries() []country.Code {
	var out []country.Code
	for _, info := range country.All() {
		out = append(out, info.Code)
	}
	return out
}

// alloc4 returns the next /24, skipping networks that are not global
// unicast (private, loopback, shared, link-local, documentation,
// multicast and above).
func (w *world) alloc4() netip.Prefix {
	for {
		a := w.next4
		w.next4 += 256
		b := [4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), 0}
		switch {
		case b[0] == 10, b[0] == 127, b[0] == 100 && b[1]&0xc0 == 64, b[0] == 169 && b[1] == 254,
			b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168, b[0] == 192 && b[1] == 0,
			b[0] == 198 && b[1]&0xfe == 18, b[0] == 198 && b[1] == 51, b[0] == 203 && b[1] == 0:
			continue
		case b[0] >= 224:
			panic("mkworld: out of IPv4 space")
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), 24)
	}
}

// alloc6 returns the next /48 in 2a00::/12.
func (w *world) alloc6() netip.Prefix {
	a := w.next6
	w.next6++
	var b [16]byte
	for i := range 6 {
		b[i] = byte(a >> (40 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), 48)
}

// pick returns an index drawn in proportion to weights.
func pick(r *rand.Rand, weights []float64) int {
	total := 0.0
	for _, x := range weights {
		total += x
	}
	u := r.Float64() * total
	for i, x := range weights {
		if u < x {
			return i
		}
		u -= x
	}
	return len(weights) - 1
}

type mirror struct {
	name    string
	cc      country.Code
	net     *network // where its address is
	asn     uint32
	subnets []netip.Prefix
	weight  int
	private bool
}

// inventory writes mirrors.toml.
func (w *world) inventory(nPrivate, scale int, dns bool) ([]byte, error) {
	var ms []*mirror
	fields := strings.Fields(mirrorCounts)
	for i := 0; i < len(fields); i += 2 {
		cc := country.Code(fields[i])
		n, err := strconv.Atoi(fields[i+1])
		if err != nil || !cc.Valid() {
			return nil, fmt.Errorf("mirrorCounts: bad entry %q %q", fields[i], fields[i+1])
		}
		for j := range n * scale {
			nets := w.byCC[cc]
			m := &mirror{
				name:   fmt.Sprintf("mirror%02d.%s.example.net", j+1, strings.ToLower(string(cc))),
				cc:     cc,
				weight: weights[w.r.IntN(len(weights))],
			}
			m.net = nets[w.r.IntN(len(nets))]
			switch u := w.r.Float64(); {
			case u < 0.50:
				// A university's or a hosting company's own network: a
				// few networks in the mirror's city, few clients.
				m.asn = 300000 + uint32(len(ms))
				w.asnOrg[m.asn] = "Host of " + m.name
				for k := range 3 {
					nw := w.addNet(m.net.city, m.asn)
					if k == 0 {
						m.net = nw
					}
				}
			case u < 0.55:
				// An access provider's mirror for its customers.
				m.asn = w.access[cc][pick(w.r, accessShares)]
			case u < 0.70:
				for _, g := range regional {
					if slices.Contains(g.countries, cc) {
						m.asn = g.asn
						break
					}
				}
			}
			if m.asn != 0 && w.r.Float64() < 0.05 {
				m.subnets = w.someNets(m.asn, cc, 2)
			}
			ms = append(ms, m)
		}
	}
	// Private mirrors: a cloud's mirror for its own regions, and ISPs'
	// mirrors for their customers, each with its ASN and some subnets.
	for i := range nPrivate {
		cloud := regional[len(regional)-1]
		var m *mirror
		if i%2 == 0 {
			cc := cloud.countries[(i/2)%len(cloud.countries)]
			m = &mirror{name: fmt.Sprintf("cloud%02d.%s.example.com", i/2+1, strings.ToLower(string(cc))), cc: cc, asn: cloud.asn}
		} else {
			src := ms[w.r.IntN(len(ms))]
			cc := src.cc
			m = &mirror{name: fmt.Sprintf("isp%02d.%s.example.com", i/2+1, strings.ToLower(string(cc))), cc: cc, asn: w.access[cc][0]}
		}
		nets := w.byCC[m.cc]
		m.net = nets[w.r.IntN(len(nets))]
		m.weight = 100
		m.private = true
		m.subnets = w.someNets(m.asn, m.cc, 4)
		ms = append(ms, m)
	}
	var b bytes.Buffer
	b.WriteString(`# A synthetic world written by bench/mkworld: the real proportions of a
# large network, made-up names and addresses.
[network]
name = "Synthetic World"
origin = "https://origin.example.org/pub/"
stamp = "TIME"
max_lag = "12h"

[policy.neighbours]
NZ = ["AU"]

[[repo]]
name = "os"
path = "{release}/os/{arch}/"
releases = ["1"]
archs = ["x86_64"]
format = "rpm"
`)
	if dns {
		b.WriteString(`
[dns]
zone = "example.org."
ttl = 60
ns = { ns1 = ["127.0.0.1"] }
names = { download = "https" }
`)
	}
	for _, m := range ms {
		fmt.Fprintf(&b, "\n[[mirror]]\nname = %q\ncountry = %q\nhttps = \"https://%s/pub/\"\nhttp = \"http://%s/pub/\"\n", m.name, m.cc, m.name, m.name)
		if m.weight != 100 {
			fmt.Fprintf(&b, "weight = %d\n", m.weight)
		}
		if m.asn != 0 {
			fmt.Fprintf(&b, "asn = %d\n", m.asn)
			w.declare(m.asn)
		}
		if len(m.subnets) > 0 {
			var ss []string
			for _, p := range m.subnets {
				ss = append(ss, strconv.Quote(p.String()))
			}
			fmt.Fprintf(&b, "subnets = [%s]\n", strings.Join(ss, ", "))
		}
		if m.private {
			b.WriteString("public = false\n")
		}
		if dns {
			b.WriteString("dns = [\"download\"]\n")
		}
	}
	w.mirrors = ms
	return b.Bytes(), nil
}

func (w *world) declare(asn uint32) {
	if !slices.Contains(w.declared, asn) {
		w.declared = append(w.declared, asn)
	}
}

// someNets returns up to n networks (IPv4 and IPv6) of asn in cc.
func (w *world) someNets(asn uint32, cc country.Code, n int) []netip.Prefix {
	var out []netip.Prefix
	for _, nw := range w.byASN[asn] {
		if nw.city.cc != cc || len(out) >= n {
			continue
		}
		out = append(out, nw.v4)
		if nw.v6.IsValid() {
			out = append(out, nw.v6)
		}
	}
	return out
}

// snapshot is a probe's view: 4% of the mirrors down, a third without
// IPv6, every endpoint checked at its mirror's address.
func (w *world) snapshot(inv *inventory.Inventory) *state.Snapshot {
	byName := map[string]*mirror{}
	for _, m := range w.mirrors {
		byName[m.name] = m
	}
	down := map[string]bool{}
	noV6 := map[string]bool{}
	for _, m := range inv.Mirrors {
		down[m.Name] = w.r.Float64() < 0.04
		noV6[m.Name] = w.r.Float64() < 0.33
	}
	return statetest.Healthy(inv, func(name string, e *state.Endpoint) {
		m := byName[name]
		e.Addr = m.net.v4.Addr().Next()
		if e.Family == state.IPv6 {
			e.Addr = netip.Addr{}
			if m.net.v6.IsValid() {
				e.Addr = m.net.v6.Addr().Next()
			}
			if noV6[name] {
				e.Up, e.Healthy, e.Addr = false, false, netip.Addr{}
				e.Error, e.Class = "connect: network is unreachable", "no-address"
			}
		}
		if down[name] {
			e.Up, e.Healthy = false, false
			e.Error, e.Class = "dial tcp: i/o timeout", "timeout"
		}
	})
}

// geoNets is every network as geotest writes it.
func (w *world) geoNets() []geotest.Net {
	out := make([]geotest.Net, 0, len(w.nets)*5/4)
	for _, nw := range w.nets {
		cc := nw.city.cc
		n := geotest.Net{
			Country: string(cc), Registered: string(cc), Continent: string(cc.Continent()),
			ASN: nw.asn, Org: w.asnOrg[nw.asn],
		}
		switch {
		case nw.onlyCC:
			// As MaxMind marks a network it knows only the country of:
			// a point in the country and an accuracy radius of 1000 km.
			if p, ok := cc.Coord(); ok {
				n.Lat, n.Lon, n.HasCoord, n.Radius = p.Lat, p.Lon, true, geo.CountryRadiusKm
			}
		case !nw.city.pointsAt:
			n.Lat, n.Lon, n.HasCoord = nw.city.coord.Lat, nw.city.coord.Lon, true
		}
		n.Prefix = nw.v4
		out = append(out, n)
		if nw.v6.IsValid() {
			n.Prefix = nw.v6
			out = append(out, n)
		}
	}
	return out
}

// clients writes the sample: perCountry in every country, perASN in every
// declared ASN, then networks drawn at random up to n; each client in a
// network of its own while there are networks left, at a random host.
func (w *world) clients(n, perCountry, perASN int) []byte {
	used := map[*network]bool{}
	var chosen []*network
	take := func(pool []*network, k int) {
		if k <= 0 {
			return
		}
		perm := w.r.Perm(len(pool))
		for _, i := range perm {
			if k == 0 {
				return
			}
			if !used[pool[i]] {
				used[pool[i]] = true
				chosen = append(chosen, pool[i])
				k--
			}
		}
	}
	for _, cc := range w.countries() {
		take(w.byCC[cc], perCountry)
	}
	slices.Sort(w.declared)
	for _, asn := range w.declared {
		take(w.byASN[asn], perASN)
	}
	take(w.nets, n-len(chosen))
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	fmt.Fprintf(bw, "# client sample written by bench/mkworld: one address a line, then what\n# the synthetic GeoIP databases say of it\n")
	for _, nw := range chosen {
		a := nw.v4.Addr().As4()
		a[3] = byte(1 + w.r.IntN(254))
		addr := netip.AddrFrom4(a)
		if nw.v6.IsValid() && w.r.IntN(3) == 0 {
			b16 := nw.v6.Addr().As16()
			for i := 8; i < 16; i++ {
				b16[i] = byte(w.r.UintN(256))
			}
			addr = netip.AddrFrom16(b16)
		}
		where := nw.city.name
		if nw.onlyCC || nw.city.pointsAt {
			where = "(country only)"
		}
		fmt.Fprintf(bw, "%s\t# %s %s AS%d\n", addr, nw.city.cc, where, nw.asn)
	}
	bw.Flush()
	return b.Bytes()
}
