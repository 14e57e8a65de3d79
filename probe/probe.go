package probe

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Config bounds and tunes a probe run. The zero value of a field means its
// default, except Retries, where 0 means no retry: start from Defaults.
type Config struct {
	// Timeout bounds each request: connect, TLS, headers and body. A
	// hanging or slow mirror costs at most one Timeout per endpoint.
	Timeout time.Duration
	// Deadline bounds the whole run. Endpoints not started by then keep
	// their previous state.
	Deadline time.Duration
	// Concurrency is how many endpoints are checked at once.
	Concurrency int
	// PerHost is how many endpoints of one host are checked at once.
	PerHost int
	// Retries is how often a request that failed in a way that may pass
	// (a reset, a 5xx) is repeated, after RetryDelay with jitter.
	Retries int
	// RetryDelay is the mean pause before a retry; the pause is uniform in
	// [RetryDelay/2, 3*RetryDelay/2).
	RetryDelay time.Duration
	// MaxBody is the most read of any file.
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
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Timeout:     10 * time.Second,
		Deadline:    10 * time.Minute,
		Concurrency: 256,
		PerHost:     2,
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
	metas      map[string]fetched // by path
	checked    time.Time
}

type fetched struct {
	sha256 string
	err    error
}

type run struct {
	inv     *inventory.Inventory
	cfg     Config
	prev    *state.Snapshot
	now     time.Time
	origin  state.Origin
	current map[variantKey]originMeta
	history map[variantKey][]state.Meta // newest first
	report  *Report
}

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
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	if err := r.checkOrigin(ctx); err != nil {
		return nil, nil, err
	}
	jobs := r.jobs()
	outs := r.execute(ctx, jobs)

	snap := &state.Snapshot{Schema: state.Schema, Taken: r.now, Network: inv.Network.Name, Origin: r.origin, Mirrors: map[string]*state.Mirror{}}
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
	fail := func(err error) error { return &OriginError{URL: raw, Err: err} }
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	addrs, err := resolve(rctx, r.cfg.Resolver, u.Hostname(), "")
	cancel()
	if err != nil {
		return fail(err)
	}
	f := newHTTPFetcher(endpoint{base: u, addrs: addrs, cfg: &r.cfg})
	defer f.close()
	var lat []time.Duration
	b, err := r.fetch(ctx, f, r.inv.Network.Stamp, maxStamp, &lat)
	if err != nil {
		return fail(err)
	}
	stamp, err := ParseStamp(b)
	if err != nil {
		return fail(&protocolError{fmt.Sprintf("%s: %v", r.inv.Network.Stamp, err)})
	}
	r.origin = state.Origin{Stamp: stamp, Checked: r.cfg.Now().UTC()}
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
			b, err := r.fetch(ctx, f, p, r.cfg.MaxBody, &lat)
			if err != nil {
				if class, _ := classify(err); class == ClassHTTPStatus || class == ClassNotFound {
					cache[p] = nil
					missing = append(missing, p)
					continue
				}
				return fail(err)
			}
			sum := sha256.Sum256(b)
			found = &originMeta{path: p, sha256: hex.EncodeToString(sum[:]), size: int64(len(b)), ts: metadataTimestamp(p, b)}
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

// fetch gets path with the per-request timeout, retrying what may pass.
func (r *run) fetch(ctx context.Context, f fetcher, path string, limit int64, lat *[]time.Duration) ([]byte, error) {
	var b []byte
	err := r.attempt(ctx, path, lat, func(rctx context.Context) (err error) {
		b, err = f.get(rctx, path, limit)
		return err
	})
	return b, err
}

// attempt runs op with the per-request timeout, and again after a jittered
// pause when it failed in a way that may pass. what names the request in
// errors; the latency of a success is appended to lat.
func (r *run) attempt(ctx context.Context, what string, lat *[]time.Duration, op func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		start := time.Now()
		err := op(rctx)
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			*lat = append(*lat, time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			return &timeoutError{fmt.Sprintf("%s: the run's deadline (%v) passed", what, r.cfg.Deadline)}
		}
		if timedOut || errors.Is(err, context.DeadlineExceeded) {
			return &timeoutError{fmt.Sprintf("no complete answer for %s within %v", what, r.cfg.Timeout)}
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

// execute checks the jobs within the concurrency bounds and returns their
// outcomes in the same order.
func (r *run) execute(ctx context.Context, jobs []job) []outcome {
	outs := make([]outcome, len(jobs))
	global := make(chan struct{}, r.cfg.Concurrency)
	perHost := map[string]chan struct{}{}
	for _, j := range jobs {
		h := strings.ToLower(j.base.Hostname())
		if perHost[h] == nil {
			perHost[h] = make(chan struct{}, r.cfg.PerHost)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for i := range jobs {
		wg.Go(func() {
			j := &jobs[i]
			defer func() {
				if r.cfg.Progress != nil {
					mu.Lock()
					done++
					r.cfg.Progress(done, len(jobs))
					mu.Unlock()
				}
			}()
			host := perHost[strings.ToLower(j.base.Hostname())]
			select {
			case host <- struct{}{}:
			case <-ctx.Done():
				outs[i] = outcome{notChecked: true, err: &timeoutError{fmt.Sprintf("not checked: the run's deadline (%v) passed first", r.cfg.Deadline)}, checked: r.cfg.Now().UTC()}
				return
			}
			defer func() { <-host }()
			select {
			case global <- struct{}{}:
			case <-ctx.Done():
				outs[i] = outcome{notChecked: true, err: &timeoutError{fmt.Sprintf("not checked: the run's deadline (%v) passed first", r.cfg.Deadline)}, checked: r.cfg.Now().UTC()}
				return
			}
			defer func() { <-global }()
			outs[i] = r.check(ctx, j)
		})
	}
	wg.Wait()
	return outs
}

// check checks one endpoint: resolve, read the stamp, read the metadata
// of every variant the mirror carries. After a timeout the endpoint's
// remaining requests are skipped, so it costs one timeout at most.
func (r *run) check(ctx context.Context, j *job) (out outcome) {
	defer func() { out.checked = r.cfg.Now().UTC() }()
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	addrs, err := resolve(rctx, r.cfg.Resolver, j.base.Hostname(), j.family)
	expired := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if expired && ctx.Err() == nil {
			err = &timeoutError{fmt.Sprintf("looking up %s took longer than %v", j.base.Hostname(), r.cfg.Timeout)}
		}
		return outcome{err: err}
	}
	ep := endpoint{base: j.base, family: j.family, addrs: addrs, cfg: &r.cfg}
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
	if pf, ok := f.(prefetcher); ok {
		// Fetch everything at once: one rsync run instead of one per file.
		paths := []string{r.inv.Network.Stamp}
		for _, v := range r.inv.Variants() {
			if cur, ok := r.current[keyOf(v)]; ok && j.mirror.Carries(v) && !slices.Contains(paths, cur.path) {
				paths = append(paths, cur.path)
			}
		}
		if err := r.attempt(ctx, "the stamp and metadata", &out.latencies, func(rctx context.Context) error {
			return pf.prefetch(rctx, paths, r.cfg.MaxBody)
		}); err != nil {
			out.err = err
			return out
		}
	}
	b, err := r.fetch(ctx, f, r.inv.Network.Stamp, maxStamp, &out.latencies)
	if hf, ok := f.(*httpFetcher); ok {
		defer func() { out.certExpiry = hf.expiry() }()
	}
	if err != nil {
		out.err = err
		return out
	}
	if out.stamp, err = ParseStamp(b); err != nil {
		out.err = &protocolError{fmt.Sprintf("%s: %v", r.inv.Network.Stamp, err)}
		return out
	}
	out.metas = map[string]fetched{}
	var timedOut error
	for _, v := range r.inv.Variants() {
		cur, ok := r.current[keyOf(v)]
		if !ok || !j.mirror.Carries(v) {
			continue
		}
		if _, done := out.metas[cur.path]; done {
			continue
		}
		if timedOut != nil {
			out.metas[cur.path] = fetched{err: fmt.Errorf("not checked: an earlier request to this endpoint timed out")}
			continue
		}
		b, err := r.fetch(ctx, f, cur.path, r.cfg.MaxBody, &out.latencies)
		if err != nil {
			if class, _ := classify(err); class == ClassTimeout {
				timedOut = err
			}
			out.metas[cur.path] = fetched{err: err}
			continue
		}
		sum := sha256.Sum256(b)
		out.metas[cur.path] = fetched{sha256: hex.EncodeToString(sum[:])}
	}
	return out
}
