package site

import (
	"html/template"
	"strconv"
	"strings"
)

// The rows of the largest pages (a mirror's row and dot on the index, a
// list's entries on a country's page) are written here rather than by
// html/template, which evaluates each field and calls each escaper by
// reflection: on 2,000 mirrors those loops were half of what the site
// cost. They escape every value exactly as html/template does in the
// same place (TestFragmentsEscapeAsTemplates renders each with the
// template it replaces, from hostile values, and compares the bytes):
// escText in text, in <title> and in a quoted attribute, escURL in an
// href after a fixed prefix ("../"), escHref in an href that the value
// begins. Nothing else reaches a page unescaped.

// escText appends s as html/template escapes a string in HTML text, in
// RCDATA (<title>) and in a quoted attribute value: NUL, the quotes, &,
// +, < and > are replaced, nothing else. Those are all ASCII, so a byte
// loop finds them where html/template's rune loop does.
func escText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, r...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

// escURL appends s as html/template escapes a string in a quoted URL
// attribute after a fixed prefix without "?" or "#": percent-encodes
// what is neither unreserved nor reserved in RFC 3986 (keeping valid
// escapes), then escapes the result as escText does.
func escURL(b []byte, s string) []byte {
	var norm []byte
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		case strings.IndexByte("!#$&*+,/:;=?@[]-._~", c) >= 0:
			continue
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			continue
		}
		norm = append(norm, s[last:i]...)
		norm = append(norm, '%', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		last = i + 1
	}
	if norm == nil {
		return escText(b, s)
	}
	norm = append(norm, s[last:]...)
	return escText(b, string(norm))
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// escHref appends s as html/template escapes a string that begins a
// quoted href: a URL with a scheme other than http, https or mailto is
// replaced by "#ZgotmplZ", then as escURL.
func escHref(b []byte, s string) []byte {
	if scheme, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(scheme, "/") &&
		!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
		s = "#ZgotmplZ"
	}
	return escURL(b, s)
}

// indexRows returns the rows of the index's table of mirrors and its
// map's dots, as index.html showed them.
func indexRows(ms []*mirrorView) (rows, dots template.HTML) {
	// A row takes about 700 bytes, a dot 200.
	b, d := make([]byte, 0, 768*len(ms)), make([]byte, 0, 224*len(ms))
	for _, m := range ms {
		if m.Placed() {
			d = append(d, `<a href="`...)
			d = escHref(d, m.Href)
			d = append(d, `"><circle class="dot st-`...)
			d = escText(d, string(m.Status))
			d = append(d, `" cx="`...)
			d = escText(d, m.Dot.X)
			d = append(d, `" cy="`...)
			d = escText(d, m.Dot.Y)
			d = append(d, `" r="4"><title>`...)
			d = escText(d, m.Name)
			d = append(d, " ("...)
			d = escText(d, string(m.Country))
			d = append(d, "): "...)
			d = escText(d, m.StatusText)
			d = append(d, "</title></circle></a>\n"...)
		}

		b = append(b, `<tr data-order="`...)
		b = strconv.AppendInt(b, int64(m.Order), 10)
		b = append(b, "\">\n<td data-sort=\""...)
		b = escText(b, string(m.Country))
		b = append(b, `">`...)
		if m.Country != "" {
			b = append(b, `<abbr title="`...)
			b = escText(b, m.CountryName)
			b = append(b, `">`...)
			b = escText(b, string(m.Country))
			b = append(b, `</abbr>`...)
		} else {
			b = append(b, `<abbr title="no country: not placed">none</abbr>`...)
		}
		b = append(b, "</td>\n<td><a href=\""...)
		b = escHref(b, m.Href)
		b = append(b, `">`...)
		b = escText(b, m.Name)
		b = append(b, `</a>`...)
		if !m.Public {
			b = append(b, ` <span class="tag">private</span>`...)
		}
		b = append(b, "</td>\n<td class=\"state\" data-sort=\""...)
		b = strconv.AppendInt(b, int64(m.StatusRank), 10)
		b = append(b, `"><span class="st st-`...)
		b = escText(b, string(m.Status))
		b = append(b, `">`...)
		b = escText(b, m.StatusText)
		b = append(b, "</span></td>\n<td>"...)
		b = appendSponsor(b, m.Sponsor, m.SponsorURL)
		b = append(b, "</td>\n<td>"...)
		if m.Public {
			for _, p := range m.Protocols {
				b = append(b, `<span class="proto st-`...)
				b = escText(b, string(p.Status))
				b = append(b, `" title="`...)
				b = escText(b, p.Title)
				b = append(b, `">`...)
				b = escText(b, string(p.Name))
				b = append(b, `</span> `...)
			}
		} else {
			b = append(b, "not published"...)
		}
		b = append(b, "</td>\n<td><span class=\"st-"...)
		b = escText(b, string(m.IPv6.Status))
		b = append(b, `">`...)
		b = escText(b, m.IPv6.Text)
		b = append(b, "</span></td>\n<td data-sort=\""...)
		b = escText(b, m.Lag.Sort)
		b = append(b, `">`...)
		b = escText(b, m.Lag.Text)
		b = append(b, "</td>\n<td data-sort=\""...)
		b = escText(b, m.LastGood.Sort)
		b = append(b, '"')
		if m.LastGood.Title != "" {
			b = append(b, ` title="`...)
			b = escText(b, m.LastGood.Title)
			b = append(b, '"')
		}
		b = append(b, '>')
		b = escText(b, m.LastGood.Text)
		b = append(b, "</td>\n<td title=\""...)
		b = escText(b, m.ReposTitle)
		b = append(b, `">`...)
		b = escText(b, m.Repos)
		b = append(b, "</td>\n</tr>\n"...)
	}
	return template.HTML(b), template.HTML(d)
}

// hereLinks returns a country's page's links to its mirrors, as
// country.html showed them.
func hereLinks(ms []*mirrorView) template.HTML {
	var b []byte
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `<a href="../`...)
		b = escURL(b, m.Href)
		b = append(b, `">`...)
		b = escText(b, m.Name)
		b = append(b, `</a>`...)
		if m.Status != StatusUp {
			b = append(b, " ("...)
			b = escText(b, m.StatusText)
			b = append(b, ')')
		}
	}
	return template.HTML(b)
}

// entryItems returns a list's entries on a country's page, as
// country.html showed them.
func entryItems(es []entryView) template.HTML {
	b := make([]byte, 0, 256*len(es))
	for _, e := range es {
		b = append(b, `<li><a href="`...)
		b = escHref(b, e.Href)
		b = append(b, `">`...)
		b = escText(b, e.Name)
		b = append(b, `</a> <span class="small">`...)
		b = escText(b, string(e.Country))
		b = append(b, " · "...)
		b = escText(b, e.Reason)
		b = append(b, " · "...)
		b = escText(b, e.Distance)
		b = append(b, `</span>`...)
		if e.URL != "" {
			b = append(b, `<br><code class="small">`...)
			b = escText(b, e.URL)
			b = append(b, `</code>`...)
		}
		b = append(b, "</li>\n"...)
	}
	return template.HTML(b)
}

// mirrorHead returns the top of a mirror's page, down to the networks it
// serves first, as mirror.html showed it.
func mirrorHead(p *mirrorPage) template.HTML {
	m := p.M
	b := append(make([]byte, 0, 2048), "<h1>"...)
	b = escText(b, m.Name)
	b = append(b, "</h1>\n<p class=\"lead\"><span class=\"st st-"...)
	b = escText(b, string(m.Status))
	b = append(b, `">`...)
	b = escText(b, m.StatusText)
	b = append(b, "</span>\n"...)
	if m.Sponsor != "" {
		b = append(b, "Sponsored by "...)
		b = appendSponsor(b, m.Sponsor, m.SponsorURL)
		b = append(b, '.')
	}
	b = append(b, "</p>\n<dl class=\"facts\">\n<dt>Country</dt><dd>"...)
	if m.Country != "" {
		b = append(b, `<a href="../`...)
		b = escURL(b, p.CountryHref)
		b = append(b, `">`...)
		b = escText(b, m.CountryName)
		b = append(b, " ("...)
		b = escText(b, string(m.Country))
		b = append(b, ")</a>"...)
	} else {
		b = append(b, "none: unplaced, so in no country's list and offered after every placed mirror"...)
	}
	b = append(b, "</dd>\n"...)
	b = appendFact(b, "Location", p.Where)
	b = append(b, "<dt>Weight</dt><dd>"...)
	b = strconv.AppendInt(b, int64(m.Weight), 10)
	b = append(b, " (its share of the load among mirrors as near)</dd>\n"...)
	offered := "only its own networks (private)"
	if m.Public {
		offered = "everyone (public)"
	}
	b = appendFact(b, "Offered to", offered)
	b = appendFact(b, "Carries", p.Carries)
	b = appendFact(b, "Allowed lag", p.LagLimit)
	b = appendFact(b, "Lag now", m.Lag.Text)
	b = appendFact(b, "Last good check", m.LastGoodAt)
	if len(m.DNS) > 0 {
		b = appendFact(b, "DNS names", strings.Join(m.DNS, ", "))
		b = b[:len(b)-1] // the list's end follows on a line of its own
	}
	b = append(b, "\n</dl>\n\n<h2>Addresses</h2>\n"...)
	if m.Public {
		b = append(b, "<ul class=\"urls\">\n"...)
		for _, u := range p.URLs {
			b = append(b, `<li><span class="proto">`...)
			b = escText(b, string(u.Protocol))
			b = append(b, "</span> "...)
			if u.Link {
				b = append(b, `<a href="`...)
				b = escHref(b, u.URL)
				b = append(b, `" rel="nofollow">`...)
				b = escText(b, u.URL)
				b = append(b, "</a>"...)
			} else {
				b = append(b, "<code>"...)
				b = escText(b, u.URL)
				b = append(b, "</code>"...)
			}
			b = append(b, "</li>\n"...)
		}
		b = append(b, "</ul>\n"...)
	} else {
		b = append(b, "<p>This mirror is private: its addresses, the networks it serves and its endpoints' details are not published.</p>\n"...)
	}
	b = append(b, "\n<h2>Networks it serves first</h2>\n"...)
	if len(p.ASNs) > 0 || len(p.Subnets) > 0 {
		b = append(b, "<p>Clients from these networks get this mirror before any other"...)
		if !m.Public {
			b = append(b, " (and only they get it)"...)
		}
		b = append(b, ".</p>\n<ul>\n"...)
		for _, a := range p.ASNs {
			b = append(b, "<li>"...)
			b = escText(b, a)
			b = append(b, "</li>\n"...)
		}
		for _, s := range p.Subnets {
			b = append(b, "<li><code>"...)
			b = escText(b, s)
			b = append(b, "</code></li>\n"...)
		}
		b = append(b, "</ul>\n"...)
	} else {
		b = append(b, "<p>None: it is offered by location only.</p>\n"...)
	}
	return template.HTML(append(b, '\n'))
}

// endpointRows returns the rows of a mirror's table of endpoints, as
// mirror.html showed them.
func endpointRows(es []endpointView) template.HTML {
	b := make([]byte, 0, 1024*len(es))
	for _, e := range es {
		b = append(b, "<tr>\n<th scope=\"row\">"...)
		b = escText(b, string(e.Protocol))
		b = append(b, ' ')
		b = escText(b, e.Family)
		b = append(b, "</th>\n<td><span class=\"st st-"...)
		b = escText(b, string(e.Status))
		b = append(b, `">`...)
		b = escText(b, e.StatusText)
		b = append(b, "</span></td>\n<td>"...)
		b = escText(b, e.Lag)
		b = append(b, "</td>\n<td>"...)
		b = escText(b, e.LastGood)
		b = append(b, "</td>\n<td>"...)
		b = escText(b, e.Runs)
		b = append(b, "</td>\n<td>"...)
		if e.Error != "" {
			b = append(b, `<p class="error">`...)
			if e.ClassText != "" {
				b = escText(b, e.ClassText)
				b = append(b, ": "...)
			}
			b = escText(b, e.Error)
			b = append(b, "</p>"...)
		}
		b = append(b, "\n<p class=\"small\">Checked "...)
		b = escText(b, e.Checked)
		b = appendIfAny(b, " at ", e.Addr)
		b = appendIfAny(b, ", ", e.Latency)
		b = appendIfAny(b, "; synced ", e.Stamp)
		b = appendIfAny(b, "; certificate expires ", e.CertExpiry)
		b = append(b, ". "...)
		b = escText(b, e.FreshCount)
		b = append(b, ".</p>\n"...)
		if len(e.Repos) > 0 {
			b = append(b, "<ul class=\"small\">\n"...)
			for _, r := range e.Repos {
				b = append(b, "<li>"...)
				b = escText(b, r.Name)
				b = append(b, ": not fresh"...)
				if r.Error != "" {
					b = append(b, ": "...)
					b = escText(b, r.Error)
				}
				b = append(b, "</li>\n"...)
			}
			b = append(b, "</ul>\n"...)
		}
		b = append(b, "</td>\n</tr>\n"...)
	}
	return template.HTML(b)
}

// appendSponsor appends a sponsor's name, a link to its site where it
// has one.
func appendSponsor(b []byte, name, url string) []byte {
	if url == "" {
		return escText(b, name)
	}
	b = append(b, `<a href="`...)
	b = escHref(b, url)
	b = append(b, `" rel="nofollow noopener">`...)
	b = escText(b, name)
	return append(b, `</a>`...)
}

// appendFact appends a term of a description list and its text,
// escaped, on a line of their own.
func appendFact(b []byte, term, text string) []byte {
	b = append(b, "<dt>"...)
	b = append(b, term...)
	b = append(b, "</dt><dd>"...)
	b = escText(b, text)
	return append(b, "</dd>\n"...)
}

// appendIfAny appends text, escaped, after before, where there is text.
func appendIfAny(b []byte, before, text string) []byte {
	if text == "" {
		return b
	}
	return escText(append(b, before...), text)
}
