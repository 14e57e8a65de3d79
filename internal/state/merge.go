package state

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAge is how recent a vantage's check must be to count in a
// merge: three of the refresh timer's intervals at their longest, a
// five-minute pause after a run that the probe's deadline bounds to ten
// minutes. A vantage that missed three runs in a row is not speaking for
// now.
const DefaultMaxAge = 45 * time.Minute

// ClockSkew is how far after the merging machine's clock a snapshot may
// have been taken before [Merge] takes the vantage's clock for wrong and
// does not count it: an hour-fast vantage would otherwise make every other
// vantage look stale.
const ClockSkew = 5 * time.Minute

// VantageStatus says whether a vantage's snapshot counted in a merge.
type VantageStatus string

// The vantage statuses.
const (
	// VantageCounted: taken within the max age of the newest snapshot.
	VantageCounted VantageStatus = "counted"
	// VantageStale: taken more than the max age before the newest
	// snapshot; its results count only for endpoints no counted vantage
	// checked recently.
	VantageStale VantageStatus = "stale"
	// VantageFuture: taken more than [ClockSkew] after the merging
	// machine's clock; its clock is wrong and nothing of it counts.
	VantageFuture VantageStatus = "future"
)

// Merged is what [Merge] keeps besides the verdicts: the rule's
// parameter, and each vantage's own results, for the status site (which
// vantage sees what) and for anyone checking the verdicts.
type Merged struct {
	// MaxAge is how long before the merged snapshot's Taken a check may
	// have been made and still count. Required.
	MaxAge Duration `json:"max_age"`
	// Vantages are the merged snapshots, sorted by name. At least one.
	Vantages []Vantage `json:"vantages"`
}

// Vantage is one vantage's snapshot as it went into a merge.
type Vantage struct {
	// Name is the snapshot's vantage (probe --vantage). Required; see
	// [CheckVantage].
	Name string `json:"name"`
	// Taken is when its probe run started. Required.
	Taken time.Time `json:"taken"`
	// Status says whether it counted.
	Status VantageStatus `json:"status"`
	// CutOff lists the families over which the vantage was found cut
	// off, in [Families] order: it saw most of the family's endpoints
	// down, and most other vantages saw most of those up.
	CutOff []Family `json:"cut_off,omitempty"`
	// Note says in plain words why it did not count, or not fully.
	Note string `json:"note,omitempty"`
	// Mirrors are its results, as in its own snapshot.
	Mirrors map[string]*Mirror `json:"mirrors"`
}

// cutOff reports whether v was found cut off over f.
func (v *Vantage) cutOff(f Family) bool { return slices.Contains(v.CutOff, f) }

// A Source is one vantage's snapshot for [Merge], and the file it came
// from, which errors name.
type Source struct {
	File     string
	Snapshot *Snapshot
}

// MergeOptions tune [Merge].
type MergeOptions struct {
	// MaxAge is how recent a check must be, before the newest snapshot,
	// to count; 0 means [DefaultMaxAge].
	MaxAge time.Duration
	// Now is the merging machine's clock, against which a snapshot from
	// the future is told; the zero time means time.Now().
	Now time.Time
}

// Merge combines the snapshots of several vantages into one with the
// quorum rule of the package documentation ("Several vantages"): each
// endpoint is out when a strict majority of the vantages that checked it
// recently say so, vantages that are cut off or stale not counting. The
// result has the form of a single run's snapshot, with the verdicts in
// Mirrors and every vantage's own results in Merged.
//
// Merge refuses, naming the file: a snapshot without a vantage name or
// with an invalid one, two with the same name (ignoring case), one that is
// itself a merge, snapshots of different networks, and an invalid one. It
// fails when every snapshot is from the future.
func Merge(srcs []Source, opt MergeOptions) (*Snapshot, error) {
	if len(srcs) == 0 {
		return nil, errors.New("no snapshots to merge; name each vantage's state file")
	}
	maxAge := cmp.Or(opt.MaxAge, DefaultMaxAge)
	if maxAge < 0 {
		return nil, fmt.Errorf("max age %v is negative; give a positive duration like 45m", maxAge)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()

	byName := make(map[string]string) // lower-case name → file
	var network, networkFile string
	for _, src := range srcs {
		s := src.Snapshot
		switch {
		case s == nil:
			return nil, fmt.Errorf("%s: no snapshot", src.File)
		case s.Merged != nil:
			names := make([]string, len(s.Merged.Vantages))
			for i, v := range s.Merged.Vantages {
				names[i] = strconv.QuoteToASCII(v.Name)
			}
			return nil, fmt.Errorf("%s: already a merge (of %s); merge the vantages' own snapshots instead", src.File, strings.Join(names, ", "))
		case s.Vantage == "":
			return nil, fmt.Errorf("%s: no vantage name: it was probed without --vantage; run probe --vantage NAME in each place, so that the merge can tell the places apart", src.File)
		}
		if err := CheckVantage(s.Vantage); err != nil {
			return nil, fmt.Errorf("%s: %w", src.File, err)
		}
		key := strings.ToLower(s.Vantage)
		if other, dup := byName[key]; dup {
			return nil, fmt.Errorf("%s: vantage %s is also the vantage of %s (names are compared ignoring case); give each probe its own --vantage name", src.File, strconv.QuoteToASCII(s.Vantage), other)
		}
		byName[key] = src.File
		if s.Network != "" {
			if network != "" && s.Network != network {
				return nil, fmt.Errorf("%s: network %s, but %s is of network %s: these snapshots are of different mirror networks", src.File, strconv.QuoteToASCII(s.Network), networkFile, strconv.QuoteToASCII(network))
			}
			network, networkFile = s.Network, src.File
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", src.File, err)
		}
	}

	srcs = slices.Clone(srcs)
	slices.SortFunc(srcs, func(a, b Source) int { return cmp.Compare(a.Snapshot.Vantage, b.Snapshot.Vantage) })

	// The reference is the newest snapshot whose clock is believable.
	m := &Merged{MaxAge: DurationOf(maxAge), Vantages: make([]Vantage, len(srcs))}
	var newest *Snapshot
	for i, src := range srcs {
		s := src.Snapshot
		v := Vantage{Name: s.Vantage, Taken: s.Taken.UTC(), Status: VantageCounted, Mirrors: s.clone().Mirrors}
		if ahead := s.Taken.Sub(now); ahead > ClockSkew {
			v.Status = VantageFuture
			v.Note = fmt.Sprintf("not counted: taken %v after the merging machine's clock (more than the %v allowed); check the clocks", ahead.Round(time.Second), ClockSkew)
		} else if newest == nil || s.Taken.After(newest.Taken) {
			newest = s
		}
		m.Vantages[i] = v
	}
	if newest == nil {
		return nil, fmt.Errorf("every snapshot was taken more than %v after this machine's clock (%s); check the clocks", ClockSkew, now.Format(time.RFC3339))
	}
	ref := newest.Taken.UTC()
	since := ref.Add(-maxAge)
	for i := range m.Vantages {
		v := &m.Vantages[i]
		if v.Status == VantageCounted && v.Taken.Before(since) {
			v.Status = VantageStale
			v.Note = fmt.Sprintf("not counted: taken %v before the newest snapshot, more than the max age of %v", ref.Sub(v.Taken).Round(time.Second), maxAge)
		}
	}
	findCutOff(m, since)

	out := &Snapshot{
		Schema: Schema, Taken: ref, Network: network,
		Origin:  newest.clone().Origin,
		Mirrors: make(map[string]*Mirror),
		Merged:  m,
	}
	// A mirror any believable vantage mentions is mentioned, as in one
	// run's snapshot, even without endpoints.
	names := make(map[string]bool)
	for _, v := range m.Vantages {
		for name := range v.Mirrors {
			names[name] = names[name] || v.Status != VantageFuture
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if !names[name] {
			continue
		}
		var keys []epKey
		for _, v := range m.Vantages {
			for _, e := range v.Mirrors[name].endpoints() {
				if k := (epKey{name, e.Protocol, e.Family}); !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		sm := &Mirror{}
		for _, k := range keys {
			if e, ok := combine(out.Sightings(k.mirror, k.protocol, k.family)); ok {
				sm.Endpoints = append(sm.Endpoints, e)
			}
		}
		out.Mirrors[name] = sm
	}
	out.canonicalize()
	if err := out.validate(); err != nil {
		return nil, fmt.Errorf("merge made an invalid snapshot (a bug): %w", err)
	}
	return out, nil
}

// endpoints returns m's endpoints; none for a nil *Mirror.
func (m *Mirror) endpoints() []Endpoint {
	if m == nil {
		return nil
	}
	return m.Endpoints
}

// epKey names one endpoint of one mirror.
type epKey struct {
	mirror   string
	protocol Protocol
	family   Family
}

// findCutOff marks, per family, the counted vantages that are cut off:
// they saw most of the family's endpoints that they checked since then
// down, and most of those that other counted vantages checked too were
// up for a strict majority of them. A real outage, which every vantage
// sees, contradicts no one, so it stays an outage.
func findCutOff(m *Merged, since time.Time) {
	recent := make([]map[epKey]*Endpoint, len(m.Vantages))
	for i := range m.Vantages {
		v := &m.Vantages[i]
		if v.Status != VantageCounted {
			continue
		}
		recent[i] = make(map[epKey]*Endpoint)
		for name, sm := range v.Mirrors {
			for j := range sm.endpoints() {
				if e := &sm.Endpoints[j]; !e.Checked.Before(since) {
					recent[i][epKey{name, e.Protocol, e.Family}] = e
				}
			}
		}
	}
	for _, f := range Families {
		for i, mine := range recent {
			total, down, comparable, contradicted := 0, 0, 0, 0
			for k, e := range mine {
				if k.family != f {
					continue
				}
				total++
				if e.Up {
					continue
				}
				down++
				others, up := 0, 0
				for j, theirs := range recent {
					if o := theirs[k]; j != i && o != nil {
						others++
						if o.Up {
							up++
						}
					}
				}
				if others > 0 {
					comparable++
					if 2*up > others {
						contradicted++
					}
				}
			}
			if 2*down > total && 2*contradicted > comparable {
				v := &m.Vantages[i]
				v.CutOff = append(v.CutOff, f)
				note := fmt.Sprintf("cut off over %s: it saw %d of %d %s endpoints down, and most other vantages saw %d of the %d that they checked too up; its %s results count only where no other vantage checked",
					f.Title(), down, total, f.Title(), contradicted, comparable, f.Title())
				v.Note = strings.TrimPrefix(v.Note+"; "+note, "; ")
			}
		}
	}
}

// A Sighting is what one vantage of a merged snapshot saw of one
// endpoint, and whether it counted towards the verdict.
type Sighting struct {
	// Vantage is the vantage's name.
	Vantage string
	// Endpoint is its result; nil when it did not check the endpoint.
	Endpoint *Endpoint
	// Counted reports that it went into the verdict.
	Counted bool
	// Note says, in plain words, why it did not count, or why it counted
	// although discounted; empty for an ordinary vote.
	Note string
}

// Sightings returns, for a merged snapshot, what each vantage saw of
// mirror's endpoint over protocol p and family f, in vantage order, and
// which of those the verdict in Mirrors was made from. It is nil for a
// snapshot that is not a merge.
//
// Counted are, of the first of these groups that is not empty: the
// counted vantages that checked the endpoint within the max age and are
// not cut off over f; the cut-off ones among them (a discounted view
// counts where there is no other); the newest check of any vantage that
// is not from the future (as a single probe keeps the last verdict of an
// endpoint its run did not reach).
func (s *Snapshot) Sightings(mirror string, p Protocol, f Family) []Sighting {
	if s == nil || s.Merged == nil {
		return nil
	}
	since := s.Taken.Add(-s.Merged.MaxAge.Duration)
	maxAge := s.Merged.MaxAge.Duration
	out := make([]Sighting, len(s.Merged.Vantages))
	rank := make([]int, len(out)) // 1: a vote, 2: cut off, 3: old; 0: none
	best := 0
	for i := range s.Merged.Vantages {
		v := &s.Merged.Vantages[i]
		sg := Sighting{Vantage: v.Name, Endpoint: v.Mirrors[mirror].Endpoint(p, f)}
		switch e := sg.Endpoint; {
		case e == nil:
			sg.Note = "did not check it"
		case v.Status == VantageFuture:
			sg.Note = "not counted: the vantage's clock is ahead"
		case v.Status == VantageStale:
			sg.Note = "not counted: the vantage's snapshot is stale"
			rank[i] = 3
		case e.Checked.Before(since):
			sg.Note = fmt.Sprintf("not counted: checked %v before the snapshot, more than the max age of %v", s.Taken.Sub(e.Checked).Round(time.Second), maxAge)
			rank[i] = 3
		case v.cutOff(f):
			sg.Note = "not counted: the vantage is cut off over " + f.Title()
			rank[i] = 2
		default:
			rank[i] = 1
		}
		if rank[i] > 0 && (best == 0 || rank[i] < best) {
			best = rank[i]
		}
		out[i] = sg
	}
	switch best {
	case 1, 2:
		for i := range out {
			if rank[i] == best {
				out[i].Counted = true
				if best == 2 {
					out[i].Note = "counted although the vantage is cut off over " + f.Title() + ": no other vantage checked it recently"
				}
			}
		}
	case 3:
		newest := -1
		for i := range out {
			if rank[i] == 3 && (newest < 0 || out[i].Endpoint.Checked.After(out[newest].Endpoint.Checked)) {
				newest = i
			}
		}
		out[newest].Counted = true
		out[newest].Note = fmt.Sprintf("counted although old: no vantage checked it within the max age of %v, and this is the newest check", maxAge)
	}
	return out
}

// combine makes the verdict of one endpoint from its counted sightings,
// which are in vantage order; false when none counted.
//
// It is out (not healthy) when a strict majority say it is not healthy:
// a tie keeps it. The lag and stamp are the median vantage's (the lower
// of the two middle ones when they are even, in the mirror's favour as a
// tie is), each repository fresh unless a strict majority of those that
// checked it found it not; every other field is that of one vantage that
// agrees with the verdict, the first of those that saw the most common
// (up, class).
func combine(sightings []Sighting) (Endpoint, bool) {
	var voters []*Endpoint
	for _, sg := range sightings {
		if sg.Counted {
			voters = append(voters, sg.Endpoint)
		}
	}
	if len(voters) == 0 {
		return Endpoint{}, false
	}
	out := 0
	for _, e := range voters {
		if !e.Healthy {
			out++
		}
	}
	healthy := 2*out <= len(voters)

	type view struct {
		up    bool
		class Class
	}
	seen := make(map[view]int)
	var order []view // in order of first appearance
	for _, e := range voters {
		if e.Healthy == healthy {
			k := view{e.Up, e.Class}
			if seen[k] == 0 {
				order = append(order, k)
			}
			seen[k]++
		}
	}
	common := order[0]
	for _, k := range order {
		if seen[k] > seen[common] {
			common = k
		}
	}
	var rep *Endpoint
	for _, e := range voters {
		if e.Healthy == healthy && (view{e.Up, e.Class}) == common {
			rep = e
			break
		}
	}
	merged := *rep
	merged.Healthy = healthy

	var lags []*Endpoint
	for _, e := range voters {
		if e.Lag.Known {
			lags = append(lags, e)
		}
	}
	if len(lags) > 0 {
		slices.SortStableFunc(lags, func(a, b *Endpoint) int { return cmp.Compare(a.Lag.Duration, b.Lag.Duration) })
		median := lags[(len(lags)-1)/2]
		merged.Lag, merged.Stamp = median.Lag, median.Stamp
	}

	type repoKey struct{ repo, release, arch string }
	var keys []repoKey
	count := make(map[repoKey][2]int) // checked, not fresh
	why := make(map[repoKey]string)
	for _, e := range voters {
		for _, r := range e.Repos {
			k := repoKey{r.Repo, r.Release, r.Arch}
			c, ok := count[k]
			if !ok {
				keys = append(keys, k)
			}
			c[0]++
			if !r.Fresh {
				c[1]++
				if why[k] == "" {
					why[k] = r.Error
				}
			}
			count[k] = c
		}
	}
	merged.Repos = nil
	for _, k := range keys {
		c := count[k]
		r := Repo{Repo: k.repo, Release: k.release, Arch: k.arch, Fresh: 2*c[1] <= c[0]}
		if !r.Fresh {
			r.Error = why[k]
		}
		merged.Repos = append(merged.Repos, r)
	}
	return merged, true
}

// maxVantage is the longest vantage name, in bytes.
const maxVantage = 64

// CheckVantage checks a vantage name: 1 to 64 ASCII letters, digits,
// '.', '-' and '_', starting with a letter or a digit. The name goes on
// the status site, into logs and into file names people choose after
// it, so it is held to what needs no escaping anywhere.
func CheckVantage(name string) error {
	const rule = "use 1 to 64 ASCII letters, digits, '.', '-' and '_', starting with a letter or digit (e.g. \"fra1\")"
	if name == "" {
		return errors.New("vantage name is empty; " + rule)
	}
	if len(name) > maxVantage {
		return fmt.Errorf("vantage name %s… is %d bytes long; %s", strconv.QuoteToASCII(name[:20]), len(name), rule)
	}
	for i, c := range name {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '-' && c != '_') {
			return fmt.Errorf("vantage name %s has %s at byte %d; %s", strconv.QuoteToASCII(name), strconv.QuoteToASCII(string(c)), i+1, rule)
		}
	}
	return nil
}
