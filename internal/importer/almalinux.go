package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// maxSourceFile bounds one source file: an AlmaLinux mirror file is a
// kilobyte, a MirrorZ site file a few; a larger one is the wrong file.
const maxSourceFile = fileio.MaxSmall

// almaKeys are the keys of an AlmaLinux mirror file (its JSON schema,
// json_schemas/mirror_config, and what its service reads), with what the
// import does with those it does not carry over.
var almaKeys = map[string]string{
	"name": "", "address": "", "geolocation": "", "private": "", "asn": "", "subnets": "",
	"sponsor": "", "sponsor_url": "",
	"cloud_type": "", "cloud_regions": "",
	"address_optional": "", "monopoly": "",
	// Not carried over, and not worth a note per mirror (the output's
	// README says so once).
	"email": "-", "update_frequency": "-", "config_version": "-",
}

// ReadAlmaLinux reads AlmaLinux mirror files: each path is a mirrors.d
// directory (read recursively, *.yml only, as AlmaLinux's service does) or
// one file. A file that cannot be read as a mirror is skipped with a
// note; the error is for paths that cannot be read at all.
func ReadAlmaLinux(paths []string) (*Result, error) {
	r := &Result{Format: "almalinux", Inputs: paths}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			r.readAlmaFile(filepath.ToSlash(p), p)
			continue
		}
		err = filepath.WalkDir(p, func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(p, full)
			source := filepath.ToSlash(filepath.Join(p, rel))
			switch {
			case d.IsDir() && strings.HasPrefix(d.Name(), ".") && full != p:
				return filepath.SkipDir // .git and the like
			case d.IsDir():
				return nil
			case !d.Type().IsRegular():
				r.skipFile(source, "not a regular file")
			case strings.HasSuffix(d.Name(), ".yml"):
				r.readAlmaFile(source, full)
			case strings.HasPrefix(d.Name(), "."):
			case strings.HasSuffix(d.Name(), ".yaml"):
				r.skipFile(source, "AlmaLinux's mirror service reads *.yml files only, so this is not a mirror there either; rename it to .yml to import it")
			default:
				r.skipFile(source, "not a .yml mirror file")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Result) readAlmaFile(source, full string) {
	r.Files++
	data, err := fileio.ReadFile(full, maxSourceFile)
	if err != nil {
		r.skipFile(source, "%v", reason(err))
		return
	}
	r.ParseAlmaLinux(source, data)
}

// ParseAlmaLinux reads one AlmaLinux mirror file held in data, named
// source in notes, and adds its mirror.
func (r *Result) ParseAlmaLinux(source string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.skipFile(source, "empty")
		} else {
			r.skipFile(source, "not YAML: %v", yamlError(err))
		}
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			r.skipFile(source, "not YAML: %v", yamlError(err))
		} else {
			r.skipFile(source, "holds more than one YAML document (line %d); AlmaLinux's service reads files with one", extra.Line)
		}
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		r.skipFile(source, "line %d: a mirror file is a mapping (name: ..., address: ...), not a %s", root.Line, kindName(root))
		return
	}
	m := &Mirror{Source: source, Line: root.Line, Public: true, URLs: map[inventory.Protocol]string{}}
	var cloudType string
	var cloudRegions []string
	for _, kv := range pairs(r, m, root, "") {
		k, v := kv.key, kv.value
		switch k {
		case "name":
			m.Name = r.scalar(m, k, v)
		case "sponsor":
			m.Sponsor = r.scalar(m, k, v)
		case "sponsor_url":
			m.SponsorURL = r.scalar(m, k, v)
		case "address":
			r.almaAddress(m, v)
		case "geolocation":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				r.note(m, "line %d: geolocation is not a mapping; ignored", v.Line)
				continue
			}
			for _, g := range pairs(r, m, v, "geolocation.") {
				if g.key == "country" {
					m.CountryText = r.scalar(m, "geolocation.country", g.value)
				}
			}
		case "private":
			var b bool
			if err := v.Decode(&b); err != nil {
				r.note(m, "line %d: private %s is not true or false; taken as false (public)", v.Line, quote(v.Value))
				continue
			}
			m.Public = !b
		case "asn":
			r.almaASN(m, v)
		case "subnets":
			r.almaSubnets(m, v)
		case "cloud_type":
			cloudType = r.scalar(m, k, v)
		case "cloud_regions":
			for _, item := range seq(v) {
				if s := r.scalar(m, k, item); s != "" {
					cloudRegions = append(cloudRegions, s)
				}
			}
		case "address_optional":
			var names []string
			for _, o := range pairs(r, m, v, "address_optional.") {
				names = append(names, o.key)
			}
			r.note(m, "address_optional (%s) not imported: mirrors.toml has one base URL per protocol", strings.Join(names, ", "))
		case "monopoly":
			var b bool
			if v.Decode(&b) == nil && b {
				r.note(m, "monopoly not imported: mirrorsteer always adds other mirrors after a network match")
			}
		default:
			if almaKeys[k] == "" {
				r.note(m, "line %d: unknown key %q ignored", kv.line, k)
			}
		}
	}
	if cloudType != "" || len(cloudRegions) > 0 {
		what := fmt.Sprintf("AlmaLinux matches it by cloud_type %s, cloud_regions [%s]", cloudType, strings.Join(cloudRegions, ", "))
		if m.Public {
			r.note(m, "%s; not imported: mirrorsteer matches clients by address, add subnet_files with the provider's published ranges for those regions", what)
		} else {
			m.Unreachable = what
		}
	}
	r.Mirrors = append(r.Mirrors, m)
}

type pair struct {
	key   string
	line  int
	value *yaml.Node
}

// pairs returns the entries of a mapping in file order; a key given twice
// counts once, at its last value, as AlmaLinux's Python loader reads it.
func pairs(r *Result, m *Mirror, n *yaml.Node, prefix string) []pair {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []pair
	at := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			r.note(m, "line %d: a key that is not a plain string; ignored", k.Line)
			continue
		}
		if j, ok := at[k.Value]; ok {
			r.note(m, "line %d: %s%s given twice (lines %d and %d); the last is used, as AlmaLinux reads it", k.Line, prefix, k.Value, out[j].line, k.Line)
			out[j].value, out[j].line = v, k.Line
			continue
		}
		at[k.Value] = len(out)
		out = append(out, pair{k.Value, k.Line, v})
	}
	return out
}

// deref follows an alias (*anchor) to the node it names, once: the
// parser keeps aliases unexpanded, so a file of nested aliases costs no
// more than its size.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// seq returns the items of a sequence, or the node itself when it is a
// single value.
func seq(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Content
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
	}
	return []*yaml.Node{n}
}

// scalar returns a scalar's text; anything else is noted and read as "".
func (r *Result) scalar(m *Mirror, key string, n *yaml.Node) string {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		r.note(m, "line %d: %s is a %s, not a single value; ignored", n.Line, key, kindName(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (r *Result) almaAddress(m *Mirror, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		r.note(m, "line %d: address is not a mapping of protocol to URL; ignored", v.Line)
		return
	}
	for _, a := range pairs(r, m, v, "address.") {
		p := inventory.Protocol(a.key)
		if !p.Valid() {
			r.note(m, "line %d: address key %q is not http, https, ftp or rsync; ignored", a.line, a.key)
			continue
		}
		if s := r.scalar(m, "address."+a.key, a.value); s != "" {
			m.URLs[p] = s
		}
	}
}

func (r *Result) almaASN(m *Mirror, v *yaml.Node) {
	for _, item := range seq(v) {
		s := r.scalar(m, "asn", item)
		if s == "" {
			continue
		}
		t := strings.TrimSpace(s)
		if len(t) > 2 && strings.EqualFold(t[:2], "AS") {
			t = t[2:]
		}
		n, err := strconv.ParseUint(t, 10, 32)
		if err != nil || n == 0 || n == 23456 {
			r.note(m, "line %d: asn %s is not an AS number (1 to 4294967295, not 23456); ignored", item.Line, quote(s))
			continue
		}
		if slices.Contains(m.ASNs, uint32(n)) {
			r.note(m, "line %d: asn %d listed twice; once is enough", item.Line, n)
			continue
		}
		m.ASNs = append(m.ASNs, uint32(n))
	}
}

func (r *Result) almaSubnets(m *Mirror, v *yaml.Node) {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		if _, err := netip.ParsePrefix(strings.TrimSpace(v.Value)); err != nil {
			r.note(m, "line %d: subnets is the URL %s of a list, which the import does not fetch; download it and point subnet_files at it in mirrors.toml", v.Line, quote(v.Value))
			return
		}
		r.note(m, "line %d: subnets is one prefix, not a list; read as [%s]", v.Line, v.Value)
	}
	for _, item := range seq(v) {
		s := strings.TrimSpace(r.scalar(m, "subnets", item))
		if s == "" {
			continue
		}
		if p, ok := r.prefix(m, item.Line, s); ok {
			m.Subnets = append(m.Subnets, p)
		}
	}
}

// prefix reads a subnet: a CIDR prefix, with host bits cleared, or a
// single address.
func (r *Result) prefix(m *Mirror, line int, s string) (netip.Prefix, bool) {
	at := ""
	if line > 0 {
		at = fmt.Sprintf("line %d: ", line)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			r.note(m, "%ssubnet %s is not a CIDR prefix; ignored", at, quote(s))
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		r.note(m, "%ssubnet %s is an address; read as %s", at, quote(s), p)
		return p, true
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
	}
	if p != p.Masked() {
		r.note(m, "%ssubnet %s has host bits set; read as %s", at, quote(s), p.Masked())
		p = p.Masked()
	}
	return p, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// yamlError strips the library's prefix: the note names the file already.
func yamlError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// reason is what went wrong reading a file, without the path the note
// names already.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var tl *fileio.TooLargeError
	if errors.As(err, &tl) {
		return fmt.Errorf("larger than %d bytes: not a mirror file", tl.Limit)
	}
	return err
}
