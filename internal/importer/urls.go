package importer

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// rsyncModule is rsync's own daemon syntax, host::module/path, alone or
// after rsync:// (which rsync itself does not accept, but people write).
// The user part, if any, is kept here and judged like any URL's.
var rsyncModule = regexp.MustCompile(`^(?i:rsync://)?((?:[^/@:]+@)?[^/@:]+)::/?(.*)$`)

// repairURLs makes every URL of m one mirrors.toml accepts, under the key
// of its scheme, or drops it; each change gets a note.
func (r *Result) repairURLs(m *Mirror) {
	in := m.URLs
	m.URLs = map[inventory.Protocol]string{}
	// Keys in a fixed order, so which of two clashing URLs wins does not
	// depend on map order: the URL filed under its own scheme first.
	type filed struct {
		key inventory.Protocol
		raw string
		u   *url.URL
	}
	var all []filed
	for _, key := range inventory.Protocols {
		raw := in[key]
		if raw == "" {
			continue
		}
		u, ok := r.repairURL(m, key, raw)
		if !ok {
			continue
		}
		all = append(all, filed{key, raw, u})
	}
	// Own scheme first, then the misfiled ones.
	for pass := 0; pass < 2; pass++ {
		for _, f := range all {
			scheme := inventory.Protocol(f.u.Scheme)
			if (scheme == f.key) != (pass == 0) {
				continue
			}
			s := f.u.String()
			switch prev := m.URLs[scheme]; {
			case prev == "":
				if scheme != f.key {
					r.note(m, "%s URL under %s moved to %s", scheme, f.key, scheme)
				}
				m.URLs[scheme] = s
			case strings.EqualFold(prev, s):
				r.note(m, "%s URL %s under %s is the same as its %s URL; removed", scheme, s, f.key, scheme)
			default:
				r.note(m, "%s URL %s under %s, but its %s URL is %s already; removed", scheme, s, f.key, scheme, prev)
			}
		}
	}
}

// repairURL parses raw, filed under key, and repairs what has one right
// answer; ok is false when it must be dropped (with a note).
func (r *Result) repairURL(m *Mirror, key inventory.Protocol, raw string) (*url.URL, bool) {
	s := strings.TrimSpace(raw)
	if strings.ContainsFunc(s, unicode.IsControl) || strings.ContainsAny(s, " \t") {
		r.note(m, "%s URL %s has control characters or spaces; removed", key, quote(raw))
		return nil, false
	}
	if g := rsyncModule.FindStringSubmatch(s); g != nil {
		fixed := "rsync://" + g[1] + "/" + g[2]
		r.note(m, "%s URL %s in rsync's host::module syntax written as %s", key, quote(s), fixed)
		s = fixed
	}
	u, err := url.Parse(s)
	if err != nil {
		r.note(m, "%s URL %s is not a URL; removed", key, quote(raw))
		return nil, false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if !inventory.Protocol(u.Scheme).Valid() {
		if u.Scheme == "" {
			r.note(m, "%s URL %s has no scheme; removed (write %s://...)", key, quote(raw), key)
		} else {
			r.note(m, "%s URL %s: %s is not a protocol mirrors.toml knows (http, https, ftp, rsync); removed", key, quote(raw), u.Scheme)
		}
		return nil, false
	}
	if u.Opaque != "" || u.Hostname() == "" {
		r.note(m, "%s URL %s has no host; removed", key, quote(raw))
		return nil, false
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			r.note(m, "%s URL %s carries a password; removed (a mirror list holds public URLs only)", key, quote(redact(u)))
			return nil, false
		}
		r.note(m, "%s URL %s: user %q removed (mirrors.toml lists anonymous URLs)", key, quote(raw), u.User.Username())
		u.User = nil
	}
	if u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		u.Host = strings.TrimSuffix(u.Host, ":")
		r.note(m, "%s URL %s: empty port removed", key, quote(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		r.note(m, "%s URL %s has a query or fragment; removed (give the plain base URL)", key, quote(raw))
		return nil, false
	}
	p := u.EscapedPath()
	clean := p
	if clean == "" {
		clean = "/"
	}
	if strings.Contains(clean, "/./") || strings.Contains(clean, "/../") || strings.HasSuffix(clean, "/.") || strings.HasSuffix(clean, "/..") || strings.Contains(clean, "//") {
		clean = path.Clean(clean)
		if clean != "/" {
			clean += "/"
		}
	}
	if !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	if clean != p {
		nu, err := url.Parse(u.Scheme + "://" + u.Host + clean)
		if err != nil {
			r.note(m, "%s URL %s: cannot write its path as a base URL; removed", key, quote(raw))
			return nil, false
		}
		if p != "" && strings.TrimSuffix(clean, "/") == p {
			r.note(m, "%s URL %s: \"/\" added at the end (it is a base URL)", key, quote(raw))
		} else if p != "" {
			r.note(m, "%s URL %s: path written %s", key, quote(raw), clean)
		}
		u = nu
	}
	return u, true
}

// redact writes u with its password replaced, for a note.
func redact(u *url.URL) string {
	c := *u
	c.User = url.UserPassword(u.User.Username(), "xxxxx")
	return c.String()
}

// hostOf returns the lower-case host name of a URL, or "".
func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// sponsorURL checks a sponsor's web address as the inventory does.
func sponsorURL(s string) (string, bool) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || strings.ContainsFunc(s, unicode.IsControl) {
		return "", false
	}
	return s, true
}
