// Package country knows every country a GeoIP database can name: its
// continent and a representative coordinate.
//
// mirrorsteer uses it to name the country of a mirror or a client, to group
// them by continent, and to order mirrors by great-circle distance when
// nothing more precise than the country is known. The table is embedded
// (countries.csv) and covers all 249 officially assigned ISO 3166-1 alpha-2
// codes and XK, the user-assigned code MaxMind GeoIP2/GeoLite2 and DB-IP
// give Kosovo: every country code those databases return. Continents follow
// MaxMind, which locates the clients, so that a mirror and its clients land
// in the same continent; see SOURCES.md for where each column comes from.
package country

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Code is an upper-case ISO 3166-1 alpha-2 country code, e.g. "DE", or
// XK (Kosovo). Use Parse to turn user input into a Code.
type Code string

// String returns the code itself, e.g. "DE".
func (c Code) String() string { return string(c) }

// Valid reports whether c is in the table: one of the 249 officially
// assigned ISO 3166-1 codes, or XK. It is case-sensitive: "de" is not
// valid, Parse("de") is.
func (c Code) Valid() bool {
	_, ok := byCode[c]
	return ok
}

// Continent returns the continent of c, or "" when c is not a valid code.
func (c Code) Continent() Continent {
	if i, ok := byCode[c]; ok {
		return table[i].Continent
	}
	return ""
}

// Coord returns the representative coordinate of c; ok is false when c is
// not a valid code.
func (c Code) Coord() (coord Coord, ok bool) {
	if i, ok := byCode[c]; ok {
		return table[i].Coord, true
	}
	return Coord{}, false
}

// hints maps codes that people commonly use but ISO 3166-1 does not assign
// to the code they most likely mean.
var hints = map[string]Code{
	"UK": "GB", // exceptionally reserved by ISO for the United Kingdom
	"EL": "GR", // used by the EU for Greece
}

// Parse returns the Code for s, an ISO 3166-1 alpha-2 code (or XK) in any
// case, e.g. "de" or "DE". Surrounding white space is ignored. The error for anything
// else says what was wrong and, where it can guess, what was meant.
func Parse(s string) (Code, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	switch {
	case t == "":
		return "", errors.New(`empty country code (ISO 3166-1 alpha-2, e.g. "DE")`)
	case len(t) != 2 || !isUpper(t[0]) || !isUpper(t[1]):
		if c, ok := byName[strings.ToLower(strings.TrimSpace(s))]; ok {
			return "", fmt.Errorf("invalid country code %q (ISO 3166-1 alpha-2; did you mean %q?)", s, c)
		}
		return "", fmt.Errorf(`invalid country code %q (ISO 3166-1 alpha-2: two letters, e.g. "DE")`, s)
	}
	c := Code(t)
	if c.Valid() {
		return c, nil
	}
	if h, ok := hints[t]; ok {
		return "", fmt.Errorf("unknown country code %q (ISO 3166-1 alpha-2; did you mean %q?)", s, h)
	}
	return "", fmt.Errorf("unknown country code %q (not an assigned ISO 3166-1 alpha-2 code)", s)
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }

// Continent is a continent code as MaxMind GeoIP2 databases report it in
// continent.code.
type Continent string

// The seven continents, with MaxMind's codes.
const (
	Africa       Continent = "AF"
	Antarctica   Continent = "AN"
	Asia         Continent = "AS"
	Europe       Continent = "EU"
	NorthAmerica Continent = "NA"
	Oceania      Continent = "OC"
	SouthAmerica Continent = "SA"
)

// continentCoords are the representative points of the continents: rough
// geographic midpoints of each continent's land mass, rounded to whole
// degrees (see SOURCES.md). They are a coarse fallback for a client located
// only to a continent, not a centroid to compute with.
var continentCoords = map[Continent]Coord{
	Africa:       {Lat: 7, Lon: 21},    // Central African Republic
	Antarctica:   {Lat: -83, Lon: 17},  // interior of East Antarctica
	Asia:         {Lat: 30, Lon: 89},   // Tibet
	Europe:       {Lat: 49, Lon: 9},    // south-west Germany
	NorthAmerica: {Lat: 46, Lon: -101}, // North Dakota
	Oceania:      {Lat: -18, Lon: 139}, // Queensland, Australia
	SouthAmerica: {Lat: -15, Lon: -58}, // Mato Grosso, Brazil
}

// Continents returns the seven continents sorted by code. The slice is new
// on each call.
func Continents() []Continent {
	return []Continent{Africa, Antarctica, Asia, Europe, NorthAmerica, Oceania, SouthAmerica}
}

// ParseContinent returns the Continent for s, a continent code in any case,
// e.g. "eu" or "EU". Surrounding white space is ignored.
func ParseContinent(s string) (Continent, error) {
	k := Continent(strings.ToUpper(strings.TrimSpace(s)))
	if k.Valid() {
		return k, nil
	}
	if k == "" {
		return "", errors.New("empty continent code (one of AF, AN, AS, EU, NA, OC, SA)")
	}
	return "", fmt.Errorf("unknown continent code %q (one of AF, AN, AS, EU, NA, OC, SA)", s)
}

// Valid reports whether k is one of the seven continent codes.
func (k Continent) Valid() bool {
	_, ok := continentCoords[k]
	return ok
}

// Coord returns a representative point for the continent: a rough
// geographic midpoint of its land mass, rounded to whole degrees (e.g. 49°N
// 9°E for Europe). It is the zero Coord for an invalid continent.
func (k Continent) Coord() Coord { return continentCoords[k] }

// Coord is a point on the earth in decimal degrees (WGS 84): Lat north,
// Lon east.
type Coord struct{ Lat, Lon float64 }

// earthRadiusKm is the mean earth radius (IUGG), in km.
const earthRadiusKm = 6371.0088

// DistanceKm returns the great-circle distance between a and b in km, by the
// haversine formula on a sphere of the mean earth radius. It does not
// allocate.
func (a Coord) DistanceKm(b Coord) float64 {
	const rad = math.Pi / 180
	sinLat := math.Sin((b.Lat - a.Lat) * rad / 2)
	sinLon := math.Sin((b.Lon - a.Lon) * rad / 2)
	h := sinLat*sinLat + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*sinLon*sinLon
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(h, 1))) // rounding can push h past 1
}

// Valid reports whether a is a coordinate: Lat in [-90, 90] and Lon in
// [-180, 180], both finite (NaN and ±Inf fail the range checks).
func (a Coord) Valid() bool {
	return a.Lat >= -90 && a.Lat <= 90 && a.Lon >= -180 && a.Lon <= 180
}

// Info describes one country.
type Info struct {
	Code      Code
	Name      string // English short name, e.g. "Germany"
	Continent Continent
	Coord     Coord // representative point: a centre of the country's extent
}

// Lookup returns the Info for c; ok is false when c is not a valid code.
// It is case-sensitive; use Parse to normalise input first.
func Lookup(c Code) (info Info, ok bool) {
	if i, ok := byCode[c]; ok {
		return table[i], true
	}
	return Info{}, false
}

// All returns every country sorted by Code. The slice is a new copy on each
// call; callers may modify it.
func All() []Info { return slices.Clone(table) }

//go:embed countries.csv
var countriesCSV []byte

var (
	table  []Info          // sorted by Code
	byCode map[Code]int    // index into table
	byName map[string]Code // lower-case Name, for Parse's hints
)

func init() {
	var err error
	table, err = parseTable(countriesCSV)
	if err != nil {
		// The table is embedded at build time, so this is a bug in the
		// source tree, never a run-time condition.
		panic("country: embedded countries.csv is broken: " + err.Error())
	}
	byCode = make(map[Code]int, len(table))
	byName = make(map[string]Code, len(table))
	for i, in := range table {
		byCode[in.Code] = i
		byName[strings.ToLower(in.Name)] = in.Code
	}
}

// parseTable reads countries.csv: a header line "code,name,continent,lat,lon"
// and one line per country, each checked; it returns them sorted by code.
func parseTable(data []byte) ([]Info, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 5
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if strings.Join(header, ",") != "code,name,continent,lat,lon" {
		return nil, fmt.Errorf("header is %q, want %q", strings.Join(header, ","), "code,name,continent,lat,lon")
	}
	var out []Info
	seen := map[Code]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		in := Info{Code: Code(rec[0]), Name: rec[1], Continent: Continent(rec[2])}
		lat, err1 := strconv.ParseFloat(rec[3], 64)
		lon, err2 := strconv.ParseFloat(rec[4], 64)
		in.Coord = Coord{Lat: lat, Lon: lon}
		switch {
		case len(in.Code) != 2 || !isUpper(in.Code[0]) || !isUpper(in.Code[1]):
			return nil, fmt.Errorf("line %d: code %q is not two upper-case letters", line, in.Code)
		case seen[in.Code]:
			return nil, fmt.Errorf("line %d: code %s is listed twice", line, in.Code)
		case in.Name == "":
			return nil, fmt.Errorf("line %d: %s has no name", line, in.Code)
		case !in.Continent.Valid():
			return nil, fmt.Errorf("line %d: %s has unknown continent %q", line, in.Code, in.Continent)
		case err1 != nil || err2 != nil || !in.Coord.Valid():
			return nil, fmt.Errorf("line %d: %s has invalid lat,lon %q,%q", line, in.Code, rec[3], rec[4])
		}
		seen[in.Code] = true
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, errors.New("no countries")
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(string(a.Code), string(b.Code)) })
	return out, nil
}

// Vec is a point on the earth as a unit vector from its centre. Distances
// between Vecs cost a square root and an arcsine, and comparing them
// (which is nearer?) only multiplications: the policy keeps its mirrors
// and places as Vecs.
type Vec struct{ X, Y, Z float64 }

// Vec returns a as a unit vector.
func (a Coord) Vec() Vec {
	const rad = math.Pi / 180
	sinLat, cosLat := math.Sincos(a.Lat * rad)
	sinLon, cosLon := math.Sincos(a.Lon * rad)
	return Vec{cosLat * cosLon, cosLat * sinLon, sinLat}
}

// Chord2 returns the square of the straight-line distance between v and
// w, in earth radii: it grows with the great-circle distance, so it
// orders points by distance without trigonometry.
func (v Vec) Chord2(w Vec) float64 {
	dx, dy, dz := v.X-w.X, v.Y-w.Y, v.Z-w.Z
	return dx*dx + dy*dy + dz*dz
}

// DistanceKm returns the great-circle distance between v and w in km on a
// sphere of the mean earth radius: the same as Coord.DistanceKm, from the
// chord (haversine's h is chord²/4).
func (v Vec) DistanceKm(w Vec) float64 { return ChordKm(v.Chord2(w)) }

// ChordKm returns the great-circle distance in km of a chord whose square
// is c2 (see Chord2).
func ChordKm(c2 float64) float64 {
	return 2 * earthRadiusKm * math.Asin(min(math.Sqrt(c2)/2, 1))
}

// KmChord2 returns the square of the chord of a great-circle distance of
// km: the inverse of ChordKm, for distances up to half the circumference
// (beyond, it returns 4, the chord of antipodes).
func KmChord2(km float64) float64 {
	half := km / (2 * earthRadiusKm)
	if half >= math.Pi/2 {
		return 4
	}
	s := 2 * math.Sin(half)
	return s * s
}
