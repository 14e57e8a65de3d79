package didyoumean

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"weight", "public", "country", "healthy", "https", "http"}
	for _, tt := range []struct{ bad, want string }{
		{"wieght", "weight"},  // swapped neighbours: one edit
		{"weigth", "weight"},  // swapped at the end
		{"contry", "country"}, // one deletion
		{"helthy", "healthy"}, // one deletion
		{"htps", "https"},     // https and http are one edit away: the first listed wins
		{"publik", "public"},  // one replacement
		{"weighting", ""},     // three edits away
		{"sponsor", ""},       // nothing close
		{"", ""},              // nothing at all
		{"pübliç", "public"},  // runes, not bytes
	} {
		if got := Closest(tt.bad, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.bad, got, tt.want)
		}
	}
}
