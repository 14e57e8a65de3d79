package site

import (
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// vantageView is one vantage of a merged snapshot, for the index and the
// mirror pages.
type vantageView struct {
	Name     string
	Taken    string
	TakenISO string
	// Counted is false for a vantage that did not count at all (stale,
	// clock ahead) or not over some family (cut off).
	Counted bool
	Status  string // "counted", "stale: not counted", ...
	Note    string
}

// vantageRow is what every vantage saw of one endpoint of a mirror, and
// the verdict.
type vantageRow struct {
	Protocol    inventory.Protocol
	Family      string
	Cells       []vantageCell
	Verdict     Status
	VerdictText string
}

type vantageCell struct {
	Status  Status
	Text    string // "up", "down", "not checked"
	Detail  string // what its failure means, its lag
	Counted bool
	Note    string // why it did not count, or counted although discounted
}

// vantages describes the vantages of a merged snapshot; nil otherwise.
func (v *view) vantages() []vantageView {
	if v.snap == nil || v.snap.Merged == nil {
		return nil
	}
	var out []vantageView
	for _, mv := range v.snap.Merged.Vantages {
		vv := vantageView{Name: mv.Name, Note: mv.Note, Counted: mv.Status == state.VantageCounted && len(mv.CutOff) == 0}
		vv.Taken, vv.TakenISO = fmtTime(mv.Taken)
		if b := v.before(mv.Taken); b != "this run" {
			vv.Taken += " (" + b + ")"
		}
		switch mv.Status {
		case state.VantageStale:
			vv.Status = "stale: not counted"
		case state.VantageFuture:
			vv.Status = "clock ahead: not counted"
		default:
			vv.Status = "counted"
			if len(mv.CutOff) > 0 {
				var fams []string
				for _, f := range mv.CutOff {
					fams = append(fams, f.Title())
				}
				vv.Status = "cut off over " + strings.Join(fams, " and ")
			}
		}
		out = append(out, vv)
	}
	return out
}

// vantageRows says, for each endpoint of m in a merged snapshot, what
// each vantage saw and whether it counted; nil when the snapshot is no
// merge.
func (v *view) vantageRows(m *inventory.Mirror, eps []*state.Endpoint) []vantageRow {
	if v.snap == nil || v.snap.Merged == nil {
		return nil
	}
	var rows []vantageRow
	for _, e := range eps {
		verdict := endpointStatus(v.inv, m, e)
		row := vantageRow{Protocol: e.Protocol, Family: e.Family.Title(), Verdict: verdict, VerdictText: statusText[verdict]}
		for _, sg := range v.snap.Sightings(m.Name, e.Protocol, e.Family) {
			c := vantageCell{Status: StatusUnknown, Text: "not checked", Counted: sg.Counted}
			if se := sg.Endpoint; se != nil {
				c.Note = sg.Note
				c.Status = endpointStatus(v.inv, m, se)
				c.Text = statusText[c.Status]
				var detail []string
				if se.Class != "" {
					detail = append(detail, se.Class.Description())
				}
				if se.Lag.Known {
					detail = append(detail, "lag "+fmtDuration(se.Lag.Duration))
				}
				c.Detail = strings.Join(detail, "; ")
			}
			row.Cells = append(row.Cells, c)
		}
		rows = append(rows, row)
	}
	return rows
}
