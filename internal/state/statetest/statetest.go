// Package statetest builds state snapshots for tests: every declared
// endpoint healthy and fresh, then edited by the test to be down, stale or
// missing.
package statetest

import (
	"cmp"
	"slices"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Taken is the time every snapshot from Healthy is taken at.
var Taken = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// Healthy returns a snapshot in which every endpoint inv declares is up,
// healthy and fresh for every variant the mirror carries, over IPv4 and
// IPv6. edit, when not nil, is called on each endpoint before it is
// stored.
func Healthy(inv *inventory.Inventory, edit func(mirror string, e *state.Endpoint)) *state.Snapshot {
	s := &state.Snapshot{
		Schema:  state.Schema,
		Taken:   Taken,
		Network: inv.Network.Name,
		Origin:  state.Origin{Stamp: Taken.Add(-time.Hour), Checked: Taken},
		Mirrors: map[string]*state.Mirror{},
	}
	for _, m := range inv.Mirrors {
		sm := &state.Mirror{}
		for _, p := range inventory.Protocols {
			if m.URL(p) == "" {
				continue
			}
			for _, f := range state.Families {
				e := state.Endpoint{
					Protocol: p, Family: f,
					Up: true, Healthy: true, Checked: Taken, LastGood: Taken,
					Stamp: Taken.Add(-time.Hour), Lag: state.DurationOf(0), Successes: 1,
					Repos: []state.Repo{},
				}
				for _, v := range inv.Variants() {
					if m.Carries(v) {
						e.Repos = append(e.Repos, state.Repo{Repo: v.Repo.Name, Release: v.Release, Arch: v.Arch, Fresh: true})
					}
				}
				slices.SortFunc(e.Repos, func(a, b state.Repo) int {
					return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Release, b.Release), cmp.Compare(a.Arch, b.Arch))
				})
				if edit != nil {
					edit(m.Name, &e)
				}
				sm.Endpoints = append(sm.Endpoints, e)
			}
		}
		s.Mirrors[m.Name] = sm
	}
	return s
}
