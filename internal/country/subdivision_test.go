package country_test

import (
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

func TestParseSubdivision(t *testing.T) {
	tests := []struct {
		name, in string
		want     country.Subdivision
		err      string // part of the error; "" for none
	}{
		{"a US state", "US-CA", "US-CA", ""},
		{"any case", "ca-on", "CA-ON", ""},
		{"three letters", "GB-ENG", "GB-ENG", ""},
		{"digits", "FR-75", "FR-75", ""},
		{"one character", "BE-1", "BE-1", ""},
		{"a country is not a subdivision", "US", "", "ISO 3166-2"},
		{"nothing after the hyphen", "US-", "", "ISO 3166-2"},
		{"four characters", "US-CALI", "", "ISO 3166-2"},
		{"no spaces around", " US-CA", "", "ISO 3166-2"},
		{"no punctuation", "US-C.", "", "ISO 3166-2"},
		{"no second hyphen", "US-C-A", "", "ISO 3166-2"},
		{"not a path", "US-../", "", "ISO 3166-2"},
		{"no non-ASCII letter", "DE-BÜ", "", "ISO 3166-2"},
		{"no letter that upper-cases to ASCII", "US-CAſ", "", "ISO 3166-2"},
		{"an unknown country", "ZZ-AB", "", "unknown country code"},
		{"a country ISO does not assign", "UK-ENG", "", `did you mean "GB"`},
		{"empty", "", "", "ISO 3166-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := country.ParseSubdivision(tt.in)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("ParseSubdivision(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseSubdivision(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.err)
			}
		})
	}
}

func TestSubdivisionParts(t *testing.T) {
	s := country.Subdivision("GB-ENG")
	if s.Country() != "GB" || s.Code() != "ENG" || s.String() != "GB-ENG" {
		t.Errorf("GB-ENG: country %q, code %q, string %q", s.Country(), s.Code(), s.String())
	}
	if z := country.Subdivision(""); z.Country() != "" || z.Code() != "" {
		t.Errorf("the zero Subdivision has country %q and code %q", z.Country(), z.Code())
	}
	// As a GeoIP City database names them: the part after the hyphen.
	for _, tt := range []struct {
		cc   country.Code
		code string
		want country.Subdivision
		ok   bool
	}{
		{"US", "CA", "US-CA", true},
		{"US", "ca", "", false}, // GeoIP writes upper case; an edge compares by case
		{"JP", "13", "JP-13", true},
		{"US", "", "", false},
		{"US", "ABCD", "", false},
		{"US", "C/", "", false},
		{"ZZ", "CA", "", false},
		{"", "CA", "", false},
	} {
		if got, ok := tt.cc.Subdivision(tt.code); got != tt.want || ok != tt.ok {
			t.Errorf("Code(%q).Subdivision(%q) = %q, %v; want %q, %v", tt.cc, tt.code, got, ok, tt.want, tt.ok)
		}
	}
}
