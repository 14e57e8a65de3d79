package probe_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// TestRecordsTheAddressConnectedTo checks state.json's addr: the address
// of the mirror's own host that a connection was made to, over every
// protocol; none where nothing was connected to; and the last one kept
// while a mirror cannot be reached.
func TestRecordsTheAddressConnectedTo(t *testing.T) {
	haveRsync(t)
	n, inv, cfg, _ := start(t,
		localmirror.Spec{Name: "healthy", IPv6: true, Protocols: []string{"http", "https"}},
		localmirror.Spec{Name: "files", Protocols: []string{"ftp", "rsync"}},
		localmirror.Spec{Behaviour: localmirror.RedirectPrivate},
		localmirror.Spec{Behaviour: localmirror.Down},
		localmirror.Spec{Behaviour: localmirror.NoDNS},
	)
	snap, _, err := probe.Run(context.Background(), inv, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	own := func(name string) netip.Addr { return n.Mirror(name).Addr }
	cases := []struct {
		rule   string
		mirror string
		proto  state.Protocol
		family state.Family
		want   netip.Addr
	}{
		{"http connects to the host's address", "healthy", state.HTTP, state.IPv4, own("healthy")},
		{"https too", "healthy", state.HTTPS, state.IPv4, own("healthy")},
		{"over IPv6, the IPv6 address", "healthy", state.HTTP, state.IPv6, netip.IPv6Loopback()},
		{"ftp through the same dialer", "files", state.FTP, state.IPv4, own("files")},
		{"rsync at the address it was pointed at", "files", state.Rsync, state.IPv4, own("files")},
		{"a refused redirect leaves the host's own address", "redirect-private", state.HTTP, state.IPv4, own("redirect-private")},
		{"a refused connection records none", "down", state.HTTP, state.IPv4, netip.Addr{}},
		{"a name that does not resolve records none", "no-dns", state.HTTP, state.IPv4, netip.Addr{}},
	}
	for _, c := range cases {
		e := snap.Endpoint(c.mirror, c.proto, c.family)
		if e == nil {
			t.Errorf("%s: no endpoint %s %s %s", c.rule, c.mirror, c.proto, c.family)
			continue
		}
		if e.Addr != c.want {
			t.Errorf("%s: %s %s %s addr %v, want %v", c.rule, c.mirror, c.proto, c.family, e.Addr, c.want)
		}
	}

	// A run that reaches nothing keeps the addresses of the last run
	// that did: a mirror down for a while stays where it was placed.
	hosts := map[string][]netip.Addr{}
	for h, as := range n.Hosts() {
		if h == "origin.mirrors.test" {
			hosts[h] = as
		}
	}
	cfg.Resolver = &probe.StaticResolver{Hosts: hosts, Next: nxdomain{}}
	again, _, err := probe.Run(context.Background(), inv, snap, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := again.Endpoint("healthy", state.HTTP, state.IPv4)
	if e.Up || e.Addr != own("healthy") {
		t.Errorf("unreachable run: up %v, addr %v, want the last one, %v", e.Up, e.Addr, own("healthy"))
	}
}
