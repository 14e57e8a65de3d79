package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// usMirror is a public mirror in the United States, in subdivision sub
// ("" for none).
func usMirror(name, sub string) string {
	s := fmt.Sprintf("\n[[mirror]]\nname = %q\ncountry = \"US\"\nhttps = \"https://%s/pub/\"\n", name, name)
	if sub != "" {
		s += fmt.Sprintf("subdivision = %q\n", sub)
	}
	return s
}

// Issue 14, item 4: a mirror's subdivision is an ISO 3166-2 code in the
// mirror's own country, and [lists] subdivisions names countries; every
// mistake is reported at its key with what to write.
func TestSubdivisionErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		at   string // where the error points: the first byte of this text
		want string // part of the message
	}{
		{"a subdivision is CC-XXX", add(`subdivision = "Bavaria"` + "\n"), `subdivision = "Bavaria"`,
			`[[mirror]] "a.example.net": invalid subdivision code "Bavaria" (ISO 3166-2: the country's two letters, "-" and one to three letters or digits, e.g. "US-CA")`},
		{"a subdivision is not a country", add(`subdivision = "DE"` + "\n"), `subdivision = "DE"`, `invalid subdivision code "DE"`},
		{"a subdivision's country must exist", add(`subdivision = "ZZ-BY"` + "\n"), `subdivision = "ZZ-BY"`, `subdivision "ZZ-BY": unknown country code "ZZ"`},
		{"a subdivision is in the mirror's country", add(`subdivision = "AT-9"` + "\n"), `subdivision = "AT-9"`,
			`subdivision "AT-9" is not in the mirror's country DE; write the ISO 3166-2 code of the subdivision of DE it stands in (DE-...), or fix country`},
		{"a subdivision is a string", add("subdivision = 9\n"), "9\n", `subdivision must be a string in quotes, not an integer`},
		{"[lists] subdivisions are countries", add("\n[lists]\nsubdivisions = [\"USA\"]\n"), `"USA"]`,
			`[lists] subdivisions: invalid country code "USA"`},
		{"[lists] subdivisions are known countries", add("\n[lists]\nsubdivisions = [\"UK\"]\n"), `"UK"]`, `did you mean "GB"?`},
		{"[lists] subdivisions lists a country once", add("\n[lists]\nsubdivisions = [\"US\", \"us\"]\n"), `"us"]`,
			`[lists] subdivisions: US is listed twice (codes are case-insensitive); remove one`},
		{"[lists] has no other key", add("\n[lists]\nsubdivision = [\"US\"]\n"), `subdivision = [`,
			`[lists]: unknown key "subdivision" (did you mean "subdivisions"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one error", err)
			}
			line, col := position(t, tt.doc, tt.at)
			if prefix := fmt.Sprintf("mirrors.toml:%d:%d: ", line, col); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error does not start with %q:\n%s", prefix, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not contain %q:\n%s", tt.want, err)
			}
		})
	}
}

// Issue 14, item 4: which subdivisions get lists. Off unless [lists]
// subdivisions names the country; then each subdivision where one of its
// public mirrors stands, if they stand in two or more.
func TestSubdivisionLists(t *testing.T) {
	two := usMirror("ca.example.net", "us-ca") + usMirror("ny.example.net", "US-NY")
	lists := "\n[lists]\nsubdivisions = [\"us\"]\n"
	tests := []struct {
		name     string
		doc      string
		want     []country.Subdivision
		warnings []string // parts of the warnings, in order
	}{
		{"off unless configured", add(two), nil, nil},
		{"a configured country with mirrors in two subdivisions", add(two + lists), []country.Subdivision{"US-CA", "US-NY"}, nil},
		{"a country not configured gets none",
			add(two + "\n[lists]\nsubdivisions = [\"CA\"]\n"), nil,
			[]string{`[lists] subdivisions: no public mirror of CA declares its subdivision, so gen writes no subdivision lists for it; give them subdivision = "CA-..." (ISO 3166-2), or remove CA`}},
		{"one subdivision is no split",
			add(usMirror("ca.example.net", "US-CA") + usMirror("ca2.example.net", "US-CA") + lists), nil,
			[]string{`[lists] subdivisions: every public mirror of US that declares its subdivision is in US-CA, so gen writes no subdivision lists for US (they would repeat its list); give the others their subdivision, or remove US`}},
		{"a private mirror makes no list",
			add(usMirror("ca.example.net", "US-CA") + usMirror("ny.example.net", "US-NY") + "public = false\nasn = 7922\n" + lists), nil,
			[]string{`every public mirror of US that declares its subdivision is in US-CA`}},
		{"three subdivisions, sorted",
			add(two + usMirror("tx.example.net", "US-TX") + usMirror("ny2.example.net", "US-NY") + lists), []country.Subdivision{"US-CA", "US-NY", "US-TX"}, nil},
		{"a mirror without its subdivision is warned about",
			add(two + usMirror("us.example.net", "") + lists), []country.Subdivision{"US-CA", "US-NY"},
			[]string{`[[mirror]] "us.example.net" has no subdivision, so the subdivision lists of US give it after every subdivision's own mirrors; add subdivision = "US-..." (ISO 3166-2)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := parse(t, tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := inv.SubdivisionLists(); !slices.Equal(got, tt.want) {
				t.Errorf("SubdivisionLists() = %v, want %v", got, tt.want)
			}
			var ws []string // the base's own warning is not this test's
			for _, w := range inv.Warnings() {
				if strings.Contains(w, "subdivision") {
					ws = append(ws, w)
				}
			}
			if len(ws) != len(tt.warnings) {
				t.Fatalf("warnings:\n%s\nwant %d", strings.Join(ws, "\n"), len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %q does not contain %q", ws[i], w)
				}
			}
		})
	}
}
