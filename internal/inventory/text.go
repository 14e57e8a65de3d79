package inventory

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// refusedRune says what r is when no string of mirrors.toml may hold it,
// or "". Every string of the file ends up in some output (list lines,
// comment headers, nginx configuration, metalinks, JSON, HTML, DNS), most
// of which are line-based or shown to people:
//
//   - control characters (C0, DEL, C1): a line feed in [network] name
//     writes extra lines into every rpm, apt and pacman list;
//   - U+2028 and U+2029, which JavaScript, JSON readers and some editors
//     take as line breaks;
//   - the bidirectional embeddings, overrides and isolates, which make
//     text display in another order than it is stored ("Trojan Source"):
//     a page or terminal would show something other than what is served.
//
// The bidirectional marks (U+200E, U+200F, U+061C) stay allowed: they
// only affect the neutral characters next to them, and right-to-left
// names need them.
func refusedRune(r rune) string {
	switch {
	case r == '\t':
		return "a tab (U+0009)"
	case r == '\n':
		return "a line feed (U+000A)"
	case r == '\r':
		return "a carriage return (U+000D)"
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
		return fmt.Sprintf("a control character (U+%04X)", r)
	case r == 0x2028:
		return "a line separator (U+2028)"
	case r == 0x2029:
		return "a paragraph separator (U+2029)"
	case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
		return fmt.Sprintf("a bidirectional override (U+%04X)", r)
	}
	return ""
}

// refusedText returns what is wrong with s and why, or "".
func refusedText(s string) (what, why string) {
	for _, r := range s {
		if w := refusedRune(r); w != "" {
			switch {
			case r == 0x2028 || r == 0x2029:
				why = "some readers take it as a line break, so it could add lines to what is written from it"
			case r >= 0x202a:
				why = "it makes text display in another order than it is stored, so pages and terminals would show something other than what is served"
			default:
				why = "control characters break the line-based lists, configuration snippets and pages the value is written into"
			}
			return w, why
		}
	}
	return "", ""
}

// text refuses, in every string of the file (values, and the keys of the
// tables whose keys the operator chooses), the characters refusedRune
// names. It walks the decoded file rather than listing its keys, so a key
// added later is covered too. It runs before the other checks, which then
// keep quiet about the same value (see errorf).
func (v *validator) text(raw *rawFile) {
	v.walkText(reflect.ValueOf(raw).Elem(), nil, raw)
}

// walkText checks the strings in x, at path. path is a stack the walk
// shares: each call appends its part in place, and nothing keeps it.
func (v *validator) walkText(x reflect.Value, path []string, raw *rawFile) {
	switch x.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !x.IsNil() {
			v.walkText(x.Elem(), path, raw)
		}
	case reflect.Struct:
		for i, tag := range tomlTags(x.Type()) {
			v.walkText(x.Field(i), append(path, tag), raw)
		}
	case reflect.Slice:
		for i := range x.Len() {
			v.walkText(x.Index(i), append(path, strconv.Itoa(i)), raw)
		}
	case reflect.Map:
		keys := x.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			p := append(path, k.String())
			if !v.refusedAt(p, k.String(), true, raw) {
				v.walkText(x.MapIndex(k), p, raw)
			}
		}
	case reflect.String:
		v.refusedAt(path, x.String(), false, raw)
	}
}

// tomlTags returns the toml tag of each field of struct type t, made
// once per type.
func tomlTags(t reflect.Type) []string {
	if tags, ok := tagsByType.Load(t); ok {
		return tags.([]string)
	}
	tags := make([]string, t.NumField())
	for i := range tags {
		tags[i] = t.Field(i).Tag.Get("toml")
	}
	tagsByType.Store(t, tags)
	return tags
}

var tagsByType sync.Map // reflect.Type -> []string

// refusedAt reports s, found at path, when it holds a refused character,
// and marks path so that other checks do not report it again.
func (v *validator) refusedAt(path []string, s string, isKey bool, raw *rawFile) bool {
	what, why := refusedText(s)
	if what == "" {
		return false
	}
	dotted := strings.Join(path, ".")
	v.errorf(dotted, "%s %q has %s: %s; remove it", describeValue(path, isKey, raw), s, what, why)
	if v.refused == nil {
		v.refused = map[string]bool{}
	}
	v.refused[dotted] = true
	return true
}

// describeValue names the value at path as the operator wrote it:
// `[network] name`, `[[mirror]] "a.example.net": sponsor`,
// `[dns] names key`.
func describeValue(path []string, isKey bool, raw *rawFile) string {
	var table string
	rest := path[1:]
	switch path[0] {
	case "repo", "mirror":
		table = "[[" + path[0] + "]]"
		if len(path) > 1 {
			i, _ := strconv.Atoi(path[1])
			name := ""
			if path[0] == "repo" && i < len(raw.Repo) {
				name = raw.Repo[i].Name
			} else if path[0] == "mirror" && i < len(raw.Mirror) {
				name = raw.Mirror[i].Name
			}
			if w, _ := refusedText(name); name != "" && w == "" && !(len(path) == 3 && path[2] == "name") {
				table += " " + strconv.Quote(name) + ":"
			} else if !(len(path) == 3 && path[2] == "name") {
				table += fmt.Sprintf(" #%d:", i+1)
			}
			rest = path[2:]
		}
	default:
		table = "[" + path[0] + "]"
	}
	// Array indexes are left out: the line and column point at the
	// element.
	var keys []string
	for i, k := range rest {
		if _, err := strconv.Atoi(k); err == nil && (i > 0 || len(rest) == 1) {
			continue
		}
		keys = append(keys, k)
	}
	if isKey && len(keys) > 0 {
		// The last part is the key itself, which is quoted after this.
		keys = keys[:len(keys)-1]
		return strings.TrimSpace(table + " " + dotted(keys) + " key")
	}
	return strings.TrimSpace(table + " " + dotted(keys))
}
