package probe

import "net/netip"

// connectedTo is what a fetcher tells of the address it reached: the
// mirror's own host's, never a redirect's, and only one the address
// policy allowed (the dialer connects nowhere else). state.json records
// it, so that gen, lookup and dnsd can place a mirror mirrors.toml leaves
// without a country or lat/lon (package placement).
type connectedTo interface {
	connected() netip.Addr
}

// noteConnected records a, the address a connection to the mirror's own
// host was made to, if none is recorded yet: the first is the one kept.
func (d *dialer) noteConnected(a netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.first.IsValid() {
		d.first = a.Unmap().WithZone("")
	}
}

func (d *dialer) connected() netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.first
}

func (f *httpFetcher) connected() netip.Addr { return f.dialer.connected() }

func (f *ftpFetcher) connected() netip.Addr { return f.dialer.connected() }

// connected is the address rsync was pointed at, once a run of it got
// an answer there.
func (f *rsyncFetcher) connected() netip.Addr {
	if !f.fetched {
		return netip.Addr{}
	}
	return f.addr
}

var (
	_ connectedTo = (*httpFetcher)(nil)
	_ connectedTo = (*ftpFetcher)(nil)
	_ connectedTo = (*rsyncFetcher)(nil)
)
