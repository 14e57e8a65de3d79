package probe

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Report summarises a run for its operator.
type Report struct {
	// Endpoints is how many endpoints the inventory has; NotChecked how
	// many the deadline left unchecked (they keep their previous state).
	Endpoints, NotChecked int
	// Duration is the run's wall time.
	Duration time.Duration
	// Concurrency is how many endpoints were checked at once.
	Concurrency int
	// Rows counts endpoints per protocol and family.
	Rows []Row
	// Classes counts failed endpoints per error class.
	Classes map[state.Class]int
	// Expiring lists certificates that expire within CertWarning (or
	// already have), one line each.
	Expiring []string
	// Warnings are problems of the origin that do not stop the run.
	Warnings []string
}

// Row is one line of the summary table.
type Row struct {
	Protocol state.Protocol
	Family   state.Family
	// Up answered and is within max_lag; Stale answered but is behind
	// (or claims to be ahead of the origin); Down did not answer. Healthy is the verdict after hysteresis: what
	// the lists use.
	Up, Stale, Down, Healthy int
}

func (rep *Report) row(p state.Protocol, f state.Family) *Row {
	for i := range rep.Rows {
		if rep.Rows[i].Protocol == p && rep.Rows[i].Family == f {
			return &rep.Rows[i]
		}
	}
	rep.Rows = append(rep.Rows, Row{Protocol: p, Family: f})
	slices.SortFunc(rep.Rows, func(a, b Row) int {
		if d := slices.Index(state.Protocols, a.Protocol) - slices.Index(state.Protocols, b.Protocol); d != 0 {
			return d
		}
		return slices.Index(state.Families, a.Family) - slices.Index(state.Families, b.Family)
	})
	return rep.row(p, f)
}

func (rep *Report) add(j *job, e *state.Endpoint, out outcome, cfg Config) {
	row := rep.row(e.Protocol, e.Family)
	switch {
	case !e.Up:
		row.Down++
	case e.Class == state.ClassStale, e.Class == state.ClassAhead:
		row.Stale++
	default:
		row.Up++
	}
	if e.Healthy {
		row.Healthy++
	}
	if e.Class != "" {
		if rep.Classes == nil {
			rep.Classes = map[state.Class]int{}
		}
		rep.Classes[e.Class]++
	}
	if !out.certExpiry.IsZero() {
		left := out.certExpiry.Sub(out.checked)
		if left < cfg.CertWarning {
			msg := fmt.Sprintf("%s (%s, %s): certificate expires %s, in %s", j.mirror.Name, e.Protocol, e.Family, out.certExpiry.UTC().Format(time.RFC3339), days(left))
			if left <= 0 {
				msg = fmt.Sprintf("%s (%s, %s): certificate expired %s", j.mirror.Name, e.Protocol, e.Family, out.certExpiry.UTC().Format(time.RFC3339))
			}
			rep.Expiring = append(rep.Expiring, msg)
		}
	}
}

func days(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

// WriteSummary writes the table of up, stale, down and healthy endpoints
// per protocol and family, the failures by class, expiring certificates
// and warnings.
func (rep *Report) WriteSummary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "protocol\tfamily\tup\tstale\tdown\thealthy\t")
	var tot Row
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", r.Protocol, r.Family, r.Up, r.Stale, r.Down, r.Healthy)
		tot.Up, tot.Stale, tot.Down, tot.Healthy = tot.Up+r.Up, tot.Stale+r.Stale, tot.Down+r.Down, tot.Healthy+r.Healthy
	}
	fmt.Fprintf(tw, "all\t\t%d\t%d\t%d\t%d\t\n", tot.Up, tot.Stale, tot.Down, tot.Healthy)
	tw.Flush()
	if len(rep.Classes) > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(rep.Classes)) {
			parts = append(parts, fmt.Sprintf("%s %d", c, rep.Classes[c]))
		}
		fmt.Fprintf(w, "not good, by class: %s\n", strings.Join(parts, ", "))
	}
	if rep.NotChecked > 0 {
		fmt.Fprintf(w, "%d endpoint(s) not checked before the deadline kept their previous state\n", rep.NotChecked)
	}
	for _, s := range rep.Expiring {
		fmt.Fprintln(w, "certificate:", s)
	}
	for _, s := range rep.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}
