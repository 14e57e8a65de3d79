package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"strconv"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// PublishedSchema is the version of gen's api/state.json (shared with its
// other api/ files) that [Publish] writes and [ParsePublished] reads.
const PublishedSchema = 2

// Published is api/state.json, the health gen publishes with its lists:
// what status pages and people's scripts read, and what a dnsd elsewhere
// fetches by URL (signed, see package signature) to answer as the dnsd
// beside the probe does. It therefore holds every mirror dnsd may offer,
// private ones too; but as gen publishes nothing of a private mirror's
// whereabouts, their endpoints carry no address and no error text (which
// may name one).
type Published struct {
	Schema int `json:"schema"`
	// Verified is false when gen ran without a snapshot: then nothing
	// else is set.
	Verified bool `json:"verified"`
	// Taken is the snapshot's time: its serial, by which an older one is
	// told from a newer.
	Taken   *time.Time        `json:"taken,omitempty"`
	Stamp   *time.Time        `json:"origin_stamp,omitempty"`
	Mirrors []PublishedMirror `json:"mirrors"`
}

// PublishedMirror is one mirror of api/state.json, in inventory order.
type PublishedMirror struct {
	Name      string              `json:"name"`
	Public    bool                `json:"public"`
	Endpoints []PublishedEndpoint `json:"endpoints"`
}

// PublishedEndpoint is one endpoint of api/state.json.
type PublishedEndpoint struct {
	Protocol   Protocol        `json:"protocol"`
	Family     Family          `json:"family"`
	Healthy    bool            `json:"healthy"`
	Up         bool            `json:"up"`
	LagSeconds *int64          `json:"lag_seconds,omitempty"`
	Checked    time.Time       `json:"checked"`
	LastGood   *time.Time      `json:"last_good,omitempty"`
	Class      Class           `json:"class,omitempty"`
	Error      string          `json:"error,omitempty"`
	Addr       netip.Addr      `json:"addr,omitzero"`
	Repos      []PublishedRepo `json:"repos,omitempty"`
}

// PublishedRepo is the freshness of one repo variant at an endpoint.
type PublishedRepo struct {
	Repo    string `json:"repo"`
	Release string `json:"release,omitempty"`
	Arch    string `json:"arch,omitempty"`
	Fresh   bool   `json:"fresh"`
}

// Publish returns what gen publishes of snap for inv: the mirrors of inv
// that snap has, in inventory order. A nil snap publishes "verified":
// false and no mirrors.
func Publish(inv *inventory.Inventory, snap *Snapshot) *Published {
	doc := &Published{Schema: PublishedSchema, Verified: snap != nil, Mirrors: []PublishedMirror{}}
	if snap == nil {
		return doc
	}
	taken := snap.Taken
	doc.Taken = &taken
	if !snap.Origin.Stamp.IsZero() {
		stamp := snap.Origin.Stamp
		doc.Stamp = &stamp
	}
	for _, m := range inv.Mirrors {
		sm := snap.Mirrors[m.Name]
		if sm == nil {
			continue
		}
		pm := PublishedMirror{Name: m.Name, Public: m.Public, Endpoints: []PublishedEndpoint{}}
		for _, e := range sm.Endpoints {
			pe := PublishedEndpoint{Protocol: e.Protocol, Family: e.Family, Healthy: e.Healthy, Up: e.Up,
				Checked: e.Checked, Class: e.Class}
			if m.Public {
				pe.Error, pe.Addr = e.Error, e.Addr
			}
			if e.Lag.Known {
				s := int64(e.Lag.Duration / time.Second)
				pe.LagSeconds = &s
			}
			if !e.LastGood.IsZero() {
				lg := e.LastGood
				pe.LastGood = &lg
			}
			for _, r := range e.Repos {
				pe.Repos = append(pe.Repos, PublishedRepo{r.Repo, r.Release, r.Arch, r.Fresh})
			}
			pm.Endpoints = append(pm.Endpoints, pe)
		}
		doc.Mirrors = append(doc.Mirrors, pm)
	}
	return doc
}

// ParsePublished reads api/state.json as gen publishes it into a
// Snapshot with the health it holds: what dnsd needs (each endpoint's
// verdict, freshness and address), not what only probe keeps (run
// counters, stamps, origin metadata). It is as strict as [Parse]:
// unknown fields, duplicate keys, bad values and a newer schema are
// errors naming the place. A file gen wrote without a snapshot
// ("verified": false) is refused: it says nothing of health.
func ParsePublished(name string, data []byte) (*Snapshot, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: file is empty; it is not a complete api/state.json (gen writes one with -s state.json)", name)
	}
	var head struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, syntaxError(name, data, syn)
		}
		return nil, fmt.Errorf("%s: top level is %s, not an object: not a mirrorsteer api/state.json?", name, describeJSON(bytes.TrimSpace(data)))
	}
	var version int
	if err := json.Unmarshal(head.Schema, &version); err != nil || version <= 0 {
		return nil, fmt.Errorf(`%s: no valid "schema": not a mirrorsteer api/state.json? (gen writes "schema": %d)`, name, PublishedSchema)
	}
	switch {
	case version > PublishedSchema:
		return nil, fmt.Errorf("%s: schema version %d is newer than this mirrorsteer understands (%d); upgrade mirrorsteer", name, version, PublishedSchema)
	case version < PublishedSchema:
		return nil, fmt.Errorf("%s: schema version %d is older than this mirrorsteer reads (%d); run a newer gen", name, version, PublishedSchema)
	}
	if loc := locateAs(data, reflect.TypeFor[Published]()); loc != nil {
		return nil, fmt.Errorf("%s:%s: %s: %s", name, position(data, loc.off), loc.where, loc.msg)
	}
	var p Published
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err) // not reached: locateAs finds these
	}
	if !p.Verified {
		return nil, fmt.Errorf(`%s: "verified": false: gen wrote it without a snapshot, so it says nothing of health; run gen with -s state.json`, name)
	}
	if p.Taken == nil || p.Taken.IsZero() {
		return nil, fmt.Errorf(`%s: taken time is missing; a verified api/state.json has the snapshot's "taken" time`, name)
	}
	s := &Snapshot{Schema: Schema, Taken: *p.Taken, Mirrors: make(map[string]*Mirror, len(p.Mirrors))}
	if p.Stamp != nil {
		s.Origin.Stamp = *p.Stamp
	}
	for i, pm := range p.Mirrors {
		if _, dup := s.Mirrors[pm.Name]; dup {
			return nil, fmt.Errorf("%s: mirrors[%d]: mirror %s appears twice; keep one entry per mirror", name, i, strconv.Quote(pm.Name))
		}
		m := &Mirror{}
		for _, pe := range pm.Endpoints {
			e := Endpoint{Protocol: pe.Protocol, Family: pe.Family, Up: pe.Up, Healthy: pe.Healthy,
				Checked: pe.Checked, Class: pe.Class, Error: pe.Error, Addr: pe.Addr, Repos: []Repo{}}
			if pe.LastGood != nil {
				e.LastGood = *pe.LastGood
			}
			if pe.LagSeconds != nil {
				if *pe.LagSeconds < 0 || *pe.LagSeconds > int64(1<<62/time.Second) {
					return nil, fmt.Errorf("%s: mirrors[%d] %s: lag_seconds %d: want seconds, 0 or more", name, i, strconv.Quote(pm.Name), *pe.LagSeconds)
				}
				e.Lag = DurationOf(time.Duration(*pe.LagSeconds) * time.Second)
			}
			for _, r := range pe.Repos {
				e.Repos = append(e.Repos, Repo{Repo: r.Repo, Release: r.Release, Arch: r.Arch, Fresh: r.Fresh})
			}
			m.Endpoints = append(m.Endpoints, e)
		}
		s.Mirrors[pm.Name] = m
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.canonicalize()
	return s, nil
}

// ParseAny reads either kind of snapshot: probe's state.json, or gen's
// api/state.json (told apart by its "verified" field), for a reader such
// as dnsd that may be given either.
func ParseAny(name string, data []byte) (*Snapshot, error) {
	var head struct {
		Verified json.RawMessage `json:"verified"`
	}
	if json.Unmarshal(data, &head) == nil && head.Verified != nil {
		return ParsePublished(name, data)
	}
	return Parse(name, data)
}

// LoadAny reads the snapshot file at path, either kind; see [ParseAny].
func LoadAny(path string) (*Snapshot, error) {
	data, err := fileio.ReadFile(path, fileio.MaxState)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w; run mirrorsteer probe to create it, or fix the state file path", err)
		}
		return nil, err
	}
	return ParseAny(path, data)
}
