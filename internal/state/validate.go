package state

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate reports the first impossible value in s, naming where it is and
// how to fix it. It checks what no probe run can produce: a missing taken
// time, unknown protocols, families or classes, two endpoints for the same (protocol,
// family), a missing endpoint check time, negative counts, lags or
// latencies, both consecutive-run counters non-zero, duplicate repo
// entries, malformed origin metadata, times that cannot be written, a
// vantage name [CheckVantage] refuses and, in a merge, vantages that are
// missing, twice or unknown in status or family. It
// does not second-guess the probe's policy (hysteresis, freshness): an
// endpoint may well be healthy while down, or unhealthy while up.
//
// Validate does not look at s.Schema; [Parse] checks the version and
// [Snapshot.Write] always writes [Schema].
func (s *Snapshot) Validate() error {
	if s == nil {
		return fmt.Errorf("no snapshot")
	}
	return s.validate()
}

func (s *Snapshot) validate() error {
	if s.Taken.IsZero() {
		return fmt.Errorf(`taken time is missing; set "taken" to when the probe run started, as an RFC 3339 time like "2025-01-02T15:04:05Z"`)
	}
	if err := checkTimes("", namedTime{"taken", s.Taken}); err != nil {
		return err
	}
	if err := checkTimes("origin", namedTime{"stamp", s.Origin.Stamp}, namedTime{"checked", s.Origin.Checked}); err != nil {
		return err
	}
	for i, m := range s.Origin.Metadata {
		if err := m.validate(fmt.Sprintf("origin.metadata[%d]", i)); err != nil {
			return err
		}
	}
	if s.Vantage != "" {
		if err := CheckVantage(s.Vantage); err != nil {
			return fmt.Errorf("vantage: %w", err)
		}
		if s.Merged != nil {
			return fmt.Errorf("vantage: a merged snapshot has no vantage of its own (it has %s); remove one of \"vantage\" and \"merged\"", strconv.QuoteToASCII(s.Vantage))
		}
	}
	if err := validateMirrors("", s.Mirrors); err != nil {
		return err
	}
	if s.Merged != nil {
		return s.Merged.validate()
	}
	return nil
}

func (m *Merged) validate() error {
	if !m.MaxAge.Known || m.MaxAge.Duration <= 0 {
		return fmt.Errorf(`merged.max_age: %v; give how recent a check must be to count, a positive duration like "45m0s"`, m.MaxAge)
	}
	if len(m.Vantages) == 0 {
		return fmt.Errorf("merged.vantages: empty; a merge has at least one vantage")
	}
	seen := make(map[string]int)
	for i := range m.Vantages {
		v := &m.Vantages[i]
		where := fmt.Sprintf("merged.vantages[%d]", i)
		if err := CheckVantage(v.Name); err != nil {
			return fmt.Errorf("%s.name: %w", where, err)
		}
		if j, dup := seen[strings.ToLower(v.Name)]; dup {
			return fmt.Errorf("%s.name: vantage %q is also vantages[%d] (names are compared ignoring case); keep one", where, v.Name, j)
		}
		seen[strings.ToLower(v.Name)] = i
		if v.Taken.IsZero() {
			return fmt.Errorf(`%s: taken time is missing; set "taken" to when the vantage's probe run started`, where)
		}
		if err := checkTimes(where, namedTime{"taken", v.Taken}); err != nil {
			return err
		}
		switch v.Status {
		case VantageCounted, VantageStale, VantageFuture:
		default:
			return fmt.Errorf("%s.status: unknown status %s; use %q, %q or %q", where, short(strconv.Quote(string(v.Status))), VantageCounted, VantageStale, VantageFuture)
		}
		for j, f := range v.CutOff {
			if !f.Valid() {
				return fmt.Errorf(`%s.cut_off[%d]: unknown family %d; use "ipv4" or "ipv6"`, where, j, f)
			}
			if slices.Index(v.CutOff, f) != j {
				return fmt.Errorf("%s.cut_off[%d]: %s is listed twice; list each family once", where, j, f)
			}
		}
		if err := validateMirrors(where+".", v.Mirrors); err != nil {
			return err
		}
	}
	return nil
}

// validateMirrors checks the mirrors of a snapshot or of a vantage in a
// merge, whose place in the file prefix names.
func validateMirrors(prefix string, mirrors map[string]*Mirror) error {
	for _, name := range slices.Sorted(maps.Keys(mirrors)) {
		where := fmt.Sprintf("%smirrors[%s]", prefix, strconv.Quote(name))
		if name == "" || !utf8.ValidString(name) {
			return fmt.Errorf("%s: mirror name is empty or not UTF-8; use the mirror's name from mirrors.toml", where)
		}
		m := mirrors[name]
		if m == nil {
			return fmt.Errorf(`%s: mirror is null; give it an object like {"endpoints": []} or remove the entry`, where)
		}
		seen := make(map[[2]string]int)
		for i := range m.Endpoints {
			e := &m.Endpoints[i]
			ew := fmt.Sprintf("%s.endpoints[%d]", where, i)
			if !e.Protocol.Valid() {
				return fmt.Errorf("%s: unknown protocol %s; use one of %s", ew, short(strconv.Quote(string(e.Protocol))), quoteList(Protocols))
			}
			if !e.Family.Valid() {
				return fmt.Errorf(`%s: unknown family %d; use "ipv4" or "ipv6"`, ew, e.Family)
			}
			key := [2]string{string(e.Protocol), e.Family.String()}
			if j, dup := seen[key]; dup {
				return fmt.Errorf("%s: duplicate endpoint %s over %s (also endpoints[%d]); keep one entry per protocol and family", ew, e.Protocol, e.Family, j)
			}
			seen[key] = i
			if err := e.validate(ew); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Endpoint) validate(where string) error {
	if e.Checked.IsZero() {
		return fmt.Errorf(`%s: checked time is missing; set "checked" to when the endpoint was checked, as an RFC 3339 time like "2025-01-02T15:04:05Z"`, where)
	}
	if err := checkTimes(where, namedTime{"checked", e.Checked}, namedTime{"last_good", e.LastGood}, namedTime{"stamp", e.Stamp}, namedTime{"cert_expiry", e.CertExpiry}); err != nil {
		return err
	}
	if _, err := parseClass(string(e.Class)); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if e.Addr.IsValid() && (e.Addr.Unmap().Is4()) != (e.Family == IPv4) {
		return fmt.Errorf("%s: addr %s is not an %s address; record the address the %s check dialled", where, e.Addr, e.Family, e.Family)
	}
	if e.Failures < 0 {
		return fmt.Errorf("%s: failures is %d; counts of consecutive runs must be 0 or more", where, e.Failures)
	}
	if e.Successes < 0 {
		return fmt.Errorf("%s: successes is %d; counts of consecutive runs must be 0 or more", where, e.Successes)
	}
	if e.Failures > 0 && e.Successes > 0 {
		return fmt.Errorf("%s: failures is %d and successes is %d, but the last run was either good or failed; set one of them to 0", where, e.Failures, e.Successes)
	}
	if e.Lag.Known && e.Lag.Duration < 0 {
		return fmt.Errorf(`%s: lag is %v; a lag must be 0 or more (write "" if unknown)`, where, e.Lag.Duration)
	}
	if e.LatencyMS < 0 || math.IsNaN(e.LatencyMS) || math.IsInf(e.LatencyMS, 0) {
		return fmt.Errorf("%s: latency_ms is %v; it must be a number of milliseconds, 0 or more (0 = not measured)", where, e.LatencyMS)
	}
	seen := make(map[[3]string]int)
	for i, r := range e.Repos {
		rw := fmt.Sprintf("%s.repos[%d]", where, i)
		if r.Repo == "" {
			return fmt.Errorf("%s: repo name is missing; use the repo's name from the configuration", rw)
		}
		key := [3]string{r.Repo, r.Release, r.Arch}
		if j, dup := seen[key]; dup {
			return fmt.Errorf("%s: duplicate entry for %s (also repos[%d]); keep one entry per repo, release and arch", rw, repoName(r.Repo, r.Release, r.Arch), j)
		}
		seen[key] = i
	}
	return nil
}

func (m *Meta) validate(where string) error {
	switch {
	case m.Repo == "":
		return fmt.Errorf("%s: repo name is missing; use the repo's name from the configuration", where)
	case m.Path == "":
		return fmt.Errorf(`%s: path is missing; give the metadata file's path relative to the repo root, e.g. "9/BaseOS/x86_64/os/repodata/repomd.xml"`, where)
	case m.Size < 0:
		return fmt.Errorf("%s: size is %d; a file size must be 0 or more bytes", where, m.Size)
	case !isSHA256(m.SHA256):
		return fmt.Errorf("%s: sha256 %s is not a SHA-256 digest; write it as 64 lowercase hex digits, as sha256sum prints", where, short(strconv.Quote(m.SHA256)))
	case m.Timestamp < 0:
		return fmt.Errorf("%s: timestamp is %d; it must be 0 or more (0 or omitted = unknown)", where, m.Timestamp)
	}
	return checkTimes(where, namedTime{"first_seen", m.FirstSeen})
}

// namedTime is a time field and its JSON name.
type namedTime struct {
	name string
	t    time.Time
}

// checkTimes checks that each non-zero time can be written as a UTC RFC 3339
// time (encoding/json cannot write years outside 0 to 9999).
func checkTimes(where string, times ...namedTime) error {
	for _, nt := range times {
		if nt.t.IsZero() {
			continue
		}
		if y := nt.t.UTC().Year(); y < 0 || y > 9999 {
			w := nt.name
			if where != "" {
				w = where + "." + nt.name
			}
			return fmt.Errorf("%s: time %s is out of range; use a time between years 0 and 9999 UTC", w, nt.t.Format(time.RFC3339Nano))
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func repoName(repo, release, arch string) string {
	s := strconv.Quote(repo)
	if release != "" {
		s += " release " + strconv.Quote(release)
	}
	if arch != "" {
		s += " arch " + strconv.Quote(arch)
	}
	return s
}

func quoteList[T ~string](list []T) string {
	q := make([]string, len(list))
	for i, v := range list {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}
