package inventory

import "fmt"

// A Check validates a part of mirrors.toml that another component owns
// and gives its meaning: probe's [probe] bounds (probe.CheckFile), the
// records of dnsd's zone file (dnsd.CheckZoneFile). The loader knows only
// those keys' names and TOML types.
//
// Load runs every Check it is given once the file has decoded, also when
// the loader has found errors elsewhere, so that `mirrorsteer check`
// reports every error of the file at once, sorted by position. A Check
// then sees what loaded: mirrors and [dns] entries that were refused are
// missing, and DNS.Zone is "" when the zone was refused. It returns its
// errors made with [Inventory.Errorf]; an error about a value the loader
// has already refused (for a control character, say) is dropped, so
// that each mistake is reported once.
type Check func(inv *Inventory) Errors

// Errorf returns an error about the value of key, a dotted key path as
// the file nests it ("probe.timeout", "dns.zone_file", "mirror.3.weight";
// arrays of tables and arrays by index), at its file:line:column, or at
// its nearest enclosing table's when the key is not in the file.
func (inv *Inventory) Errorf(key, format string, args ...any) *Error {
	return errorAt(inv.File, inv.pos, key, format, args...)
}

func errorAt(file string, pos positions, key, format string, args ...any) *Error {
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...), key: key}
	if p, ok := pos.at(key); ok {
		e.Line, e.Column = p.Line, p.Column
	}
	return e
}

// check runs checks on inv, which the validator has built from a file
// that decoded, and adds their errors to its own.
func (v *validator) check(inv *Inventory, checks []Check) {
	for _, c := range checks {
		for _, e := range c(inv) {
			if e == nil || v.refused[e.key] {
				continue
			}
			if e.File == "" {
				e.File = v.file
			}
			v.errs = append(v.errs, e)
		}
	}
}
