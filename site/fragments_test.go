package site

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// The templates fragments.go replaces, as they stood in index.html and
// country.html, each in the element it stands in there.
const (
	templateDots = `<svg class="map">{{range .Mirrors}}{{if .Placed}}<a href="{{.Href}}"><circle class="dot st-{{.Status}}" cx="{{.Dot.X}}" cy="{{.Dot.Y}}" r="4"><title>{{.Name}} ({{.Country}}): {{.StatusText}}</title></circle></a>
{{end}}{{end}}</svg>`
	templateRows = `<table><tbody>
{{range .Mirrors}}<tr data-order="{{.Order}}">
<td data-sort="{{.Country}}">{{if .Country}}<abbr title="{{.CountryName}}">{{.Country}}</abbr>{{else}}<abbr title="no country: not placed">none</abbr>{{end}}</td>
<td><a href="{{.Href}}">{{.Name}}</a>{{if not .Public}} <span class="tag">private</span>{{end}}</td>
<td class="state" data-sort="{{.StatusRank}}"><span class="st st-{{.Status}}">{{.StatusText}}</span></td>
<td>{{if .SponsorURL}}<a href="{{.SponsorURL}}" rel="nofollow noopener">{{.Sponsor}}</a>{{else}}{{.Sponsor}}{{end}}</td>
<td>{{if .Public}}{{range .Protocols}}<span class="proto st-{{.Status}}" title="{{.Title}}">{{.Name}}</span> {{end}}{{else}}not published{{end}}</td>
<td><span class="st-{{.IPv6.Status}}">{{.IPv6.Text}}</span></td>
<td data-sort="{{.Lag.Sort}}">{{.Lag.Text}}</td>
<td data-sort="{{.LastGood.Sort}}"{{if .LastGood.Title}} title="{{.LastGood.Title}}"{{end}}>{{.LastGood.Text}}</td>
<td title="{{.ReposTitle}}">{{.Repos}}</td>
</tr>
{{end}}</tbody></table>`
	templateHere = `<p>Mirrors in X: {{range $i, $m := .Mirrors}}{{if $i}}, {{end}}<a href="../{{$m.Href}}">{{$m.Name}}</a>{{if ne $m.Status "up"}} ({{$m.StatusText}}){{end}}{{end}}.</p>`
	templateHead = `<main>{{with .M}}<h1>{{.Name}}</h1>
<p class="lead"><span class="st st-{{.Status}}">{{.StatusText}}</span>
{{if .Sponsor}}Sponsored by {{if .SponsorURL}}<a href="{{.SponsorURL}}" rel="nofollow noopener">{{.Sponsor}}</a>{{else}}{{.Sponsor}}{{end}}.{{end}}</p>
<dl class="facts">
<dt>Country</dt><dd>{{if .Country}}<a href="../{{$.CountryHref}}">{{.CountryName}} ({{.Country}})</a>{{else}}none: unplaced, so in no country's list and offered after every placed mirror{{end}}</dd>
<dt>Location</dt><dd>{{$.Where}}</dd>
<dt>Weight</dt><dd>{{.Weight}} (its share of the load among mirrors as near)</dd>
<dt>Offered to</dt><dd>{{if .Public}}everyone (public){{else}}only its own networks (private){{end}}</dd>
<dt>Carries</dt><dd>{{$.Carries}}</dd>
<dt>Allowed lag</dt><dd>{{$.LagLimit}}</dd>
<dt>Lag now</dt><dd>{{.Lag.Text}}</dd>
<dt>Last good check</dt><dd>{{.LastGoodAt}}</dd>
{{if .DNS}}<dt>DNS names</dt><dd>{{join .DNS ", "}}</dd>{{end}}
</dl>
{{end}}
<h2>Addresses</h2>
{{if .M.Public}}<ul class="urls">
{{range .URLs}}<li><span class="proto">{{.Protocol}}</span> {{if .Link}}<a href="{{.URL}}" rel="nofollow">{{.URL}}</a>{{else}}<code>{{.URL}}</code>{{end}}</li>
{{end}}</ul>
{{else}}<p>This mirror is private: its addresses, the networks it serves and its endpoints' details are not published.</p>
{{end}}
<h2>Networks it serves first</h2>
{{if or .ASNs .Subnets}}<p>Clients from these networks get this mirror before any other{{if not .M.Public}} (and only they get it){{end}}.</p>
<ul>
{{range .ASNs}}<li>{{.}}</li>
{{end}}{{range .Subnets}}<li><code>{{.}}</code></li>
{{end}}</ul>
{{else}}<p>None: it is offered by location only.</p>
{{end}}
</main>`
	templateEndpoints = `<table><tbody>
{{range .M.Endpoints}}<tr>
<th scope="row">{{.Protocol}} {{.Family}}</th>
<td><span class="st st-{{.Status}}">{{.StatusText}}</span></td>
<td>{{.Lag}}</td>
<td>{{.LastGood}}</td>
<td>{{.Runs}}</td>
<td>{{if .Error}}<p class="error">{{if .ClassText}}{{.ClassText}}: {{end}}{{.Error}}</p>{{end}}
<p class="small">Checked {{.Checked}}{{if .Addr}} at {{.Addr}}{{end}}{{if .Latency}}, {{.Latency}}{{end}}{{if .Stamp}}; synced {{.Stamp}}{{end}}{{if .CertExpiry}}; certificate expires {{.CertExpiry}}{{end}}. {{.FreshCount}}.</p>
{{if .Repos}}<ul class="small">
{{range .Repos}}<li>{{.Name}}: not fresh{{if .Error}}: {{.Error}}{{end}}</li>
{{end}}</ul>
{{end}}</td>
</tr>
{{end}}</tbody></table>`
	templateItems = `<ol>
{{range .Entries}}<li><a href="{{.Href}}">{{.Name}}</a> <span class="small">{{.Country}} · {{.Reason}} · {{.Distance}}</span>{{if .URL}}<br><code class="small">{{.URL}}</code>{{end}}</li>
{{end}}</ol>`
)

// hostile are strings that html/template escapes, filters or normalizes
// in some context: markup, quotes, NUL, invalid UTF-8, percent signs
// valid and not, URLs of every scheme, spaces and non-ASCII.
var hostile = []string{
	"", "m1.example.net", `<script>alert(1)</script>`, `a"b'c&d+e<f>g`, "nul\x00byte", "bad\xffutf8\xc3",
	"café ünïcode – ✓", "javascript:alert(1)", "JavaScript:x", " javascript:x", "mailto:a@b", "MAILTO:a@b",
	"https://a.example/p?q=1&r=2#f", "HTTP://A/%41%zz%4", "ftp://x/", "data:text/html,<b>", "/abs:colon",
	"a:b/c", "rel/path with space.html", "../mirror/x.html", "#frag", "%", "%4", "%4g", "?q", "x\ty\nz",
	"!#$&*+,/:;=?@[]-._~", "()'\"`{}|\\^", "\u2028\u2029", "\uFFFD\u202e",
}

func hostileMirrors() []*mirrorView {
	var ms []*mirrorView
	for i, s := range hostile {
		t := hostile[(i+7)%len(hostile)]
		u := hostile[(i+13)%len(hostile)]
		m := &mirrorView{
			Mirror: &inventory.Mirror{Name: s, Country: country.Code(t)},
			Name:   s, Sponsor: t, SponsorURL: u, Country: country.Code(t), Public: i%3 != 0,
			Order: i, Href: u, CountryName: s, Status: Status(t), StatusRank: i % 5, StatusText: u,
			Protocols: []protoBadge{{Name: inventory.Protocol(s), Status: Status(u), Title: t}, {Name: "https", Status: StatusUp, Title: s}},
			IPv6:      badge{Text: t, Status: Status(s)}, Lag: sortable{Text: s, Sort: t, Title: u}, LastGood: sortable{Text: u, Sort: s, Title: t},
			Repos: s, ReposTitle: u, Dot: dot{X: t, Y: u},
		}
		if i%4 == 0 {
			m.Country, m.Mirror.Country = "", "" // unplaced, and no country on the index
		}
		if i%5 == 0 {
			m.SponsorURL = ""
		}
		if i%6 == 0 {
			m.Status = StatusUp
		}
		ms = append(ms, m)
	}
	return ms
}

func hostileEntries() []entryView {
	var es []entryView
	for i, s := range hostile {
		es = append(es, entryView{Rank: i + 1, Name: s, Href: hostile[(i+3)%len(hostile)], Country: country.Code(hostile[(i+5)%len(hostile)]),
			Reason: hostile[(i+9)%len(hostile)], Distance: hostile[(i+11)%len(hostile)], URL: hostile[(i+2)%len(hostile)]})
	}
	return es
}

// hostilePages are mirror pages made of hostile values in every field,
// public and private, with and without sponsor, DNS names, networks,
// errors and stale repositories.
func hostilePages() []*mirrorPage {
	var ps []*mirrorPage
	for i, m := range hostileMirrors() {
		h := func(k int) string { return hostile[(i+k)%len(hostile)] }
		m.LastGoodAt = h(1)
		if i%2 == 0 {
			m.DNS = []string{h(2), h(3)}
		}
		for k := range i % 3 {
			e := endpointView{Protocol: inventory.Protocol(h(k)), Family: h(k + 1), Status: Status(h(k + 2)), StatusText: h(k + 3),
				Lag: h(k + 4), LastGood: h(k + 5), Runs: h(k + 6), Checked: h(k + 7), FreshCount: h(k + 8)}
			if (i+k)%2 == 0 {
				e.Error, e.ClassText, e.Addr, e.Latency, e.Stamp, e.CertExpiry = h(k+9), h(k+10), h(k+11), h(k+12), h(k+13), h(k+14)
				e.Repos = []repoView{{Name: h(k + 15), Error: h(k + 16)}, {Name: h(k + 17)}}
			}
			m.Endpoints = append(m.Endpoints, e)
		}
		p := &mirrorPage{M: m, Where: h(4), LagLimit: h(5), Carries: h(6), CountryHref: h(7)}
		for k := range i % 4 {
			p.URLs = append(p.URLs, urlView{Protocol: inventory.Protocol(h(k)), URL: h(k + 8), Link: k%2 == 0})
		}
		if i%3 != 1 {
			p.ASNs = []string{h(9), "AS64500"}
		}
		if i%4 != 1 {
			p.Subnets = []string{h(10)}
		}
		ps = append(ps, p)
	}
	return ps
}

// TestFragmentsEscapeAsTemplates: the rows fragments.go writes are byte
// for byte what the templates they replace render, for hostile values in
// every field.
func TestFragmentsEscapeAsTemplates(t *testing.T) {
	ms, es := hostileMirrors(), hostileEntries()
	rows, dots := indexRows(ms)
	data := struct {
		Mirrors []*mirrorView
		Entries []entryView
	}{ms, es}
	tests := []struct {
		name, template string
		fragment       template.HTML
		wrap           string // the template with the fragment in place of the loop
	}{
		{"index: the map's dots", templateDots, dots, `<svg class="map">{{.}}</svg>`},
		{"index: the table's rows", templateRows, rows, "<table><tbody>\n{{.}}</tbody></table>"},
		{"country: links to its mirrors", templateHere, hereLinks(ms), `<p>Mirrors in X: {{.}}.</p>`},
		{"country: a list's entries", templateItems, entryItems(es), "<ol>\n{{.}}</ol>"},
	}
	for i, p := range hostilePages() {
		tests = append(tests, struct {
			name, template string
			fragment       template.HTML
			wrap           string
		}{fmt.Sprintf("mirror %d: the top of its page", i), templateHead, mirrorHead(p), "<main>{{.}}</main>"})
		if len(p.M.Endpoints) > 0 {
			tests = append(tests, struct {
				name, template string
				fragment       template.HTML
				wrap           string
			}{fmt.Sprintf("mirror %d: its endpoints", i), templateEndpoints, endpointRows(p.M.Endpoints), "<table><tbody>\n{{.}}</tbody></table>"})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			var in any = data
			if strings.HasPrefix(tt.name, "mirror") {
				n, _ := strconv.Atoi(strings.Fields(tt.name)[1][:len(strings.Fields(tt.name)[1])-1])
				in = hostilePages()[n]
			}
			if err := template.Must(template.New("old").Funcs(funcs).Parse(tt.template)).Execute(&want, in); err != nil {
				t.Fatal(err)
			}
			if err := template.Must(template.New("new").Parse(tt.wrap)).Execute(&got, tt.fragment); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := got.String(), want.String()
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Fatalf("differs at byte %d:\n got ...%q\nwant ...%q", i, g[max(0, i-80):min(len(g), i+80)], w[max(0, i-80):min(len(w), i+80)])
			}
			if want.Len() < 40 {
				t.Fatalf("the template rendered only %d bytes: the test data does not reach it", want.Len())
			}
		})
	}
}
