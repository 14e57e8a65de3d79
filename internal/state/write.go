package state

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// Encode returns the bytes [Snapshot.Write] writes: the snapshot validated
// (see [Snapshot.Validate]) and in canonical form, with schema [Schema], as
// JSON with object keys sorted, indented by two spaces and ending in a
// newline. Equal snapshots encode to identical bytes. s is not modified.
func (s *Snapshot) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c := s.clone()
	c.canonicalize()
	c.Schema = Schema
	// On the wire, empty lists are [] rather than null.
	emptyLists(c.Mirrors)
	if c.Merged != nil {
		for i := range c.Merged.Vantages {
			emptyLists(c.Merged.Vantages[i].Mirrors)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write validates s and writes it to path atomically and durably with
// fileio.WriteFile: the bytes of [Snapshot.Encode] go to a temporary file
// in the same directory, which is synced and renamed over path, and the
// directory is synced. Readers see either the old file or the new one,
// never a partial one, also after a crash; on error the old file is
// untouched and the temporary file removed. If path is a symbolic link,
// the file it points to is replaced. The file gets mode 0644.
func (s *Snapshot) Write(path string) error {
	data, err := s.Encode()
	if err != nil {
		return fmt.Errorf("state: not writing %s: %w", path, err)
	}
	if err := fileio.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("state: write %s: %w", path, err)
	}
	return nil
}

// emptyLists makes the empty lists of mirrors [] rather than null.
func emptyLists(mirrors map[string]*Mirror) {
	for _, m := range mirrors {
		if m.Endpoints == nil {
			m.Endpoints = []Endpoint{}
		}
		for i := range m.Endpoints {
			if m.Endpoints[i].Repos == nil {
				m.Endpoints[i].Repos = []Repo{}
			}
		}
	}
}

// clone returns a deep copy of s.
func (s *Snapshot) clone() *Snapshot {
	c := *s
	c.Origin.Metadata = slices.Clone(s.Origin.Metadata)
	c.Mirrors = cloneMirrors(s.Mirrors)
	if s.Merged != nil {
		m := *s.Merged
		m.Vantages = slices.Clone(m.Vantages)
		for i := range m.Vantages {
			m.Vantages[i].CutOff = slices.Clone(m.Vantages[i].CutOff)
			m.Vantages[i].Mirrors = cloneMirrors(m.Vantages[i].Mirrors)
		}
		c.Merged = &m
	}
	return &c
}

func cloneMirrors(mirrors map[string]*Mirror) map[string]*Mirror {
	if mirrors == nil {
		return nil
	}
	c := make(map[string]*Mirror, len(mirrors))
	for name, m := range mirrors {
		if m == nil {
			c[name] = nil
			continue
		}
		cm := &Mirror{Endpoints: slices.Clone(m.Endpoints)}
		for i := range cm.Endpoints {
			cm.Endpoints[i].Repos = slices.Clone(cm.Endpoints[i].Repos)
		}
		c[name] = cm
	}
	return c
}

// canonicalize puts a valid snapshot in canonical form, in place: times in
// UTC, lists sorted, empty lists nil, unknown durations zero, Mirrors
// non-nil.
func (s *Snapshot) canonicalize() {
	utc(&s.Taken)
	utc(&s.Origin.Stamp)
	utc(&s.Origin.Checked)
	for i := range s.Origin.Metadata {
		utc(&s.Origin.Metadata[i].FirstSeen)
	}
	s.Origin.Metadata = nilIfEmpty(s.Origin.Metadata)
	slices.SortFunc(s.Origin.Metadata, func(a, b Meta) int {
		return cmp.Or(
			cmp.Compare(a.Repo, b.Repo),
			cmp.Compare(a.Release, b.Release),
			cmp.Compare(a.Arch, b.Arch),
			cmp.Compare(a.Path, b.Path),
			b.FirstSeen.Compare(a.FirstSeen), // newest first
			cmp.Compare(b.Timestamp, a.Timestamp),
			cmp.Compare(a.SHA256, b.SHA256),
			cmp.Compare(a.Size, b.Size),
		)
	})
	if s.Mirrors == nil {
		s.Mirrors = make(map[string]*Mirror)
	}
	canonicalMirrors(s.Mirrors)
	if s.Merged != nil {
		for i := range s.Merged.Vantages {
			v := &s.Merged.Vantages[i]
			utc(&v.Taken)
			if v.Mirrors == nil {
				v.Mirrors = make(map[string]*Mirror)
			}
			canonicalMirrors(v.Mirrors)
			v.CutOff = nilIfEmpty(v.CutOff)
			slices.Sort(v.CutOff)
		}
		slices.SortFunc(s.Merged.Vantages, func(a, b Vantage) int { return cmp.Compare(a.Name, b.Name) })
	}
}

// canonicalMirrors puts valid mirrors in canonical form, in place.
func canonicalMirrors(mirrors map[string]*Mirror) {
	for _, m := range mirrors {
		m.Endpoints = nilIfEmpty(m.Endpoints)
		for i := range m.Endpoints {
			e := &m.Endpoints[i]
			utc(&e.Checked)
			utc(&e.LastGood)
			utc(&e.Stamp)
			utc(&e.CertExpiry)
			if !e.Lag.Known {
				e.Lag = Duration{}
			}
			e.Repos = nilIfEmpty(e.Repos)
			slices.SortFunc(e.Repos, func(a, b Repo) int {
				return cmp.Or(
					cmp.Compare(a.Repo, b.Repo),
					cmp.Compare(a.Release, b.Release),
					cmp.Compare(a.Arch, b.Arch),
				)
			})
		}
		slices.SortFunc(m.Endpoints, func(a, b Endpoint) int {
			return cmp.Or(
				cmp.Compare(index(Protocols, a.Protocol), index(Protocols, b.Protocol)),
				cmp.Compare(index(Families, a.Family), index(Families, b.Family)),
			)
		})
	}
}

func utc(t *time.Time) { *t = t.UTC() }

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
