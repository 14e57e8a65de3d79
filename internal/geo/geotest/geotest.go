// Package geotest writes small, real MaxMind DB files (a GeoIP2-City and a
// GeoLite2-ASN style database) for tests and the demo, so that no binary
// database has to be committed and every test reads the same format as
// production.
package geotest

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// File names Write uses inside its directory.
const (
	CityFile = "GeoIP2-City.mmdb"
	ASNFile  = "GeoLite2-ASN.mmdb"
)

// BuildEpoch is the build time written into every database (2025-01-01
// 00:00:00 UTC), fixed so that two runs produce the same bytes.
const BuildEpoch = 1735689600

// Net is one network and what the databases say about it. A zero field
// is left out of the record, as in a real database that does not know it.
type Net struct {
	Prefix netip.Prefix

	// Country is country.iso_code, written as given (so tests can write
	// pseudo codes like "EU"); "" = no country object.
	Country string
	// Registered is registered_country.iso_code (where the network is
	// registered, which real databases fill even when Country is unknown);
	// "" = no registered_country object.
	Registered string
	// Subdivisions are subdivisions.N.iso_code, largest first, written
	// as given ("CA" for California: the part of the ISO 3166-2 code
	// after the hyphen; "" = a subdivision without iso_code); nil = no
	// subdivisions array.
	Subdivisions []string
	// Continent is continent.code; "" = no continent object.
	Continent string
	// Lat and Lon are location.latitude and location.longitude, written
	// only when HasCoord is set (so 0,0 is a real position).
	Lat, Lon float64
	HasCoord bool
	// Radius is location.accuracy_radius in km; 0 writes 100. MaxMind
	// gives 1000 with a country's midpoint for a network it places no
	// better than its country.
	Radius uint16

	// ASN is autonomous_system_number; 0 = the network is not in the ASN
	// database at all.
	ASN uint32
	// Org is autonomous_system_organization; "" = left out.
	Org string
}

// hasCity reports whether n has anything for the City database.
func (n Net) hasCity() bool {
	return n.Country != "" || n.Registered != "" || n.Continent != "" || n.HasCoord || n.Subdivisions != nil
}

// cityRecord is n in the GeoIP2-City layout, names maps included so that
// readers skip them as they must with the real databases.
func (n Net) cityRecord() mmdbtype.Map {
	rec := mmdbtype.Map{}
	if n.Continent != "" {
		rec["continent"] = mmdbtype.Map{
			"code":  mmdbtype.String(n.Continent),
			"names": names(n.Continent),
		}
	}
	if n.Country != "" {
		rec["country"] = mmdbtype.Map{
			"iso_code": mmdbtype.String(n.Country),
			"names":    names(n.Country),
		}
	}
	if n.Registered != "" {
		rec["registered_country"] = mmdbtype.Map{
			"iso_code": mmdbtype.String(n.Registered),
			"names":    names(n.Registered),
		}
	}
	if n.Subdivisions != nil {
		subs := mmdbtype.Slice{}
		for _, code := range n.Subdivisions {
			sub := mmdbtype.Map{"names": names("subdivision " + code)}
			if code != "" {
				sub["iso_code"] = mmdbtype.String(code)
			}
			subs = append(subs, sub)
		}
		rec["subdivisions"] = subs
	}
	if n.HasCoord {
		radius := n.Radius
		if radius == 0 {
			radius = 100
		}
		rec["location"] = mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(radius),
			"latitude":        mmdbtype.Float64(n.Lat),
			"longitude":       mmdbtype.Float64(n.Lon),
		}
	}
	return rec
}

// asnRecord is n in the GeoLite2-ASN layout.
func (n Net) asnRecord() mmdbtype.Map {
	rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n.ASN)}
	if n.Org != "" {
		rec["autonomous_system_organization"] = mmdbtype.String(n.Org)
	}
	return rec
}

func names(s string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(s), "de": mmdbtype.String(s)}
}

// Write writes GeoIP2-City and GeoLite2-ASN style databases for nets into
// dir (which must exist), as CityFile and ASNFile, and returns their paths.
//
// The City records have MaxMind's layout: continent, country,
// registered_country, subdivisions and location, with names.
//
// Both are IPv6 trees with IPv4 at ::/96 (aliased from ::ffff:0:0/96 and
// 2002::/16, as MaxMind does), reserved networks allowed, so loopback and
// documentation prefixes can be located. A network only goes into the City
// database if it has a country, registered country, continent or
// coordinates, and into the ASN database if ASN is not 0. Nested networks
// may be given in any order: the more specific one wins where they overlap.
// Files are replaced atomically and durably (fileio.WriteFile): written
// to a temporary name, synced and renamed into place, so a process that
// has the old file mapped is not disturbed and a dnsd that reloads never
// reads half a database. A symbolic link is followed and kept.
func Write(dir string, nets []Net) (cityPath, asnPath string, err error) {
	city, err := newTree("GeoIP2-City", "mirrorsteer test City database")
	if err != nil {
		return "", "", err
	}
	asn, err := newTree("GeoLite2-ASN", "mirrorsteer test ASN database")
	if err != nil {
		return "", "", err
	}

	// Wider networks first, so that more specific ones replace their part.
	sorted := slices.Clone(nets)
	slices.SortStableFunc(sorted, func(a, b Net) int { return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()) })
	for _, n := range sorted {
		if !n.Prefix.IsValid() {
			return "", "", fmt.Errorf("geotest: invalid prefix %v (country %q, ASN %d)", n.Prefix, n.Country, n.ASN)
		}
		ipn := ipNet(n.Prefix)
		if n.hasCity() {
			if err := city.Insert(ipn, n.cityRecord()); err != nil {
				return "", "", fmt.Errorf("geotest: city %v: %w", n.Prefix, err)
			}
		}
		if n.ASN != 0 {
			if err := asn.Insert(ipn, n.asnRecord()); err != nil {
				return "", "", fmt.Errorf("geotest: asn %v: %w", n.Prefix, err)
			}
		}
	}

	cityPath = filepath.Join(dir, CityFile)
	asnPath = filepath.Join(dir, ASNFile)
	if err := writeFile(cityPath, city); err != nil {
		return "", "", err
	}
	if err := writeFile(asnPath, asn); err != nil {
		return "", "", err
	}
	return cityPath, asnPath, nil
}

func newTree(dbType, desc string) (*mmdbwriter.Tree, error) {
	t, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": desc},
		Languages:               []string{"en", "de"},
		BuildEpoch:              BuildEpoch,
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("geotest: new %s tree: %w", dbType, err)
	}
	return t, nil
}

// ipNet converts p for mmdbwriter, which places a 4-byte IPv4 network
// in the IPv4 part (::/96) of an IPv6 tree.
func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	addr := p.Addr()
	bits := 128
	if addr.Is4() {
		bits = 32
	}
	return &net.IPNet{IP: net.IP(addr.AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}

// writeFile replaces the database at path as mirrorsteer replaces every
// file (fileio.WriteFile): dnsd reloads a database that changes, and must
// never read half of one.
func writeFile(path string, t *mmdbwriter.Tree) error {
	var buf bytes.Buffer
	if _, err := t.WriteTo(&buf); err != nil {
		return fmt.Errorf("geotest: write %s: %w", path, err)
	}
	if err := fileio.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("geotest: write %s: %w", path, err)
	}
	return nil
}
