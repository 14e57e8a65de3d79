package site

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Status is the health of a mirror or an endpoint as the site shows it.
// The names are CSS classes (st-up, ...).
type Status string

const (
	// StatusUp: every checked endpoint is healthy (offered).
	StatusUp Status = "up"
	// StatusPartial: offered, but some of its endpoints are not.
	StatusPartial Status = "partial"
	// StatusStale: reachable, but behind the origin or its metadata does
	// not match; not offered.
	StatusStale Status = "stale"
	// StatusDown: not offered: failing, or not yet recovered.
	StatusDown Status = "down"
	// StatusUnknown: not checked (no snapshot, or the snapshot does not
	// mention it).
	StatusUnknown Status = "unknown"
)

var statusText = map[Status]string{
	StatusUp:      "up",
	StatusPartial: "partly up",
	StatusStale:   "stale",
	StatusDown:    "down",
	StatusUnknown: "not verified",
}

// statusOrder is the order of the legend and of sorting by state: worst
// news last.
var statusOrder = []Status{StatusUp, StatusPartial, StatusStale, StatusDown, StatusUnknown}

func statusRank(s Status) int { return slices.Index(statusOrder, s) }

// endpointStatus classifies one endpoint: healthy is what lists use; an
// unhealthy one is stale when it answered but is behind or out of date,
// else down.
func endpointStatus(inv *inventory.Inventory, m *inventory.Mirror, e *state.Endpoint) Status {
	if e.Healthy {
		return StatusUp
	}
	if e.Class == state.ClassStale || (e.Lag.Known && e.Lag.Duration > inv.LagLimit(m)) {
		return StatusStale
	}
	if e.Up {
		for _, r := range e.Repos {
			if !r.Fresh {
				return StatusStale
			}
		}
	}
	return StatusDown
}

// view is everything the pages are made of, computed once.
type view struct {
	inv       *inventory.Inventory
	snap      *state.Snapshot
	lists     []Lists
	meta4     bool
	mirrors   []*mirrorView // in table order: country, then name
	byName    map[string]*mirrorView
	perCC     map[country.Code]int
	verified  bool
	taken     string
	takenISO  string
	stamp     string
	stampISO  string
	totals    map[Status]int
	protocols []protoRow
	answers   *answersView // nil without gen --stats (answers.go)
}

type mirrorView struct {
	*inventory.Mirror
	// The mirror's fields the pages show, again: a template finds a
	// field of the view's own at once, one of the embedded Mirror only by
	// a search that allocates, for each of them in each row and page.
	Name, Sponsor, SponsorURL string
	Country                   country.Code
	Public                    bool
	Weight                    int
	DNS                       []string

	Order       int
	Href        string // from the root
	CountryName string
	Status      Status
	StatusRank  int
	StatusText  string
	Protocols   []protoBadge
	IPv6        badge
	Lag         sortable
	LastGood    sortable
	LastGoodAt  string
	Repos       string
	ReposTitle  string
	Endpoints   []endpointView
	Vantages    []vantageRow // what each vantage saw, when the snapshot is a merge
	Dot         dot
	carries     string // variantsTitle of what it carries
}

type protoBadge struct {
	Name   inventory.Protocol
	Status Status
	Title  string
}

type badge struct {
	Text   string
	Status Status
}

// sortable is a table cell's text and the key the sorting script uses.
type sortable struct {
	Text, Sort, Title string
}

// The map shows the canvas from 84°N to 58°S: where people live, without
// most of Antarctica. A mirror further south sits on the lower edge.
const (
	mapTop    = (90 - 84) * 2
	mapBottom = (90 + 58) * 2
)

type dot struct {
	X, Y string
}

type endpointView struct {
	Protocol   inventory.Protocol
	Family     string
	Status     Status
	StatusText string
	Run        string
	Runs       string
	Checked    string
	LastGood   string
	Stamp      string
	Lag        string
	Latency    string
	CertExpiry string
	Addr       string
	Error      string
	Class      state.Class
	ClassText  string // what the class means (state's table)
	Repos      []repoView
	FreshCount string
}

type repoView struct {
	Name, Error string
}

type protoRow struct {
	Protocol inventory.Protocol
	Cells    [2]counts // ipv4, ipv6
}

type counts struct {
	Up, Stale, Down, Total int
}

func build(d Data) *view {
	v := &view{
		inv: d.Inventory, snap: d.Snapshot, lists: d.Lists, meta4: d.Meta4,
		byName: map[string]*mirrorView{}, perCC: map[country.Code]int{},
		verified: d.Snapshot != nil, totals: map[Status]int{},
	}
	if v.snap != nil {
		v.taken, v.takenISO = fmtTime(v.snap.Taken)
		if !v.snap.Origin.Stamp.IsZero() {
			v.stamp, v.stampISO = fmtTime(v.snap.Origin.Stamp)
		}
	}
	cells := make([][2]counts, len(inventory.Protocols))
	// What each mirror carries, named once for every mirror that carries
	// the same: most carry everything.
	variants := v.inv.Variants()
	titles := map[string]string{}
	for _, m := range v.inv.Mirrors {
		mv := v.mirror(m)
		var carries []inventory.Variant
		var key []byte
		for i, vr := range variants {
			if m.Carries(vr) {
				carries = append(carries, vr)
				key = strconv.AppendInt(key, int64(i), 36)
				key = append(key, ',')
			}
		}
		t, ok := titles[string(key)]
		if !ok {
			t = variantsTitle(v.inv, carries)
			titles[string(key)] = t
		}
		mv.carries = t
		v.mirrors = append(v.mirrors, mv)
		v.byName[m.Name] = mv
		if m.Country != "" {
			v.perCC[m.Country]++
		}
		v.totals[mv.Status]++
		for _, e := range v.endpoints(m) {
			pi := slices.Index(inventory.Protocols, e.Protocol)
			fi := slices.Index(state.Families, e.Family)
			if pi < 0 || fi < 0 {
				continue
			}
			c := &cells[pi][fi]
			c.Total++
			switch endpointStatus(v.inv, m, e) {
			case StatusUp:
				c.Up++
			case StatusStale:
				c.Stale++
			default:
				c.Down++
			}
		}
	}
	slices.SortStableFunc(v.mirrors, func(a, b *mirrorView) int {
		return cmp.Or(cmp.Compare(a.Country, b.Country), cmp.Compare(a.Name, b.Name))
	})
	for i, mv := range v.mirrors {
		mv.Order = i
	}
	v.answers = buildAnswers(d, v.inv)
	for pi, p := range inventory.Protocols {
		declared := false
		for _, m := range v.inv.Mirrors {
			if m.URL(p) != "" {
				declared = true
			}
		}
		if declared {
			v.protocols = append(v.protocols, protoRow{Protocol: p, Cells: cells[pi]})
		}
	}
	return v
}

// endpoints returns the snapshot's endpoints of m; nil when unverified or
// not mentioned.
func (v *view) endpoints(m *inventory.Mirror) []*state.Endpoint {
	if v.snap == nil {
		return nil
	}
	sm := v.snap.Mirrors[m.Name]
	if sm == nil {
		return nil
	}
	out := make([]*state.Endpoint, len(sm.Endpoints))
	for i := range sm.Endpoints {
		out[i] = &sm.Endpoints[i]
	}
	return out
}

func (v *view) mirror(m *inventory.Mirror) *mirrorView {
	mv := &mirrorView{Mirror: m, Href: MirrorPath(m.Name),
		Name: m.Name, Sponsor: m.Sponsor, SponsorURL: m.SponsorURL, Country: m.Country, Public: m.Public, Weight: m.Weight, DNS: m.DNS}
	if info, ok := country.Lookup(m.Country); ok {
		mv.CountryName = info.Name
	}
	x := (m.Coord.Lon + 180) * 2
	y := min(max((90-m.Coord.Lat)*2, mapTop+4), mapBottom-4)
	mv.Dot = dot{X: strconv.FormatFloat(x, 'f', 1, 64), Y: strconv.FormatFloat(y, 'f', 1, 64)}
	eps := v.endpoints(m)

	// Status of the mirror from its endpoints.
	var up, stale, n int
	for _, e := range eps {
		n++
		switch endpointStatus(v.inv, m, e) {
		case StatusUp:
			up++
		case StatusStale:
			stale++
		}
	}
	switch {
	case n == 0:
		mv.Status = StatusUnknown
	case up == n:
		mv.Status = StatusUp
	case up > 0:
		mv.Status = StatusPartial
	case stale > 0:
		mv.Status = StatusStale
	default:
		mv.Status = StatusDown
	}
	mv.StatusText = statusText[mv.Status]
	mv.StatusRank = statusRank(mv.Status)

	// Protocols: the declared ones, each with the state of its endpoints.
	for _, p := range inventory.Protocols {
		if m.URL(p) == "" {
			continue
		}
		b := protoBadge{Name: p, Status: StatusUnknown, Title: string(p) + ": not verified"}
		var parts []string
		best := StatusUnknown
		for _, e := range eps {
			if e.Protocol != p {
				continue
			}
			s := endpointStatus(v.inv, m, e)
			parts = append(parts, string(e.Family)+" "+statusText[s])
			if best == StatusUnknown || statusRank(s) < statusRank(best) {
				best = s
			}
		}
		if len(parts) > 0 {
			b.Status, b.Title = best, string(p)+": "+strings.Join(parts, ", ")
		}
		mv.Protocols = append(mv.Protocols, b)
	}

	// IPv6: healthy over some protocol, checked but not healthy, or not
	// checked at all.
	mv.IPv6 = badge{Text: "not verified", Status: StatusUnknown}
	if v.snap != nil {
		mv.IPv6 = badge{Text: "no", Status: StatusUnknown}
		for _, e := range eps {
			if e.Family != state.IPv6 {
				continue
			}
			s := endpointStatus(v.inv, m, e)
			if s == StatusUp {
				mv.IPv6 = badge{Text: "yes", Status: StatusUp}
				break
			}
			mv.IPv6 = badge{Text: statusText[s], Status: s}
		}
	}

	// Lag: the smallest known (the same content is served over every
	// endpoint); last good: the latest.
	var lag time.Duration = -1
	var lastGood time.Time
	for _, e := range eps {
		if e.Lag.Known && (lag < 0 || e.Lag.Duration < lag) {
			lag = e.Lag.Duration
		}
		if e.LastGood.After(lastGood) {
			lastGood = e.LastGood
		}
	}
	if lag >= 0 {
		mv.Lag = sortable{Text: fmtDuration(lag), Sort: strconv.FormatInt(int64(lag/time.Second), 10)}
	} else {
		mv.Lag = sortable{Text: "unknown"}
	}
	if !lastGood.IsZero() {
		text, iso := fmtTime(lastGood)
		mv.LastGood = sortable{Text: v.before(lastGood), Sort: strconv.FormatInt(lastGood.Unix(), 10), Title: text + " (" + iso + ")"}
		mv.LastGoodAt = v.at(lastGood)
	} else if v.snap != nil && n > 0 {
		mv.LastGood, mv.LastGoodAt = sortable{Text: "never"}, "never"
	} else {
		mv.LastGood, mv.LastGoodAt = sortable{Text: "unknown"}, "unknown"
	}

	// Repositories carried: what the mirror declares, and how many of the
	// variants were found fresh.
	var names []string
	total, fresh := 0, 0
	for _, r := range v.inv.Repos {
		carries := false
		for _, vr := range r.Variants() {
			if !m.Carries(vr) {
				continue
			}
			carries = true
			total++
			for _, e := range eps {
				if e.Healthy && e.Fresh(vr.Repo.Name, vr.Release, vr.Arch) {
					fresh++
					break
				}
			}
		}
		if carries {
			names = append(names, r.Name)
		}
	}
	mv.Repos = strings.Join(names, ", ")
	if len(m.Archs) > 0 {
		mv.Repos += " (" + strings.Join(m.Archs, ", ") + ")"
	}
	if v.snap != nil {
		mv.ReposTitle = strconv.Itoa(fresh) + " of " + strconv.Itoa(total) + " repository variants fresh and offered"
	} else {
		mv.ReposTitle = strconv.Itoa(total) + " repository variants declared"
	}

	if m.Public {
		for _, e := range eps {
			mv.Endpoints = append(mv.Endpoints, v.endpoint(m, e))
		}
		mv.Vantages = v.vantageRows(m, eps)
	}
	return mv
}

func (v *view) endpoint(m *inventory.Mirror, e *state.Endpoint) endpointView {
	s := endpointStatus(v.inv, m, e)
	ev := endpointView{
		Protocol: e.Protocol, Family: e.Family.Title(), Status: s,
		Error: e.Error, Class: e.Class, ClassText: e.Class.Description(),
	}
	switch {
	case s == StatusUp && e.Up:
		ev.StatusText = "up: offered"
	case s == StatusUp:
		ev.StatusText = "failed this run, still offered until it fails again"
	case s == StatusStale:
		ev.StatusText = "stale: not offered"
	case e.Up:
		ev.StatusText = "answered, not offered yet (recovering)"
	default:
		ev.StatusText = "down: not offered"
	}
	if e.Up {
		ev.Run = "answered"
	} else {
		ev.Run = "failed"
	}
	switch {
	case e.Successes == 1:
		ev.Runs = "1 good run"
	case e.Successes > 1:
		ev.Runs = strconv.Itoa(e.Successes) + " good runs in a row"
	case e.Failures == 1:
		ev.Runs = "1 failed run"
	case e.Failures > 1:
		ev.Runs = strconv.Itoa(e.Failures) + " failed runs in a row"
	}
	ev.Checked = v.at(e.Checked)
	if e.LastGood.IsZero() {
		ev.LastGood = "never"
	} else {
		ev.LastGood = v.at(e.LastGood)
	}
	if !e.Stamp.IsZero() {
		ev.Stamp, _ = fmtTime(e.Stamp)
	}
	if e.Lag.Known {
		ev.Lag = fmtDuration(e.Lag.Duration)
	} else {
		ev.Lag = "unknown"
	}
	if e.LatencyMS > 0 {
		ev.Latency = strconv.FormatFloat(e.LatencyMS, 'f', -1, 64) + " ms"
	}
	if !e.CertExpiry.IsZero() {
		ev.CertExpiry, _ = fmtTime(e.CertExpiry)
	}
	if e.Addr.IsValid() {
		ev.Addr = e.Addr.String()
	}
	fresh := 0
	for _, r := range e.Repos {
		if r.Fresh {
			fresh++
			continue
		}
		name := r.Repo
		if r.Release != "" {
			name += " " + r.Release
		}
		if r.Arch != "" {
			name += " " + r.Arch
		}
		ev.Repos = append(ev.Repos, repoView{Name: name, Error: r.Error})
	}
	ev.FreshCount = strconv.Itoa(fresh) + " of " + strconv.Itoa(len(e.Repos)) + " checked fresh"
	return ev
}

// at formats t and says how long before the snapshot it was.
func (v *view) at(t time.Time) string {
	s, _ := fmtTime(t)
	if b := v.before(t); b != "" && b != s {
		s += " (" + b + ")"
	}
	return s
}

// before says how long before the snapshot t was, in words; the site
// never looks at the wall clock.
func (v *view) before(t time.Time) string {
	if v.snap == nil {
		s, _ := fmtTime(t)
		return s
	}
	d := v.snap.Taken.Sub(t)
	switch {
	case d < time.Minute && d > -time.Minute:
		return "this run"
	case d < 0:
		return fmtDuration(-d) + " after the snapshot"
	default:
		return fmtDuration(d) + " before the snapshot"
	}
}

// fmtTime returns t for people (UTC, to the minute) and for machines
// (RFC 3339).
func fmtTime(t time.Time) (human, iso string) {
	t = t.UTC()
	return t.Format("2006-01-02 15:04 UTC"), t.Format(time.RFC3339)
}

// fmtDuration writes d with its two largest units: "in sync", "45s",
// "12m", "3h 20m", "2d 4h".
func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return "none"
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	h := (d % (24 * time.Hour)) / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	unit := func(n time.Duration, u string) string { return strconv.FormatInt(int64(n), 10) + u }
	switch {
	case days > 0:
		if h == 0 {
			return unit(days, "d")
		}
		return unit(days, "d") + " " + unit(h, "h")
	case h > 0:
		if m == 0 {
			return unit(h, "h")
		}
		return unit(h, "h") + " " + unit(m, "m")
	case m > 0:
		if s == 0 {
			return unit(m, "m")
		}
		return unit(m, "m") + " " + unit(s, "s")
	default:
		return unit(s, "s")
	}
}
