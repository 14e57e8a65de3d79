// Command mkgeoip writes the demo GeoIP databases (geotest.Demo) into a
// directory, creating it if needed:
//
//	go run ./internal/geo/geotest/cmd/mkgeoip DIR
//
// It writes DIR/GeoIP2-City.mmdb and DIR/GeoLite2-ASN.mmdb and prints
// their paths, one a line. Two runs write the same bytes.
package main

import (
	"fmt"
	"os"

	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || os.Args[1][0] == '-' {
		fmt.Fprintln(os.Stderr, "usage: mkgeoip DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mkgeoip:", err)
		os.Exit(1)
	}
	city, asn, err := geotest.Write(dir, geotest.Demo())
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkgeoip:", err)
		os.Exit(1)
	}
	fmt.Println(city)
	fmt.Println(asn)
}
