package probe

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// StaticResolver answers from a fixed table first and asks Next (the
// system's resolver when nil) for names not in it, as curl's --resolve.
type StaticResolver struct {
	Hosts map[string][]netip.Addr
	Next  Resolver
}

// LookupNetIP implements Resolver.
func (r *StaticResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if as, ok := r.Hosts[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		var out []netip.Addr
		for _, a := range as {
			if network == "ip" || network == "ip4" && a.Is4() || network == "ip6" && a.Is6() {
				out = append(out, a)
			}
		}
		return out, nil
	}
	if r.Next != nil {
		return r.Next.LookupNetIP(ctx, network, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

// eitherFamily asks resolve for the addresses of both families.
const eitherFamily = inventory.NumFamilies

// resolve returns the addresses of host in family f (eitherFamily for
// both): a literal address is its own, IPv4-mapped IPv6 counts as IPv4.
func resolve(ctx context.Context, r Resolver, host string, f state.Family) ([]netip.Addr, error) {
	var all []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		all = []netip.Addr{a.WithZone("")}
	} else {
		as, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		all = as
	}
	var out []netip.Addr
	for _, a := range all {
		a = a.Unmap()
		if f == eitherFamily || f == state.IPv4 && a.Is4() || f == state.IPv6 && a.Is6() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &noAddressError{host: host, family: f}
	}
	return out, nil
}

type noAddressError struct {
	host   string
	family state.Family
}

func (e *noAddressError) Error() string {
	rr := "A"
	if e.family == state.IPv6 {
		rr = "AAAA"
	}
	return fmt.Sprintf("%s has no %s address (no %s record)", e.host, e.family.Title(), rr)
}

// addrKind sorts addresses by whether a check may connect to them.
type addrKind int

const (
	kindGlobal    addrKind = iota // global unicast: always
	kindLoopback                  // declarable in probe_networks
	kindPrivate                   // RFC 1918, unique local, CGNAT: declarable
	kindSpecial                   // documentation, benchmarking, reserved, ...: declarable
	kindLinkLocal                 // never
	kindMetadata                  // cloud instance metadata services: never
	kindNever                     // unspecified, multicast, broadcast, "this network": never
)

func (k addrKind) String() string {
	return [...]string{"global", "loopback", "private", "special-purpose", "link-local", "cloud metadata", "unspecified, multicast or broadcast"}[k]
}

// never reports whether no declaration can allow the kind.
func (k addrKind) never() bool { return k >= kindLinkLocal }

// metadataAddrs are the cloud instance metadata services, named as such
// in errors; inventory.NeverProbed holds the networks around them.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack, ...
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task metadata
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	// NAT64 and 6to4 addresses reach the IPv4 address inside them.
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// special are the other special-purpose networks that are not
	// globally reachable (IANA's IPv4 and IPv6 special-purpose address
	// registries).
	special = []netip.Prefix{
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relays
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
		netip.MustParsePrefix("100::/64"),        // discard-only
		netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments, Teredo
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("3fff::/20"),       // documentation
		netip.MustParsePrefix("5f00::/16"),       // SRv6 SIDs
		netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	}
)

func kindOf(a netip.Addr) addrKind {
	a = a.Unmap().WithZone("")
	if a.Is6() && (nat64.Contains(a) || sixToFour.Contains(a)) {
		b := a.As16()
		if nat64.Contains(a) {
			return kindOf(netip.AddrFrom4([4]byte(b[12:16])))
		}
		return kindOf(netip.AddrFrom4([4]byte(b[2:6])))
	}
	switch {
	case metadataAddrs[a]:
		return kindMetadata
	case a.IsLoopback():
		return kindLoopback
	case a.IsLinkLocalUnicast():
		return kindLinkLocal
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast(), a == broadcast, thisNetwork.Contains(a):
		return kindNever
	case a.IsPrivate(), cgnat.Contains(a):
		return kindPrivate
	}
	for _, n := range inventory.NeverProbed {
		if n.Prefix.Contains(a) {
			return kindMetadata
		}
	}
	for _, p := range special {
		if p.Contains(a) {
			return kindSpecial
		}
	}
	if !a.IsGlobalUnicast() {
		return kindNever
	}
	return kindGlobal
}

// addrPolicy says where one check may connect: to global unicast
// addresses, and to the networks its inventory declares (a mirror's
// probe_networks) or the addresses the operator's own origin resolves
// to. Never to link-local, metadata or multicast addresses.
type addrPolicy struct {
	declared []netip.Prefix
	own      []netip.Addr
	origin   bool // the check is the origin's: own addresses are its
}

// mirrorPolicy is the policy of a mirror's checks.
func mirrorPolicy(m *inventory.Mirror) *addrPolicy {
	return &addrPolicy{declared: m.ProbeNetworks}
}

// originPolicy is the policy of the origin's check: the operator names
// the origin and runs its DNS, so its own addresses are trusted.
func originPolicy(own []netip.Addr) *addrPolicy {
	return &addrPolicy{own: own, origin: true}
}

// check returns nil when a may be connected to, else a *forbiddenError;
// redirected says the address comes from a redirect, not the host name
// checked.
func (p *addrPolicy) check(a netip.Addr, redirected bool) error {
	a = a.Unmap().WithZone("")
	k := kindOf(a)
	switch {
	case k == kindGlobal:
		return nil
	case k.never():
	case !redirected && slices.Contains(p.own, a):
		return nil
	case slices.ContainsFunc(p.declared, func(n netip.Prefix) bool { return n.Contains(a) }):
		return nil
	}
	return &forbiddenError{addr: a, kind: k, redirected: redirected, origin: p.origin}
}

// forbiddenError is a connection the address policy refused. Its message
// holds only facts the probe made: the address and its kind.
type forbiddenError struct {
	addr       netip.Addr
	kind       addrKind
	redirected bool
	origin     bool
}

func (e *forbiddenError) Error() string {
	where := "where the host name resolves"
	if e.redirected {
		where = "where a redirect leads"
	}
	switch {
	case e.kind.never():
		return fmt.Sprintf("refused to connect to %s (a %s address), %s: probe never connects there", e.addr, e.kind, where)
	case e.origin:
		return fmt.Sprintf("refused to connect to %s (a %s address), %s: only global addresses and the origin's own are reached", e.addr, e.kind, where)
	}
	return fmt.Sprintf("refused to connect to %s (a %s address), %s: it is in none of the mirror's probe_networks; declare the mirror's network there if it really stands on one", e.addr, e.kind, where)
}

// dialer connects to a mirror over one family, only to addresses its
// policy allows, trying each allowed address of a host in turn. It tracks
// its connections so a timeout can close them all.
type dialer struct {
	family   state.Family
	host     string       // the mirror's host
	addrs    []netip.Addr // and its addresses in family
	resolver Resolver
	policy   *addrPolicy

	mu    sync.Mutex
	conns map[net.Conn]bool
	first netip.Addr // the first address of host connected to (connected.go)
}

func newDialer(ep endpoint) *dialer {
	return &dialer{family: ep.family, host: ep.base.Hostname(), addrs: ep.addrs, resolver: ep.cfg.Resolver, policy: ep.policy, conns: map[net.Conn]bool{}}
}

func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs := d.addrs
	redirected := !strings.EqualFold(host, d.host)
	if redirected {
		// The host name came from a Location header: it is the
		// mirror's word, and is not repeated in errors.
		if addrs, err = resolve(ctx, d.resolver, host, d.family); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &redirectError{fmt.Sprintf("a redirect leads to a host name without an %s address", d.family.Title())}
		}
	}
	var lastErr, refused error
	for _, a := range addrs {
		if err := d.policy.check(a, redirected); err != nil {
			refused = cmp.Or(refused, err)
			continue
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err != nil {
			lastErr = err
			continue
		}
		d.mu.Lock()
		d.conns[c] = true
		d.mu.Unlock()
		if !redirected {
			d.noteConnected(a)
		}
		return &trackedConn{Conn: c, d: d}, nil
	}
	// A refused address is only the reason when no other could be tried.
	return nil, cmp.Or(lastErr, refused)
}

// closeAll closes every open connection: what a timed-out request had.
func (d *dialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.conns {
		c.Close()
	}
	clear(d.conns)
}

type trackedConn struct {
	net.Conn
	d    *dialer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c.Conn)
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}
