package dnsd

import (
	"cmp"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

// Answer statistics, as MirrorBrain keeps download statistics: answers
// per steered name, mirror and the asker's GeoIP country, and per name,
// mirror and the policy's reason (dnsd_answers_total). The label sets
// are bounded: mirrors from the inventory, countries from the fixed table
// plus "unknown".
//
// Counting costs two atomic adds per answer (country and reason) and no
// lookup: a Zone's counters are resolved when it is swapped in, indexed
// by the name's and the mirror's compiled index, and the country's slot
// comes from a fixed table indexed by the code's two letters. Each reader (a Scratch) adds
// into its own stripe, so readers on different cores do not contend for
// one cache line; a scrape or a summary adds the stripes up. A mirror's
// counters are kept by name and survive reloads; a reload that removes
// a mirror drops its counters (dnsd_clients_total keeps what it had).

// numSlots is the country slots: 0 is unknown, then the table's codes.
var numSlots = 1 + len(country.All())

var (
	// slotOfLetters maps a code's two letters to its slot (0: not in
	// the table).
	slotOfLetters [26 * 26]uint16
	// slotCode is the code of each slot, answerstats.Unknown for 0.
	slotCode []string
)

func init() {
	slotCode = append(slotCode, answerstats.Unknown)
	for i, info := range country.All() {
		c := info.Code
		slotOfLetters[int(c[0]-'A')*26+int(c[1]-'A')] = uint16(i + 1)
		slotCode = append(slotCode, string(c))
	}
}

// slotOf returns the country slot of c, 0 when it is not in the table.
func slotOf(c country.Code) int {
	if len(c) != 2 {
		return 0
	}
	a, b := c[0]-'A', c[1]-'A'
	if a >= 26 || b >= 26 {
		return 0
	}
	return int(slotOfLetters[int(a)*26+int(b)])
}

// nextStripe hands each Scratch its stripe.
var nextStripe atomic.Uint32

// answerCounts are one name's answers with one mirror (or the fallback):
// per stripe, per country slot and per reason, a stripe's counters
// together and on cache lines of their own, so that an answer's two
// adds are near each other and no other reader's.
type answerCounts struct {
	c []atomic.Uint64
}

// numReasons is the reasons counted (policy.Reason & 7).
const numReasons = 8

// stripeLen is a stripe's counters: the country slots, then the reasons,
// rounded up to whole cache lines.
var stripeLen = (numSlots + numReasons + 7) &^ 7

func newAnswerCounts(stripes int) *answerCounts {
	return &answerCounts{c: make([]atomic.Uint64, stripes*stripeLen)}
}

// statsKey names answerCounts; mirror "" is the fallback.
type statsKey struct{ name, mirror string }

// answerStats holds every answerCounts of a Metrics. Its map is guarded
// by Metrics.mu; the counts are atomics.
type answerStats struct {
	started time.Time
	mask    uint32 // stripes - 1, a power of two
	counts  map[statsKey]*answerCounts
	// retired are the per-country counts of dropped mirrors, so that
	// dnsd_clients_total never goes down, and their per-reason counts,
	// which dnsd_answers_total keeps exporting.
	retired        []uint64
	retiredReasons map[statsKey]*[numReasons]uint64
	desc           *prometheus.Desc
}

func newAnswerStats(now time.Time) answerStats {
	stripes := 1
	for stripes < min(runtime.GOMAXPROCS(0), 4) {
		stripes *= 2
	}
	return answerStats{
		started: now, mask: uint32(stripes - 1),
		counts:  map[statsKey]*answerCounts{},
		retired: make([]uint64, numSlots), retiredReasons: map[statsKey]*[numReasons]uint64{},
		desc: prometheus.NewDesc("dnsd_answers_by_country_total",
			"Answers for steered names, by name, mirror (or fallback) and the asker's GeoIP country (unknown when not located): each mirror's share of a country's answers.",
			[]string{"name", "mirror", "country"}, nil),
	}
}

// forZone returns z's counters, [name index][mirror index + 1] (0 is the
// fallback), and drops those of mirrors z no longer has. Called with
// Metrics.mu held.
func (st *answerStats) forZone(z *Zone) [][]*answerCounts {
	keep := map[statsKey]bool{}
	out := make([][]*answerCounts, len(z.names))
	for i, g := range z.names {
		out[i] = make([]*answerCounts, len(g.mirrors)+1)
		for j := range out[i] {
			k := statsKey{name: g.label}
			if j > 0 {
				k.mirror = g.mirrors[j-1].Name
			}
			c := st.counts[k]
			if c == nil {
				c = newAnswerCounts(int(st.mask + 1))
				st.counts[k] = c
			}
			keep[k] = true
			out[i][j] = c
		}
	}
	for k, c := range st.counts {
		if !keep[k] {
			for slot, n := range c.sum() {
				st.retired[slot] += n
			}
			r := st.retiredReasons[k]
			if r == nil {
				r = new([numReasons]uint64)
				st.retiredReasons[k] = r
			}
			for i, n := range c.reasons() {
				r[i] += n
			}
			delete(st.counts, k)
		}
	}
	return out
}

// count adds one answer for country cc with reason r in stripe.
func (c *answerCounts) count(stripe uint32, cc country.Code, r policy.Reason) {
	s := c.c[int(stripe)*stripeLen:][:stripeLen]
	s[slotOf(cc)].Add(1)
	s[numSlots+int(r&(numReasons-1))].Add(1)
}

// sum adds the stripes up, per country slot.
func (c *answerCounts) sum() []uint64 {
	out := make([]uint64, numSlots)
	for s := 0; s < len(c.c); s += stripeLen {
		for i := range out {
			out[i] += c.c[s+i].Load()
		}
	}
	return out
}

// reasons adds the stripes up, per reason.
func (c *answerCounts) reasons() [numReasons]uint64 {
	var out [numReasons]uint64
	for s := 0; s < len(c.c); s += stripeLen {
		for i := range out {
			out[i] += c.c[s+numSlots+i].Load()
		}
	}
	return out
}

// collectReasons sends dnsd_answers_total, of the mirrors counted and of
// those dropped. Called with Metrics.mu held.
func (st *answerStats) collectReasons(ch chan<- prometheus.Metric, desc *prometheus.Desc) {
	send := func(k statsKey, rs [numReasons]uint64) {
		mirror := k.mirror
		if mirror == "" {
			mirror = "fallback"
		}
		for r, n := range rs {
			if n == 0 {
				continue
			}
			reason := policy.Reason(r).String()
			if policy.Reason(r) == reasonPreference {
				reason = "preference"
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), k.name, mirror, reason)
		}
	}
	for k, c := range st.counts {
		rs := c.reasons()
		if old := st.retiredReasons[k]; old != nil {
			for i := range rs {
				rs[i] += old[i]
			}
		}
		send(k, rs)
	}
	for k, rs := range st.retiredReasons {
		if st.counts[k] == nil {
			send(k, *rs)
		}
	}
}

// collect sends dnsd_answers_by_country_total and the per-country
// totals of dnsd_clients_total. Called with Metrics.mu held.
func (st *answerStats) collect(ch chan<- prometheus.Metric, clients *prometheus.Desc) {
	byCountry := slices.Clone(st.retired)
	for k, c := range st.counts {
		mirror := k.mirror
		if mirror == "" {
			mirror = "fallback"
		}
		for slot, n := range c.sum() {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(st.desc, prometheus.CounterValue, float64(n), k.name, mirror, slotCode[slot])
				byCountry[slot] += n
			}
		}
	}
	for slot, n := range byCountry {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(clients, prometheus.CounterValue, float64(n), slotCode[slot])
		}
	}
}

// AnswerSummary returns the answer statistics since m was made, as
// dnsd --stats-file writes them.
func (m *Metrics) AnswerSummary(now time.Time) *answerstats.Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &m.stats
	s := &answerstats.Summary{Schema: answerstats.Schema, Started: st.started.UTC(), Written: now.UTC(), Names: []answerstats.Name{}}
	byName := map[string]*answerstats.Name{}
	for k, c := range st.counts {
		n := byName[k.name]
		if n == nil {
			n = &answerstats.Name{Name: k.name, Mirrors: []answerstats.Mirror{}}
			byName[k.name] = n
		}
		counts := answerstats.Counts{}
		for slot, v := range c.sum() {
			if v > 0 {
				counts[slotCode[slot]] = v
			}
		}
		total := counts.Total()
		n.Answers += total
		switch {
		case k.mirror == "":
			if total > 0 {
				n.Fallback = counts
			}
		case total > 0:
			n.Mirrors = append(n.Mirrors, answerstats.Mirror{Mirror: k.mirror, Answers: total, Countries: counts})
		}
	}
	for _, n := range byName {
		slices.SortFunc(n.Mirrors, func(a, b answerstats.Mirror) int { return cmp.Compare(a.Mirror, b.Mirror) })
		s.Names = append(s.Names, *n)
	}
	slices.SortFunc(s.Names, func(a, b answerstats.Name) int { return cmp.Compare(a.Name, b.Name) })
	return s
}
