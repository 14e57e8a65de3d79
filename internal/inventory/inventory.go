// Package inventory is the mirror network as the operator describes it in
// mirrors.toml: the origin, the repositories clients ask for, the mirrors,
// the selection policy's knobs and the DNS zone.
//
// Load decodes strictly: every mistake is reported with file:line:column and
// what to change, and nothing is half-loaded. The sections whose meaning
// belongs to another component (probe's bounds, dnsd's zone file) are
// kept as written and checked by that component, through a Check given
// to Load, so that their errors are reported with the rest.
package inventory

import (
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
)

// Inventory is a validated mirrors.toml.
type Inventory struct {
	// File is the path the inventory was loaded from; errors and warnings
	// name it.
	File    string
	Network Network
	Policy  Policy
	// Metalink says which origin files get RFC 5854 metalinks.
	Metalink Metalink
	// Probe is the [probe] table as written; package probe checks it
	// and gives it its meaning.
	Probe Probe
	// Lists says which static lists gen writes beyond the global,
	// country and ASN ones.
	Lists Lists
	// DNS is nil when the file has no [dns] table.
	DNS     *DNS
	Repos   []*Repo
	Mirrors []*Mirror // in file order

	byName map[string]*Mirror
	repos  map[string]*Repo
	pos    positions // for warnings
}

// Network describes the service itself.
type Network struct {
	Name string
	// Origin is the base URL of the master copy, ending in "/".
	Origin string
	// Stamp is the path, relative to every base URL, of the file whose
	// content is the time of the last sync.
	Stamp string
	// MaxLag is how far a mirror may be behind the origin and still be
	// offered.
	MaxLag time.Duration
}

// Policy holds the selection policy's knobs; package policy applies them.
type Policy struct {
	// Min and Max bound the length of a list: tiers are added until at
	// least Min mirrors are listed, and no more than Max are kept.
	Min, Max int
	// BandKm is the width of the distance band inside which mirrors count
	// as equally near and are spread by weight.
	BandKm float64
	// ASNMaxKm is how far from the client's coordinates an ASN match
	// still counts (a client known only by its country: in its country).
	// Large ASNs span continents; a subnet match always counts.
	ASNMaxKm float64
	// Neighbours lists, per client country, the countries tried in order
	// after the client's own and before its continent.
	Neighbours map[country.Code][]country.Code
}

// Lists is the [lists] table: static lists that are off unless asked for.
type Lists struct {
	// Subdivisions are the countries whose subdivisions (US states,
	// Canadian provinces, ...) get lists of their own where the
	// country's public mirrors stand in two or more of them (see
	// SubdivisionLists), in file order.
	Subdivisions []country.Code
}

// Probe is the [probe] table, the bounds of a probe run, as the file
// writes it: "" and nil are keys it leaves out. The loader checks only
// the TOML types; package probe owns the ranges and checks the values
// (probe.CheckFile), so that the table and probe's command-line flags
// are held to the same ones.
type Probe struct {
	Timeout     string `toml:"timeout"`  // a duration, "30s"
	Deadline    string `toml:"deadline"` // a duration
	Concurrency *int   `toml:"concurrency"`
	PerHost     *int   `toml:"per_host"`
	Retries     *int   `toml:"retries"`
	MaxBody     *int64 `toml:"max_body"`
	LeaveAfter  *int   `toml:"leave_after"`
	ReturnAfter *int   `toml:"return_after"`
}

// Metalink says which files of the origin tree gen writes a .meta4 for.
type Metalink struct {
	// MinSize is the smallest file that gets one: for a small file a
	// redirect costs as much as the file.
	MinSize int64
	// OriginOnly are glob patterns of files whose metalinks list the
	// origin only. A pattern without "/" matches the file name ("*.asc");
	// one ending in "/" matches everything below a directory of that name
	// ("repodata/"); any other matches the end of the path at a directory
	// boundary ("isos/*/CHECKSUM").
	OriginOnly []string
}

// IsOriginOnly reports whether rel, a slash-separated path under the origin,
// matches one of the OriginOnly patterns.
func (m *Metalink) IsOriginOnly(rel string) bool {
	base := path.Base(rel)
	for _, p := range m.OriginOnly {
		if dir, ok := strings.CutSuffix(p, "/"); ok {
			parts := strings.Split(rel, "/")
			for _, d := range parts[:len(parts)-1] {
				if ok, _ := path.Match(dir, d); ok {
					return true
				}
			}
			continue
		}
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, base); ok {
				return true
			}
			continue
		}
		for s := rel; ; {
			if ok, _ := path.Match(p, s); ok {
				return true
			}
			i := strings.IndexByte(s, '/')
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
	}
	return false
}

// DNS describes the zone dnsd serves.
type DNS struct {
	// Zone is fully qualified and lower case, e.g. "example.org."; ""
	// only in what a Check sees of a file whose zone is refused.
	Zone string
	TTL  uint32
	NS   []NameServer
	// Names are the steered names under the zone, sorted by label.
	Names []DNSName
	// ZoneFile is the path of the RFC 1035 zone file with the zone's
	// ordinary records ("" for none), relative paths taken from the
	// directory of mirrors.toml. Only dnsd reads it (dnsd.ReadZoneFile):
	// what may be in it depends on what dnsd makes itself.
	ZoneFile string
	// Fallback is the CNAME target, fully qualified, when no mirror is
	// healthy for a name: the fallback key, else the origin's host.
	Fallback string
	// Whoami are the networks, besides loopback, that may ask
	// _whoami.<zone> how dnsd sees them.
	Whoami []netip.Prefix
	// Hostmaster is the SOA's RNAME, fully qualified
	// (hostmaster.<zone> unless set).
	Hostmaster string
	// NegativeTTL is the SOA's MINIMUM: how long a resolver may cache a
	// "no such name" or "no such type".
	NegativeTTL uint32
	// DNSSEC says how dnsd signs the zone; nil when it is not signed.
	DNSSEC *DNSSEC
}

// DNSSEC is [dns.dnssec]: the keys dnsd signs the zone with.
type DNSSEC struct {
	// Keys are the key pairs of keys and then of publish, in file order.
	Keys []DNSSECKey
	// Validity is how long a signature holds from when it is made.
	Validity time.Duration
}

// DNSSECKey is one key pair of [dns.dnssec]. Only dnsd reads the files
// (dnsd.ReadKeys).
type DNSSECKey struct {
	// Path is the key pair as dnssec-keygen writes it: Path.key and
	// Path.private, relative paths taken from mirrors.toml's directory.
	Path string
	// Sign says the key signs the zone (listed in keys); else it is only
	// in the DNSKEY set (publish: a key before it signs, or after it
	// stopped, in a rollover).
	Sign bool
	// At is where the file names it, for Inventory.Errorf
	// ("dns.dnssec.keys.0").
	At string
}

// NameServer is one NS of the zone and its addresses (glue).
type NameServer struct {
	Name  string // fully qualified
	Addrs []netip.Addr
}

// DNSName is a steered name: Label.Zone is answered with the best mirror
// among those that list Label in their dns key and are healthy for Protocol.
type DNSName struct {
	Label    string
	Protocol Protocol
}

// Format is the client format a repository's lists are written in.
type Format string

// The formats gen writes.
const (
	FormatRPM   Format = "rpm"   // dnf/yum mirrorlist
	FormatDeb   Format = "deb"   // apt mirror+http list
	FormatArch  Format = "arch"  // pacman Server = lines
	FormatFiles Format = "files" // plain URL lists
)

// Formats lists every Format in a fixed order.
var Formats = []Format{FormatRPM, FormatDeb, FormatArch, FormatFiles}

// Repo is something clients ask for: a path template expanded for each
// release and architecture.
type Repo struct {
	Name string
	// Path is relative to a mirror's base URL and may contain {release}
	// and {arch}.
	Path     string
	Releases []string // empty: the path has no {release}
	Archs    []string // empty: the path has no {arch}
	Format   Format
}

// Variant is one expansion of a repository's path.
type Variant struct {
	Repo    *Repo
	Release string // "" when the repo has no releases
	Arch    string // "" when the repo has no archs
}

// Path returns the repository path for v, relative to a base URL.
func (v Variant) Path() string {
	return strings.NewReplacer("{release}", v.Release, "{arch}", v.Arch).Replace(v.Repo.Path)
}

// String names v as people write it: "baseos 9 x86_64", "debian stable",
// "arch x86_64".
func (v Variant) String() string {
	s := v.Repo.Name
	if v.Release != "" {
		s += " " + v.Release
	}
	if v.Arch != "" {
		s += " " + v.Arch
	}
	return s
}

// Dir returns the variant's place in the output tree: repo, then release
// and arch when they exist, slash-separated.
func (v Variant) Dir() string {
	return path.Join(v.Repo.Name, v.Release, v.Arch)
}

// Variants returns every release × arch of r, releases outer, in file order.
func (r *Repo) Variants() []Variant {
	rels, archs := r.Releases, r.Archs
	if len(rels) == 0 {
		rels = []string{""}
	}
	if len(archs) == 0 {
		archs = []string{""}
	}
	out := make([]Variant, 0, len(rels)*len(archs))
	for _, rel := range rels {
		for _, a := range archs {
			out = append(out, Variant{Repo: r, Release: rel, Arch: a})
		}
	}
	return out
}

// Protocol is a way to reach a mirror.
type Protocol string

// The protocols a mirror may declare.
const (
	HTTP  Protocol = "http"
	HTTPS Protocol = "https"
	FTP   Protocol = "ftp"
	Rsync Protocol = "rsync"
)

// Protocols lists every Protocol in a fixed order: the download protocols
// (http, https, ftp), then rsync, which mirrors sync from.
var Protocols = []Protocol{HTTP, HTTPS, FTP, Rsync}

// Valid reports whether p is one of Protocols.
func (p Protocol) Valid() bool { return slices.Contains(Protocols, p) }

// Mirror is one mirror site.
type Mirror struct {
	Name       string
	Sponsor    string
	SponsorURL string
	// Country is "" when the file gives none and nothing placed the
	// mirror from its address (see Placed).
	Country country.Code
	// Subdivision is the ISO 3166-2 subdivision the mirror stands in
	// (US-CA), in Country; "" when the file gives none.
	Subdivision country.Subdivision
	// Coord is the declared lat/lon, or the country's representative
	// point when the file gives none (then HasCoord is false); zero for
	// a mirror with neither.
	Coord    country.Coord
	HasCoord bool
	// PlacedBy is the address whose GeoIP City record placed the mirror
	// (its country, where the file gives none, and its Coord, where the
	// file gives no lat/lon); invalid when no address did. Package
	// placement sets it, the same way for gen, lookup and dnsd.
	PlacedBy netip.Addr
	ASNs     []uint32
	// Subnets are the networks served first by this mirror: the subnets
	// key and the ranges read from subnet_files.
	Subnets []netip.Prefix
	// ProbeNetworks are the networks besides the global unicast
	// addresses that probe may connect to for this mirror (its own
	// addresses, redirects, FTP data connections): a mirror on a private
	// network, or on loopback in tests. Never one of [NeverProbed].
	ProbeNetworks []netip.Prefix
	// URLs holds the base URL per declared protocol, each ending in "/".
	URLs   map[Protocol]string
	Weight int
	// Public is false for a mirror offered only to its own ASNs and
	// subnets.
	Public bool
	// DNS lists the steered names (labels of [dns] names) this mirror
	// answers for.
	DNS []string
	// Label names the mirror in dnsd's preference names
	// (<label>-<label>.download.<zone>): lower-case letters and digits,
	// unique; "" when the file gives none.
	Label string
	// Repos and Archs restrict what the mirror carries; empty means all.
	Repos []string
	Archs []string
	// MaxLag overrides Network.MaxLag when non-zero.
	MaxLag time.Duration
}

// Placed reports whether the mirror has a place: a country, or lat/lon.
// An unplaced mirror is in no country's or continent's tier and ranks
// behind every placed one (see package policy).
func (m *Mirror) Placed() bool { return m.Country != "" || m.HasCoord }

// Continent returns the continent of the mirror's country, "" without one.
func (m *Mirror) Continent() country.Continent { return m.Country.Continent() }

// URL returns the base URL for p, or "" when the mirror does not declare p.
func (m *Mirror) URL(p Protocol) string { return m.URLs[p] }

// Host returns the host name of the base URL for p, or "".
func (m *Mirror) Host(p Protocol) string {
	u, err := url.Parse(m.URLs[p])
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// Carries reports whether the mirror declares that it carries v.
func (m *Mirror) Carries(v Variant) bool {
	if len(m.Repos) > 0 && !slices.Contains(m.Repos, v.Repo.Name) {
		return false
	}
	if len(m.Archs) > 0 && v.Arch != "" && !slices.Contains(m.Archs, v.Arch) {
		return false
	}
	return true
}

// LagLimit returns the maximum lag that applies to m.
func (inv *Inventory) LagLimit(m *Mirror) time.Duration {
	if m.MaxLag > 0 {
		return m.MaxLag
	}
	return inv.Network.MaxLag
}

// Mirror returns the mirror called name, or nil.
func (inv *Inventory) Mirror(name string) *Mirror { return inv.byName[name] }

// Repo returns the repository called name, or nil.
func (inv *Inventory) Repo(name string) *Repo { return inv.repos[name] }

// Variants returns every variant of every repository, in file order.
func (inv *Inventory) Variants() []Variant {
	var out []Variant
	for _, r := range inv.Repos {
		out = append(out, r.Variants()...)
	}
	return out
}

// ASNs returns every ASN some mirror declares, ascending.
func (inv *Inventory) ASNs() []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for _, m := range inv.Mirrors {
		for _, a := range m.ASNs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// SubdivisionLists returns the subdivisions gen writes lists for, sorted:
// in each country of [lists] subdivisions whose public mirrors declare two
// or more subdivisions, each of those subdivisions. A country whose
// mirrors all stand in one subdivision gets none: such a list would only
// repeat the country's. A private mirror makes no list: it is only
// offered to its own networks.
func (inv *Inventory) SubdivisionLists() []country.Subdivision {
	var out []country.Subdivision
	for _, cc := range inv.Lists.Subdivisions {
		subs := inv.subdivisions(cc)
		if len(subs) >= 2 {
			out = append(out, subs...)
		}
	}
	slices.Sort(out)
	return out
}

// subdivisions returns the distinct subdivisions the public mirrors of cc
// declare, sorted.
func (inv *Inventory) subdivisions(cc country.Code) []country.Subdivision {
	var out []country.Subdivision
	for _, m := range inv.Mirrors {
		if m.Public && m.Country == cc && m.Subdivision != "" && !slices.Contains(out, m.Subdivision) {
			out = append(out, m.Subdivision)
		}
	}
	slices.Sort(out)
	return out
}
