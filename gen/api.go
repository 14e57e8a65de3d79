package gen

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// apiSchema is the version of api/*.json and index.json; bump it when a
// field changes meaning or goes away.
const apiSchema = 2

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
	Name       string            `json:"name"`
	Sponsor    string            `json:"sponsor,omitempty"`
	SponsorURL string            `json:"sponsor_url,omitempty"`
	Country    country.Code      `json:"country"`
	Continent  country.Continent `json:"continent"`
	Lat        float64           `json:"lat"`
	Lon        float64           `json:"lon"`
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
			Country: m.Country, Continent: m.Continent(),
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

// stateJSON is api/state.json: the health the lists were made from, per
// mirror and endpoint, for status pages and people's scripts.
func stateJSON(inv *inventory.Inventory, snap *state.Snapshot) ([]byte, error) {
	type repo struct {
		Repo    string `json:"repo"`
		Release string `json:"release,omitempty"`
		Arch    string `json:"arch,omitempty"`
		Fresh   bool   `json:"fresh"`
	}
	type endpoint struct {
		Protocol   state.Protocol `json:"protocol"`
		Family     state.Family   `json:"family"`
		Healthy    bool           `json:"healthy"`
		Up         bool           `json:"up"`
		LagSeconds *int64         `json:"lag_seconds,omitempty"`
		Checked    time.Time      `json:"checked"`
		LastGood   *time.Time     `json:"last_good,omitempty"`
		Class      state.Class    `json:"class,omitempty"`
		Error      string         `json:"error,omitempty"`
		Repos      []repo         `json:"repos,omitempty"`
	}
	type mirror struct {
		Name      string     `json:"name"`
		Endpoints []endpoint `json:"endpoints"`
	}
	doc := struct {
		Schema   int        `json:"schema"`
		Verified bool       `json:"verified"`
		Taken    *time.Time `json:"taken,omitempty"`
		Stamp    *time.Time `json:"origin_stamp,omitempty"`
		Mirrors  []mirror   `json:"mirrors"`
	}{Schema: apiSchema, Verified: snap != nil, Mirrors: []mirror{}}
	if snap != nil {
		doc.Taken = &snap.Taken
		if !snap.Origin.Stamp.IsZero() {
			doc.Stamp = &snap.Origin.Stamp
		}
		for _, m := range inv.Mirrors {
			sm := snap.Mirrors[m.Name]
			if sm == nil || !m.Public {
				continue
			}
			am := mirror{Name: m.Name, Endpoints: []endpoint{}}
			for _, e := range sm.Endpoints {
				ae := endpoint{Protocol: e.Protocol, Family: e.Family, Healthy: e.Healthy, Up: e.Up,
					Checked: e.Checked, Class: e.Class, Error: e.Error}
				if e.Lag.Known {
					s := int64(e.Lag.Duration / time.Second)
					ae.LagSeconds = &s
				}
				if !e.LastGood.IsZero() {
					lg := e.LastGood
					ae.LastGood = &lg
				}
				for _, r := range e.Repos {
					ae.Repos = append(ae.Repos, repo{r.Repo, r.Release, r.Arch, r.Fresh})
				}
				am.Endpoints = append(am.Endpoints, ae)
			}
			doc.Mirrors = append(doc.Mirrors, am)
		}
	}
	return marshal(doc)
}

// indexJSON is index.json: what an edge (nginx, a CDN worker) needs to
// pick a file without listing directories. For a client with country CC
// and ASN N, in the list directory of its repo/release/arch (plus the
// family's prefix, "v6/" for an IPv6 client), the file is the first that
// exists of layout.EdgeOrder: AS<N>-<CC>.txt (when asn[N] holds CC),
// <CC>.txt, global.txt. asn and countries are the keys gen wrote lists
// for. Schema 2: asn holds countries (schema 1 held continents, for
// AS<N>-<continent> files).
func indexJSON(inv *inventory.Inventory, snap *state.Snapshot, keys []layout.Key) ([]byte, error) {
	type listDir struct {
		Repo    string           `json:"repo"`
		Release string           `json:"release,omitempty"`
		Arch    string           `json:"arch,omitempty"`
		Format  inventory.Format `json:"format"`
		Dir     string           `json:"dir"`
	}
	doc := struct {
		Schema    int                       `json:"schema"`
		Network   string                    `json:"network"`
		Verified  bool                      `json:"verified"`
		Taken     *time.Time                `json:"taken,omitempty"`
		Families  map[string]string         `json:"families"`
		Lists     []listDir                 `json:"lists"`
		ASN       map[string][]country.Code `json:"asn"`
		Countries []country.Code            `json:"countries"`
	}{
		Schema: apiSchema, Network: inv.Network.Name, Verified: snap != nil,
		Families: map[string]string{},
		Lists:    []listDir{}, ASN: map[string][]country.Code{}, Countries: []country.Code{},
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
		}
	}
	return marshal(doc)
}
