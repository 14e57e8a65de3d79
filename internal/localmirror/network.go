package localmirror

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Spec describes one local mirror.
type Spec struct {
	// Name is the mirror's name in the inventory and the first label of
	// its host name; by default the behaviour's name.
	Name      string
	Behaviour Behaviour
	// StaleBy is how far behind a Stale mirror is (default 30h).
	StaleBy time.Duration
	// AheadBy is how far ahead an Ahead mirror's stamp is (default a
	// year).
	AheadBy time.Duration
	// Delay is how long a SlowAnswer mirror waits before each answer
	// (default 1s), and a SlowBody mirror between two bytes (default
	// 100ms).
	Delay time.Duration
	// PartialRepo is the repository a Partial mirror lacks (default the
	// first deb repository).
	PartialRepo string
	// Protocols are the protocols it serves: "http", "https", "ftp",
	// "rsync". Default: https for the certificate behaviours, else http.
	Protocols []string
	// IPv6 gives the host name an IPv6 address (::1) too, where it listens
	// unless the behaviour is IPv6Down (which implies IPv6).
	IPv6 bool
	// Country is the mirror's country code (default: one of a fixed list).
	Country string
	// MaxLag is the mirror's max_lag override (0: none).
	MaxLag time.Duration
	// UnixStamp writes the stamp as a unix time instead of RFC 3339.
	UnixStamp bool
}

// Options configure a network.
type Options struct {
	// Repos is the repository layout (default DefaultRepos).
	Repos []*inventory.Repo
	// Time is the origin's first sync time (default now).
	Time time.Time
	// MaxLag is the network's max_lag (default 12h).
	MaxLag time.Duration
	// Mirrors are the mirrors to start, in order.
	Mirrors []Spec
	// Base is the origin's address; mirror i gets Base+1+i. Default
	// 127.0.0.10. Every address must be in 127.0.0.0/8.
	Base netip.Addr
	// Domain is the suffix of every host name (default "mirrors.test").
	Domain string
	// OriginIPv6 gives the origin an IPv6 address (::1) too.
	OriginIPv6 bool
	// Rsync is the rsync program (default "rsync" on PATH); mirrors that
	// declare rsync need it.
	Rsync string
}

// Network is a running origin and its mirrors. Close stops everything.
type Network struct {
	opts    Options
	dir     string
	ca      *authority
	origin  *Server
	mirrors []*Server
	hosts   map[string][]netip.Addr

	mu      sync.Mutex
	gen     int
	current *Tree
	closing chan struct{}
	conns   map[net.Conn]bool // hijacked connections to close at the end
	stops   []func()
}

// Server is the origin or one mirror.
type Server struct {
	net  *Network
	spec Spec
	Host string
	Addr netip.Addr // its IPv4 (loopback) address
	// URLs holds its base URL per protocol.
	URLs map[string]string

	mu        sync.Mutex
	behaviour Behaviour
	tree      *Tree
	treeDir   string // for ftp and rsync: a symlink to the current tree
	treeN     int
	requests  atomic.Int64
}

var countries = []string{"DE", "FR", "NL", "SE", "US", "CA", "BR", "JP", "AU", "ZA", "IN", "SG", "GB", "IT", "ES", "PL"}

// Start starts the origin and the mirrors. On error everything started
// so far is stopped.
func Start(opts Options) (_ *Network, err error) {
	if opts.Repos == nil {
		opts.Repos = DefaultRepos
	}
	if opts.Time.IsZero() {
		opts.Time = time.Now()
	}
	if opts.MaxLag == 0 {
		opts.MaxLag = 12 * time.Hour
	}
	if !opts.Base.IsValid() {
		opts.Base = netip.MustParseAddr("127.0.0.10")
	}
	if opts.Domain == "" {
		opts.Domain = "mirrors.test"
	}
	if opts.Rsync == "" {
		opts.Rsync = "rsync"
	}
	n := &Network{opts: opts, hosts: map[string][]netip.Addr{}, closing: make(chan struct{}), conns: map[net.Conn]bool{}}
	if n.dir, err = os.MkdirTemp("", "localmirror-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.ca, err = newAuthority(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(n.CAFile(), n.ca.pem, 0o644); err != nil {
		return nil, err
	}
	n.gen = 1
	n.current = Build(opts.Repos, 1, opts.Time, true)

	addr := opts.Base
	n.origin = &Server{net: n, spec: Spec{Name: "origin", Behaviour: Healthy, Protocols: []string{"http"}, IPv6: opts.OriginIPv6}, Addr: addr}
	if err := n.origin.start(); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	names := map[string]bool{}
	for i, s := range opts.Mirrors {
		addr = addr.Next()
		if !addr.IsLoopback() {
			return nil, fmt.Errorf("mirror %d: address %s is outside 127.0.0.0/8", i, addr)
		}
		if s.Name == "" {
			s.Name = string(s.Behaviour)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("two mirrors are called %q; give them names", s.Name)
		}
		names[s.Name] = true
		if s.Behaviour == "" {
			s.Behaviour = Healthy
		}
		if len(s.Protocols) == 0 {
			s.Protocols = []string{"http"}
			if s.Behaviour == BadCert || s.Behaviour == ExpiringCert || s.Behaviour == LeakCert {
				s.Protocols = []string{"https"}
			}
		}
		if s.Behaviour == IPv6Down {
			s.IPv6 = true
		}
		if s.Country == "" {
			s.Country = countries[i%len(countries)]
		}
		m := &Server{net: n, spec: s, Addr: addr}
		if err := m.start(); err != nil {
			return nil, fmt.Errorf("mirror %s: %w", s.Name, err)
		}
		n.mirrors = append(n.mirrors, m)
	}
	return n, nil
}

func (s *Server) start() error {
	s.Host = s.spec.Name + "." + s.net.opts.Domain
	s.behaviour = s.spec.Behaviour
	s.URLs = map[string]string{}
	if s.behaviour != NoDNS {
		s.net.hosts[s.Host] = []netip.Addr{s.Addr}
		if s.spec.IPv6 {
			s.net.hosts[s.Host] = append(s.net.hosts[s.Host], netip.IPv6Loopback())
		}
	}
	s.sync()
	for _, p := range s.spec.Protocols {
		var port int
		var err error
		switch p {
		case "http", "https":
			port, err = s.serveHTTP(p == "https")
		case "ftp":
			port, err = s.serveFTP()
		case "rsync":
			port, err = s.serveRsync()
		default:
			err = fmt.Errorf("unknown protocol %q", p)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		s.URLs[p] = fmt.Sprintf("%s://%s/pub/", p, net.JoinHostPort(s.Host, fmt.Sprint(port)))
	}
	return nil
}

// listen returns listeners on the server's IPv4 address and, when it has
// one that works, on ::1, on the same port. A server whose IPv6 is down
// gets a port that is free on ::1, so that connecting there is refused.
func (s *Server) listen() (l4, l6 net.Listener, port int, err error) {
	if s.behaviour == Down || s.behaviour == NoDNS {
		// Reserve nothing: a port that was free and is closed again.
		l, err := net.Listen("tcp4", netip.AddrPortFrom(s.Addr, 0).String())
		if err != nil {
			return nil, nil, 0, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		return nil, nil, port, nil
	}
	for range 50 {
		v6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			return nil, nil, 0, fmt.Errorf("listening on ::1: %w", err)
		}
		port = v6.Addr().(*net.TCPAddr).Port
		v4, err := net.Listen("tcp4", netip.AddrPortFrom(s.Addr, uint16(port)).String())
		if err != nil {
			v6.Close()
			continue
		}
		if !s.spec.IPv6 || s.behaviour == IPv6Down {
			v6.Close()
			v6 = nil
		}
		return v4, v6, port, nil
	}
	return nil, nil, 0, errors.New("no port free on both 127.0.0.x and ::1")
}

// Origin returns the origin server.
func (n *Network) Origin() *Server { return n.origin }

// Mirrors returns the mirrors in the order of Options.Mirrors.
func (n *Network) Mirrors() []*Server { return slices.Clone(n.mirrors) }

// Mirror returns the mirror called name, or nil.
func (n *Network) Mirror(name string) *Server {
	for _, m := range n.mirrors {
		if m.spec.Name == name {
			return m
		}
	}
	return nil
}

// Hosts returns the address of every host name (a mirror with NoDNS has
// none). Give it to the probe as its resolver, or on the command line as
// --resolve host=addr,addr.
func (n *Network) Hosts() map[string][]netip.Addr { return n.hosts }

// ResolveFlags returns Hosts as mirrorsteer probe --resolve arguments.
func (n *Network) ResolveFlags() []string {
	var out []string
	for _, h := range slices.Sorted(maps.Keys(n.hosts)) {
		var as []string
		for _, a := range n.hosts[h] {
			as = append(as, a.String())
		}
		out = append(out, "--resolve", h+"="+strings.Join(as, ","))
	}
	return out
}

// RootCAs returns the pool holding the CA that signed every good
// certificate of the network.
func (n *Network) RootCAs() *x509.CertPool { return n.ca.pool }

// CAFile is the path of the CA certificate in PEM (for --ca-file).
func (n *Network) CAFile() string { return filepath.Join(n.dir, "ca.pem") }

// Current returns the origin's current tree.
func (n *Network) Current() *Tree {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

// Publish makes the origin publish its next version, synced at t. Mirrors
// keep what they have until Sync.
func (n *Network) Publish(t time.Time) {
	n.mu.Lock()
	n.gen++
	n.current = Build(n.opts.Repos, n.gen, t, true)
	n.mu.Unlock()
	n.origin.sync()
}

// SyncAll makes every mirror sync from the origin.
func (n *Network) SyncAll() {
	for _, m := range n.mirrors {
		m.Sync()
	}
}

// Close stops every server and process and removes the network's files.
func (n *Network) Close() {
	n.mu.Lock()
	select {
	case <-n.closing:
		n.mu.Unlock()
		return
	default:
	}
	close(n.closing)
	for c := range n.conns {
		c.Close()
	}
	stops := n.stops
	n.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	os.RemoveAll(n.dir)
}

func (n *Network) onClose(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stops = append(n.stops, f)
}

// track remembers a hijacked connection so Close can close it; it returns
// false when the network is closing.
func (n *Network) track(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-n.closing:
		c.Close()
		return false
	default:
	}
	n.conns[c] = true
	return true
}

func (n *Network) untrack(c net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
}

// Name returns the server's name ("origin" for the origin).
func (s *Server) Name() string { return s.spec.Name }

// Spec returns the server's specification, with defaults filled in.
func (s *Server) Spec() Spec { return s.spec }

// Requests returns how many HTTP requests the server has answered or
// begun to answer.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Behaviour returns the current behaviour.
func (s *Server) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behaviour
}

// SetBehaviour changes how the server behaves from the next request on.
// Changing to or from Down, NoDNS, IPv6Down or a certificate behaviour
// has no effect on listeners, DNS or certificates: use it for content and
// HTTP behaviours.
func (s *Server) SetBehaviour(b Behaviour) {
	s.mu.Lock()
	s.behaviour = b
	s.mu.Unlock()
	s.sync()
}

// Sync makes the mirror copy the origin's current version (through its
// behaviour: a stale mirror stays stale, a partial one partial).
func (s *Server) Sync() { s.sync() }

// Tree returns what the server serves now.
func (s *Server) Tree() *Tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree
}

func (s *Server) sync() {
	cur := s.net.Current()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := cur
	switch s.behaviour {
	case Stale:
		by := s.spec.StaleBy
		if by == 0 {
			by = 30 * time.Hour
		}
		t = Build(s.net.opts.Repos, -1000-cur.Generation, cur.Time.Add(-by), s.spec.UnixStamp)
	case Partial:
		t = cur.Without(s.partialPrefix())
	case WrongMetadata:
		t = cur.Tampered()
	case Ahead:
		by := cmp.Or(s.spec.AheadBy, 365*24*time.Hour)
		t = cur.clone()
		t.Files[StampPath] = []byte(cur.Time.Add(by).Format(time.RFC3339) + "\n")
	case LeakStamp:
		t = cur.clone()
		t.Files[StampPath] = []byte(Secret + "\n")
	}
	if s.behaviour != Stale && s.behaviour != Ahead && s.behaviour != LeakStamp && !s.spec.UnixStamp && s != s.net.origin {
		// Mirrors write the same time as RFC 3339, as many sync scripts do.
		t = t.clone()
		t.Files[StampPath] = []byte(t.Time.Format(time.RFC3339) + "\n")
	}
	s.tree = t
	if s.treeDir != "" {
		if err := s.materialize(t); err != nil {
			panic(fmt.Sprintf("localmirror: writing the tree of %s: %v", s.spec.Name, err))
		}
	}
}

func (s *Server) partialPrefix() string {
	for _, r := range s.net.opts.Repos {
		if s.spec.PartialRepo == r.Name || s.spec.PartialRepo == "" && r.Format == inventory.FormatDeb {
			p := r.Path
			if i := strings.IndexAny(p, "{$"); i >= 0 {
				p = p[:i]
			}
			return p
		}
	}
	return "\x00" // nothing
}

// materialize writes t to a new directory and points treeDir at it, for
// the FTP and rsync servers, which serve files.
func (s *Server) materialize(t *Tree) error {
	s.treeN++
	dir := filepath.Join(s.net.dir, "trees", fmt.Sprintf("%s.%d", s.spec.Name, s.treeN))
	for _, p := range t.Paths() {
		full := filepath.Join(dir, "pub", filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, t.Files[p], 0o644); err != nil {
			return err
		}
		os.Chtimes(full, t.Time, t.Time)
	}
	os.MkdirAll(filepath.Join(dir, "pub"), 0o755)
	tmp := s.treeDir + ".new"
	os.Remove(tmp)
	if err := os.Symlink(dir, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, s.treeDir)
}

// Inventory returns a mirrors.toml describing the network: the origin,
// the repositories and every mirror with its URLs, country and max_lag.
func (n *Network) Inventory() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[network]\nname    = \"Local test network\"\norigin  = %q\nstamp   = %q\nmax_lag = %q\n\n",
		n.origin.URLs["http"], StampPath, n.opts.MaxLag.String())
	for _, r := range n.opts.Repos {
		fmt.Fprintf(&b, "[[repo]]\nname     = %q\npath     = %q\nformat   = %q\n", r.Name, r.Path, r.Format)
		if len(r.Releases) > 0 {
			fmt.Fprintf(&b, "releases = %s\n", tomlList(r.Releases))
		}
		if len(r.Archs) > 0 {
			fmt.Fprintf(&b, "archs    = %s\n", tomlList(r.Archs))
		}
		b.WriteString("\n")
	}
	for _, m := range n.mirrors {
		fmt.Fprintf(&b, "[[mirror]]\nname    = %q\ncountry = %q\n", m.spec.Name, m.spec.Country)
		for _, p := range []string{"http", "https", "ftp", "rsync"} {
			if u := m.URLs[p]; u != "" {
				fmt.Fprintf(&b, "%-7s = %q\n", p, u)
			}
		}
		if m.spec.MaxLag > 0 {
			fmt.Fprintf(&b, "max_lag = %q\n", m.spec.MaxLag.String())
		}
		// Loopback is no global unicast address: probe reaches a mirror
		// there only where the inventory says so.
		b.WriteString("probe_networks = [\"127.0.0.0/8\", \"::1/128\"]\n")
		b.WriteString("\n")
	}
	return b.String()
}

func tomlList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
