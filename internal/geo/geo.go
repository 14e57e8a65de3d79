// Package geo locates an IP address: country, subdivision, continent,
// coordinates and ASN, from MaxMind databases.
package geo

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// Info is what the databases say about one address. Every part may be
// unknown; unknown parts are zero.
type Info struct {
	Country country.Code // "" when unknown
	// SubdivisionCode is the code of the first (largest) subdivision the
	// record names, as the database spells it: the part of its ISO
	// 3166-2 code after the hyphen ("CA" for California); "" when
	// unknown. Subdivision returns the whole, checked code.
	SubdivisionCode string
	Continent       country.Continent // "" when unknown
	Coord           country.Coord     // valid only when HasCoord
	HasCoord        bool
	ASN             uint32 // 0 when unknown
	ASOrg           string // "" when unknown

	// CityPrefix is the network of the City/Country record that matched,
	// invalid if none did. Every address in it gets the same Country,
	// Continent and Coord, so dnsd uses it as the ECS scope; when the
	// answer also depends on the ASN, the scope is the longer of
	// CityPrefix and ASNPrefix (one contains the other).
	CityPrefix netip.Prefix
	// ASNPrefix is the network of the ASN record that matched, invalid if
	// none did.
	ASNPrefix netip.Prefix
}

// Subdivision returns the ISO 3166-2 code of the first subdivision the
// record names (US-CA), or "" when it names none or its code is not one
// (1 to 3 letters or digits) of a known country.
func (i Info) Subdivision() country.Subdivision {
	s, _ := i.Country.Subdivision(i.SubdivisionCode)
	return s
}

// Location is where a City/Country record places an address.
type Location struct {
	Country         country.Code      // "" when unknown
	SubdivisionCode string            // as Info.SubdivisionCode
	Continent       country.Continent // "" when unknown
	Coord           country.Coord     // valid only when HasCoord
	HasCoord        bool
}

// DB is an open pair of databases: one with locations (City or Country)
// and one with autonomous systems (ASN). Either may be absent.
//
// Lookup is safe for concurrent use. Close must not run concurrently
// with Lookup: to replace the databases, Open the new ones, switch
// callers over, and Close the old DB once no Lookup uses it.
type DB struct {
	city, asn         *maxminddb.Reader
	cityPath, asnPath string
	codes             *[26 * 26]country.Code
}

// Open opens a City or Country database and an ASN database.
//
// cityPath may be any database with the GeoIP2 City/Country record layout
// (country.iso_code, registered_country.iso_code, continent.code,
// location.latitude/longitude): GeoIP2-City, GeoLite2-City, GeoIP2-Country,
// GeoLite2-Country, GeoIP2-Enterprise, DBIP-City-Lite, DBIP-Country-Lite.
// asnPath may be any database with the GeoLite2-ASN layout
// (autonomous_system_number, autonomous_system_organization): GeoLite2-ASN,
// GeoIP2-ISP, DBIP-ASN-Lite. Either path may be "", and then that part of
// every Info is unknown.
//
// Errors name the file, what is wrong with it (missing, not a MaxMind DB
// file, or a database of the wrong type, such as an ASN database given as
// the City one) and the flag that sets it: mirrorsteer's commands take the
// two paths from --geoip-city and --geoip-asn.
func Open(cityPath, asnPath string) (*DB, error) {
	db := &DB{cityPath: cityPath, asnPath: asnPath, codes: countryCodes()}
	var err error
	if cityPath != "" {
		if db.city, err = open(cityPath, roleCity); err != nil {
			return nil, err
		}
	}
	if asnPath != "" {
		if db.asn, err = open(asnPath, roleASN); err != nil {
			if db.city != nil {
				_ = db.city.Close()
			}
			return nil, err
		}
	}
	return db, nil
}

// role is what a database file is opened for.
type role int

const (
	roleCity role = iota
	roleASN
)

func (r role) String() string {
	if r == roleASN {
		return "ASN database"
	}
	return "City/Country database"
}

// flag is the command-line flag mirrorsteer's commands take the role's
// path from; errors name it so the operator knows what to change.
func (r role) flag() string {
	if r == roleASN {
		return "--geoip-asn"
	}
	return "--geoip-city"
}

// example says what belongs in the role.
func (r role) example() string {
	if r == roleASN {
		return "an ASN database such as GeoLite2-ASN.mmdb"
	}
	return "a City or Country database such as GeoLite2-City.mmdb"
}

// layout is the record layout a database type name implies.
type layout int

const (
	layoutUnknown  layout = iota // a name we do not know: trust the caller
	layoutLocation               // country, continent, location
	layoutASN                    // autonomous_system_number
	layoutOther                  // a MaxMind type with neither
)

// layoutOf classifies a metadata database_type. MaxMind's names are
// GeoIP2-City, GeoLite2-ASN, GeoIP2-ISP, ...; DB-IP's are like
// "DBIP-City-Lite" or "DBIP-ASN-Lite (compat=GeoLite2-ASN)".
func layoutOf(dbType string) layout {
	t := strings.ToLower(dbType)
	if i := strings.Index(t, "compat="); i >= 0 {
		t = t[i+len("compat="):]
	}
	switch {
	case strings.Contains(t, "city"), strings.Contains(t, "country"),
		strings.Contains(t, "enterprise"), strings.Contains(t, "location"):
		return layoutLocation
	case strings.Contains(t, "asn"), strings.Contains(t, "isp"):
		return layoutASN
	case strings.Contains(t, "anonymous"), strings.Contains(t, "connection-type"),
		strings.Contains(t, "domain"), strings.Contains(t, "user-count"),
		strings.Contains(t, "ip-risk"), strings.Contains(t, "density-income"):
		return layoutOther
	}
	return layoutUnknown
}

func open(path string, r role) (*maxminddb.Reader, error) {
	rd, err := maxminddb.Open(path)
	if err != nil {
		var pathErr *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s %s (%s): file not found", r, path, r.flag())
		case errors.As(err, &pathErr): // permission denied, a directory, ...
			return nil, fmt.Errorf("%s (%s): %w", r, r.flag(), err)
		}
		// The file was read; maxminddb did not like what was in it.
		return nil, fmt.Errorf("%s %s (%s): not a MaxMind DB (.mmdb) file: %w", r, path, r.flag(), err)
	}
	dbType := rd.Metadata.DatabaseType
	wrong := ""
	switch l := layoutOf(dbType); {
	case r == roleCity && l == layoutASN:
		wrong = "an ASN database: give it to --geoip-asn, and give --geoip-city " + r.example()
	case r == roleASN && l == layoutLocation:
		wrong = "a City/Country database: give it to --geoip-city, and give --geoip-asn " + r.example()
	case l == layoutOther:
		wrong = "neither a City/Country nor an ASN database: give " + r.flag() + " " + r.example()
	}
	if wrong != "" {
		_ = rd.Close()
		return nil, fmt.Errorf("%s %s (%s): database type %q is %s", r, path, r.flag(), dbType, wrong)
	}
	return rd, nil
}

// countryCodes maps every two-letter upper-case code to its country.Code,
// or "" if country.Parse rejects it, so that Lookup validates codes
// without allocating whatever Parse does.
var countryCodes = sync.OnceValue(func() *[26 * 26]country.Code {
	var t [26 * 26]country.Code
	b := []byte{0, 0}
	for i := range t {
		b[0], b[1] = 'A'+byte(i/26), 'A'+byte(i%26)
		if c, err := country.Parse(string(b)); err == nil {
			t[i] = c
		}
	}
	return &t
})

// code returns the country for an iso_code, "" if it is not a country.
func (db *DB) code(s string) country.Code {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return ""
	}
	return db.codes[int(s[0]-'A')*26+int(s[1]-'A')]
}

func continent(s string) country.Continent {
	switch s {
	case "AF", "AN", "AS", "EU", "NA", "OC", "SA":
		return country.Continent(s)
	}
	return ""
}

// cityRecord holds the fields Lookup needs from a City/Country record.
// The decoder skips everything else (names in a dozen languages, cities,
// postal codes, traits) without decoding it. A
// hand-written mmdbdata.CursorUnmarshaler was measured too and was no
// faster than the library's cached reflection plan, so this stays plain.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	// Subdivisions are largest first; only the first is kept. location
	// reuses the slice, so that Lookup does not allocate.
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	Location struct {
		// Set to NaN before decoding, so a missing value differs from 0.
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
		Radius    uint16  `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

// CountryRadiusKm is the accuracy radius from which a record's coordinates
// only say the country: MaxMind's GeoIP2 and GeoLite2 City databases give
// 1000 km with the country's midpoint (37.751,-97.822 for the United
// States) to networks they locate no better than that.
const CountryRadiusKm = 1000

// asnRecord holds the fields Lookup needs from an ASN (or ISP) record.
type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// records are what Lookup decodes into. Decode takes an any, so records
// on Lookup's stack would escape to the heap on every call; pooled ones
// make Lookup allocation-free.
type records struct {
	city cityRecord
	asn  asnRecord
}

var recordPool = sync.Pool{New: func() any { return new(records) }}

// Lookup returns what the databases say about a. An IPv4-mapped IPv6
// address is looked up as IPv4, and a zone is ignored. A nil DB, an
// invalid address, or an address no database has a record for gives the
// zero Info. Lookup does not allocate.
//
// Country is country.iso_code, or registered_country.iso_code when that is
// missing or not a country (old databases have pseudo codes like "EU" and
// "AP"); codes country.Parse rejects are unknown. HasCoord is set only when
// the record has both latitude and longitude and places the address
// better than its country: MaxMind marks a network it knows only the
// country of with the country's midpoint and an accuracy radius of 1000
// km (CountryRadiusKm), and such a client is placed as one known by its
// country, at the country's point where people live.
func (db *DB) Lookup(a netip.Addr) Info {
	var info Info
	if db == nil || !a.IsValid() {
		return info
	}
	a = a.Unmap().WithZone("")
	recs := recordPool.Get().(*records)
	defer recordPool.Put(recs)
	if db.city != nil {
		if res := db.city.Lookup(a); res.Found() {
			if loc, ok := db.location(res, &recs.city); ok {
				info.CityPrefix = res.Prefix()
				info.Country, info.SubdivisionCode, info.Continent = loc.Country, loc.SubdivisionCode, loc.Continent
				info.Coord, info.HasCoord = loc.Coord, loc.HasCoord
			}
		}
	}
	if db.asn != nil {
		if res := db.asn.Lookup(a); res.Found() {
			rec := &recs.asn
			*rec = asnRecord{}
			if res.Decode(rec) == nil {
				info.ASNPrefix = res.Prefix()
				info.ASN = rec.Number
				info.ASOrg = rec.Org
			}
		}
	}
	return info
}

// location decodes a City/Country record into what Lookup says of it; ok
// is false when the record cannot be decoded.
func (db *DB) location(res maxminddb.Result, rec *cityRecord) (loc Location, ok bool) {
	*rec = cityRecord{Subdivisions: rec.Subdivisions[:0]} // keep the buffer
	rec.Location.Latitude, rec.Location.Longitude = math.NaN(), math.NaN()
	if res.Decode(rec) != nil {
		return loc, false
	}
	loc.Country = db.code(rec.Country.ISOCode)
	if loc.Country != "" && len(rec.Subdivisions) > 0 {
		// Subdivisions are of the country, not of the registered one.
		loc.SubdivisionCode = rec.Subdivisions[0].ISOCode
	}
	if loc.Country == "" {
		loc.Country = db.code(rec.RegisteredCountry.ISOCode)
	}
	loc.Continent = continent(rec.Continent.Code)
	lat, lon := rec.Location.Latitude, rec.Location.Longitude
	if lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && rec.Location.Radius < CountryRadiusKm { // false for NaN: missing
		loc.Coord = country.Coord{Lat: lat, Lon: lon}
		loc.HasCoord = true
	}
	return loc, true
}

// Close releases both databases. A nil DB is fine; Lookup after Close
// returns the zero Info.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	var errs []error
	if db.city != nil {
		errs = append(errs, db.city.Close())
	}
	if db.asn != nil {
		errs = append(errs, db.asn.Close())
	}
	return errors.Join(errs...)
}

// Describe says which databases are loaded, for logs, on one line: e.g.
//
//	city GeoIP2-City built 2025-01-01 (/var/lib/GeoIP/GeoIP2-City.mmdb), asn none
func (db *DB) Describe() string {
	if db == nil {
		return "city none, asn none"
	}
	return "city " + describe(db.city, db.cityPath) + ", asn " + describe(db.asn, db.asnPath)
}

func describe(r *maxminddb.Reader, path string) string {
	if r == nil {
		return "none"
	}
	m := r.Metadata
	return fmt.Sprintf("%s built %s (%s)", m.DatabaseType, m.BuildTime().UTC().Format("2006-01-02"), path)
}
