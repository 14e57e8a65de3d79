package inventory

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// parseURL checks what every URL of the file must be, whatever it is
// for: a URL with one of schemes, a host that is a host name or an IP
// address, a port that exists, and no credentials. what names the key in
// messages.
func (v *validator) parseURL(path, what, s string, schemes ...string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil {
		v.errorf(path, "%s %q is not a URL: %v", what, s, errors.Unwrap(err))
		return nil, false
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	switch {
	case !ok:
		v.errorf(path, "%s %q must start with %s://", what, s, strings.Join(schemes, ":// or "))
	case u.Host == "" || u.Hostname() == "":
		v.errorf(path, "%s %q has no host", what, s)
	case u.User != nil:
		v.errorf(path, "%s %q carries credentials; list only public URLs (everything in mirrors.toml is published)", what, s)
	default:
		if msg := urlHost(u); msg != "" {
			v.errorf(path, "%s %q: %s", what, s, msg)
		} else if msg := urlPort(u); msg != "" {
			v.errorf(path, "%s %q: %s", what, s, msg)
		} else {
			return u, true
		}
	}
	return nil, false
}

// urlHost says what is wrong with u's host, or "". The host must be an
// IP address (IPv6 in brackets, without a zone) or a host name in ASCII
// that a resolver can look up and dnsd can give as a CNAME target.
func urlHost(u *url.URL) string {
	h := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		// url.Parse has checked that it is an IPv6 address.
		if a, _ := netip.ParseAddr(h); a.Zone() != "" {
			return fmt.Sprintf("the address %s has a zone (%%%s), which names an interface of one host and means nothing to clients; give a global address or a host name", h, a.Zone())
		}
		return ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	for i := range len(h) {
		if h[i] >= 0x80 {
			return fmt.Sprintf("the host %q is not ASCII; write it in the form resolvers look up, xn--... (idn2 %s prints it)", h, h)
		}
	}
	switch labels := strings.Split(h, "."); {
	case strings.HasSuffix(h, "."):
		return fmt.Sprintf("the host %q ends with a dot; write it without", h)
	case len(h) > 253:
		// 253 characters are 255 octets in DNS wire form.
		return fmt.Sprintf("the host is %d characters long, more than a host name can be (253)", len(h))
	case !hostName(strings.ToLower(h) + "."):
		return fmt.Sprintf("the host %q is not a host name; use letters, digits and \"-\" in labels of 1 to 63 characters, separated by dots", h)
	case strings.Trim(labels[len(labels)-1], "0123456789") == "":
		return fmt.Sprintf("the host %q is neither an IP address nor a host name (a top-level domain is not a number)", h)
	}
	return ""
}

// urlPort says what is wrong with u's port, or "". url.Parse only checks
// that it is made of digits.
func urlPort(u *url.URL) string {
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "the port after \":\" is empty; give one or remove the \":\""
		}
		return ""
	}
	n, err := strconv.Atoi(p)
	switch {
	case err != nil || n < 1 || n > 65535:
		return fmt.Sprintf("port %s does not exist; ports are 1 to 65535", p)
	case strconv.Itoa(n) != p:
		return fmt.Sprintf("port %s has leading zeros, which some clients read as octal; write %d", p, n)
	}
	return ""
}

// uriChar reports whether c may stand in a URL as it is (RFC 3986 2.2,
// 2.3; "%" for escapes, which url.Parse has checked).
func uriChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// pathChar reports whether c may stand in a path that is both a URL path
// and a file path, unescaped: RFC 3986's pchar without "%" (escapes), and
// "/".
func pathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// firstBad returns the index of the first byte of s that ok refuses, or -1.
func firstBad(s string, ok func(byte) bool) int {
	for i := range len(s) {
		if !ok(s[i]) {
			return i
		}
	}
	return -1
}

// describeByte names s[i], the start of a character, for a message.
func describeByte(s string, i int) string {
	if s[i] == ' ' {
		return "a space"
	}
	r := []rune(s[i:])[0]
	return strconv.QuoteRune(r)
}

// escapeURL percent-encodes the bytes of s that may not stand in a URL
// as they are: the URL the operator most likely meant.
func escapeURL(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if c := s[i]; uriChar(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
