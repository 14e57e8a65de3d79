package inventory_test

import (
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// TestMirrorWithoutCountry: a mirror without a country loads unplaced
// (gen, lookup and dnsd may place it from its address), and check warns
// at its place in the file, differently for one that has lat/lon.
func TestMirrorWithoutCountry(t *testing.T) {
	doc := `[network]
name = "t"
origin = "https://origin.test/"
stamp = "TIME"
max_lag = "1h"

[[repo]]
name = "r"
path = "r/"
format = "files"

[[mirror]]
name = "placed"
country = "DE"
https = "https://placed.test/"

[[mirror]]
name = "nowhere"
https = "https://nowhere.test/"

[[mirror]]
name = "at-sea"
https = "https://at-sea.test/"
lat = 10
lon = 20
`
	inv, err := inventory.Parse("m.toml", []byte(doc), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rule    string
		mirror  string
		placed  bool
		warning string // "" for none
	}{
		{"a country places a mirror", "placed", true, ""},
		{"no country and no lat/lon is unplaced", "nowhere", false, `m.toml:17:3: [[mirror]] "nowhere" is unplaced (no country, no lat/lon)`},
		{"lat/lon place a mirror without a country", "at-sea", true, `m.toml:21:3: [[mirror]] "at-sea" has no country`},
	}
	ws := strings.Join(inv.Warnings(), "\n")
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			m := inv.Mirror(tt.mirror)
			if m.Placed() != tt.placed || m.Country != "" && tt.mirror != "placed" {
				t.Errorf("Placed() = %v, country %q", m.Placed(), m.Country)
			}
			if tt.warning != "" && !strings.Contains(ws, tt.warning) {
				t.Errorf("warnings lack %q:\n%s", tt.warning, ws)
			}
			if tt.warning == "" && strings.Contains(ws, `"`+tt.mirror+`"`) {
				t.Errorf("a warning names %q:\n%s", tt.mirror, ws)
			}
		})
	}
	if !strings.Contains(ws, "--geoip-city") {
		t.Errorf("the warning does not say how to place it:\n%s", ws)
	}
}
