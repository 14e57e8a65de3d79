package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/didyoumean"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// Load reads and parses the state file at path; see [Parse].
func Load(path string) (*Snapshot, error) {
	data, err := fileio.ReadFile(path, fileio.MaxState)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w; run mirrorsteer probe to create it, or fix the state file path", err)
		}
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and validates a state file. name is used in error messages,
// normally the file's path.
//
// Parse rejects invalid JSON, a missing or newer schema version, unknown
// fields and impossible values (see [Snapshot.Validate]), with an error that
// names the file, the place in it and the fix. The returned snapshot is in
// canonical form (see the package documentation).
func Parse(name string, data []byte) (*Snapshot, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: file is empty; it is not a complete state file (re-run mirrorsteer probe to write one)", name)
	}

	// Look at the schema version first: a newer file may have fields this
	// code does not know, and "upgrade" is the useful message then.
	var head struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, syntaxError(name, data, syn)
		}
		return nil, fmt.Errorf("%s: top level is %s, not an object: not a mirrorsteer state file?", name, describeJSON(bytes.TrimSpace(data)))
	}
	if len(head.Schema) == 0 || string(head.Schema) == "null" {
		return nil, fmt.Errorf(`%s: no "schema" field: not a mirrorsteer state file? (files written by mirrorsteer probe start with "schema": %d)`, name, Schema)
	}
	var version int
	if err := json.Unmarshal(head.Schema, &version); err != nil {
		return nil, fmt.Errorf(`%s: schema: want a whole version number like %d, found %s: not a mirrorsteer state file?`, name, Schema, describeJSON(head.Schema))
	}
	switch {
	case version <= 0:
		return nil, fmt.Errorf(`%s: schema version %d: not a mirrorsteer state file? (files written by mirrorsteer probe have "schema": %d)`, name, version, Schema)
	case version > Schema:
		return nil, fmt.Errorf("%s: schema version %d is newer than this mirrorsteer understands (%d); upgrade mirrorsteer", name, version, Schema)
	}

	// encoding/json neither says where unknown fields and badly typed
	// values are nor notices duplicate keys (the last one silently wins), so
	// walk the document first to find those with their line and column.
	if loc := locate(data); loc != nil {
		return nil, fmt.Errorf("%s:%s: %s: %s", name, position(data, loc.off), loc.where, loc.msg)
	}
	s := new(Snapshot)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err) // not reached: locate finds these
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.canonicalize()
	return s, nil
}

// syntaxError turns a JSON syntax error into one with line:column and a fix.
func syntaxError(name string, data []byte, err *json.SyntaxError) error {
	var raw json.RawMessage
	if errors.Is(json.NewDecoder(bytes.NewReader(data)).Decode(&raw), io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s:%s: unexpected end of file: the file is truncated; re-run mirrorsteer probe to write a complete one", name, position(data, len(data)))
	}
	// Offset counts the offending byte.
	return fmt.Errorf("%s:%s: %v: the file is not valid JSON; fix the syntax there, or re-run mirrorsteer probe to rewrite it", name, position(data, int(err.Offset)-1), err)
}

// position formats byte offset off in data as 1-based "line:column".
func position(data []byte, off int) string {
	off = max(0, min(off, len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// describeJSON names the kind of a JSON value for error messages.
func describeJSON(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "the string " + short(string(v))
	case 't', 'f':
		return "the boolean " + string(v)
	case 'n':
		return "null"
	default:
		return "the number " + short(string(v))
	}
}

// short shortens s for quoting in an error message.
func short(s string) string {
	const maxLen = 60
	if len(s) <= maxLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLen], "") + "…"
}

// describeToken names the kind of a JSON token for error messages.
func describeToken(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "the string " + short(strconv.Quote(tok))
	case bool:
		return fmt.Sprint("the boolean ", tok)
	case nil:
		return "null"
	default:
		return fmt.Sprint("the number ", tok)
	}
}

// A located is a problem at a place in the document.
type located struct {
	off   int    // byte offset
	where string // e.g. mirrors["m"].endpoints[0].failures
	msg   string // problem and fix
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// locate finds the first unknown field, duplicate key or badly typed value
// in data, which is syntactically valid JSON, by walking it against the
// Snapshot type.
func locate(data []byte) *located { return locateAs(data, reflect.TypeFor[Snapshot]()) }

// locateAs is locate against the document type t.
func locateAs(data []byte, t reflect.Type) *located {
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data)), structs: make(map[reflect.Type]*structInfo)}
	w.dec.UseNumber()
	return w.value(t)
}

type walker struct {
	data    []byte
	dec     *json.Decoder
	structs map[reflect.Type]*structInfo
	path    []pathElem // where the walk is
}

// pathElem is one step of a path into the document: a struct field, a map
// key or (index >= 0) a list index.
type pathElem struct {
	field, key string
	index      int
}

// fail returns a problem at offset off and the current path.
func (w *walker) fail(off int, msg string) *located {
	var b strings.Builder
	for _, e := range w.path {
		switch {
		case e.field != "":
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.field)
		case e.index >= 0:
			fmt.Fprintf(&b, "[%d]", e.index)
		default:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(e.key))
		}
	}
	if b.Len() == 0 {
		b.WriteString("top level")
	}
	return &located{off, b.String(), msg}
}

// structInfo is the JSON view of a struct type.
type structInfo struct {
	names []string // JSON field names
	types []reflect.Type
}

func (w *walker) structInfo(t reflect.Type) *structInfo {
	si := w.structs[t]
	if si == nil {
		si = new(structInfo)
		si.names, si.types = fields(t)
		w.structs[t] = si
	}
	return si
}

// start returns the offset of the next value or key.
func (w *walker) start() int {
	off := int(w.dec.InputOffset())
	for off < len(w.data) && strings.IndexByte(" \t\r\n,:", w.data[off]) >= 0 {
		off++
	}
	return off
}

func (w *walker) value(t reflect.Type) *located {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	off := w.start()
	if reflect.PointerTo(t).Implements(unmarshalerType) { // time.Time, Duration, Family, Class
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return w.fail(off, err.Error())
		}
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			if t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[Family]() || t == reflect.TypeFor[Class]() {
				return w.fail(off, err.Error())
			}
			return w.fail(off, fmt.Sprintf("cannot read %s as a time; want %s", short(string(raw)), want(t)))
		}
		return nil
	}
	if t == reflect.TypeFor[netip.Addr]() {
		var s string
		if err := w.dec.Decode(&s); err != nil {
			return w.fail(off, "want "+want(t))
		}
		if _, err := netip.ParseAddr(s); err != nil {
			return w.fail(off, fmt.Sprintf("cannot read %q as an IP address; want %s", s, want(t)))
		}
		return nil
	}

	tok, err := w.dec.Token()
	if err != nil {
		return w.fail(off, err.Error())
	}
	if tok == nil { // null leaves the zero value
		return nil
	}
	if t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Slice {
		ok := false
		switch tok := tok.(type) {
		case string:
			ok = t.Kind() == reflect.String
		case bool:
			ok = t.Kind() == reflect.Bool
		case json.Number:
			switch t.Kind() {
			case reflect.Int, reflect.Int64:
				_, err := strconv.ParseInt(string(tok), 10, t.Bits())
				ok = err == nil
			case reflect.Float64:
				_, err := strconv.ParseFloat(string(tok), 64)
				ok = err == nil
			}
		}
		if !ok {
			return w.fail(off, fmt.Sprintf("want %s, found %s", want(t), describeToken(tok)))
		}
		return nil
	}
	open := json.Delim('{')
	if t.Kind() == reflect.Slice {
		open = '['
	}
	if tok != open {
		return w.fail(off, fmt.Sprintf("want %s, found %s", want(t), describeToken(tok)))
	}
	seen := make(map[string]int) // key → offset
	for i := 0; w.dec.More(); i++ {
		if t.Kind() == reflect.Slice {
			w.path = append(w.path, pathElem{index: i})
			if loc := w.value(t.Elem()); loc != nil {
				return loc
			}
			w.path = w.path[:len(w.path)-1]
			continue
		}
		keyOff := w.start()
		tok, err := w.dec.Token()
		if err != nil {
			return w.fail(keyOff, err.Error())
		}
		key := tok.(string)
		name, elem := key, pathElem{key: key, index: -1}
		var ft reflect.Type
		if t.Kind() == reflect.Map {
			ft = t.Elem()
		} else {
			var ok bool
			ft, name, ok = w.field(t, key)
			if !ok {
				msg := fmt.Sprintf("unknown field %s", short(strconv.Quote(key)))
				if guess := suggest(w.structInfo(t).names, key); guess != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", guess)
				}
				msg += "; fix or remove it, the fields are listed in internal/state/README.md"
				return w.fail(keyOff, msg)
			}
			elem = pathElem{field: name}
		}
		if first, dup := seen[name]; dup {
			return w.fail(keyOff, fmt.Sprintf("%s appears twice (first at %s); merge the two or remove one", short(strconv.Quote(key)), position(w.data, first)))
		}
		seen[name] = keyOff
		w.path = append(w.path, elem)
		if loc := w.value(ft); loc != nil {
			return loc
		}
		w.path = w.path[:len(w.path)-1]
	}
	if _, err := w.dec.Token(); err != nil { // closing delimiter
		return w.fail(w.start(), err.Error())
	}
	return nil
}

// field finds the field of struct type t that encoding/json would decode key
// into: an exact match, else a case-insensitive one.
func (w *walker) field(t reflect.Type, key string) (reflect.Type, string, bool) {
	si := w.structInfo(t)
	for i, n := range si.names {
		if n == key {
			return si.types[i], n, true
		}
	}
	for i, n := range si.names {
		if strings.EqualFold(n, key) {
			return si.types[i], n, true
		}
	}
	return nil, "", false
}

// want describes what a Go type expects in JSON.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a Go duration string like "1h30m0s"`
	case reflect.TypeFor[netip.Addr]():
		return `an IP address string like "192.0.2.1" or "2001:db8::1"`
	}
	if t == reflect.TypeFor[Family]() {
		return `"ipv4" or "ipv6"`
	}
	if t == reflect.TypeFor[Class]() {
		return "a class name like " + strconv.Quote(string(ClassTimeout))
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// time.Time
		return `an RFC 3339 time string like "2025-01-02T15:04:05Z"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	default:
		return "an object"
	}
}

// fields lists the JSON names of struct type t and their types.
func fields(t reflect.Type) (names []string, types []reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		types = append(types, f.Type)
	}
	return names, types
}

// suggest returns the name closest to key, if it is close.
func suggest(names []string, key string) string {
	return didyoumean.Closest(strings.ToLower(key), names)
}
