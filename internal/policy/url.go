package policy

import "github.com/mirrorsteer/mirrorsteer/internal/inventory"

// preference is the order in which an entry's healthy protocols are
// preferred for its URL: encrypted first, then what download clients
// speak.
var preference = [...]inventory.Protocol{inventory.HTTPS, inventory.HTTP, inventory.FTP, inventory.Rsync}

// Protocol returns the protocol an entry is given by, for the purpose its
// Set was made for: of the protocols the Want accepted, the most preferred
// one that is healthy for the client's family and request. For a list, a
// metalink or a status page (http and https) that is https where it is
// healthy, else http; for a [dns] name, that name's protocol. It is ""
// only for the zero Choice.
func (c Choice) Protocol() inventory.Protocol {
	for _, p := range preference {
		if c.Has(p) {
			return p
		}
	}
	return ""
}

// URL returns the base URL an entry is given by: the mirror's URL for
// Protocol. Lists, metalinks, meta4 files, the status site and lookup all
// print this one.
func (c Choice) URL() string { return c.Mirror.URL(c.Protocol()) }
