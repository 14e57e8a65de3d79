package dnsd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// ReadZoneFile reads the zone file of inv's [dns] table (zone_file):
// the zone's ordinary records, in file order, without duplicates, owner
// names in lower case, ready for Inputs.Records. It refuses what would
// clash with what dnsd makes itself (a record at or below a steered
// name or _whoami, an SOA or NS, addresses of an in-zone name server,
// a DNAME, a wildcard, a CNAME at the apex or beside other data, a name
// server that is a CNAME) and names over the 255 octets DNS allows;
// every error is at zone_file's file:line:column and names the record,
// or the zone file's own line for a syntax error. Without a [dns]
// table, a zone file or a valid zone it returns nothing.
func ReadZoneFile(inv *inventory.Inventory) ([]dns.RR, inventory.Errors) {
	d := inv.DNS
	if d == nil || d.ZoneFile == "" || d.Zone == "" {
		return nil, nil
	}
	var errs inventory.Errors
	bad := func(format string, args ...any) {
		errs = append(errs, inv.Errorf("dns.zone_file", "[dns] zone_file %s: %s", d.ZoneFile, fmt.Sprintf(format, args...)))
	}
	data, err := fileio.ReadFile(d.ZoneFile, fileio.MaxZoneFile)
	if err != nil {
		bad("cannot read it: %v; fix the path (relative to %s) or remove the key", reason(err), inv.File)
		return nil, errs
	}
	steered := map[string]string{}
	for _, n := range d.Names {
		steered[n.Label+"."+d.Zone] = n.Label
	}
	glue := map[string]bool{}
	for _, ns := range d.NS {
		glue[ns.Name] = true
	}
	whoami := "_whoami." + d.Zone
	zp := dns.NewZoneParser(bytes.NewReader(data), d.Zone, d.ZoneFile)
	var records []dns.RR
	seen := map[string]bool{}
	types := map[string]map[uint16]bool{} // owner -> types
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		h.Name = strings.ToLower(h.Name)
		owner, t := h.Name, h.Rrtype
		what := owner + " " + dns.TypeToString[t]
		if msg := tooLong(owner); msg != "" {
			bad("%s record: its owner %s; shorten it", dns.TypeToString[t], msg)
			continue
		}
		if !fitsWire(rr) {
			bad("%s: a name in its data is more than 255 octets in DNS wire form (RFC 1035 2.3.4); shorten it", what)
			continue
		}
		if !dns.IsSubDomain(d.Zone, owner) {
			bad("%s is outside the zone %s; remove it", what, d.Zone)
			continue
		}
		if h.Class != dns.ClassINET {
			bad("%s is of class %s; only IN records are served", what, dns.ClassToString[h.Class])
			continue
		}
		if strings.HasPrefix(owner, "*.") || strings.Contains(owner, ".*.") {
			bad("%s is a wildcard; wildcards are not served, list the names", what)
			continue
		}
		switch t {
		case dns.TypeSOA:
			bad("%s: the SOA comes from [dns] (hostmaster, negative_ttl); remove it", what)
			continue
		case dns.TypeNS:
			bad("%s: name servers come from [dns] ns, and delegations are not served; remove it", what)
			continue
		case dns.TypeDNAME:
			bad("%s: DNAME is not served; use a CNAME", what)
			continue
		case dns.TypeA, dns.TypeAAAA:
			if glue[owner] {
				bad("%s: the addresses of name server %s come from [dns] ns; remove it", what, owner)
				continue
			}
		}
		if owner == d.Zone && t == dns.TypeCNAME {
			bad("%s: the zone apex cannot be a CNAME", what)
			continue
		}
		clash := ""
		for name, label := range steered {
			if dns.IsSubDomain(name, owner) {
				clash = label
			}
		}
		if clash != "" {
			bad("%s clashes with the steered name %q of [dns] names, which dnsd answers (with the names below it); remove the record or the name", what, clash)
			continue
		}
		if dns.IsSubDomain(whoami, owner) {
			bad("%s clashes with %s, which dnsd answers itself; remove it", what, whoami)
			continue
		}
		if types[owner] == nil {
			types[owner] = map[uint16]bool{}
		}
		types[owner][t] = true
		if k := rr.String(); !seen[k] {
			seen[k] = true
			records = append(records, rr)
		}
	}
	if err := zp.Err(); err != nil {
		// It names the file and the line.
		return nil, append(errs, inv.Errorf("dns.zone_file", "[dns] zone_file: %v", err))
	}
	for _, owner := range slices.Sorted(maps.Keys(types)) {
		if ts := types[owner]; ts[dns.TypeCNAME] && len(ts) > 1 {
			bad("%s has a CNAME and other records; a CNAME owner has no other data (RFC 1034 3.6.2), keep one", owner)
		}
	}
	for _, ns := range d.NS {
		if types[ns.Name][dns.TypeCNAME] {
			bad("%s is a name server of [dns] ns and must not be a CNAME (RFC 2181 10.3)", ns.Name)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return records, nil
}

// CheckZoneFile is ReadZoneFile as an inventory.Check: what mirrorsteer
// check runs, so that a zone file dnsd would refuse fails there too.
func CheckZoneFile(inv *inventory.Inventory) inventory.Errors {
	_, errs := ReadZoneFile(inv)
	return errs
}

// tooLong describes name when it does not fit in DNS wire form, or "".
func tooLong(name string) string {
	buf := make([]byte, len(name)+2) // the wire form is at most one octet longer
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil || n <= maxName {
		return ""
	}
	return fmt.Sprintf("%s is %d octets in DNS wire form, %d more than a name may have (255, RFC 1035 2.3.4)", name, n, n-maxName)
}

// fitsWire reports whether every name in rr fits in DNS wire form: rr
// survives a trip through the wire, as a resolver would read it.
func fitsWire(rr dns.RR) bool {
	buf := make([]byte, dns.Len(rr)+512)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return false
	}
	_, _, err = dns.UnpackRR(buf[:n], 0)
	return err == nil
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
