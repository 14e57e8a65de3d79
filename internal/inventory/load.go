package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/miekg/dns"
	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/didyoumean"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Defaults for keys the file may leave out.
const (
	DefaultMin      = 5
	DefaultMax      = 10
	DefaultBandKm   = 500
	DefaultASNMaxKm = 500
	DefaultWeight   = 100
	DefaultTTL      = 60
)

// The raw types mirror the file one to one; toml tags are the key names
// operators type, and the strict decoder rejects anything else.
type rawFile struct {
	Network rawNetwork  `toml:"network"`
	Policy  rawPolicy   `toml:"policy"`
	DNS     *rawDNS     `toml:"dns"`
	Meta    rawMetalink `toml:"metalink"`
	Probe   Probe       `toml:"probe"`
	Lists   rawLists    `toml:"lists"`
	Repo    []rawRepo   `toml:"repo"`
	Mirror  []rawMirror `toml:"mirror"`
}

type rawNetwork struct {
	Name   string `toml:"name"`
	Origin string `toml:"origin"`
	Stamp  string `toml:"stamp"`
	MaxLag string `toml:"max_lag"`
}

type rawPolicy struct {
	Min        *int                `toml:"min"`
	Max        *int                `toml:"max"`
	BandKm     *float64            `toml:"band_km"`
	ASNMaxKm   *float64            `toml:"asn_max_km"`
	Neighbours map[string][]string `toml:"neighbours"`
}

type rawDNS struct {
	Zone  string              `toml:"zone"`
	TTL   *int64              `toml:"ttl"`
	NS    map[string][]string `toml:"ns"`
	Names map[string]string   `toml:"names"`
	// Keys only dnsd reads; checked by validator.dnsd, but for the
	// zone file's content, which dnsd checks (dnsd.CheckZoneFile).
	ZoneFile    string     `toml:"zone_file"`
	Fallback    string     `toml:"fallback"`
	Whoami      []string   `toml:"whoami"`
	Hostmaster  string     `toml:"hostmaster"`
	NegativeTTL *int64     `toml:"negative_ttl"`
	DNSSEC      *rawDNSSEC `toml:"dnssec"`
}

type rawDNSSEC struct {
	Keys     []string `toml:"keys"`
	Publish  []string `toml:"publish"`
	Validity string   `toml:"validity"`
}

type rawMetalink struct {
	MinSize    any      `toml:"min_size"`
	OriginOnly []string `toml:"origin_only"`
}

type rawLists struct {
	Subdivisions []string `toml:"subdivisions"`
}

type rawRepo struct {
	Name     string   `toml:"name"`
	Path     string   `toml:"path"`
	Releases []string `toml:"releases"`
	Archs    []string `toml:"archs"`
	Format   string   `toml:"format"`
}

type rawMirror struct {
	Name        string   `toml:"name"`
	Sponsor     string   `toml:"sponsor"`
	SponsorURL  string   `toml:"sponsor_url"`
	Country     string   `toml:"country"`
	Subdivision string   `toml:"subdivision"`
	Lat         *float64 `toml:"lat"`
	Lon         *float64 `toml:"lon"`
	ASN         any      `toml:"asn"`
	Subnets     []string `toml:"subnets"`
	SubnetFiles []string `toml:"subnet_files"`
	HTTP        string   `toml:"http"`
	HTTPS       string   `toml:"https"`
	FTP         string   `toml:"ftp"`
	Rsync       string   `toml:"rsync"`
	Weight      *int     `toml:"weight"`
	Public      *bool    `toml:"public"`
	DNS         []string `toml:"dns"`
	Label       string   `toml:"label"`
	Repos       []string `toml:"repos"`
	Archs       []string `toml:"archs"`
	MaxLag      string   `toml:"max_lag"`
	// ProbeNetworks: see probenetworks.go.
	ProbeNetworks []string `toml:"probe_networks"`
}

// Error is one problem in a file, with where it is.
type Error struct {
	File         string
	Line, Column int // 0 when unknown
	Msg          string

	key string // the dotted key path it is about, when known
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errors is every problem found in one file, in file order. Load reports
// them all at once so an operator fixes a file in one round.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads and validates the inventory at path. Subnet files are read
// relative to the directory of path. checks validate the parts of the
// file that other components own (see Check); their errors are reported
// with the loader's own, all at once. The error, if any, is an Errors.
func Load(path string, checks ...Check) (*Inventory, error) {
	data, err := fileio.ReadFile(path, fileio.MaxInventory)
	if err != nil {
		var tl *fileio.TooLargeError
		if errors.As(err, &tl) {
			return nil, Errors{{File: path, Msg: fmt.Sprintf("larger than %d MiB: is this the inventory? (mirrors.toml of 10,000 mirrors takes about 3 MiB)", fileio.MaxInventory>>20)}}
		}
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the inventory: %v", reason(err))}}
	}
	return Parse(path, data, filepath.Dir(path), checks...)
}

// Parse validates an inventory held in data, as Load does; name is used
// in errors and subnet and zone files are read relative to dir.
func Parse(name string, data []byte, dir string, checks ...Check) (*Inventory, error) {
	// Where each key stands is read in a second pass over the text,
	// beside the decoder: for 2,000 mirrors each takes a few ms.
	pos := make(chan positions, 1)
	go func() { pos <- indexPositions(data) }()
	var raw rawFile
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(&raw)
	var strict *toml.StrictMissingError
	if err != nil && !errors.As(err, &strict) {
		// A syntax or type error stops the decoder: raw is incomplete.
		return nil, decodeErrors(name, data, &raw, err)
	}
	v := &validator{file: name, dir: dir, pos: <-pos}
	if strict != nil {
		// Unknown keys are skipped and everything else is decoded, so the
		// rest of the file is still checked and all is reported at once.
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, col := de.Position()
			v.errs = append(v.errs, &Error{File: name, Line: line, Column: col, Msg: unknownKey(de.Key(), &raw, v.pos, line)})
		}
	}
	v.wrongCase(&raw)
	v.text(&raw)
	inv := v.build(&raw)
	v.check(inv, checks)
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, v.errs
	}
	return inv, nil
}

func decodeErrors(file string, data []byte, raw *rawFile, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			msg = wrongType(k, msg, raw, indexPositions(data), line)
		}
		return Errors{{File: file, Line: line, Column: col, Msg: msg}}
	}
	return Errors{{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: ")}}
}

// unknownKey describes an unknown key and suggests the known key closest
// to it.
func unknownKey(key []string, raw *rawFile, pos positions, line int) string {
	if len(key) == 0 {
		return "unknown key; see the mirrors.toml reference in internal/inventory/README.md"
	}
	known, t := schema(key)
	if known == len(key) {
		known--
	}
	bad := key[known]
	msg := fmt.Sprintf("%s: unknown key %q", describeTable(key[:known], raw, pos, line), bad)
	if s := suggest(t, bad); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; see the mirrors.toml reference in internal/inventory/README.md"
}

var mismatch = regexp.MustCompile(`^cannot decode TOML ([a-z ]+) into (?:struct field \S+ of type )?(\S+)$`)

// wrongType rewrites the decoder's type mismatch message, which names Go
// types, in the words of the file: what the key must be. Other messages
// (a key defined twice, ...) already say what is wrong and are kept.
func wrongType(key []string, msg string, raw *rawFile, pos positions, line int) string {
	m := mismatch.FindStringSubmatch(msg)
	if m == nil {
		if strings.HasPrefix(msg, "cannot store an array table") {
			return fmt.Sprintf("%s is a single table: write [%s], not [[%s]]", dotted(key), dotted(key), dotted(key))
		}
		return msg
	}
	known, t := schema(key)
	complete := known == len(key)
	where := "top level"
	if len(key) > 1 {
		where = describeTable(key[:1], raw, pos, line)
		key = key[1:]
	}
	what := dotted(key)
	if !complete || tomlType(t) == "" {
		return fmt.Sprintf("%s: key %s: %s", where, what, msg)
	}
	got, into := m[1], m[2]
	if k := t.Kind(); (k == reflect.Map || k == reflect.Slice) && into != t.String() && into == t.Elem().String() {
		// The key holds the right kind of table or array; one of its
		// values is wrong.
		if k == reflect.Map {
			what = "each value of " + what
		} else {
			what = "each element of " + what
		}
		t = t.Elem()
	}
	article := "a "
	if strings.IndexByte("aeiou", got[0]) >= 0 {
		article = "an "
	}
	return fmt.Sprintf("%s: %s must be %s, not %s%s", where, what, tomlType(t), article, got)
}

// wrongCase reports keys that the decoder matched only by ignoring case
// ("Weight" for "weight"): TOML keys are case-sensitive, and two spellings
// in one table would silently override each other.
func (v *validator) wrongCase(raw *rawFile) {
	type found struct {
		at   unstable.Position
		want string
	}
	bad := map[string]found{} // key path up to the misspelt part
	for path, at := range v.pos {
		i, want := caseFold(path)
		if i < 0 {
			continue
		}
		parts := strings.Split(path, ".")
		k := strings.Join(parts[:i+1], ".")
		if f, ok := bad[k]; !ok || at.Line < f.at.Line || at.Line == f.at.Line && at.Column < f.at.Column {
			bad[k] = found{at, want}
		}
	}
	for k, f := range bad {
		parts := strings.Split(k, ".")
		where := describeTable(parts[:min(1, len(parts)-1)], raw, v.pos, f.at.Line)
		v.errs = append(v.errs, &Error{File: v.file, Line: f.at.Line, Column: f.at.Column,
			Msg: fmt.Sprintf("%s: unknown key %q (did you mean %q? keys are case-sensitive)", where, parts[len(parts)-1], f.want)})
	}
}

// caseFold follows a dotted key path of the position index through the
// raw types and returns the index of the first part that names a known
// key only when case is ignored, with that key; or -1. It is called for
// every key of the file, so a known key costs a map lookup.
func caseFold(path string) (int, string) {
	t := reflect.TypeFor[rawFile]()
	for i := 0; path != ""; i++ {
		var part string
		part, path, _ = strings.Cut(path, ".")
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Map:
			t = t.Elem() // part is an array index or a key of the user's
		case reflect.Struct:
			if f, ok := fieldByTag(t, part); ok {
				t = f.Type
				continue
			}
			for j := range t.NumField() {
				if tag := t.Field(j).Tag.Get("toml"); strings.EqualFold(tag, part) {
					return i, tag
				}
			}
			return -1, "" // unknown: the decoder reported it
		default:
			return -1, ""
		}
	}
	return -1, ""
}

// schema follows key through the raw types. It returns how many leading
// parts of key are known and the type the last known part decodes into
// (the struct that lacks the next part, when one is unknown).
func schema(key []string) (known int, t reflect.Type) {
	t = reflect.TypeFor[rawFile]()
	for i, part := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, part)
			if !ok {
				return i, t
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return i, t
		}
	}
	return len(key), t
}

// fieldByTag returns the field of struct type t whose toml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	if i, ok := tomlKeys(t)[name]; ok {
		return t.Field(i), true
	}
	return reflect.StructField{}, false
}

// tomlKeys returns the index of each field of struct type t by its toml
// tag, made once per type: the checks that follow each key of the file
// through the types ask for tens of thousands.
func tomlKeys(t reflect.Type) map[string]int {
	if m, ok := keysByType.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); !hasKey(m, tag) {
			m[tag] = i // the first, as a loop over the fields finds
		}
	}
	keysByType.Store(t, m)
	return m
}

var keysByType sync.Map // reflect.Type -> map[string]int

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// tomlType says what a value decoded into t is in the file, or "".
func tomlType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return tomlType(t.Elem())
	case reflect.String:
		return "a string in quotes"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return `an array of strings, e.g. ["a", "b"]`
		case reflect.Struct:
			return "an array of tables, each written [[...]]"
		}
	case reflect.Map, reflect.Struct:
		return "a table"
	}
	return ""
}

// describeTable names the table that holds a key, as an operator wrote
// it; for [[repo]] and [[mirror]] it adds the name of the element the line
// falls in, when known. table is empty or a single known key.
func describeTable(table []string, raw *rawFile, pos positions, line int) string {
	if len(table) == 0 {
		return "top level"
	}
	var names []string
	switch table[0] {
	case "repo":
		for _, r := range raw.Repo {
			names = append(names, r.Name)
		}
	case "mirror":
		for _, m := range raw.Mirror {
			names = append(names, m.Name)
		}
	default:
		return "[" + dotted(table) + "]"
	}
	s := "[[" + table[0] + "]]"
	// The element is the last one that starts at or before line.
	i := -1
	for j := range names {
		p, ok := pos[fmt.Sprintf("%s.%d", table[0], j)]
		if !ok || p.Line > line {
			break
		}
		i = j
	}
	if i >= 0 && names[i] != "" {
		s += " " + strconv.Quote(names[i])
	}
	return s
}

// dotted writes a key path as TOML would, quoting parts that are not bare
// keys.
func dotted(key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		if bareKey.MatchString(k) {
			parts[i] = k
		} else {
			parts[i] = strconv.Quote(k)
		}
	}
	return strings.Join(parts, ".")
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// suggest returns the key of struct type t closest to bad, or "".
func suggest(t reflect.Type, bad string) string {
	if t.Kind() != reflect.Struct {
		return ""
	}
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("toml")
	}
	return didyoumean.Closest(bad, names)
}

type validator struct {
	file string
	dir  string
	pos  positions
	errs Errors
	// refused holds the key paths whose value text already refused: one
	// report per mistake.
	refused map[string]bool
}

// errorf records an error at the key path (dotted, with array indexes).
func (v *validator) errorf(path, format string, args ...any) {
	if v.refused[path] {
		return
	}
	v.errs = append(v.errs, errorAt(v.file, v.pos, path, format, args...))
}

// safeName is what may become a path component under out/ or a page name.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func (v *validator) name(path, what, s string) bool {
	switch {
	case s == "":
		v.errorf(path, "%s is missing; add %s = \"...\"", what, path[strings.LastIndexByte(path, '.')+1:])
		return false
	case len(s) > 100:
		v.errorf(path, "%s %q is longer than 100 characters; shorten it", what, s[:20]+"...")
		return false
	case !safeName.MatchString(s) || strings.Contains(s, ".."):
		v.errorf(path, "%s %q would not be a safe file name under out/; use letters, digits and . _ + - only, starting with a letter or digit", what, s)
		return false
	}
	return true
}

func (v *validator) build(raw *rawFile) *Inventory {
	inv := &Inventory{File: v.file, byName: map[string]*Mirror{}, repos: map[string]*Repo{}, pos: v.pos}
	v.network(inv, &raw.Network)
	v.policy(inv, &raw.Policy)
	v.metalink(inv, &raw.Meta)
	v.lists(inv, &raw.Lists)
	inv.Probe = raw.Probe
	if raw.DNS != nil {
		inv.DNS = v.dns(raw.DNS)
		v.dnsd(inv, raw.DNS)
	}
	allArchs := map[string]bool{}
	repoNames := folded{}
	for i := range raw.Repo {
		r := v.repo(i, &raw.Repo[i])
		if r == nil {
			continue
		}
		if inv.repos[r.Name] != nil {
			v.errorf(fmt.Sprintf("repo.%d.name", i), "[[repo]] %q is defined twice; give each repository its own name", r.Name)
			continue
		}
		if prev := repoNames.add(r.Name, fmt.Sprintf("repo.%d.name", i)); prev.name != "" {
			v.caseClash(fmt.Sprintf("repo.%d.name", i), "[[repo]]", r.Name, prev, "repository names are nginx map keys in edge/nginx-http.conf, which ignore case (nginx -t fails), and directories under out/, which case-insensitive file systems and CDNs take for one")
			continue
		}
		inv.repos[r.Name] = r
		inv.Repos = append(inv.Repos, r)
		for _, a := range r.Archs {
			allArchs[a] = true
		}
	}
	if len(raw.Repo) == 0 {
		v.errorf("", "no [[repo]] is defined; add at least one (name, path, format) so there is something to list")
	}
	urls := map[string]string{}
	labels := folded{}
	names := folded{}
	for i := range raw.Mirror {
		m := v.mirror(inv, i, &raw.Mirror[i], allArchs)
		if m == nil {
			continue
		}
		if prev := inv.byName[m.Name]; prev != nil {
			v.errorf(fmt.Sprintf("mirror.%d.name", i), "[[mirror]] %q is defined twice; mirror names must be unique", m.Name)
			continue
		}
		if prev := names.add(m.Name, fmt.Sprintf("mirror.%d.name", i)); prev.name != "" {
			v.caseClash(fmt.Sprintf("mirror.%d.name", i), "[[mirror]]", m.Name, prev, "mirror names name the status site's pages, which case-insensitive file systems and CDNs take for one")
			continue
		}
		dup := false
		for _, p := range Protocols {
			u := m.URLs[p]
			if u == "" {
				continue
			}
			key := strings.ToLower(u)
			if other, ok := urls[key]; ok {
				v.errorf(fmt.Sprintf("mirror.%d.%s", i, p), "[[mirror]] %q: %s URL %s is already the URL of mirror %q; each URL belongs to one mirror", m.Name, p, u, other)
				dup = true
			}
			urls[key] = m.Name
		}
		if dup {
			continue
		}
		if prev, ok := labels[m.Label]; m.Label != "" && ok {
			v.errorf(fmt.Sprintf("mirror.%d.label", i), "[[mirror]] %q: label %q is already the label of mirror %q (%s); labels name one mirror each (case-insensitive: they are DNS labels)", m.Name, raw.Mirror[i].Label, prev.name, v.where(prev.path))
			continue
		}
		if m.Label != "" {
			labels[m.Label] = foldedName{m.Name, fmt.Sprintf("mirror.%d.label", i)}
		}
		inv.byName[m.Name] = m
		inv.Mirrors = append(inv.Mirrors, m)
	}
	return inv
}

func (v *validator) network(inv *Inventory, r *rawNetwork) {
	n := &inv.Network
	n.Name = r.Name
	if r.Name == "" {
		v.errorf("network", "[network] name is missing; add name = \"Example Linux\"")
	}
	if r.Origin == "" {
		v.errorf("network", "[network] origin is missing; add origin = \"https://origin.example.org/pub/\"")
	} else if u, ok := v.baseURL("network.origin", "[network] origin", r.Origin, ""); ok {
		n.Origin = u
	}
	switch {
	case r.Stamp == "":
		v.errorf("network", "[network] stamp is missing; name the file under every base URL that holds the last sync time, e.g. stamp = \"TIME\"")
	case !relativePath(r.Stamp) || strings.HasSuffix(r.Stamp, "/"):
		v.errorf("network.stamp", "[network] stamp %q must be a relative file path without \"..\", e.g. \"TIME\"", r.Stamp)
	case firstBad(r.Stamp, pathChar) >= 0:
		v.errorf("network.stamp", "[network] stamp %q has %s; %s", r.Stamp, describeByte(r.Stamp, firstBad(r.Stamp, pathChar)), pathChars)
	default:
		n.Stamp = r.Stamp
	}
	if r.MaxLag == "" {
		v.errorf("network", "[network] max_lag is missing; add e.g. max_lag = \"12h\"")
	} else if d, ok := v.duration("network.max_lag", "[network] max_lag", r.MaxLag); ok {
		n.MaxLag = d
	}
}

func (v *validator) duration(path, what, s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		v.errorf(path, "%s %q is not a positive duration; write e.g. \"12h\", \"90m\" or \"1h30m\"", what, s)
		return 0, false
	}
	return d, true
}

func relativePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// baseURL checks a base URL. scheme is the scheme it must have, or "" for
// http or https. Base URLs go raw into every list, metalink and the API,
// and clients append paths to them, so they must need no escaping and
// hold nothing a client would read as anything else.
func (v *validator) baseURL(path, what, s, scheme string) (string, bool) {
	schemes := []string{scheme}
	if scheme == "" {
		schemes = []string{"http", "https"}
	}
	u, ok := v.parseURL(path, what, s, schemes...)
	if !ok {
		return "", false
	}
	// The part after the host: the path, and what must not be there.
	rest := s[len(u.Scheme)+len("://")+len(u.Host):]
	switch i := firstBad(rest, func(c byte) bool { return c != '[' && c != ']' && uriChar(c) }); {
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		v.errorf(path, "%s %q has a query or fragment; give the plain base URL", what, s)
	case i >= 0:
		v.errorf(path, "%s %q has %s, which a URL cannot hold as it is (lists carry URLs raw, and clients split lines at spaces); write %q", what, s, describeByte(rest, i), s[:len(s)-len(rest)]+escapeURL(rest))
	case strings.Contains(rest, "$"):
		v.errorf(path, "%s %q has a \"$\", which pacman reads as the start of a variable ($repo, $arch) in its Server lines, and dnf in mirror URLs; write it as %%24: %q", what, s, strings.ReplaceAll(s, "$", "%24"))
	case !strings.HasSuffix(u.Path, "/"):
		v.errorf(path, "%s %q must end with \"/\" (it is a base URL that paths are appended to); write %q", what, s, s+"/")
	case strings.Contains(u.Path, "/../") || strings.Contains(u.Path, "/./"):
		v.errorf(path, "%s %q has . or .. segments; write the canonical path", what, s)
	default:
		return s, true
	}
	return "", false
}

// DefaultMinSize is the size from which gen writes a .meta4 for a file.
const DefaultMinSize = 1 << 20

// DefaultOriginOnly are the files that are never sent to mirrors:
// signatures and checksums (they vouch for the mirrors' copies, so they
// come from the origin), and metadata that changes in place.
var DefaultOriginOnly = []string{"*.asc", "*.sig", "*.sign", "*SUMS", "*SUMS.*", "*.sha256", "*.sha512",
	"repodata/", "dists/", "*.db", "*.db.tar.*", "*.files", "*.files.tar.*"}

func (v *validator) metalink(inv *Inventory, r *rawMetalink) {
	m := &inv.Metalink
	m.MinSize = DefaultMinSize
	switch x := r.MinSize.(type) {
	case nil:
	case int64:
		m.MinSize = x
	case string:
		n, ok := parseSize(x)
		if !ok {
			v.errorf("metalink.min_size", "[metalink] min_size %q is not a size; write bytes (1048576) or a size like \"1MiB\", \"512KiB\", \"1GiB\"", x)
		}
		m.MinSize = n
	default:
		v.errorf("metalink.min_size", "[metalink] min_size must be a number of bytes or a string like \"1MiB\"")
	}
	if m.MinSize < 0 {
		v.errorf("metalink.min_size", "[metalink] min_size = %d is negative; use 0 (every file) or more", m.MinSize)
	}
	m.OriginOnly = DefaultOriginOnly
	if r.OriginOnly != nil {
		m.OriginOnly = nil
		for i, p := range r.OriginOnly {
			if _, err := path.Match(p, ""); err != nil || p == "" || strings.HasPrefix(p, "/") {
				v.errorf(fmt.Sprintf("metalink.origin_only.%d", i), "[metalink] origin_only %q is not a glob pattern like \"*.asc\" or \"repodata/\"", p)
				continue
			}
			m.OriginOnly = append(m.OriginOnly, p)
		}
	}
}

// parseSize reads "1048576", "1MiB", "512KiB", "2GiB".
func parseSize(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

func (v *validator) policy(inv *Inventory, r *rawPolicy) {
	p := &inv.Policy
	p.Min, p.Max, p.BandKm, p.ASNMaxKm = DefaultMin, DefaultMax, DefaultBandKm, DefaultASNMaxKm
	if r.Min != nil {
		p.Min = *r.Min
	}
	if r.Max != nil {
		p.Max = *r.Max
	}
	if p.Min < 1 || p.Min > 1000 {
		v.errorf("policy.min", "[policy] min = %d is out of range; use 1 to 1000", p.Min)
	}
	if p.Max < p.Min || p.Max > 1000 {
		v.errorf("policy.max", "[policy] max = %d must be at least min (%d) and at most 1000", p.Max, p.Min)
	}
	if r.BandKm != nil {
		p.BandKm = *r.BandKm
		if p.BandKm < 0 || p.BandKm > 20040 || math.IsNaN(p.BandKm) {
			v.errorf("policy.band_km", "[policy] band_km = %v is out of range; use 0 to 20040 (half the earth's circumference)", p.BandKm)
		}
	}
	if r.ASNMaxKm != nil {
		p.ASNMaxKm = *r.ASNMaxKm
		if p.ASNMaxKm < 0 || p.ASNMaxKm > 20040 || math.IsNaN(p.ASNMaxKm) {
			v.errorf("policy.asn_max_km", "[policy] asn_max_km = %v is out of range; use 0 to 20040 (how far from the client an ASN match counts)", p.ASNMaxKm)
		}
	}
	p.Neighbours = map[country.Code][]country.Code{}
	keys := map[country.Code]bool{}
	for _, k := range inFileOrder(v, "policy.neighbours", r.Neighbours) {
		list := r.Neighbours[k]
		path := "policy.neighbours." + k
		from, err := country.Parse(k)
		if err != nil {
			v.errorf(path, "[policy] neighbours: %v", err)
			continue
		}
		if keys[from] {
			v.errorf(path, "[policy] neighbours: %s is listed twice (codes are case-insensitive); merge the lists", from)
			continue
		}
		keys[from] = true
		seen := map[country.Code]bool{from: true}
		for i, s := range list {
			to, err := country.Parse(s)
			if err != nil {
				v.errorf(fmt.Sprintf("%s.%d", path, i), "[policy] neighbours of %s: %v", from, err)
				continue
			}
			if seen[to] {
				v.errorf(fmt.Sprintf("%s.%d", path, i), "[policy] neighbours of %s: %s is listed twice or is the country itself; remove it", from, to)
				continue
			}
			seen[to] = true
			p.Neighbours[from] = append(p.Neighbours[from], to)
		}
	}
}

// lists checks [lists]: the countries whose subdivisions get lists.
func (v *validator) lists(inv *Inventory, r *rawLists) {
	for i, s := range r.Subdivisions {
		path := fmt.Sprintf("lists.subdivisions.%d", i)
		cc, err := country.Parse(s)
		if err != nil {
			v.errorf(path, "[lists] subdivisions: %v; list the countries whose subdivisions get lists of their own, e.g. subdivisions = [\"US\", \"CA\"]", err)
			continue
		}
		if slices.Contains(inv.Lists.Subdivisions, cc) {
			v.errorf(path, "[lists] subdivisions: %s is listed twice (codes are case-insensitive); remove one", cc)
			continue
		}
		inv.Lists.Subdivisions = append(inv.Lists.Subdivisions, cc)
	}
}

// inFileOrder returns the keys of a table decoded into m in the order they
// stand in the file under path, so that of two keys that clash the later
// one is reported.
func inFileOrder[V any](v *validator, path string, m map[string]V) []string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		pa, _ := v.pos.at(path + "." + a)
		pb, _ := v.pos.at(path + "." + b)
		if pa.Line != pb.Line {
			return pa.Line - pb.Line
		}
		return pa.Column - pb.Column
	})
	return keys
}

func (v *validator) dns(r *rawDNS) *DNS {
	d := &DNS{TTL: DefaultTTL}
	zone := strings.ToLower(r.Zone)
	if zone != "" && !strings.HasSuffix(zone, ".") {
		zone += "."
	}
	zoneOK := hostName(zone)
	if !zoneOK {
		v.errorf("dns.zone", "[dns] zone %q is not a domain name; write e.g. zone = \"example.org.\"", r.Zone)
	} else if msg := tooLong(zone); msg != "" {
		v.errorf("dns.zone", "[dns] zone %s; shorten it", msg)
		zoneOK = false
	}
	if zoneOK {
		// Else "": a Check must not read a zone file relative to it.
		d.Zone = zone
	}
	if r.TTL != nil {
		if *r.TTL < 1 || *r.TTL > 86400 {
			v.errorf("dns.ttl", "[dns] ttl = %d is out of range; use 1 to 86400 seconds", *r.TTL)
		} else {
			d.TTL = uint32(*r.TTL)
		}
	}
	if len(r.NS) == 0 {
		v.errorf("dns", "[dns] ns is missing; list the zone's name servers with their addresses, e.g. ns = { ns1 = [\"192.0.2.53\"] }")
	}
	for _, name := range inFileOrder(v, "dns.ns", r.NS) {
		addrs := r.NS[name]
		path := "dns.ns." + name
		fq, own := strings.ToLower(name), strings.ToLower(name)
		if !strings.HasSuffix(fq, ".") {
			fq += "." + zone
			own += "."
		}
		// A relative name is checked on its own when the zone is wrong,
		// which is reported once, above.
		if !hostName(own) || (zoneOK && !hostName(fq)) {
			v.errorf(path, "[dns] ns %q is not a host name; use letters, digits, - and dots, e.g. ns1 or ns1.example.net.", name)
			continue
		}
		if msg := tooLong(fq); zoneOK && msg != "" {
			v.errorf(path, "[dns] ns %q: %s; shorten it (or the zone)", name, msg)
			continue
		}
		if slices.ContainsFunc(d.NS, func(ns NameServer) bool { return ns.Name == fq }) {
			v.errorf(path, "[dns] ns %q is listed twice (names are case-insensitive); remove one", name)
			continue
		}
		ns := NameServer{Name: fq}
		for i, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.Zone() != "" {
				v.errorf(fmt.Sprintf("%s.%d", path, i), "[dns] ns %q: %q is not an IP address", name, a)
				continue
			}
			ns.Addrs = append(ns.Addrs, ip)
		}
		if len(addrs) == 0 && dns.IsSubDomain(zone, fq) {
			v.errorf(path, "[dns] ns %q is inside the zone and needs its addresses (glue), e.g. %s = [\"192.0.2.53\"]", name, name)
		}
		d.NS = append(d.NS, ns)
	}
	slices.SortFunc(d.NS, func(a, b NameServer) int { return strings.Compare(a.Name, b.Name) })
	for _, label := range inFileOrder(v, "dns.names", r.Names) {
		proto := r.Names[label]
		path := "dns.names." + label
		if !dnsLabel(label) {
			v.errorf(path, "[dns] names: %q is not a DNS label; use letters, digits and - (a single label, the zone is appended)", label)
			continue
		}
		if slices.ContainsFunc(d.Names, func(n DNSName) bool { return n.Label == strings.ToLower(label) }) {
			v.errorf(path, "[dns] names: %q is listed twice (labels are case-insensitive); remove one", label)
			continue
		}
		p := Protocol(proto)
		if p != HTTP && p != HTTPS && p != FTP && p != Rsync {
			v.errorf(path, "[dns] names: %s = %q is not a protocol; use \"http\", \"https\", \"ftp\" or \"rsync\"", label, proto)
			continue
		}
		d.Names = append(d.Names, DNSName{Label: strings.ToLower(label), Protocol: p})
	}
	if len(r.Names) == 0 {
		v.errorf("dns", "[dns] names is missing; name what dnsd steers, e.g. names = { download = \"https\" }")
	}
	slices.SortFunc(d.Names, func(a, b DNSName) int { return strings.Compare(a.Label, b.Label) })
	return d
}

// mailbox reports whether s, fully qualified, is a mailbox in DNS form
// (an SOA RNAME, RFC 1035 8): a local part of letters, digits, "_", "+"
// and "-", its dots escaped ("john\.doe"), then the host name of the mail
// domain. Other escapes (\DDD) could put any octet there, a line feed
// included.
func mailbox(s string) bool {
	if strings.IndexByte(s, 0) >= 0 {
		return false
	}
	local, domain, ok := strings.Cut(strings.ReplaceAll(s, `\.`, "\x00"), ".")
	if !ok || local == "" || len(local) > 63 || strings.HasPrefix(local, "\x00") || strings.HasSuffix(local, "\x00") || strings.Contains(local, "\x00\x00") {
		return false
	}
	for i := range len(local) {
		if c := local[i]; c != 0 && c != '_' && c != '+' && c != '-' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return hostName(domain)
}

// dnsLabel reports whether l is a host name's label: 1 to 63 letters,
// digits and hyphens, beginning and ending with a letter or digit.
func dnsLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(l)-1) {
			return false
		}
	}
	return true
}

// hostName reports whether s, fully qualified, is a host name: labels of
// letters, digits and inner hyphens. dns.IsDomainName alone also accepts
// spaces, "*" and escapes.
func hostName(s string) bool {
	if _, ok := dns.IsDomainName(s); !ok || s == "" || s == "." || !strings.HasSuffix(s, ".") {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !dnsLabel(l) {
			return false
		}
	}
	return true
}

// pathChars says what a stamp or repository path may hold: they are both
// URL paths (appended to base URLs in lists and probe requests) and file
// paths (under gen's --origin-dir), so nothing in them may need escaping.
const pathChars = "it is appended to URLs as it is and read as a file path, so use letters, digits and - . _ ~ ! & ' ( ) * + , ; = : @ / only"

// nginxMapWords are the words nginx's map block reads as its own
// parameters, even quoted: edge/nginx-http.conf maps repository names, and
// a repository called "include" would make nginx include a file.
var nginxMapWords = []string{"default", "hostnames", "include", "volatile"}

func (v *validator) repo(i int, r *rawRepo) *Repo {
	at := fmt.Sprintf("repo.%d", i)
	if !v.name(at+".name", "[[repo]] name", r.Name) {
		return nil
	}
	if slices.Contains(nginxMapWords, strings.ToLower(r.Name)) {
		v.errorf(at+".name", "[[repo]] name %q is a word nginx's map reads as its own (%s), and edge/nginx-http.conf maps repository names; choose another name", r.Name, strings.Join(nginxMapWords, ", "))
		return nil
	}
	what := fmt.Sprintf("[[repo]] %q", r.Name)
	rp := &Repo{Name: r.Name, Path: r.Path, Format: Format(r.Format)}
	ok := true
	if !slices.Contains(Formats, rp.Format) {
		v.errorf(at+".format", "%s: format %q is not one of \"rpm\", \"deb\", \"arch\", \"files\"", what, r.Format)
		ok = false
	}
	check := r.Path
	if rp.Format == FormatArch {
		// pacman expands these itself.
		check = strings.NewReplacer("$repo", "x", "$arch", "x").Replace(check)
	}
	rest := strings.NewReplacer("{release}", "x", "{arch}", "x").Replace(check)
	switch {
	case r.Path == "":
		v.errorf(at, "%s: path is missing; add e.g. path = \"{release}/BaseOS/{arch}/os/\"", what)
		ok = false
	case !relativePath(rest):
		v.errorf(at+".path", "%s: path %q must be relative to the base URLs and have no \"..\" or empty segments", what, r.Path)
		ok = false
	case strings.ContainsAny(rest, "{}$?#"):
		v.errorf(at+".path", "%s: path %q has a placeholder other than {release} and {arch} (and, for format \"arch\", $repo and $arch)", what, r.Path)
		ok = false
	case firstBad(rest, pathChar) >= 0:
		v.errorf(at+".path", "%s: path %q has %s; %s", what, r.Path, describeByte(rest, firstBad(rest, pathChar)), pathChars)
		ok = false
	case rp.Format != FormatArch && !strings.HasSuffix(r.Path, "/"):
		v.errorf(at+".path", "%s: path %q must end with \"/\": clients append their own file names", what, r.Path)
		ok = false
	}
	rp.Releases = v.nameList(at+".releases", what+" release", r.Releases)
	rp.Archs = v.nameList(at+".archs", what+" arch", r.Archs)
	if strings.Contains(r.Path, "{release}") && len(r.Releases) == 0 {
		v.errorf(at+".path", "%s: path uses {release} but releases is empty; list them, e.g. releases = [\"9\", \"10\"]", what)
		ok = false
	}
	if strings.Contains(r.Path, "{arch}") && len(r.Archs) == 0 {
		v.errorf(at+".path", "%s: path uses {arch} but archs is empty; list them, e.g. archs = [\"x86_64\"]", what)
		ok = false
	}
	if !ok {
		return nil
	}
	return rp
}

func (v *validator) nameList(path, what string, list []string) []string {
	seen := map[string]bool{}
	fold := folded{}
	var out []string
	for i, s := range list {
		p := fmt.Sprintf("%s.%d", path, i)
		if !v.name(p, what, s) {
			continue
		}
		if seen[s] {
			v.errorf(p, "%s %q is listed twice", what, s)
			continue
		}
		if prev := fold.add(s, p); prev.name != "" {
			v.caseClash(p, what, s, prev, "each is a directory under out/, which case-insensitive file systems and CDNs take for one")
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

func (v *validator) mirror(inv *Inventory, i int, r *rawMirror, allArchs map[string]bool) *Mirror {
	at := fmt.Sprintf("mirror.%d", i)
	if !v.name(at+".name", "[[mirror]] name", r.Name) {
		return nil
	}
	what := fmt.Sprintf("[[mirror]] %q", r.Name)
	m := &Mirror{Name: r.Name, Sponsor: r.Sponsor, Weight: DefaultWeight, Public: true, URLs: map[Protocol]string{}}
	nerr := len(v.errs)
	if r.SponsorURL != "" {
		if u, ok := v.sponsorURL(at+".sponsor_url", what+": sponsor_url", r.SponsorURL); ok {
			m.SponsorURL = u
		}
	}
	// A mirror without a country is kept unplaced (see Mirror.Placed):
	// real inventories have them, and gen, lookup and dnsd place them
	// from the address probe connected to, given a GeoIP City database.
	if r.Country != "" {
		if c, err := country.Parse(r.Country); err != nil {
			v.errorf(at+".country", "%s: %v", what, err)
		} else {
			m.Country = c
			m.Coord, _ = c.Coord()
		}
	}
	if r.Subdivision != "" {
		if s, err := country.ParseSubdivision(r.Subdivision); err != nil {
			v.errorf(at+".subdivision", "%s: %v", what, err)
		} else if m.Country != "" && s.Country() != m.Country {
			v.errorf(at+".subdivision", "%s: subdivision %q is not in the mirror's country %s; write the ISO 3166-2 code of the subdivision of %s it stands in (%s-...), or fix country", what, r.Subdivision, m.Country, m.Country, m.Country)
		} else {
			m.Subdivision = s
		}
	}
	switch {
	case r.Lat == nil && r.Lon != nil:
		v.errorf(at+".lon", "%s: lon without lat; give both lat and lon, or neither (then the country's representative point is used)", what)
	case r.Lat != nil && r.Lon == nil:
		v.errorf(at+".lat", "%s: lat without lon; give both lat and lon, or neither (then the country's representative point is used)", what)
	case r.Lat != nil:
		c := country.Coord{Lat: *r.Lat, Lon: *r.Lon}
		if !c.Valid() {
			v.errorf(at+".lat", "%s: lat/lon %v,%v is not a coordinate; lat is -90..90, lon -180..180, in degrees", what, *r.Lat, *r.Lon)
		} else {
			m.Coord, m.HasCoord = c, true
		}
	}
	m.ASNs = v.asns(at+".asn", what, r.ASN)
	for j, s := range r.Subnets {
		p := fmt.Sprintf("%s.subnets.%d", at, j)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			v.errorf(p, "%s: subnet %q is not a CIDR prefix; write e.g. \"192.0.2.0/24\" or \"2001:db8::/32\"", what, s)
			continue
		}
		if pfx != pfx.Masked() {
			v.errorf(p, "%s: subnet %q has host bits set; write %q", what, s, pfx.Masked().String())
			continue
		}
		m.Subnets = append(m.Subnets, pfx)
	}
	for j, f := range r.SubnetFiles {
		p := fmt.Sprintf("%s.subnet_files.%d", at, j)
		if f == "" || strings.ContainsFunc(f, unicode.IsControl) {
			v.errorf(p, "%s: subnet_files %q is not a file name", what, f)
			continue
		}
		full := f
		if !filepath.IsAbs(full) {
			full = filepath.Join(v.dir, f)
		}
		pfxs, err := ReadRanges(full)
		if err != nil {
			v.errorf(p, "%s: subnet_files: %v", what, err)
			continue
		}
		m.Subnets = append(m.Subnets, pfxs...)
	}
	slices.SortFunc(m.Subnets, comparePrefix)
	m.Subnets = slices.Compact(m.Subnets)
	m.ProbeNetworks = v.probeNetworks(at, what, r.ProbeNetworks)
	for _, pr := range []struct {
		p Protocol
		s string
	}{{HTTP, r.HTTP}, {HTTPS, r.HTTPS}, {FTP, r.FTP}, {Rsync, r.Rsync}} {
		if pr.s == "" {
			continue
		}
		if u, ok := v.baseURL(at+"."+string(pr.p), fmt.Sprintf("%s: %s", what, pr.p), pr.s, string(pr.p)); ok {
			m.URLs[pr.p] = u
		}
	}
	if r.HTTP == "" && r.HTTPS == "" && r.FTP == "" && r.Rsync == "" {
		v.errorf(at, "%s: no base URL; add at least one of http, https, ftp, rsync", what)
	}
	if r.Weight != nil {
		m.Weight = *r.Weight
		if m.Weight < 1 || m.Weight > 1_000_000 {
			v.errorf(at+".weight", "%s: weight = %d is out of range; use 1 to 1000000 (relative capacity; default %d). To take a mirror out, remove it or let probe mark it down", what, m.Weight, DefaultWeight)
		}
	}
	if r.Public != nil {
		m.Public = *r.Public
	}
	for j, label := range r.DNS {
		p := fmt.Sprintf("%s.dns.%d", at, j)
		if inv.DNS == nil {
			v.errorf(p, "%s: dns = [%q] but there is no [dns] table; add one or remove the key", what, label)
			break
		}
		var name *DNSName
		for k := range inv.DNS.Names {
			if inv.DNS.Names[k].Label == strings.ToLower(label) {
				name = &inv.DNS.Names[k]
			}
		}
		if name == nil {
			v.errorf(p, "%s: dns name %q is not in [dns] names; add it there or fix the spelling", what, label)
			continue
		}
		if m.URLs[name.Protocol] == "" && len(m.URLs) > 0 {
			v.errorf(p, "%s: dns name %q is served over %s but the mirror has no %s URL", what, label, name.Protocol, name.Protocol)
			continue
		}
		if host := m.Host(name.Protocol); host != "" {
			if _, err := netip.ParseAddr(host); err == nil {
				v.errorf(p, "%s: dns name %q answers with a CNAME to the host of the %s URL, but that is an address (%s); give the mirror a host name, or remove %q from dns", what, label, name.Protocol, host, label)
				continue
			}
		}
		if slices.Contains(m.DNS, name.Label) {
			v.errorf(p, "%s: dns name %q is listed twice", what, label)
			continue
		}
		m.DNS = append(m.DNS, name.Label)
	}
	if r.Label != "" {
		if mirrorLabel.MatchString(r.Label) {
			m.Label = strings.ToLower(r.Label)
		} else {
			v.errorf(at+".label", "%s: label %q is not a mirror label; use 1 to 63 letters and digits (no \"-\": it separates labels in preference names), e.g. label = \"fau\"", what, r.Label)
		}
	}
	for j, s := range r.Repos {
		if inv.repos[s] == nil {
			v.errorf(fmt.Sprintf("%s.repos.%d", at, j), "%s: repos lists %q, which no [[repo]] defines", what, s)
		}
	}
	m.Repos = slices.Clone(r.Repos)
	for j, s := range r.Archs {
		if !allArchs[s] {
			v.errorf(fmt.Sprintf("%s.archs.%d", at, j), "%s: archs lists %q, which no [[repo]] has", what, s)
		}
	}
	m.Archs = slices.Clone(r.Archs)
	if r.MaxLag != "" {
		if d, ok := v.duration(at+".max_lag", what+": max_lag", r.MaxLag); ok {
			m.MaxLag = d
		}
	}
	if len(v.errs) > nerr {
		return nil
	}
	return m
}

// sponsorURL checks a sponsor's link. It is for people: a query or a
// fragment may make sense, and characters such as '"' or '<' reach only
// the status pages and the JSON API, which escape them (html/template,
// encoding/json). Credentials, a host or port that does not exist, and
// spaces (which end the link in plain text) are refused.
func (v *validator) sponsorURL(path, what, s string) (string, bool) {
	if _, ok := v.parseURL(path, what, s, "http", "https"); !ok {
		return "", false
	}
	if strings.Contains(s, " ") {
		v.errorf(path, "%s %q has a space, which ends a link in plain text; write it as %%20: %q", what, s, strings.ReplaceAll(s, " ", "%20"))
		return "", false
	}
	return s, true
}

func (v *validator) asns(path, what string, raw any) []uint32 {
	var items []any
	switch x := raw.(type) {
	case nil:
		return nil
	case []any:
		items = x
	default:
		items = []any{x}
	}
	var out []uint32
	for j, it := range items {
		p := path
		if _, isList := raw.([]any); isList {
			p = fmt.Sprintf("%s.%d", path, j)
		}
		var n int64
		switch x := it.(type) {
		case int64:
			n = x
		case string:
			s := strings.TrimPrefix(strings.ToUpper(x), "AS")
			var err error
			if n, err = strconv.ParseInt(s, 10, 64); err != nil {
				n = -1
			}
		default:
			n = -1
		}
		if n < 1 || n > math.MaxUint32 || n == 23456 {
			shown := fmt.Sprint(it)
			switch x := it.(type) {
			case string:
				shown = strconv.Quote(x)
			case float64:
				shown = strconv.FormatFloat(x, 'f', -1, 64)
				if x == math.Trunc(x) && !math.IsInf(x, 0) {
					shown += ".0" // 3320.0, not 3320, which is fine
				}
			}
			v.errorf(p, "%s: asn %s is not an AS number; write asn = 3320 or asn = [3320, 3209] (1 to 4294967295, not 23456)", what, shown)
			continue
		}
		if slices.Contains(out, uint32(n)) {
			v.errorf(p, "%s: asn %d is listed twice", what, n)
			continue
		}
		out = append(out, uint32(n))
	}
	slices.Sort(out)
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// mirrorLabel is a mirror's label in preference names: one DNS label
// without "-", which joins labels there.
var mirrorLabel = regexp.MustCompile(`^[A-Za-z0-9]{1,63}$`)

// Defaults of the [dns] keys only dnsd reads.
const DefaultNegativeTTL = 300

// dnsd checks the [dns] keys only dnsd reads: the zone file's path (its
// records are dnsd's to check, dnsd.CheckZoneFile), the fallback, the
// _whoami networks and the SOA's hostmaster and negative TTL. It runs
// after v.dns and v.network, whose results it uses.
func (v *validator) dnsd(inv *Inventory, r *rawDNS) {
	d := inv.DNS
	d.NegativeTTL = DefaultNegativeTTL
	if r.NegativeTTL != nil {
		if *r.NegativeTTL < 1 || *r.NegativeTTL > 86400 {
			v.errorf("dns.negative_ttl", "[dns] negative_ttl = %d is out of range; use 1 to 86400 seconds (RFC 2308 suggests 300 to 10800)", *r.NegativeTTL)
		} else {
			d.NegativeTTL = uint32(*r.NegativeTTL)
		}
	}
	d.Hostmaster = "hostmaster." + d.Zone
	if r.Hostmaster != "" {
		h := strings.ToLower(r.Hostmaster)
		if !strings.HasSuffix(h, ".") {
			h += "."
		}
		if !mailbox(h) {
			v.errorf("dns.hostmaster", "[dns] hostmaster %q is not a mailbox in DNS form; write the address with its @ as a dot, e.g. hostmaster = \"hostmaster.example.org.\" (the part before the @ is letters, digits, _ + - and dots written \\\\., as in \"john\\\\.doe.example.org.\")", r.Hostmaster)
		} else {
			d.Hostmaster = h
		}
	}
	switch {
	case r.Fallback != "":
		f := strings.ToLower(r.Fallback)
		if !strings.HasSuffix(f, ".") {
			f += "."
		}
		if !hostName(f) || strings.Count(f, ".") < 2 {
			v.errorf("dns.fallback", "[dns] fallback %q is not a host name; write the fully qualified host that answers when no mirror is healthy, e.g. fallback = \"origin.example.org.\"", r.Fallback)
		} else {
			d.Fallback = f
		}
	case inv.Network.Origin != "":
		host := ""
		if u, err := url.Parse(inv.Network.Origin); err == nil {
			host = strings.ToLower(u.Hostname())
		}
		if _, err := netip.ParseAddr(host); err == nil || !hostName(host+".") {
			v.errorf("dns", "[dns] fallback is missing and the [network] origin's host %q cannot be a CNAME target; add fallback = \"origin.example.org.\"", host)
		} else {
			d.Fallback = host + "."
		}
	}
	for i, s := range r.Whoami {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		path := fmt.Sprintf("dns.whoami.%d", i)
		switch {
		case err != nil:
			v.errorf(path, "[dns] whoami %q is not an address or CIDR prefix; write e.g. \"192.0.2.0/24\" or \"2001:db8::53\"", s)
		case p != p.Masked():
			v.errorf(path, "[dns] whoami %q has host bits set; write %q", s, p.Masked().String())
		default:
			d.Whoami = append(d.Whoami, p)
		}
	}
	if r.ZoneFile != "" {
		d.ZoneFile = r.ZoneFile
		if !filepath.IsAbs(d.ZoneFile) {
			d.ZoneFile = filepath.Join(v.dir, d.ZoneFile)
		}
	}
	if d.Zone != "" { // v.dns accepted it
		v.derivedNames(d, r)
	}
	if r.DNSSEC != nil {
		d.DNSSEC = v.dnssec(r.DNSSEC)
	}
}

// Bounds of [dns.dnssec] validity.
const (
	DefaultValidity = 14 * 24 * time.Hour
	minValidity     = time.Hour
	maxValidity     = 366 * 24 * time.Hour
)

// dnssec checks [dns.dnssec]: the key files are named, once each (dnsd
// reads them, dnsd.ReadKeys), and the validity is in range.
func (v *validator) dnssec(r *rawDNSSEC) *DNSSEC {
	s := &DNSSEC{Validity: DefaultValidity}
	if len(r.Keys) == 0 {
		v.errorf("dns.dnssec", "[dns.dnssec] keys is missing; name the key files that sign the zone, e.g. keys = [\"Kexample.org.+013+12345\"] (dnssec-keygen -a ECDSAP256SHA256 -f KSK example.org writes one)")
	}
	seen := map[string]string{}
	add := func(key string, paths []string) {
		for i, p := range paths {
			at := fmt.Sprintf("dns.dnssec.%s.%d", key, i)
			base := strings.TrimSuffix(strings.TrimSuffix(p, ".key"), ".private")
			if base == "" || strings.HasSuffix(base, "/") {
				v.errorf(at, "[dns.dnssec] %s: %q is not a key file; write the path dnssec-keygen printed, e.g. \"Kexample.org.+013+12345\" (with or without .key)", key, p)
				continue
			}
			if !filepath.IsAbs(base) {
				base = filepath.Join(v.dir, base)
			}
			if prev, ok := seen[base]; ok {
				v.errorf(at, "[dns.dnssec] %s: %q is already in %s; a key either signs (keys) or is only published (publish), once", key, p, prev)
				continue
			}
			seen[base] = key
			s.Keys = append(s.Keys, DNSSECKey{Path: base, Sign: key == "keys", At: at})
		}
	}
	add("keys", r.Keys)
	add("publish", r.Publish)
	if r.Validity != "" {
		d, err := time.ParseDuration(r.Validity)
		if err != nil || d < minValidity || d > maxValidity {
			v.errorf("dns.dnssec.validity", "[dns.dnssec] validity %q is not a duration from 1h to 8784h (366 days); write e.g. \"336h\" (14 days)", r.Validity)
		} else {
			s.Validity = d
		}
	}
	return s
}

// reason is what went wrong reading a file, without the path the message
// already names.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var tl *fileio.TooLargeError
	if errors.As(err, &tl) {
		return fmt.Errorf("larger than %d MiB", tl.Limit>>20)
	}
	return err
}
