package country_test

import (
	"fmt"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

func ExampleParse() {
	c, err := country.Parse("de")
	fmt.Println(c, c.Continent(), err)

	_, err = country.Parse("UK")
	fmt.Println(err)
	// Output:
	// DE EU <nil>
	// unknown country code "UK" (ISO 3166-1 alpha-2; did you mean "GB"?)
}

func ExampleCoord_DistanceKm() {
	berlin := country.Coord{Lat: 52.52, Lon: 13.405}
	paris := country.Coord{Lat: 48.8566, Lon: 2.3522}
	fmt.Printf("%.0f km\n", berlin.DistanceKm(paris))
	// Output: 877 km
}
