package gen

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	edsig "github.com/mirrorsteer/mirrorsteer/internal/signature" // gen has its own signature (meta4.go)
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// apiSchema is the version of api/*.json and index.json; bump it when a
// field changes meaning or goes away. api/state.json is written and read
// by package state, so the number lives there.
const apiSchema = state.PublishedSchema

// marshal is the one JSON encoding of the tree: indented, trailing newline,
// so files diff well and are the same bytes every run.
func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type apiMirror struct {
	Name        string              `json:"name"`
	Sponsor     string              `json:"sponsor,omitempty"`
	SponsorURL  string              `json:"sponsor_url,omitempty"`
	Country     country.Code        `json:"country"`
	Subdivision country.Subdivision `json:"subdivision,omitempty"`
	Continent   country.Continent   `json:"continent"`
	Lat         float64             `json:"lat"`
	Lon         float64             `json:"lon"`
	// PlacedBy is the address whose GeoIP record placed the mirror
	// (package placement); Unplaced marks one nothing placed, whose
	// country is "" and lat/lon meaningless.
	PlacedBy string                        `json:"placed_by,omitempty"`
	Unplaced bool                          `json:"unplaced,omitempty"`
	ASNs     []uint32                      `json:"asns,omitempty"`
	Subnets  []string                      `json:"subnets,omitempty"`
	URLs     map[inventory.Protocol]string `json:"urls,omitempty"`
	Weight   int                           `json:"weight"`
	Public   bool                          `json:"public"`
	DNS      []string                      `json:"dns,omitempty"`
	Repos    []string                      `json:"repos,omitempty"`
	Archs    []string                      `json:"archs,omitempty"`
}

// mirrorsJSON is api/mirrors.json: the inventory as published. A private
// mirror appears without its URLs and networks: it serves only its own
// networks, which need not be told to the world.
func mirrorsJSON(inv *inventory.Inventory) ([]byte, error) {
	type repo struct {
		Name     string           `json:"name"`
		Path     string           `json:"path"`
		Releases []string         `json:"releases,omitempty"`
		Archs    []string         `json:"archs,omitempty"`
		Format   inventory.Format `json:"format"`
	}
	doc := struct {
		Schema  int `json:"schema"`
		Network struct {
			Name   string `json:"name"`
			Origin string `json:"origin"`
			Stamp  string `json:"stamp"`
			MaxLag string `json:"max_lag"`
		} `json:"network"`
		Repos   []repo      `json:"repos"`
		Mirrors []apiMirror `json:"mirrors"`
	}{Schema: apiSchema, Repos: []repo{}, Mirrors: []apiMirror{}}
	doc.Network.Name = inv.Network.Name
	doc.Network.Origin = inv.Network.Origin
	doc.Network.Stamp = inv.Network.Stamp
	doc.Network.MaxLag = inv.Network.MaxLag.String()
	for _, r := range inv.Repos {
		doc.Repos = append(doc.Repos, repo{r.Name, r.Path, r.Releases, r.Archs, r.Format})
	}
	for _, m := range inv.Mirrors {
		am := apiMirror{
			Name: m.Name, Sponsor: m.Sponsor, SponsorURL: m.SponsorURL,
			Country: m.Country, Subdivision: m.Subdivision, Continent: m.Continent(),
			Lat: round4(m.Coord.Lat), Lon: round4(m.Coord.Lon),
			ASNs: m.ASNs, Weight: m.Weight, Public: m.Public,
			DNS: m.DNS, Repos: m.Repos, Archs: m.Archs,
		}
		am.Unplaced = !m.Placed()
		if m.Public {
			if m.PlacedBy.IsValid() { // a private mirror's addresses stay unpublished
				am.PlacedBy = m.PlacedBy.String()
			}
			am.URLs = m.URLs
			for _, p := range m.Subnets {
				am.Subnets = append(am.Subnets, p.String())
			}
		}
		doc.Mirrors = append(doc.Mirrors, am)
	}
	return marshal(doc)
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// writeStateSignature writes api/state.json.sig, the detached Ed25519
// signature of api/state.json's exact bytes (package internal/signature), when gen
// has a key: what a dnsd elsewhere checks before it believes the file.
// stateJSON is a pure function of its inputs, so these are the bytes Run
// wrote.
func writeStateSignature(w *tree.Writer, inv *inventory.Inventory, snap *state.Snapshot, key ed25519.PrivateKey) error {
	if key == nil {
		return nil
	}
	data, err := stateJSON(inv, snap)
	if err != nil {
		return fmt.Errorf("gen: %s: %w", layout.StateJSON, err)
	}
	return w.WriteFile(layout.StateJSON+edsig.Suffix, edsig.Sign(key, data))
}

// stateJSON is api/state.json: the health the lists were made from, per
// mirror and endpoint, for status pages, people's scripts and a dnsd
// elsewhere (dnsd -s https://.../api/state.json). Its format belongs to
// package state, which reads it back for dnsd.
func stateJSON(inv *inventory.Inventory, snap *state.Snapshot) ([]byte, error) {
	return marshal(state.Publish(inv, snap))
}

// indexJSON is index.json: what an edge (nginx, a CDN worker) needs to
// pick a file without listing directories. For a client with country CC,
// subdivision CC-S (GeoIP's subdivisions.0.iso_code is S) and ASN N, in
// the list directory of its repo/release/arch (plus the family's prefix,
// "v6/" for an IPv6 client), the file is the first that exists of
// layout.EdgeOrder: AS<N>-<CC>.txt (when asn[N] holds CC), CC-S.txt
// (when subdivisions holds CC-S), <CC>.txt, global.txt. asn, subdivisions
// and countries are the keys gen wrote lists for. Schema 2: asn holds
// countries (schema 1 held continents, for AS<N>-<continent> files);
// subdivisions came later, empty unless [lists] subdivisions asks.
func indexJSON(inv *inventory.Inventory, snap *state.Snapshot, keys []layout.Key) ([]byte, error) {
	type listDir struct {
		Repo    string           `json:"repo"`
		Release string           `json:"release,omitempty"`
		Arch    string           `json:"arch,omitempty"`
		Format  inventory.Format `json:"format"`
		Dir     string           `json:"dir"`
	}
	doc := struct {
		Schema       int                       `json:"schema"`
		Network      string                    `json:"network"`
		Verified     bool                      `json:"verified"`
		Taken        *time.Time                `json:"taken,omitempty"`
		Families     map[string]string         `json:"families"`
		Lists        []listDir                 `json:"lists"`
		ASN          map[string][]country.Code `json:"asn"`
		Subdivisions []country.Subdivision     `json:"subdivisions"`
		Countries    []country.Code            `json:"countries"`
	}{
		Schema: apiSchema, Network: inv.Network.Name, Verified: snap != nil,
		Families: map[string]string{},
		Lists:    []listDir{}, ASN: map[string][]country.Code{}, Subdivisions: []country.Subdivision{}, Countries: []country.Code{},
	}
	for _, fam := range inventory.Families {
		doc.Families[fam.String()] = layout.FamilyPrefix(fam)
	}
	if snap != nil {
		doc.Taken = &snap.Taken
	}
	for _, v := range inv.Variants() {
		doc.Lists = append(doc.Lists, listDir{v.Repo.Name, v.Release, v.Arch, v.Repo.Format, layout.ListDir(&v)})
	}
	for _, k := range keys {
		switch k.Kind() {
		case layout.KindCountry:
			doc.Countries = append(doc.Countries, k.Country())
		case layout.KindASN:
			n := strconv.FormatUint(uint64(k.ASN()), 10)
			doc.ASN[n] = append(doc.ASN[n], k.Country())
		case layout.KindSubdivision:
			doc.Subdivisions = append(doc.Subdivisions, k.Subdivision())
		}
	}
	return marshal(doc)
}
