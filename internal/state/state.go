// Package state is the health snapshot that probe writes and gen, lookup and
// dnsd read.
//
// A snapshot is one JSON file (state.json) describing one probe run: when it
// ran, what the origin looked like, and for every mirror the result of
// checking each (protocol, address family) endpoint. The file format is
// versioned by [Schema] and documented field by field in README.md next to
// this file.
//
// Readers call [Load] (or [Parse]), which rejects anything the current code
// could misread: bad JSON, a missing or newer schema version, unknown fields,
// and impossible values. Error messages name the file, the place in it and
// how to fix it. The writer calls [Snapshot.Write], which produces
// deterministic bytes and replaces the file atomically, so a reader never
// sees a partial snapshot.
//
// A parsed snapshot is in canonical form: all times are UTC, endpoints are
// sorted by ([Protocols] order, [Families] order), repos by (repo, release,
// arch), origin metadata by (repo, release, arch, path) and newest first,
// empty lists are nil, unknown durations are the zero Duration and Mirrors
// is not nil.
//
// # Several vantages
//
// A mirror looks different from different networks, so probe can run in
// several places, each writing its own snapshot and naming the place
// (probe --vantage fra1 sets [Snapshot.Vantage]). [Merge] combines them
// into one snapshot of the same form: Mirrors holds the verdicts, which
// is all gen, lookup and dnsd read, and [Snapshot.Merged] keeps each
// vantage's own results for the status site ([Snapshot.Sightings]: which
// vantage sees what). The rule, and why:
//
//   - An endpoint (mirror, protocol, family) is out when a strict
//     majority of the vantages that count for it say it is not healthy,
//     each by its own verdict after its own hysteresis and freshness
//     check. A tie, possible with an even number, keeps it: one place
//     that cannot reach a mirror another place reaches is more likely a
//     path than a mirror problem, and taking a mirror out moves its load
//     onto the others; dnf and apt also skip a mirror that fails them.
//   - Recently means within a max age (default [DefaultMaxAge], 45
//     minutes: three refresh intervals at their longest) before the
//     newest snapshot, not before the wall clock: merging old files
//     gives what merging them at the time would have given. A vantage
//     whose snapshot is older is stale; an endpoint its run did not reach
//     in that time (the run's deadline passed) does not count either.
//     The clock is injected ([MergeOptions.Now]) only to refuse the
//     future: a snapshot taken more than [ClockSkew] after it comes from
//     a vantage with a wrong clock, and would make every other one look
//     stale if it were the reference.
//   - A vantage is cut off over a family when it saw most of that
//     family's endpoints down (not up this run), and most of those that
//     other counted vantages checked too were up for a strict majority
//     of them. A real outage that every vantage sees contradicts no one,
//     so it still takes the mirrors out; a majority of vantages cut off
//     at once looks like one too, as no quorum outlasts losing a
//     majority. The test is per family because a vantage that lost its
//     IPv6 route still sees IPv4 well. A minority of cut-off vantages is
//     outvoted anyway; discounting them decides ties and endpoints few
//     vantages checked.
//   - When no vantage counts for an endpoint, the cut-off vantages that
//     checked it recently decide (a discounted view beats none), else the
//     newest check any vantage has of it, as a single probe keeps the
//     last verdict of an endpoint its run did not reach.
//   - The lag and stamp are the median vantage's (with an even number the
//     lower of the two middle ones, in the mirror's favour as a tie is):
//     one vantage that reaches an out-of-date server behind the mirror's
//     name (another address, a cache) moves nothing. Each
//     repository is fresh unless a strict majority of those that checked
//     it found it not. Every other field (up, class, error, counts,
//     latency, address) is one vantage's that agrees with the verdict,
//     the first by name of those that saw the most common (up, class), so
//     that what the site shows of an endpoint is something a vantage saw.
//   - The merged snapshot's Taken, which dnsd uses as its SOA serial, is
//     the newest counted snapshot's: it grows as long as any vantage
//     keeps probing, and merging the same files again gives the same
//     bytes. Its origin is that snapshot's too, the most recent look at
//     the one origin.
//   - Vantage names are 1 to 64 ASCII letters, digits, '.', '-' and '_'
//     ([CheckVantage]): they are shown on the site and in logs and name
//     files, so they need no escaping anywhere (the site escapes them
//     all the same). Merge refuses, naming the file, a snapshot without
//     a vantage, two with one name (ignoring case), a merge of merges,
//     snapshots of two networks, and any file [Parse] refuses, such as a
//     newer schema. A snapshot written before vantages existed (schema
//     1) still loads; it merges once probed with --vantage.
package state

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// Schema is the version of the state file format this package reads and
// writes. It is bumped on any change that an older reader could misread,
// including added fields: readers reject unknown fields and newer versions
// rather than silently dropping data.
//
// Version 2 added the vantage a snapshot was taken from ("vantage") and
// the per-vantage results of a merged snapshot ("merged"). Version 1
// files still load: they have neither.
const Schema = 2

// Snapshot is the whole state file: the result of one probe run.
type Snapshot struct {
	// Schema is the file format version; Write always writes [Schema].
	Schema int `json:"schema"`
	// Taken is when the probe run started (UTC, RFC 3339); in a merged
	// snapshot the newest counted vantage's. Required.
	Taken time.Time `json:"taken"`
	// Network is the [network] name from the configuration the snapshot was
	// taken for. Informational only.
	Network string `json:"network"`
	// Vantage names where the probe ran (probe --vantage), so that
	// snapshots from several places can be merged; see [Merge]. Empty
	// for a probe run without a name and for a merged snapshot.
	Vantage string `json:"vantage,omitempty"`
	// Origin describes the origin (master) the mirrors copy from.
	Origin Origin `json:"origin"`
	// Mirrors holds the per-mirror results, keyed by the mirror name as in
	// mirrors.toml. In a merged snapshot they are the quorum's verdicts,
	// which is all gen, lookup and dnsd read.
	Mirrors map[string]*Mirror `json:"mirrors"`
	// Merged is set on a snapshot made by [Merge]: the rule's parameters
	// and what each vantage saw. Nil for a single probe run.
	Merged *Merged `json:"merged,omitempty"`
}

// Origin is what the probe saw at the origin, the reference that mirror
// freshness and lag are measured against.
type Origin struct {
	// Stamp is the origin's sync time as read from its stamp file; zero if it
	// could not be read.
	Stamp time.Time `json:"stamp"`
	// Checked is when the origin was checked.
	Checked time.Time `json:"checked"`
	// Metadata lists recent versions of each repo's metadata file at the
	// origin, newest first per (repo, release, arch, path). A mirror serving
	// any of these is in sync (subject to max_lag); metalink alternates can
	// be built from them.
	Metadata []Meta `json:"metadata,omitempty"`
}

// Meta is one version of one repository metadata file at the origin.
type Meta struct {
	// Repo is the repo name as in the configuration. Required.
	Repo string `json:"repo"`
	// Release is the release the file belongs to, if the repo has releases.
	Release string `json:"release,omitempty"`
	// Arch is the architecture the file belongs to, if any.
	Arch string `json:"arch,omitempty"`
	// Path is the file's path relative to the repo root, e.g.
	// "9/BaseOS/x86_64/os/repodata/repomd.xml". Required.
	Path string `json:"path"`
	// Size is the file size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the file's SHA-256 digest as 64 lowercase hex digits.
	SHA256 string `json:"sha256"`
	// FirstSeen is when the probe first saw this version at the origin.
	FirstSeen time.Time `json:"first_seen"`
	// Timestamp is the metadata's own revision or timestamp (for repomd.xml
	// the <revision>/<timestamp> value) when known, else 0.
	Timestamp int64 `json:"timestamp,omitempty"`
}

// Mirror is the probe result for one mirror.
type Mirror struct {
	// Endpoints has one entry per (protocol, family) checked, sorted by
	// ([Protocols] order, [Families] order), at most one per pair.
	Endpoints []Endpoint `json:"endpoints"`
}

// Protocol is a transfer protocol a mirror is checked over: the
// inventory's, so a snapshot names protocols exactly as mirrors.toml does.
type Protocol = inventory.Protocol

// The protocols, in the order used for sorting endpoints.
const (
	HTTP  = inventory.HTTP
	HTTPS = inventory.HTTPS
	FTP   = inventory.FTP
	Rsync = inventory.Rsync
)

// Protocols lists every valid protocol in the order endpoints are sorted
// in: the download protocols (http, https, ftp), then rsync. Do not modify.
var Protocols = inventory.Protocols

// Family is an IP address family an endpoint is checked over: the
// inventory's, "ipv4" or "ipv6" in the file.
type Family = inventory.Family

// The address families, in the order used for sorting endpoints.
const (
	IPv4 = inventory.IPv4
	IPv6 = inventory.IPv6
)

// Families lists every address family in a fixed order (ipv4, ipv6).
// Endpoints with the same protocol are sorted in this order. Do not modify.
var Families = inventory.Families

func index[T comparable](list []T, v T) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// Endpoint is the result of checking one mirror over one protocol and one
// address family.
type Endpoint struct {
	// Protocol is one of [Protocols].
	Protocol Protocol `json:"protocol"`
	// Family is one of [Families].
	Family Family `json:"family"`
	// Up reports whether this run's check succeeded.
	Up bool `json:"up"`
	// Healthy is the verdict after hysteresis (an endpoint leaves after N
	// failed runs and returns after M good ones) and freshness. It is what
	// mirror lists and dnsd use.
	Healthy bool `json:"healthy"`
	// Checked is when this endpoint was checked in this run. Required.
	Checked time.Time `json:"checked"`
	// LastGood is the time of the last good check; zero if never.
	LastGood time.Time `json:"last_good,omitzero"`
	// Stamp is the mirror's sync time as read from its copy of the stamp
	// file; zero if unknown.
	Stamp time.Time `json:"stamp,omitzero"`
	// Lag is the origin stamp minus the mirror stamp. Unknown when either
	// stamp is; never negative.
	Lag Duration `json:"lag,omitzero"`
	// Error describes the failure in plain words; empty when the check
	// passed (an endpoint that answered but is stale is Up with Class
	// [ClassStale] and an Error).
	Error string `json:"error,omitempty"`
	// Class classifies the failure: one of [Classes]. Empty when the check
	// passed; an endpoint that answered but is stale or ahead is Up with
	// a class.
	Class Class `json:"class,omitempty"`
	// Failures counts consecutive failed runs, including this one.
	Failures int `json:"failures"`
	// Successes counts consecutive good runs, including this one. At most
	// one of Failures and Successes is non-zero.
	Successes int `json:"successes"`
	// LatencyMS is the check's latency in milliseconds; 0 if not measured.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// CertExpiry is when the TLS certificate expires (https only); zero if
	// unknown.
	CertExpiry time.Time `json:"cert_expiry,omitzero"`
	// Addr is the address of the mirror's own host (never a redirect's)
	// the check connected to, of the endpoint's family; a run that
	// connects nowhere keeps the previous one. Invalid when no run has
	// connected. gen, lookup and dnsd --geoip-city place a mirror
	// without a country or lat/lon by it (package placement).
	Addr netip.Addr `json:"addr,omitzero"`
	// Repos is the freshness of each repo/release/arch as checked at this
	// endpoint, sorted by (repo, release, arch), at most one entry each.
	Repos []Repo `json:"repos"`
}

// Repo is the freshness of one repo (release, arch) at one endpoint.
type Repo struct {
	// Repo is the repo name as in the configuration. Required.
	Repo string `json:"repo"`
	// Release is the release checked, if the repo has releases.
	Release string `json:"release,omitempty"`
	// Arch is the architecture checked, if any.
	Arch string `json:"arch,omitempty"`
	// Fresh reports that the metadata is present and matches the origin:
	// the current version or a recent one within max_lag.
	Fresh bool `json:"fresh"`
	// Error says why not, in plain words; empty when Fresh.
	Error string `json:"error,omitempty"`
}

// Duration is a time.Duration that may be unknown.
//
// The zero value is unknown. A known duration is marshalled as a Go duration
// string such as "1h30m0s" (see time.Duration.String); an unknown one as ""
// and, in a struct field tagged omitzero, not at all. Unmarshalling accepts a
// Go duration string, or "" or null for unknown.
//
// When Known is false the embedded Duration is meaningless and is dropped
// when the snapshot is written.
type Duration struct {
	time.Duration
	// Known reports whether Duration holds a value.
	Known bool
}

// DurationOf returns d as a known Duration.
func DurationOf(d time.Duration) Duration { return Duration{Duration: d, Known: true} }

// IsZero reports whether d is unknown. It makes omitzero omit unknown values.
func (d Duration) IsZero() bool { return !d.Known }

// String returns the duration like time.Duration.String, or "unknown".
func (d Duration) String() string {
	if !d.Known {
		return "unknown"
	}
	return d.Duration.String()
}

// MarshalJSON encodes a known duration as a Go duration string and an
// unknown one as "".
func (d Duration) MarshalJSON() ([]byte, error) {
	if !d.Known {
		return []byte(`""`), nil
	}
	return json.Marshal(d.Duration.String())
}

// UnmarshalJSON decodes a Go duration string ("1h30m0s", "90s"); "" and
// null mean unknown.
func (d *Duration) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*d = Duration{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want a Go duration string like \"1h30m0s\" (or \"\" for unknown), found %s", describeJSON(data))
	}
	if s == "" {
		*d = Duration{}
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("cannot read %s as a duration; write a Go duration like \"1h30m0s\" or \"45s\" (or \"\" for unknown)", short(strconv.Quote(s)))
	}
	*d = DurationOf(v)
	return nil
}

// Endpoint returns the endpoint of the named mirror for protocol p and
// family f, or nil if the mirror or the endpoint is absent.
func (s *Snapshot) Endpoint(mirror string, p Protocol, f Family) *Endpoint {
	if s == nil {
		return nil
	}
	return s.Mirrors[mirror].Endpoint(p, f)
}

// Endpoint returns the mirror's endpoint for protocol p and family f, or nil
// if it is absent. It may be called on a nil *Mirror.
func (m *Mirror) Endpoint(p Protocol, f Family) *Endpoint {
	if m == nil {
		return nil
	}
	for i := range m.Endpoints {
		if e := &m.Endpoints[i]; e.Protocol == p && e.Family == f {
			return e
		}
	}
	return nil
}

// Fresh reports whether the endpoint has a Repo entry with exactly these
// repo, release and arch values (empty matches empty) that is Fresh. It is
// false for a nil *Endpoint and for repos that were not checked.
func (e *Endpoint) Fresh(repo, release, arch string) bool {
	if e == nil {
		return false
	}
	for _, r := range e.Repos {
		if r.Repo == repo && r.Release == release && r.Arch == arch {
			return r.Fresh
		}
	}
	return false
}
