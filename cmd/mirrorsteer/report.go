package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// The report's thresholds: a first pick more than farOffKm beyond the
// nearest healthy mirror is far off, and the targets it is judged by.
const (
	farOffKm        = 1000
	targetFarOff    = 0.005 // share of located clients
	targetInCountry = 0.99
	spreadCountries = 5    // the biggest countries whose weight spread is shown
	spreadTrials    = 2000 // simulated samplings for the floor
)

// reportClient is one client of the sample and what the policy made of it.
type reportClient struct {
	line   int
	addr   netip.Addr
	c      policy.Client
	list   []policy.Choice // what the policy gives
	full   []policy.Choice // every mirror it could give, in its order
	extra  float64         // km beyond the nearest healthy mirror; -1 when not located
	near   policy.Choice   // the nearest healthy mirror it may get
	leaked bool
}

// runReport reads the client sample at path, asks the policy about each
// client as lookup --ip and dnsd would, and prints how good the answers
// are: the figures of issue 11 and their targets.
func runReport(w io.Writer, path string, inv *inventory.Inventory, snap *state.Snapshot, want policy.Want, db *geo.DB) error {
	addrs, lines, err := readSample(path)
	if err != nil {
		return err
	}
	set := policy.NewSet(inv, snap, want)
	// The same network with no bound on list length: every mirror each
	// client could get, in the policy's order (bounds only cut it).
	unbounded := *inv
	unbounded.Policy.Min, unbounded.Policy.Max = len(inv.Mirrors)+1, len(inv.Mirrors)+1
	all := policy.NewSet(&unbounded, snap, want)

	cs := make([]reportClient, len(addrs))
	for i, a := range addrs {
		rc := &cs[i]
		rc.line, rc.addr = lines[i], a
		rc.c = policy.ClientOf(a, a.BitLen(), db.Lookup(a))
		rc.list = set.Select(rc.c)
		rc.full = all.Select(rc.c)
		rc.extra = -1
		for _, ch := range rc.full {
			if ch.DistanceKm >= 0 && (rc.near.Mirror == nil || ch.DistanceKm < rc.near.DistanceKm) {
				rc.near = ch
			}
		}
		// Extra km is measured from where the client is: a client the
		// databases know only by its country is somewhere in it, so its
		// distances from the country's point say nothing of the answer.
		if rc.c.HasCoord && len(rc.list) > 0 && rc.list[0].DistanceKm >= 0 && rc.near.Mirror != nil {
			rc.extra = rc.list[0].DistanceKm - rc.near.DistanceKm
		}
		for _, ch := range rc.list {
			if !ch.Mirror.Public && !networkMatch(rc.c, ch.Mirror) {
				rc.leaked = true
			}
		}
	}
	printReport(w, path, inv, snap, cs)
	return nil
}

// readSample reads one address a line; blank lines and what follows # are
// ignored.
func readSample(path string) ([]netip.Addr, []int, error) {
	data, err := fileio.ReadFile(path, 1<<30)
	if err != nil {
		return nil, nil, err
	}
	var addrs []netip.Addr
	var lines []int
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := sc.Text()
		if i := strings.IndexByte(f, '#'); i >= 0 {
			f = f[:i]
		}
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, nil, fmt.Errorf("%s:%d: %q is not an IP address; write one address a line (# starts a comment)", path, n, f)
		}
		addrs = append(addrs, a.Unmap())
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(addrs) == 0 {
		return nil, nil, fmt.Errorf("%s: no client addresses; write one a line", path)
	}
	return addrs, lines, nil
}

// networkMatch reports whether the client is in one of m's networks: the
// only way a private mirror may be offered.
func networkMatch(c policy.Client, m *inventory.Mirror) bool {
	for _, p := range m.Subnets {
		if p.Contains(c.Addr) {
			return true
		}
	}
	return c.ASN != 0 && slices.Contains(m.ASNs, c.ASN)
}

func printReport(w io.Writer, path string, inv *inventory.Inventory, snap *state.Snapshot, cs []reportClient) {
	p := inv.Policy
	var v6, located, empty int
	reasons := map[policy.Reason]int{}
	for _, rc := range cs {
		if rc.c.Family == inventory.IPv6 {
			v6++
		}
		if rc.extra >= 0 {
			located++
		}
		if len(rc.list) == 0 {
			empty++
			continue
		}
		reasons[rc.list[0].Reason]++
	}
	fmt.Fprintf(w, "quality report: %d clients from %s (%d IPv4, %d IPv6), %d mirrors in %s\n", len(cs), path, len(cs)-v6, v6, len(inv.Mirrors), inv.File)
	fmt.Fprintf(w, "policy: min %d, max %d, band_km %g, asn_max_km %g, %d neighbour lists\n", p.Min, p.Max, p.BandKm, p.ASNMaxKm, len(p.Neighbours))
	if snap == nil {
		fmt.Fprintln(w, "health: NOT VERIFIED (no -s state.json): every declared mirror counts as healthy")
	} else {
		fmt.Fprintf(w, "health: snapshot taken %s\n", snap.Taken.UTC().Format("2006-01-02 15:04:05Z"))
	}
	var rs []string
	for r := policy.Subnet; r <= policy.Weight; r++ {
		if n := reasons[r]; n > 0 {
			rs = append(rs, fmt.Sprintf("%s %d", r, n))
		}
	}
	fmt.Fprintf(w, "first picks by reason: %s; %d clients got no mirror (the origin)\n\n", strings.Join(rs, ", "), empty)

	var results []target
	// In-country first pick, where the country has a healthy public mirror
	// and no subnet or ASN match came first.
	var inHave, inGot int
	for _, rc := range cs {
		if rc.c.Country == "" || len(rc.list) == 0 || rc.list[0].Reason == policy.Subnet || rc.list[0].Reason == policy.ASN {
			continue
		}
		if !slices.ContainsFunc(rc.full, func(ch policy.Choice) bool { return ch.Mirror.Public && ch.Mirror.Country == rc.c.Country }) {
			continue
		}
		inHave++
		if rc.list[0].Mirror.Country == rc.c.Country {
			inGot++
		}
	}
	unknownCC := 0
	for _, rc := range cs {
		if rc.c.Country == "" {
			unknownCC++
		}
	}
	fmt.Fprintf(w, "in-country first pick: %s (%d of %d clients whose country has a healthy public mirror, subnet and ASN matches aside); %d clients of unknown country\n",
		ratio(inGot, inHave), inGot, inHave, unknownCC)
	results = append(results, target{"in-country first pick", fmt.Sprintf(">= %.2f", targetInCountry), ratio(inGot, inHave), share(inGot, inHave) >= targetInCountry})

	var subHave, subGot, asnHave, asnGot, asnFar int
	for _, rc := range cs {
		if len(rc.list) == 0 {
			continue
		}
		if slices.ContainsFunc(rc.full, func(ch policy.Choice) bool { return ch.Reason == policy.Subnet }) {
			subHave++
			if rc.list[0].Reason == policy.Subnet {
				subGot++
			}
			continue
		}
		if slices.ContainsFunc(rc.full, func(ch policy.Choice) bool { return ch.Reason == policy.ASN }) {
			asnHave++
			if rc.list[0].Reason == policy.ASN {
				asnGot++
			}
		} else if rc.c.ASN != 0 && slices.ContainsFunc(rc.full, func(ch policy.Choice) bool { return slices.Contains(ch.Mirror.ASNs, rc.c.ASN) }) {
			asnFar++
		}
	}
	fmt.Fprintf(w, "subnet first pick: %s (%d of %d clients in a healthy mirror's subnet)\n", ratio(subGot, subHave), subGot, subHave)
	fmt.Fprintf(w, "ASN first pick: %s (%d of %d clients with an ASN match the policy counts); %d more clients share an ASN only with mirrors too far to count\n", ratio(asnGot, asnHave), asnGot, asnHave, asnFar)

	var extras []float64
	farBy := map[policy.Reason]int{}
	var far []reportClient
	for _, rc := range cs {
		if rc.extra < 0 {
			continue
		}
		extras = append(extras, rc.extra)
		if rc.extra > farOffKm {
			farBy[rc.list[0].Reason]++
			far = append(far, rc)
		}
	}
	slices.Sort(extras)
	var fb []string
	for r := policy.Subnet; r <= policy.Weight; r++ {
		if n := farBy[r]; n > 0 {
			fb = append(fb, fmt.Sprintf("%s %d", r, n))
		}
	}
	farShare := share(len(far), len(extras))
	fmt.Fprintf(w, "far-off first picks (more than %d km beyond the nearest healthy mirror): %.2f%% (%d of %d clients located by coordinates; %d known only by country or less are not measured)", farOffKm, 100*farShare, len(far), len(extras), len(cs)-len(extras))
	if len(fb) > 0 {
		fmt.Fprintf(w, "; first pick's reason: %s", strings.Join(fb, ", "))
	}
	fmt.Fprintln(w)
	mean := 0.0
	for _, x := range extras {
		mean += x
	}
	if len(extras) > 0 {
		mean /= float64(len(extras))
	}
	p90 := percentile(extras, 0.90)
	fmt.Fprintf(w, "extra km beyond the nearest healthy mirror: mean %.0f, p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n",
		mean, percentile(extras, 0.50), p90, percentile(extras, 0.99), percentile(extras, 1))
	results = append(results,
		target{"far-off first picks", fmt.Sprintf("<= %.1f%%", 100*targetFarOff), fmt.Sprintf("%.2f%%", 100*farShare), farShare <= targetFarOff},
		target{"extra km p90", fmt.Sprintf("<= band_km (%g)", p.BandKm), fmt.Sprintf("%.0f", p90), p90 <= p.BandKm})

	var lens []float64
	short := 0
	for _, rc := range cs {
		lens = append(lens, float64(len(rc.list)))
		if len(rc.list) < p.Min {
			short++
		}
	}
	slices.Sort(lens)
	lmean := 0.0
	for _, x := range lens {
		lmean += x
	}
	lmean /= float64(len(lens))
	fmt.Fprintf(w, "list length: min %.0f, mean %.1f, max %.0f; %d lists shorter than min %d (fewer healthy mirrors than min)\n", lens[0], lmean, lens[len(lens)-1], short, p.Min)

	leaks := 0
	for _, rc := range cs {
		if rc.leaked {
			leaks++
		}
	}
	fmt.Fprintf(w, "private leaks (a private mirror offered outside its ASNs and subnets): %d\n", leaks)
	results = append(results, target{"private leaks", "0", fmt.Sprint(leaks), leaks == 0})

	atFloor := printSpread(w, p, cs)
	results = append(results, target{"weight spread", "at the sampling floor", atFloor.String(), atFloor.ok})

	if len(far) > 0 {
		slices.SortFunc(far, func(a, b reportClient) int { return cmp.Compare(b.extra, a.extra) })
		fmt.Fprintf(w, "\nfarthest first picks:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "line\tclient\tcc\tasn\tfirst pick\treason\tkm\tnearest healthy\tkm")
		for _, rc := range far[:min(len(far), 10)] {
			f := rc.list[0]
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s (%s)\t%s\t%.0f\t%s (%s)\t%.0f\n", rc.line, rc.addr, orDash(string(rc.c.Country)), asnText(rc.c.ASN),
				f.Mirror.Name, f.Mirror.Country, f.Reason, f.DistanceKm, rc.near.Mirror.Name, rc.near.Mirror.Country, rc.near.DistanceKm)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\ntargets (issue 11):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range results {
		verdict := "met"
		if !t.ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.name, t.want, t.got, verdict)
	}
	tw.Flush()
}

type target struct {
	name, want, got string
	ok              bool
}

type floorVerdict struct {
	ok           bool
	shown, under int
}

func (v floorVerdict) String() string {
	return fmt.Sprintf("%d of %d countries within the floor's p99", v.under, v.shown)
}

// printSpread compares, in the countries with the most clients whose
// first pick came from their own country, how often each mirror was
// first with how often it would be if every client drew its first mirror
// at random in proportion to weight from the mirrors the policy holds
// equally near for it (its first band). The measure is the total
// variation distance between the two (the share of first picks that
// would have to move); its floor is the same distance for ideal random
// sampling with the same clients, simulated. A country is at the floor
// when its distance is within the simulated 99th percentile: ideal
// sampling itself lands above that one time in a hundred.
func printSpread(w io.Writer, p inventory.Policy, cs []reportClient) floorVerdict {
	type group struct {
		cc      country.Code
		clients []*reportClient
	}
	byCC := map[country.Code]*group{}
	for i := range cs {
		rc := &cs[i]
		if len(rc.list) == 0 || rc.list[0].Reason != policy.Country {
			continue
		}
		g := byCC[rc.c.Country]
		if g == nil {
			g = &group{cc: rc.c.Country}
			byCC[rc.c.Country] = g
		}
		g.clients = append(g.clients, rc)
	}
	var gs []*group
	for _, g := range byCC {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(len(b.clients), len(a.clients)), cmp.Compare(a.cc, b.cc))
	})
	gs = gs[:min(len(gs), spreadCountries)]
	fmt.Fprintf(w, "\nweight spread of first picks (clients whose first pick is in their country; off-weight = share of first picks that would have to move to match weights):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "country\tclients\tmirrors\toff-weight\tfloor mean\tfloor p99\t\t")
	v := floorVerdict{shown: len(gs)}
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range gs {
		// Each client's first band: its country's mirrors within band_km
		// of the nearest of them, drawn from by weight.
		index := map[string]int{}
		var bands [][]int
		var probs [][]float64
		for _, rc := range g.clients {
			var band []int
			var ws []float64
			nearest := math.Inf(1)
			for _, ch := range rc.full {
				if ch.Reason == policy.Country {
					nearest = min(nearest, ch.DistanceKm)
				}
			}
			total := 0.0
			for _, ch := range rc.full {
				if ch.Reason != policy.Country || ch.DistanceKm > nearest+p.BandKm {
					continue
				}
				k, ok := index[ch.Mirror.Name]
				if !ok {
					k = len(index)
					index[ch.Mirror.Name] = k
				}
				band = append(band, k)
				ws = append(ws, float64(ch.Mirror.Weight))
				total += float64(ch.Mirror.Weight)
			}
			for i := range ws {
				ws[i] /= total
			}
			bands, probs = append(bands, band), append(probs, ws)
		}
		expect := make([]float64, len(index))
		for i, band := range bands {
			for j, k := range band {
				expect[k] += probs[i][j]
			}
		}
		got := make([]float64, len(index))
		for _, rc := range g.clients {
			k, ok := index[rc.list[0].Mirror.Name]
			if !ok {
				// The first pick is outside the band: count it against the
				// spread rather than drop it.
				k = len(got)
				got = append(got, 0)
				expect = append(expect, 0)
			}
			got[k]++
		}
		off := tvd(got, expect)
		sims := make([]float64, spreadTrials)
		sim := make([]float64, len(expect))
		for t := range sims {
			clear(sim)
			for i, band := range bands {
				u := r.Float64()
				k := band[len(band)-1]
				for j, pj := range probs[i] {
					if u < pj {
						k = band[j]
						break
					}
					u -= pj
				}
				sim[k]++
			}
			sims[t] = tvd(sim, expect)
		}
		slices.Sort(sims)
		fmean := 0.0
		for _, x := range sims {
			fmean += x
		}
		fmean /= float64(len(sims))
		p99 := percentile(sims, 0.99)
		mark := "at floor"
		if off <= p99 {
			v.under++
		} else {
			mark = "ABOVE floor"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%s\t\n", g.cc, len(g.clients), len(index), off, fmean, p99, mark)
	}
	tw.Flush()
	v.ok = v.under == v.shown
	return v
}

// tvd is the total variation distance between two count vectors of the
// same total: half the sum of the differences, over the total.
func tvd(got, expect []float64) float64 {
	sum, n := 0.0, 0.0
	for i := range got {
		sum += math.Abs(got[i] - expect[i])
		n += got[i]
	}
	if n == 0 {
		return 0
	}
	return sum / 2 / n
}

// percentile returns the q quantile of sorted xs (nearest rank), 0 when
// empty.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func share(n, of int) float64 {
	if of == 0 {
		return 1
	}
	return float64(n) / float64(of)
}

func ratio(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", share(n, of))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func asnText(n uint32) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("AS%d", n)
}
