package country

import (
	"fmt"
	"strings"
)

// Subdivision is an upper-case ISO 3166-2 subdivision code: a country's
// code, a hyphen and one to three letters or digits, e.g. "US-CA"
// (California), "CA-ON" (Ontario), "GB-ENG", "FR-75". GeoIP City databases
// name an address's subdivisions largest first, each by the part after
// the hyphen (subdivisions.0.iso_code is "CA" for California). Use
// ParseSubdivision to turn user input into one.
//
// Only the form and the country are checked, not that ISO assigned the
// code: the list of about 5,000 codes changes every year, and a code no
// GeoIP database gives only names a list no edge serves.
type Subdivision string

// String returns the code itself, e.g. "US-CA".
func (s Subdivision) String() string { return string(s) }

// Country returns the country s is in: "US" for "US-CA".
func (s Subdivision) Country() Code {
	if len(s) < 2 {
		return ""
	}
	return Code(s[:2])
}

// Code returns the part of s after the hyphen, as GeoIP City databases
// spell it: "CA" for "US-CA".
func (s Subdivision) Code() string {
	if len(s) < 3 {
		return ""
	}
	return string(s[3:])
}

// Subdivision returns c's subdivision whose code (the part after the
// hyphen, as GeoIP's subdivisions.N.iso_code gives it) is code; ok is
// false when c is not a valid country or code is not one to three
// upper-case letters or digits, as ISO 3166-2 and GeoIP write them. An
// edge takes the code as it comes (nginx compares file names by case),
// so this does too.
func (c Code) Subdivision(code string) (s Subdivision, ok bool) {
	if !c.Valid() || !subdivisionCode(code) {
		return "", false
	}
	return Subdivision(string(c) + "-" + code), true
}

// subdivisionCode reports whether code is what ISO 3166-2 puts after the
// country's hyphen: one to three upper-case ASCII letters or digits.
func subdivisionCode(code string) bool {
	if len(code) < 1 || len(code) > 3 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !isUpper(code[i]) && !('0' <= code[i] && code[i] <= '9') {
			return false
		}
	}
	return true
}

// ParseSubdivision returns the Subdivision for s, an ISO 3166-2 code in
// any case ("us-ca" is "US-CA"). Nothing around it is allowed: it is also
// a file name. The error says what is wrong and what to write.
func ParseSubdivision(s string) (Subdivision, error) {
	// Only ASCII is upper-cased: strings.ToUpper makes "S" of "ſ".
	cc, code, ok := strings.Cut(strings.Map(asciiUpper, s), "-")
	if !ok || len(cc) != 2 || !subdivisionCode(code) {
		return "", fmt.Errorf(`invalid subdivision code %q (ISO 3166-2: the country's two letters, "-" and one to three letters or digits, e.g. "US-CA")`, s)
	}
	c, err := Parse(cc)
	if err != nil {
		return "", fmt.Errorf("subdivision %q: %w", s, err)
	}
	sub, _ := c.Subdivision(code)
	return sub, nil
}

// asciiUpper upper-cases an ASCII letter and leaves every other rune.
func asciiUpper(r rune) rune {
	if 'a' <= r && r <= 'z' {
		return r - 'a' + 'A'
	}
	return r
}
