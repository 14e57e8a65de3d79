package site

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/mirrorsteer/mirrorsteer/internal/answerstats"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
)

// The answers page and the mirror pages' answers section: dnsd's answer
// statistics (gen --stats), each mirror's share of answers beside its
// share of weight, overall and per country. Load follows weight among
// mirrors equally near a client, so a mirror far below its weight share
// in a country is one the policy ranks behind nearer ones there (or one
// that was unhealthy), and one far above is the only near one.

type answersView struct {
	Note                string // why there are none, when there are none
	Started, StartedISO string
	Written, WrittenISO string
	Names               []answersName
	byMirror            map[string]*mirrorAnswers
}

type answersName struct {
	Label     string // download.example.org
	Answers   uint64
	Fallback  uint64
	Mirrors   []shareRow // overall
	Countries []countryAnswers
}

// shareRow is one mirror's answers among a group's (a name's, or a
// country's for a name): its share of them and its share of the group's
// weight.
type shareRow struct {
	Mirror      string
	Href        string // "" for a mirror no longer in mirrors.toml
	Country     string
	Answers     uint64
	Share       string
	Weight      string
	WeightShare string
}

type countryAnswers struct {
	Code, Name, Href string
	Answers          uint64
	Mirrors          []shareRow
}

// mirrorAnswers is the answers section of a mirror's page.
type mirrorAnswers struct {
	Note                string
	Started, StartedISO string
	Rows                []mirrorAnswerRow
}

type mirrorAnswerRow struct {
	Name, Country, CountryHref string
	Answers                    uint64
	Share, WeightShare         string
}

type answersPage struct {
	page
	*answersView
}

func (v *view) answersPage() *answersPage {
	return &answersPage{page: v.page("Answers", "", "answers"), answersView: v.answers}
}

// forMirror returns the section of the named mirror's page; nil without
// statistics.
func (a *answersView) forMirror(name string) *mirrorAnswers {
	if a == nil {
		return nil
	}
	if m := a.byMirror[name]; m != nil {
		return m
	}
	return &mirrorAnswers{Note: a.Note, Started: a.Started, StartedISO: a.StartedISO}
}

// buildAnswers makes the views of d.Answers; nil when gen was given none.
func buildAnswers(d Data, inv *inventory.Inventory) *answersView {
	if d.Answers == nil {
		if d.AnswersNote == "" {
			return nil
		}
		return &answersView{Note: d.AnswersNote, byMirror: map[string]*mirrorAnswers{}}
	}
	s := d.Answers
	a := &answersView{byMirror: map[string]*mirrorAnswers{}}
	a.Started, a.StartedISO = fmtTime(s.Started)
	a.Written, a.WrittenISO = fmtTime(s.Written)
	weight := func(name string) (int, bool) {
		if m := inv.Mirror(name); m != nil {
			return m.Weight, true
		}
		return 0, false
	}
	for _, n := range s.Names {
		an := answersName{Label: n.Name, Answers: n.Answers, Fallback: n.Fallback.Total()}
		if inv.DNS != nil {
			an.Label = n.Name + "." + inv.DNS.Zone
		}
		// Overall: the weight of every mirror that serves the name.
		served := 0
		for _, m := range inv.Mirrors {
			if slices.Contains(m.DNS, n.Name) {
				served += m.Weight
			}
		}
		byCountry := map[string][]answerstats.Mirror{}
		for _, m := range n.Mirrors {
			an.Mirrors = append(an.Mirrors, row(inv, m.Mirror, m.Answers, n.Answers, served, weight))
			for cc, k := range m.Countries {
				byCountry[cc] = append(byCountry[cc], answerstats.Mirror{Mirror: m.Mirror, Answers: k})
			}
		}
		sortRows(an.Mirrors)
		for cc, ms := range byCountry {
			ca := countryAnswers{Code: cc, Name: "not located by GeoIP"}
			if info, ok := country.Lookup(country.Code(cc)); ok {
				ca.Name, ca.Href = info.Name, layout.CountryPage(info.Code)
			}
			ca.Answers = n.Fallback[cc]
			sum := 0
			for _, m := range ms {
				ca.Answers += m.Answers
				if w, ok := weight(m.Mirror); ok {
					sum += w
				}
			}
			for _, m := range ms {
				r := row(inv, m.Mirror, m.Answers, ca.Answers, sum, weight)
				ca.Mirrors = append(ca.Mirrors, r)
				ma := a.byMirror[m.Mirror]
				if ma == nil {
					ma = &mirrorAnswers{Started: a.Started, StartedISO: a.StartedISO}
					a.byMirror[m.Mirror] = ma
				}
				ma.Rows = append(ma.Rows, mirrorAnswerRow{Name: an.Label, Country: ca.Name, CountryHref: ca.Href, Answers: m.Answers, Share: r.Share, WeightShare: r.WeightShare})
			}
			sortRows(ca.Mirrors)
			an.Countries = append(an.Countries, ca)
		}
		slices.SortFunc(an.Countries, func(x, y countryAnswers) int {
			return cmp.Or(cmp.Compare(y.Answers, x.Answers), cmp.Compare(x.Code, y.Code))
		})
		a.Names = append(a.Names, an)
	}
	for _, ma := range a.byMirror {
		slices.SortStableFunc(ma.Rows, func(x, y mirrorAnswerRow) int {
			return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(y.Answers, x.Answers), cmp.Compare(x.Country, y.Country))
		})
	}
	return a
}

// row is mirror name's n answers of a group's total, and its weight's
// share of the group's weight sum.
func row(inv *inventory.Inventory, name string, n, total uint64, sum int, weight func(string) (int, bool)) shareRow {
	r := shareRow{Mirror: name, Answers: n, Share: percent(float64(n), float64(total)), Weight: "–", WeightShare: "–"}
	if m := inv.Mirror(name); m != nil {
		r.Href, r.Country = layout.MirrorPage(name), string(m.Country)
	}
	if w, ok := weight(name); ok {
		r.Weight = strconv.Itoa(w)
		r.WeightShare = percent(float64(w), float64(sum))
	}
	return r
}

func sortRows(rs []shareRow) {
	slices.SortFunc(rs, func(x, y shareRow) int {
		return cmp.Or(cmp.Compare(y.Answers, x.Answers), cmp.Compare(x.Mirror, y.Mirror))
	})
}

func percent(x, total float64) string {
	if total <= 0 {
		return "–"
	}
	return strconv.FormatFloat(100*x/total, 'f', 1, 64) + "%"
}
