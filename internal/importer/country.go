package importer

import (
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// aliases are the non-ISO ways people write a country in inventories:
// codes ISO does not assign, and English names other than the table's
// (countries.csv names GB "United Kingdom", TR "Türkiye", ...). Keys are
// lower case.
var aliases = map[string]country.Code{
	"uk":                               "GB", // reserved by ISO for the United Kingdom, used everywhere
	"el":                               "GR", // the EU's code for Greece
	"great britain":                    "GB",
	"britain":                          "GB",
	"england":                          "GB",
	"scotland":                         "GB",
	"wales":                            "GB",
	"northern ireland":                 "GB",
	"usa":                              "US",
	"u.s.a.":                           "US",
	"u.s.":                             "US",
	"united states of america":         "US",
	"america":                          "US",
	"czech republic":                   "CZ",
	"turkey":                           "TR",
	"russian federation":               "RU",
	"korea":                            "KR",
	"republic of korea":                "KR",
	"korea, republic of":               "KR",
	"the netherlands":                  "NL",
	"holland":                          "NL",
	"viet nam":                         "VN",
	"macedonia":                        "MK",
	"swaziland":                        "SZ",
	"cape verde":                       "CV",
	"côte d'ivoire":                    "CI",
	"cote d'ivoire":                    "CI",
	"burma":                            "MM",
	"uae":                              "AE",
	"republic of moldova":              "MD",
	"moldova, republic of":             "MD",
	"iran, islamic republic of":        "IR",
	"taiwan, province of china":        "TW",
	"hong kong sar":                    "HK",
	"macau":                            "MO",
	"vatican":                          "VA",
	"east timor":                       "TL",
	"the bahamas":                      "BS",
	"the gambia":                       "GM",
	"democratic republic of the congo": "CD",
	"republic of the congo":            "CG",
}

var byName = func() map[string]country.Code {
	m := map[string]country.Code{}
	for _, in := range country.All() {
		m[strings.ToLower(in.Name)] = in.Code
	}
	return m
}()

// resolveCountry turns a country as an inventory writes it into a code.
// how says what was repaired ("" when s was a code already); ok is false
// when s is neither a code nor a name the table or the aliases know: an
// unknown country is reported, never guessed.
func resolveCountry(s string) (c country.Code, how string, ok bool) {
	if c, err := country.Parse(s); err == nil {
		return c, "", true
	}
	k := strings.ToLower(strings.Join(strings.Fields(s), " "))
	if c, ok := aliases[k]; ok {
		if len(k) == 2 {
			return c, "is not an ISO 3166-1 code", true
		}
		return c, "is a country name, not a code", true
	}
	if c, ok := byName[k]; ok {
		return c, "is a country name, not a code", true
	}
	return "", "", false
}
