// Package importer turns another mirror service's inventory into a
// mirrors.toml: AlmaLinux's mirrors.d (one YAML file per mirror) and
// MirrorZ's mirrorz.d.json (one JSON file per mirror site).
//
// Real inventories are written by hand by hundreds of people, and the
// formats allow what mirrors.toml refuses: an https URL filed under http,
// rsync URLs in rsync's own host::module syntax, one URL listed by two
// mirrors, country names instead of codes, private mirrors that nobody can
// ever be sent to. A reader collects each mirror as the source describes
// it; [Result.Finish] then makes every repair that has one right answer,
// leaves out what cannot be placed or reached, and says so in one
// [Note] per mirror and repair, naming the source file. [Result.TOML]
// writes the mirrors after a head (the [network], [[repo]] and other
// tables), and checks the whole file with the inventory's own loader, so
// that what it returns is a file `mirrorsteer check` accepts.
//
//	r, err := importer.ReadAlmaLinux([]string{"mirrors.d"})
//	...
//	r.Finish()
//	data, err := r.TOML(importer.AlmaLinuxHead, "mirrors.toml", ".")
//	for _, n := range r.Notes {
//		fmt.Fprintln(os.Stderr, n)
//	}
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Mirror is one mirror as a source describes it, and after Finish as it
// will be written.
type Mirror struct {
	// Source names the file the mirror comes from, as the operator named
	// it ("mirrors.d/foo.yml"), and Line where the mirror starts in it
	// (0 when unknown).
	Source string
	Line   int
	// Subject names the mirror in notes when the source holds several
	// (a MirrorZ endpoint: `endpoint "tuna6"`); "" for one-mirror files.
	Subject string

	Name       string
	Sponsor    string
	SponsorURL string
	// CountryText is the country as the source wrote it (a code, a name
	// or ""); Finish resolves it into Country.
	CountryText string
	Country     country.Code
	ASNs        []uint32
	Subnets     []netip.Prefix
	// URLs holds the base URL per key the source filed it under, as
	// written; Finish moves, repairs or drops them.
	URLs   map[inventory.Protocol]string
	Public bool
	Label  string

	// Unreachable says why a private mirror can be reached by nobody
	// besides missing asn and subnets (AlmaLinux's cloud regions), for
	// the note that leaves it out.
	Unreachable string
}

// Note is one line of the report: a repair made, a value or a mirror left
// out, a file skipped.
type Note struct {
	Source  string // the file, as the operator named it
	Subject string // the mirror within the file, or ""
	Text    string
	// LeftOut is true when the note explains why a whole mirror or file
	// is not in the output.
	LeftOut bool
}

// String formats the note as the report prints it:
// "mirrors.d/foo.yml: https URL under http moved to https".
func (n Note) String() string {
	if n.Subject != "" {
		return n.Source + ": " + n.Subject + ": " + n.Text
	}
	return n.Source + ": " + n.Text
}

// Result is what a reader found: the mirrors and the notes so far.
type Result struct {
	// Format names the source format ("almalinux", "mirrorz") and
	// Inputs the paths the operator gave, for the output's header.
	Format string
	Inputs []string
	// Files counts the source files read.
	Files   int
	Mirrors []*Mirror
	Notes   []Note
	// countryless counts the mirrors written without a country, for the
	// header.
	countryless int
	finished    bool
}

func (r *Result) note(m *Mirror, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Source: m.Source, Subject: m.Subject, Text: fmt.Sprintf(format, args...)})
}

func (r *Result) leaveOut(m *Mirror, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Source: m.Source, Subject: m.Subject, Text: "left out: " + fmt.Sprintf(format, args...), LeftOut: true})
}

// skipFile records a source file that yields no mirror at all.
func (r *Result) skipFile(source, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Source: source, Text: "skipped: " + fmt.Sprintf(format, args...), LeftOut: true})
}

// Finish repairs what has one right answer and leaves out what cannot be
// written, adding a note for each: URLs filed under the wrong key, rsync
// URLs in rsync's own syntax, credentials and missing slashes; names that
// are not safe file names; URLs listed by two mirrors; country names;
// private mirrors that nobody can reach. Afterwards Mirrors is sorted by
// name and holds only mirrors mirrors.toml can express. Finish is called
// once.
func (r *Result) Finish() {
	if r.finished {
		return
	}
	r.finished = true
	keepCountryless := inventoryAcceptsNoCountry()
	// Which of two clashing mirrors wins must not depend on the order
	// the files were named in: the first in file name order does.
	slices.SortStableFunc(r.Mirrors, func(a, b *Mirror) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	var kept []*Mirror
	for _, m := range r.Mirrors {
		if r.finishMirror(m, keepCountryless) {
			kept = append(kept, m)
		}
	}
	kept = r.uniqueNames(kept)
	kept = r.uniqueURLs(kept)
	kept = r.uniqueLabels(kept)
	slices.SortStableFunc(kept, func(a, b *Mirror) int { return strings.Compare(a.Name, b.Name) })
	r.Mirrors = kept
	for _, m := range kept {
		if m.Country == "" {
			r.countryless++
		}
	}
}

// finishMirror repairs one mirror on its own; false means it is left out
// (and a note says why).
func (r *Result) finishMirror(m *Mirror, keepCountryless bool) bool {
	r.repairURLs(m)
	if !r.repairName(m) {
		return false
	}
	m.Sponsor = r.cleanText(m, "sponsor", m.Sponsor)
	if m.SponsorURL != "" {
		if s, ok := sponsorURL(m.SponsorURL); ok {
			m.SponsorURL = s
		} else {
			r.note(m, "sponsor_url %s is not an http(s) URL with a host; left out", quote(m.SponsorURL))
			m.SponsorURL = ""
		}
	}
	if len(m.URLs) == 0 {
		r.leaveOut(m, "no usable URL")
		return false
	}
	if !r.placeCountry(m, keepCountryless) {
		return false
	}
	if !m.Public && len(m.ASNs) == 0 && len(m.Subnets) == 0 {
		why := "private with no asn or subnets, so nobody could ever be sent to it"
		if m.Unreachable != "" {
			why += " (" + m.Unreachable + ")"
		}
		r.leaveOut(m, "%s; add its asn or subnets in the source, or subnet_files with its network's published ranges in mirrors.toml", why)
		return false
	}
	slices.SortFunc(m.Subnets, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	m.Subnets = slices.Compact(m.Subnets)
	slices.Sort(m.ASNs)
	m.ASNs = slices.Compact(m.ASNs)
	return true
}

// safeName is what the inventory accepts as a mirror name (a path
// component under out/).
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

const maxName = 100

func isSafeName(s string) bool {
	return safeName.MatchString(s) && !strings.Contains(s, "..") && len(s) <= maxName
}

// repairName makes m.Name a safe, lower-case name: names are host names,
// which are case-insensitive, and two names that differ only in case
// would be two directories on one file system and one on another.
func (r *Result) repairName(m *Mirror) bool {
	orig := m.Name
	name := strings.TrimSpace(m.Name)
	if u, ok := strings.CutPrefix(strings.ToLower(name), "https://"); ok {
		name = u
	} else if u, ok := strings.CutPrefix(strings.ToLower(name), "http://"); ok {
		name = u
	}
	name = strings.TrimSuffix(strings.TrimSuffix(name, "/"), ".")
	name = strings.ToLower(name)
	if name != "" && isSafeName(name) {
		if name != orig {
			r.note(m, "name %s written as %q", quote(orig), name)
		}
		m.Name = name
		return true
	}
	// Fall back to the host of its URL: the name of every real mirror.
	for _, p := range []inventory.Protocol{inventory.HTTPS, inventory.HTTP, inventory.FTP, inventory.Rsync} {
		if h := hostOf(m.URLs[p]); h != "" && isSafeName(h) {
			why := "is not a safe file name (letters, digits and . _ + - only)"
			switch {
			case name == "":
				why = "is missing"
			case len(name) > maxName:
				why = fmt.Sprintf("is longer than %d characters", maxName)
			}
			r.note(m, "name %s %s; named after its %s host %q", quote(orig), why, p, h)
			m.Name = h
			return true
		}
	}
	if orig == "" {
		r.leaveOut(m, "no name and no URL host to name it after")
	} else {
		r.leaveOut(m, "name %s is not a safe file name and no URL host can replace it", quote(orig))
	}
	return false
}

// cleanText removes control characters and surrounding space from a text
// field: they would land in status pages and logs.
func (r *Result) cleanText(m *Mirror, key, s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	t := strings.TrimSpace(strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, s))
	t = strings.Join(strings.Fields(t), " ")
	if t != s {
		r.note(m, "%s %s: control characters or extra spaces removed", key, quote(s))
	}
	return t
}

// placeCountry resolves m.CountryText. A mirror with none, or with one no
// table knows, is kept only when the inventory accepts a mirror without a
// country (probe then places it from its address).
func (r *Result) placeCountry(m *Mirror, keepCountryless bool) bool {
	text := strings.TrimSpace(m.CountryText)
	if text != "" {
		c, how, ok := resolveCountry(text)
		if ok {
			if how != "" {
				r.note(m, "country %s %s; wrote %s", quote(text), how, c)
			}
			m.Country = c
			return true
		}
	}
	why := "no country"
	if text != "" {
		why = fmt.Sprintf("country %s is neither an ISO 3166-1 code nor a country name this importer knows", quote(text))
	}
	if keepCountryless {
		r.note(m, "%s; kept without one: gen, lookup and dnsd --geoip-city place it from the address probe connects to (write its code in the source to be sure)", why)
		return true
	}
	r.leaveOut(m, "%s, and mirrors.toml needs one; write its ISO 3166-1 code in the source", why)
	return false
}

// uniqueNames leaves out the later of two mirrors with the same name.
func (r *Result) uniqueNames(ms []*Mirror) []*Mirror {
	seen := map[string]*Mirror{}
	var out []*Mirror
	for _, m := range ms {
		if prev := seen[m.Name]; prev != nil {
			r.leaveOut(m, "name %q is already the name of the mirror in %s; one of the two files is stale or misnamed", m.Name, where(prev))
			continue
		}
		seen[m.Name] = m
		out = append(out, m)
	}
	return out
}

// uniqueURLs gives each URL listed by several mirrors to the one whose
// host it is (its name or one of its other URLs are on that host), and
// takes it from the others; when no single mirror is its owner, it takes
// it from all of them. A mirror left without a URL is left out.
func (r *Result) uniqueURLs(ms []*Mirror) []*Mirror {
	type use struct {
		m *Mirror
		p inventory.Protocol
	}
	byURL := map[string][]use{}
	var keys []string
	for _, m := range ms {
		for _, p := range inventory.Protocols {
			if u := m.URLs[p]; u != "" {
				k := strings.ToLower(u)
				if byURL[k] == nil {
					keys = append(keys, k)
				}
				byURL[k] = append(byURL[k], use{m, p})
			}
		}
	}
	for _, k := range keys {
		uses := byURL[k]
		if len(uses) < 2 {
			continue
		}
		host := hostOf(uses[0].m.URLs[uses[0].p])
		var owners []use
		for _, u := range uses {
			if ownsHost(u.m, u.p, host) {
				owners = append(owners, u)
			}
		}
		names := func(except *Mirror) string {
			var ns []string
			for _, u := range uses {
				if u.m != except {
					ns = append(ns, fmt.Sprintf("%q (%s)", u.m.Name, where(u.m)))
				}
			}
			return strings.Join(ns, " and ")
		}
		for _, u := range uses {
			url := u.m.URLs[u.p]
			switch {
			case len(owners) == 1 && owners[0] == u:
				r.note(u.m, "%s URL %s is also listed by %s; kept here, on its own host", u.p, url, names(u.m))
			case len(owners) == 1:
				r.note(u.m, "%s URL %s is %q's (on its host %s); removed here", u.p, url, owners[0].m.Name, host)
				delete(u.m.URLs, u.p)
			default:
				r.note(u.m, "%s URL %s is listed by %s too, and no single one of them is on host %s; removed from all, add it back to the right one", u.p, url, names(u.m), host)
				delete(u.m.URLs, u.p)
			}
		}
	}
	var out []*Mirror
	for _, m := range ms {
		if len(m.URLs) == 0 {
			r.leaveOut(m, "no URL left that is not another mirror's")
			continue
		}
		out = append(out, m)
	}
	return out
}

// ownsHost reports whether m is on host: its name is the host, or another
// of its URLs is on it.
func ownsHost(m *Mirror, skip inventory.Protocol, host string) bool {
	if strings.EqualFold(m.Name, host) {
		return true
	}
	for p, u := range m.URLs {
		if p != skip && strings.EqualFold(hostOf(u), host) {
			return true
		}
	}
	return false
}

// uniqueLabels drops a label another mirror already has.
func (r *Result) uniqueLabels(ms []*Mirror) []*Mirror {
	seen := map[string]string{}
	for _, m := range ms {
		if m.Label == "" {
			continue
		}
		if other, ok := seen[m.Label]; ok {
			r.note(m, "label %q is already %q's; left out", m.Label, other)
			m.Label = ""
			continue
		}
		seen[m.Label] = m.Name
	}
	return ms
}

func where(m *Mirror) string {
	if m.Subject != "" {
		return m.Source + " (" + m.Subject + ")"
	}
	return m.Source
}

// quote quotes a value from a source for a note, short.
func quote(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}

// Head is the part of a mirrors.toml that is not mirrors: [network],
// [[repo]], and [policy], [dns], [probe], [metalink] as wanted.
type Head struct {
	// Name says where the head came from, for the output's header:
	// "built-in AlmaLinux head" or the file's path.
	Name string
	Text string
}

// TOML writes the mirrors after head as a mirrors.toml named name whose
// subnet and zone files are relative to dir, and checks it with the
// inventory's loader and checks (those of mirrorsteer check, for a file
// it accepts). A mirror the loader refuses is left out (with a note) and
// the file written again, so the result always loads; an error in the
// head itself is returned.
func (r *Result) TOML(head Head, name, dir string, checks ...inventory.Check) ([]byte, error) {
	r.Finish()
	if err := checkHead(head, name, dir, checks); err != nil {
		return nil, err
	}
	for {
		data, spans := r.render(head)
		_, err := inventory.Parse(name, data, dir, checks...)
		if err == nil {
			return data, nil
		}
		var es inventory.Errors
		if !errors.As(err, &es) {
			return nil, err
		}
		bad := map[*Mirror]string{}
		for _, e := range es {
			m := spanAt(spans, e.Line)
			if m == nil {
				return nil, fmt.Errorf("the written file does not load, and not because of a mirror (a bug in mirrorsteer import, please report it):\n%w", err)
			}
			if _, ok := bad[m]; !ok {
				bad[m] = e.Msg
			}
		}
		var kept []*Mirror
		for _, m := range r.Mirrors {
			if msg, ok := bad[m]; ok {
				r.leaveOut(m, "mirrors.toml refuses it: %s", msg)
				if m.Country == "" {
					r.countryless--
				}
				continue
			}
			kept = append(kept, m)
		}
		r.Mirrors = kept
	}
}

// checkHead loads the head with one made-up mirror, so that a mistake in
// it is reported against the head's own lines.
func checkHead(head Head, name, dir string, checks []inventory.Check) error {
	if strings.Contains("\n"+head.Text, "\n[[mirror]]") {
		return fmt.Errorf("%s has [[mirror]] tables; the head is everything but the mirrors, which the import writes", head.Name)
	}
	doc := head.Text
	if !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	doc += "\n[[mirror]]\nname = \"head-check.invalid\"\ncountry = \"DE\"\nhttps = \"https://head-check.invalid/\"\n"
	if _, err := inventory.Parse(head.Name, []byte(doc), dir, checks...); err != nil {
		return fmt.Errorf("%w\n%s: the head (everything but the mirrors) must load as a mirrors.toml; fix it", err, head.Name)
	}
	return nil
}

type span struct {
	from, to int // lines, inclusive
	m        *Mirror
}

func spanAt(spans []span, line int) *Mirror {
	for _, s := range spans {
		if line >= s.from && line <= s.to {
			return s.m
		}
	}
	return nil
}

// render writes the file: a header saying where it came from, the head,
// then one [[mirror]] per mirror, sorted by name, keys in a fixed order.
func (r *Result) render(head Head) ([]byte, []span) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# mirrors.toml written by `mirrorsteer import --from %s` from %s\n", r.Format, strings.Join(r.Inputs, ", "))
	fmt.Fprintf(&b, "# (%d source files). %d mirrors imported", r.Files, len(r.Mirrors))
	if r.countryless > 0 {
		fmt.Fprintf(&b, ", %d of them without a country", r.countryless)
	}
	left := 0
	repairs := 0
	for _, n := range r.Notes {
		if n.LeftOut {
			left++
		} else {
			repairs++
		}
	}
	fmt.Fprintf(&b, "; %d mirrors or files left out and %d repairs,\n", left, repairs)
	b.WriteString("# each reported by the import on standard error. The head (everything\n")
	fmt.Fprintf(&b, "# before the first [[mirror]]) is the %s. Run the import again\n", head.Name)
	b.WriteString("# to refresh the mirrors from the source; edit the source, not this file.\n\n")
	b.WriteString(strings.TrimRight(head.Text, "\n"))
	b.WriteString("\n")
	line := bytes.Count(b.Bytes(), []byte("\n")) + 1
	var spans []span
	for _, m := range r.Mirrors {
		start := line
		var mb strings.Builder
		mb.WriteString("\n[[mirror]]\n")
		kv := func(k, v string) { fmt.Fprintf(&mb, "%-11s = %s\n", k, v) }
		kv("name", tomlString(m.Name))
		if m.Label != "" {
			kv("label", tomlString(m.Label))
		}
		if m.Sponsor != "" {
			kv("sponsor", tomlString(m.Sponsor))
		}
		if m.SponsorURL != "" {
			kv("sponsor_url", tomlString(m.SponsorURL))
		}
		if m.Country != "" {
			kv("country", tomlString(string(m.Country)))
		}
		if len(m.ASNs) > 0 {
			parts := make([]string, len(m.ASNs))
			for i, a := range m.ASNs {
				parts[i] = strconv.FormatUint(uint64(a), 10)
			}
			kv("asn", "["+strings.Join(parts, ", ")+"]")
		}
		if len(m.Subnets) > 0 {
			parts := make([]string, len(m.Subnets))
			for i, p := range m.Subnets {
				parts[i] = tomlString(p.String())
			}
			kv("subnets", "["+strings.Join(parts, ", ")+"]")
		}
		for _, p := range inventory.Protocols {
			if u := m.URLs[p]; u != "" {
				kv(string(p), tomlString(u))
			}
		}
		if !m.Public {
			kv("public", "false")
		}
		b.WriteString(mb.String())
		line += strings.Count(mb.String(), "\n")
		spans = append(spans, span{start, line - 1, m})
	}
	return b.Bytes(), spans
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// inventoryAcceptsNoCountry reports whether this build's inventory loads a
// mirror without a country (so probe can place it from its address).
// Asking the loader itself keeps the importer right when that changes.
func inventoryAcceptsNoCountry() bool {
	const doc = "[network]\nname = \"x\"\norigin = \"https://origin.invalid/\"\nstamp = \"TIME\"\nmax_lag = \"1h\"\n" +
		"[[repo]]\nname = \"r\"\npath = \"r/\"\nformat = \"files\"\n" +
		"[[mirror]]\nname = \"m.invalid\"\nhttps = \"https://m.invalid/\"\n"
	_, err := inventory.Parse("probe.toml", []byte(doc), ".")
	return err == nil
}
