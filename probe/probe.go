package probe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Config bounds and tunes a probe run. The zero value of a field means its
// default, except Retries, where 0 means no retry: start from Defaults.
type Config struct {
	// Timeout bounds each endpoint: all of its requests, from the name's
	// lookup to the last byte. A hanging or slow mirror costs at most one
	// Timeout per endpoint, however many files it is asked for. Each of
	// the origin's requests has a Timeout of its own.
	Timeout time.Duration
	// Deadline bounds the whole run. Endpoints not started by then keep
	// their previous state.
	Deadline time.Duration
	// Concurrency is how many endpoints are checked at once, at most:
	// a run checks no more at once than the open-file limit allows. It
	// must exceed the number of endpoints that hang, which hold their
	// place for a whole Timeout, for a run to last about one Timeout.
	Concurrency int
	// PerHost is how many endpoints of one host are checked at once. All
	// of one mirror's endpoints (4 protocols, 2 families) fit in the
	// default, so that a dead mirror costs one Timeout, not four.
	PerHost int
	// Retries is how often a request that failed in a way that may pass
	// (a reset, a 5xx) is repeated, after RetryDelay with jitter.
	Retries int
	// RetryDelay is the mean pause before a retry; the pause is uniform in
	// [RetryDelay/2, 3*RetryDelay/2).
	RetryDelay time.Duration
	// MaxBody is the most read of any file of the origin. A mirror's
	// file is read no further than the largest recent version of it the
	// origin had; a stamp no further than 4 KiB.
	MaxBody int64
	// LeaveAfter is how many consecutive failed runs take a healthy
	// endpoint out; ReturnAfter how many good ones bring it back.
	LeaveAfter, ReturnAfter int
	// CertWarning is how close a certificate's expiry is reported.
	CertWarning time.Duration
	// UserAgent is sent with every HTTP request.
	UserAgent string
	// RootCAs verifies certificates; nil means the system's.
	RootCAs *x509.CertPool
	// Resolver looks up host names; nil means the system's.
	Resolver Resolver
	// Rsync is the rsync program (default "rsync").
	Rsync string
	// Now is the clock for the snapshot's times (default time.Now).
	Now func() time.Time
	// Progress, when set, is called after each endpoint with the number
	// done and the total. Calls are serialised.
	Progress func(done, total int)
	// Vantage names where the probe runs, for the snapshot's vantage
	// (state.CheckVantage says which names are valid); empty for none.
	Vantage string
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Timeout:     30 * time.Second,
		Deadline:    10 * time.Minute,
		Concurrency: 2048,
		PerHost:     8,
		Retries:     1,
		RetryDelay:  time.Second,
		MaxBody:     16 << 20,
		LeaveAfter:  2,
		ReturnAfter: 1,
		CertWarning: 14 * 24 * time.Hour,
		UserAgent:   "mirrorsteer/dev (+https://github.com/mirrorsteer/mirrorsteer)",
		Rsync:       "rsync",
	}
}

func (c *Config) fill() {
	d := Defaults()
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.Deadline = cmp.Or(c.Deadline, d.Deadline)
	c.Concurrency = cmp.Or(max(c.Concurrency, 0), d.Concurrency)
	c.PerHost = cmp.Or(max(c.PerHost, 0), d.PerHost)
	c.Retries = max(c.Retries, 0)
	c.RetryDelay = cmp.Or(c.RetryDelay, d.RetryDelay)
	c.MaxBody = cmp.Or(c.MaxBody, d.MaxBody)
	c.LeaveAfter = cmp.Or(max(c.LeaveAfter, 0), d.LeaveAfter)
	c.ReturnAfter = cmp.Or(max(c.ReturnAfter, 0), d.ReturnAfter)
	c.CertWarning = cmp.Or(c.CertWarning, d.CertWarning)
	c.UserAgent = cmp.Or(c.UserAgent, d.UserAgent)
	c.Rsync = cmp.Or(c.Rsync, d.Rsync)
	if c.Resolver == nil {
		c.Resolver = &StaticResolver{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// OriginError is a run that could not read the origin: nothing can be
// judged against it, so no snapshot is made.
type OriginError struct {
	URL string
	Err error
}

func (e *OriginError) Error() string {
	_, msg := classify(e.Err)
	return fmt.Sprintf("origin %s: %s; no snapshot was made (the previous one is kept)", e.URL, msg)
}

func (e *OriginError) Unwrap() error { return e.Err }

// job is one endpoint: a mirror over one protocol and one family.
type job struct {
	mirror *inventory.Mirror
	proto  inventory.Protocol
	family state.Family
	base   *url.URL
	prev   *state.Endpoint
}

// originMeta is the origin's current version of one variant's metadata.
type originMeta struct {
	path   string
	sha256 string
	size   int64
	ts     int64
}

// outcome is what checking one endpoint found.
type outcome struct {
	err        error // nil: reachable, stamp read
	notChecked bool  // the run's deadline passed before it started
	stamp      time.Time
	latencies  []time.Duration
	certExpiry time.Time
	addr       netip.Addr         // the address connected to; invalid when none was
	metas      map[string]fetched // by path
	checked    time.Time
}

type fetched struct {
	sha256 string
	err    error
}

// aheadTolerance is how much later than the origin's a mirror's stamp may
// be. A mirror copies the origin's stamp file, so an honest one is never
// later than the origin's newest stamp (read again at the end of the run
// when a mirror shows a later one, in case the origin published during
// the run); the tolerance only absorbs rounding and a stamp a sync script
// rewrites, and is tiny beside any max_lag.
const aheadTolerance = 5 * time.Minute

type run struct {
	inv     *inventory.Inventory
	cfg     Config
	prev    *state.Snapshot
	now     time.Time
	origin  state.Origin
	latest  time.Time        // the origin's newest stamp seen in the run
	base    *url.URL         // the origin's
	limits  map[string]int64 // the most read of each metadata file
	current map[variantKey]originMeta
	history map[variantKey][]state.Meta // newest first
	report  *Report
}

// The causes of the contexts' ends, to say which time ran out.
var (
	errRunDeadline  = errors.New("the run's deadline passed")
	errEndpointTime = errors.New("the endpoint ran out of time")
)

type variantKey struct{ repo, release, arch string }

func keyOf(v inventory.Variant) variantKey { return variantKey{v.Repo.Name, v.Release, v.Arch} }

// Run checks every endpoint of inv and returns the new snapshot, merged
// with prev (which may be nil): hysteresis, last-good times and the
// origin's metadata history carry over. It fails with an *OriginError when
// the origin cannot be read; endpoint failures are results, not errors.
func Run(ctx context.Context, inv *inventory.Inventory, prev *state.Snapshot, cfg Config) (*state.Snapshot, *Report, error) {
	cfg.fill()
	start := time.Now()
	r := &run{inv: inv, cfg: cfg, prev: prev, now: cfg.Now().UTC(), report: &Report{}}
	for _, m := range inv.Mirrors {
		if m.URL(inventory.Rsync) != "" {
			if _, err := exec.LookPath(cfg.Rsync); err != nil {
				return nil, nil, fmt.Errorf("mirror %q declares rsync, but the rsync program %q is not installed (apt-get install rsync): %w", m.Name, cfg.Rsync, err)
			}
			break
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Deadline, errRunDeadline)
	defer cancel()
	if err := r.checkOrigin(ctx); err != nil {
		return nil, nil, err
	}
	jobs := r.jobs()
	limit, lowered := concurrency(cfg.Concurrency, len(jobs), openFileLimit())
	if lowered {
		r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("%d endpoints checked at once, not %d: the open-file limit (%d, ulimit -n; %d per endpoint) allows no more; raise the hard limit for a faster run", limit, min(cfg.Concurrency, len(jobs)), openFileLimit(), fdsPerEndpoint))
	}
	r.report.Concurrency = limit
	outs := r.execute(ctx, jobs, limit)
	r.recheckOrigin(ctx, outs)

	snap := &state.Snapshot{Schema: state.Schema, Taken: r.now, Network: inv.Network.Name, Origin: r.origin, Mirrors: map[string]*state.Mirror{}}
	snap.Vantage = cfg.Vantage
	for i, j := range jobs {
		sm := snap.Mirrors[j.mirror.Name]
		if sm == nil {
			sm = &state.Mirror{Endpoints: []state.Endpoint{}}
			snap.Mirrors[j.mirror.Name] = sm
		}
		if outs[i].notChecked && j.prev != nil {
			sm.Endpoints = append(sm.Endpoints, *j.prev)
			r.report.NotChecked++
			continue
		}
		e := r.endpoint(&jobs[i], &outs[i])
		sm.Endpoints = append(sm.Endpoints, e)
		r.report.add(&jobs[i], &e, outs[i], cfg)
	}
	if err := snap.Validate(); err != nil {
		return nil, nil, fmt.Errorf("probe made an invalid snapshot (a bug): %w", err)
	}
	r.report.Endpoints = len(jobs)
	r.report.Duration = time.Since(start)
	return snap, r.report, nil
}

// jobs lists every endpoint: mirrors in file order, protocols in state
// order, IPv4 then IPv6.
func (r *run) jobs() []job {
	var out []job
	for _, m := range r.inv.Mirrors {
		for _, p := range inventory.Protocols {
			raw := m.URL(p)
			if raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				continue // the inventory validated it
			}
			for _, f := range state.Families {
				out = append(out, job{mirror: m, proto: p, family: f, base: u, prev: r.prev.Endpoint(m.Name, state.Protocol(p), f)})
			}
		}
	}
	return out
}

// checkOrigin reads the origin's stamp and the current version of every
// variant's metadata, and updates the metadata history.
func (r *run) checkOrigin(ctx context.Context) error {
	raw := r.inv.Network.Origin
	u, err := url.Parse(raw)
	if err != nil {
		return &OriginError{raw, err}
	}
	r.base = u
	fail := func(err error) error { return &OriginError{URL: raw, Err: err} }
	f, err := r.originFetcher(ctx)
	if err != nil {
		return fail(err)
	}
	defer f.close()
	var lat []time.Duration
	stamp, err := r.readStamp(ctx, f, &lat, r.cfg.Timeout)
	if err != nil {
		return fail(err)
	}
	r.origin = state.Origin{Stamp: stamp, Checked: r.cfg.Now().UTC()}
	r.latest = stamp
	r.current = map[variantKey]originMeta{}
	cache := map[string]*originMeta{}
	for _, v := range r.inv.Variants() {
		var found *originMeta
		var missing []string
		for _, p := range metadataPaths(v) {
			if m, ok := cache[p]; ok {
				found = m
				if m != nil {
					break
				}
				continue
			}
			// The whole file is hashed; its start has the version.
			h := sha256.New()
			head := &limitedBuffer{b: new(bytes.Buffer), n: metadataHead}
			n := &countingWriter{}
			err := r.attempt(ctx, p, &lat, r.cfg.Timeout, func(rctx context.Context) error {
				h.Reset()
				head.b.Reset()
				n.n = 0
				return f.get(rctx, p, r.cfg.MaxBody, io.MultiWriter(h, head, n))
			})
			if err != nil {
				if class, _ := classify(err); class == state.ClassHTTPStatus || class == state.ClassNotFound {
					cache[p] = nil
					missing = append(missing, p)
					continue
				}
				return fail(err)
			}
			found = &originMeta{path: p, sha256: hex.EncodeToString(h.Sum(nil)), size: n.n, ts: metadataTimestamp(p, head.b.Bytes())}
			cache[p] = found
			break
		}
		if found != nil {
			r.current[keyOf(v)] = *found
		} else if len(missing) > 0 {
			r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("the origin has no %s: repo %s cannot be verified on any mirror", strings.Join(missing, " or "), v.String()))
		}
	}
	r.updateHistory()
	r.setLimits()
	return nil
}

// updateHistory merges the origin's current metadata into the history of
// the previous snapshot: a version not seen before is first seen now; an
// older version is kept while it was superseded no longer than the
// largest max_lag ago (a mirror serving it may still be fresh).
func (r *run) updateHistory() {
	keep := r.inv.Network.MaxLag
	for _, m := range r.inv.Mirrors {
		keep = max(keep, r.inv.LagLimit(m))
	}
	prev := map[variantKey][]state.Meta{}
	if r.prev != nil {
		for _, m := range r.prev.Origin.Metadata {
			k := variantKey{m.Repo, m.Release, m.Arch}
			prev[k] = append(prev[k], m)
		}
	}
	r.history = map[variantKey][]state.Meta{}
	for _, v := range r.inv.Variants() {
		k := keyOf(v)
		cur, ok := r.current[k]
		if !ok {
			continue
		}
		old := prev[k]
		slices.SortStableFunc(old, func(a, b state.Meta) int { return b.FirstSeen.Compare(a.FirstSeen) })
		list := []state.Meta{{Repo: k.repo, Release: k.release, Arch: k.arch, Path: cur.path, Size: cur.size, SHA256: cur.sha256, FirstSeen: r.now, Timestamp: cur.ts}}
		if len(old) > 0 && old[0].SHA256 == cur.sha256 && old[0].Path == cur.path {
			list[0].FirstSeen = old[0].FirstSeen
			old = old[1:]
		}
		superseded := list[0].FirstSeen
		for _, m := range old {
			if m.SHA256 == cur.sha256 || m.Path != cur.path || r.now.Sub(superseded) > keep {
				break
			}
			list = append(list, m)
			superseded = m.FirstSeen
		}
		r.history[k] = list
		r.origin.Metadata = append(r.origin.Metadata, list...)
	}
}

// metadataHead is how much of the start of an origin's metadata file is
// kept to read its version (a repomd.xml's revision, a Release's Date).
const metadataHead = 64 << 10

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// originFetcher resolves the origin's host and returns a fetcher for it.
func (r *run) originFetcher(ctx context.Context) (fetcher, error) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	addrs, err := resolve(rctx, r.cfg.Resolver, r.base.Hostname(), eitherFamily)
	cancel()
	if err != nil {
		return nil, err
	}
	return newHTTPFetcher(endpoint{base: r.base, addrs: addrs, policy: originPolicy(addrs), cfg: &r.cfg}), nil
}

// readStamp reads and parses the stamp file, each attempt within
// perRequest when it is not 0 (the origin's), else within ctx alone.
func (r *run) readStamp(ctx context.Context, f fetcher, lat *[]time.Duration, perRequest time.Duration) (time.Time, error) {
	var b bytes.Buffer
	path := r.inv.Network.Stamp
	err := r.attempt(ctx, path, lat, perRequest, func(rctx context.Context) error {
		b.Reset()
		return f.get(rctx, path, maxStamp, &b)
	})
	if err != nil {
		return time.Time{}, err
	}
	stamp, err := ParseStamp(b.Bytes())
	if err != nil {
		// ParseStamp quotes the file; what a mirror wrote is not repeated.
		return time.Time{}, &protocolError{fmt.Sprintf("the stamp file %s is not a time (a unix time or RFC 3339 is expected)", path)}
	}
	return stamp, nil
}

// recheckOrigin reads the origin's stamp again when a mirror showed a
// later one than it had at the start: the origin may have published
// while the run went on, and a mirror that copied that is not ahead.
func (r *run) recheckOrigin(ctx context.Context, outs []outcome) {
	if !slices.ContainsFunc(outs, func(o outcome) bool { return o.stamp.Sub(r.origin.Stamp) > aheadTolerance }) {
		return
	}
	f, err := r.originFetcher(ctx)
	if err != nil {
		return // the start's stamp stands
	}
	defer f.close()
	var lat []time.Duration
	if stamp, err := r.readStamp(ctx, f, &lat, r.cfg.Timeout); err == nil && stamp.After(r.latest) {
		r.latest = stamp
	}
}

// attempt runs op, and again after a jittered pause when it failed in a
// way that may pass and time remains. Each attempt has perRequest, when
// not 0, else the time left in ctx. what names the request in errors; the
// latency of a success is appended to lat.
func (r *run) attempt(ctx context.Context, what string, lat *[]time.Duration, perRequest time.Duration, op func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if perRequest > 0 {
			rctx, cancel = context.WithTimeout(ctx, perRequest)
		}
		start := time.Now()
		err := op(rctx)
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			*lat = append(*lat, time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			return r.outOfTime(ctx, what)
		}
		if timedOut || errors.Is(err, context.DeadlineExceeded) {
			return &timeoutError{fmt.Sprintf("no complete answer for %s within %v", what, perRequest)}
		}
		if attempt >= r.cfg.Retries || !retryable(err) {
			return err
		}
		pause := r.cfg.RetryDelay/2 + rand.N(r.cfg.RetryDelay)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

// outOfTime says which time ran out for the request what ("" for one not
// made): the endpoint's or the run's.
func (r *run) outOfTime(ctx context.Context, what string) error {
	which := fmt.Sprintf("the endpoint ran out of time (%v for all its requests)", r.cfg.Timeout)
	if !errors.Is(context.Cause(ctx), errEndpointTime) {
		which = fmt.Sprintf("the run's deadline (%v) passed", r.cfg.Deadline)
	}
	if what == "" {
		return &timeoutError{"not checked: " + which}
	}
	return &timeoutError{fmt.Sprintf("no complete answer for %s: %s", what, which)}
}

// check checks one endpoint: resolve, read the stamp, read the metadata
// of every variant the mirror carries, all within one Timeout: however
// slowly it answers, an endpoint costs one timeout at most.
func (r *run) check(ctx context.Context, j *job) (out outcome) {
	defer func() { out.checked = r.cfg.Now().UTC() }()
	ctx, cancel := context.WithTimeoutCause(ctx, r.cfg.Timeout, errEndpointTime)
	defer cancel()
	addrs, err := resolve(ctx, r.cfg.Resolver, j.base.Hostname(), j.family)
	if err != nil {
		if ctx.Err() != nil {
			err = r.outOfTime(ctx, "looking up "+j.base.Hostname())
		}
		return outcome{err: err}
	}
	ep := endpoint{base: j.base, family: j.family, addrs: addrs, policy: mirrorPolicy(j.mirror), origin: r.base, cfg: &r.cfg}
	var f fetcher
	switch j.proto {
	case inventory.FTP:
		f = newFTPFetcher(ep)
	case inventory.Rsync:
		rf, err := newRsyncFetcher(ep)
		if err != nil {
			return outcome{err: err}
		}
		f = rf
	default:
		f = newHTTPFetcher(ep)
	}
	defer f.close()
	defer func() { out.addr = f.(connectedTo).connected() }()
	var paths []string // the metadata files to compare, each once
	for _, v := range r.inv.Variants() {
		if cur, ok := r.current[keyOf(v)]; ok && j.mirror.Carries(v) && !slices.Contains(paths, cur.path) {
			paths = append(paths, cur.path)
		}
	}
	if pf, ok := f.(prefetcher); ok {
		// Fetch everything at once: one rsync run instead of one per file.
		limit := int64(maxStamp)
		for _, p := range paths {
			limit = max(limit, r.limit(p))
		}
		if err := r.attempt(ctx, "the stamp and metadata", &out.latencies, 0, func(rctx context.Context) error {
			return pf.prefetch(rctx, append([]string{r.inv.Network.Stamp}, paths...), limit)
		}); err != nil {
			out.err = err
			return out
		}
	}
	if hf, ok := f.(*httpFetcher); ok {
		defer func() { out.certExpiry = hf.expiry() }()
	}
	if out.stamp, out.err = r.readStamp(ctx, f, &out.latencies, 0); out.err != nil {
		return out
	}
	out.metas = map[string]fetched{}
	for _, p := range paths {
		if ctx.Err() != nil {
			out.metas[p] = fetched{err: r.outOfTime(ctx, "")}
			continue
		}
		h := sha256.New()
		err := r.attempt(ctx, p, &out.latencies, 0, func(rctx context.Context) error {
			h.Reset()
			return f.get(rctx, p, r.limit(p), h)
		})
		if err != nil {
			out.metas[p] = fetched{err: err}
			continue
		}
		out.metas[p] = fetched{sha256: hex.EncodeToString(h.Sum(nil))}
	}
	return out
}

// limit is the most read of a mirror's copy of the metadata file path.
func (r *run) limit(path string) int64 {
	if n, ok := r.limits[path]; ok {
		return n
	}
	return r.cfg.MaxBody
}

// setLimits sets each metadata file's limit: the size of the largest
// recent version the origin had (a larger file matches none), never more
// than MaxBody; MaxBody when a version's size is unknown.
func (r *run) setLimits() {
	r.limits = map[string]int64{}
	unknown := map[string]bool{}
	for _, hist := range r.history {
		for _, m := range hist {
			if m.Size <= 0 {
				unknown[m.Path] = true // an old snapshot's
			}
			r.limits[m.Path] = min(max(r.limits[m.Path], m.Size), r.cfg.MaxBody)
		}
	}
	for p := range unknown {
		r.limits[p] = r.cfg.MaxBody
	}
}
