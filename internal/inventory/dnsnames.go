package inventory

import (
	"fmt"
	"strings"
)

// maxWire is the most octets a domain name may take in DNS wire form
// (RFC 1035 2.3.4). dns.IsDomainName lets names of up to 257 through, and
// dnsd packs names into buffers of this size: a longer name made it panic
// on load, and one of 256 made every answer that carries it malformed.
const maxWire = 255

// wireLen returns how many octets the fully qualified name s, in
// presentation form, takes in DNS wire form: one length octet per label,
// the label's octets (an escape, \. or \DDD, is one), and the root's zero.
func wireLen(s string) int {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return 1
	}
	n := 2 // the first label's length octet and the root's
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
				i += 3
			} else {
				i++
			}
		}
		n++ // an octet of a label, or a dot: the next label's length octet
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tooLong describes name when it does not fit in DNS wire form, or "".
func tooLong(name string) string {
	n := wireLen(name)
	if n <= maxWire {
		return ""
	}
	return fmt.Sprintf("%s is %d octets in DNS wire form, %d more than a name may have (255, RFC 1035 2.3.4)", name, n, n-maxWire)
}

// derivedNames refuses a [dns] table some of whose names, as dnsd makes
// them from the zone, do not fit in DNS wire form: every steered name,
// _whoami, the SOA's hostmaster (by default hostmaster.<zone>) and the
// fallback target. Name servers (and their glue, which has their names)
// are checked in v.dns, zone file records by dnsd (dnsd.ReadZoneFile), and
// CNAME targets, the hosts of mirrors' base URLs, are at most 253
// characters (urlHost).
func (v *validator) derivedNames(d *DNS, r *rawDNS) {
	for _, n := range d.Names {
		key := n.Label
		for k := range r.Names {
			if strings.EqualFold(k, n.Label) {
				key = k
			}
		}
		if msg := tooLong(n.Label + "." + d.Zone); msg != "" {
			v.errorf("dns.names."+key, "[dns] names: the steered name %s; shorten the zone or the label", msg)
		}
	}
	if msg := tooLong("_whoami." + d.Zone); msg != "" {
		v.errorf("dns.zone", "[dns] zone: dnsd answers _whoami.<zone>, and %s; shorten the zone", msg)
	}
	switch msg := tooLong(d.Hostmaster); {
	case msg == "":
	case r.Hostmaster == "":
		v.errorf("dns.zone", "[dns] zone: the SOA's hostmaster (RNAME) is hostmaster.<zone> unless set, and %s; set a shorter mailbox, e.g. hostmaster = \"hostmaster.example.org.\", or shorten the zone", msg)
	default:
		v.errorf("dns.hostmaster", "[dns] hostmaster %s; give a shorter mailbox", msg)
	}
	switch msg := tooLong(d.Fallback); {
	case msg == "":
	case r.Fallback == "":
		v.errorf("dns", "[dns] fallback is missing and the [network] origin's host, the default, is too long: %s; add fallback = \"origin.example.org.\"", msg)
	default:
		v.errorf("dns.fallback", "[dns] fallback %s; give a shorter host name", msg)
	}
}
