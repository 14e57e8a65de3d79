package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

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

// resolve returns the addresses of host in family f ("" for both): a
// literal address is its own, IPv4-mapped IPv6 counts as IPv4.
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
		if f == "" || f == state.IPv4 && a.Is4() || f == state.IPv6 && a.Is6() {
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

// addrKind sorts addresses into what a redirect may lead to.
type addrKind int

const (
	kindPublic addrKind = iota
	kindLoopback
	kindPrivate
	kindLinkLocal
	kindMetadata // cloud instance metadata services
	kindOther    // unspecified, multicast, broadcast: never
)

var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack, ...
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task metadata
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func kindOf(a netip.Addr) addrKind {
	a = a.Unmap().WithZone("")
	switch {
	case metadataAddrs[a]:
		return kindMetadata
	case a.IsLoopback():
		return kindLoopback
	case a.IsLinkLocalUnicast():
		return kindLinkLocal
	case a.IsPrivate(), cgnat.Contains(a):
		return kindPrivate
	case !a.IsGlobalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return kindOther
	}
	return kindPublic
}

func (k addrKind) String() string {
	return [...]string{"public", "loopback", "private", "link-local", "cloud metadata", "special-purpose"}[k]
}

// addrPolicy says which addresses a check may connect to: the mirror's own
// addresses, public addresses, and addresses of the same kind as the
// mirror's own (a mirror declared on a private network may redirect within
// it). Never a metadata service, unless that is the mirror itself.
type addrPolicy struct {
	own   map[netip.Addr]bool
	kinds map[addrKind]bool
}

func newAddrPolicy(own []netip.Addr) *addrPolicy {
	p := &addrPolicy{own: map[netip.Addr]bool{}, kinds: map[addrKind]bool{kindPublic: true}}
	for _, a := range own {
		p.own[a] = true
		if k := kindOf(a); k != kindMetadata && k != kindOther {
			p.kinds[k] = true
		}
	}
	return p
}

func (p *addrPolicy) allows(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	return p.own[a] || p.kinds[kindOf(a)]
}

// blockedError is a connection the address policy refused.
type blockedError struct {
	host string
	addr netip.Addr
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("refused to connect to %s (%s, a %s address) where the mirror is not", e.host, e.addr, kindOf(e.addr))
}

// dialer connects to a mirror over one family, only to addresses its
// policy allows, trying each address of a host in turn. It tracks its
// connections so a timeout can close them all.
type dialer struct {
	family   state.Family
	host     string       // the mirror's host
	addrs    []netip.Addr // and its addresses in family
	resolver Resolver
	policy   *addrPolicy

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newDialer(host string, addrs []netip.Addr, f state.Family, r Resolver) *dialer {
	return &dialer{family: f, host: host, addrs: addrs, resolver: r, policy: newAddrPolicy(addrs), conns: map[net.Conn]bool{}}
}

func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs := d.addrs
	if !strings.EqualFold(host, d.host) {
		if addrs, err = resolve(ctx, d.resolver, host, d.family); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for _, a := range addrs {
		if !d.policy.allows(a) {
			lastErr = &blockedError{host: host, addr: a}
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
		return &trackedConn{Conn: c, d: d}, nil
	}
	return nil, lastErr
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
