package dnsd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/remote"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// IsURL reports whether an input name is a URL to fetch rather than a
// file: anything with a scheme. Only https is fetched; remote.New says so
// to anything else.
func IsURL(name string) bool { return strings.Contains(name, "://") }

// The inputs dnsd may fetch by URL, as metric labels.
const (
	inputConfig = "config"
	inputState  = "state"
)

// What a fetch that got through the network can still end in, besides
// remote's reasons.
const (
	resultOK          = "ok"           // new bytes, verified and loaded
	resultNotModified = "not_modified" // 304, or the same bytes again
	resultInvalid     = "invalid"      // verified, but not a file dnsd can load
	resultStale       = "stale"        // verified, but a snapshot older than the one in use
	resultReload      = "reload"       // verified, but the reload failed on another input
)

// fetched is an input given by URL: where it comes from and the verified
// bytes in use.
type fetched struct {
	input    string
	src      *remote.Source
	data     []byte
	modified time.Time // the server's Last-Modified of data
}

// inputError is a failure to load the bytes of one fetched input.
type inputError struct {
	result string // resultInvalid or resultStale
	err    error
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// openRemote makes the Sources of the inputs given by URL.
func (l *Loader) openRemote() error {
	for _, in := range []struct {
		name, input string
		max         int64
		dst         **fetched
	}{{l.src.Config, inputConfig, fileio.MaxInventory, &l.config}, {l.src.State, inputState, fileio.MaxState, &l.state}} {
		if !IsURL(in.name) {
			continue
		}
		cfg := l.src.Remote
		cfg.MaxSize = in.max
		src, err := remote.New(in.name, cfg)
		if err != nil {
			return err
		}
		*in.dst = &fetched{input: in.input, src: src}
	}
	return nil
}

func (l *Loader) remotes() []*fetched {
	var out []*fetched
	for _, f := range []*fetched{l.config, l.state} {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// fetchAll fetches every input given by URL once, one after the other,
// and loads each that changed. The fetches run outside l.mu: a hanging
// server holds up neither the file watcher nor a SIGHUP reload, and
// answers are never held up at all.
func (l *Loader) fetchAll(ctx context.Context) error {
	l.fetchMu.Lock()
	defer l.fetchMu.Unlock()
	var errs []error
	for _, f := range l.remotes() {
		res, err := f.src.Fetch(ctx)
		if ctx.Err() != nil {
			return ctx.Err() // stopping: not the server's failure
		}
		l.mu.Lock()
		err = l.take(f, res, err)
		l.mu.Unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// take puts a fetch's result to use: new verified bytes are loaded, and
// kept only when the load succeeds. Called with l.mu held.
func (l *Loader) take(f *fetched, res *remote.Result, err error) error {
	if err != nil {
		reason := string(remote.Network)
		var re *remote.Error
		if errors.As(err, &re) {
			reason = string(re.Reason)
		}
		l.fm.count(f.input, reason)
		l.log.Warn("fetch failed; still serving the last good copy", "input", f.input, "reason", reason, "error", err)
		return err
	}
	if res.NotModified || bytes.Equal(res.Body, f.data) {
		f.src.Accept(res)
		l.fm.success(f.input, resultNotModified, time.Now())
		l.log.Debug("not modified", "input", f.input, "url", f.src.URL())
		return nil
	}
	old := *f
	f.data, f.modified = res.Body, res.LastModified
	l.log.Info("fetched", "input", f.input, "url", f.src.URL(), "bytes", len(res.Body), "key", res.Key)
	if err := l.reload(); err != nil {
		*f = old
		result := resultReload
		var ie *inputError
		if errors.As(err, &ie) {
			result = ie.result
		}
		l.fm.count(f.input, result)
		return err
	}
	f.src.Accept(res)
	l.fm.success(f.input, resultOK, time.Now())
	return nil
}

// Poll fetches the inputs given by URL every interval, until ctx is
// done, and loads those that changed.
func (l *Loader) Poll(ctx context.Context, every time.Duration) {
	if len(l.remotes()) == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = l.fetchAll(ctx) // logged and counted
	}
}

// maxAhead is how far in the future a fetched snapshot may have been
// taken: clocks differ a little between machines.
const maxAhead = 10 * time.Minute

// parseState reads the snapshot, from its file or its fetched bytes, and
// refuses a fetched one older than the snapshot in use: a URL can be made
// to serve an old file, validly signed (a stale CDN copy, a replay), and
// the newest verified health must win. A file is the operator's own
// choice and is taken as it is.
func (l *Loader) parseState() (*state.Snapshot, error) {
	if l.state == nil {
		return state.LoadAny(l.src.State)
	}
	snap, err := state.ParseAny(l.src.State, l.state.data)
	if err != nil {
		return nil, &inputError{resultInvalid, err}
	}
	// A snapshot from the future would make every real one after it
	// look older until dnsd restarts: a wrong clock where probe ran
	// must not stop the updates.
	if ahead := time.Until(snap.Taken); ahead > maxAhead {
		return nil, &inputError{resultInvalid, fmt.Errorf("%s: snapshot taken %s, %v ahead of this machine's clock: the clock where probe runs, or this one, is wrong", l.src.State, snap.Taken.Format(time.RFC3339), ahead.Round(time.Second))}
	}
	if l.h != nil {
		if cur := l.h.Zone().Inputs().Snapshot; cur != nil && snap.Taken.Before(cur.Taken) {
			return nil, &inputError{resultStale, fmt.Errorf("%s: snapshot taken %s is older than the one in use (taken %s): a stale copy or a replay; keeping the newer", l.src.State, snap.Taken.Format(time.RFC3339), cur.Taken.Format(time.RFC3339))}
		}
	}
	return snap, nil
}

// checkLocalFiles refuses relative file names in a mirrors.toml fetched
// by URL: they would be read relative to wherever dnsd runs. The
// inventory loader reports everything else, with its line and column.
func checkLocalFiles(name string, data []byte) error {
	var doc struct {
		DNS struct {
			ZoneFile string `toml:"zone_file"`
		} `toml:"dns"`
		Mirror []struct {
			Name        string   `toml:"name"`
			SubnetFiles []string `toml:"subnet_files"`
		} `toml:"mirror"`
	}
	if toml.Unmarshal(data, &doc) != nil {
		return nil
	}
	if f := doc.DNS.ZoneFile; f != "" && !filepath.IsAbs(f) {
		return fmt.Errorf("%s: [dns] zone_file %q is relative, but this mirrors.toml was fetched by URL: give the zone file's absolute path on the dnsd machine", name, f)
	}
	for _, m := range doc.Mirror {
		for _, f := range m.SubnetFiles {
			if !filepath.IsAbs(f) {
				return fmt.Errorf("%s: [[mirror]] %q: subnet_files %q is relative, but this mirrors.toml was fetched by URL: give the file's absolute path on the dnsd machine, or list the networks in subnets", name, m.Name, f)
			}
		}
	}
	return nil
}

// fetchMetrics counts fetches of the inputs given by URL. Exposed:
//
//	dnsd_fetches_total{input, result}
//	dnsd_fetch_success_timestamp_seconds{input}
//	dnsd_snapshot_taken_timestamp_seconds
type fetchMetrics struct {
	mu      sync.Mutex
	results map[[2]string]*atomic.Uint64
	lastOK  map[string]*atomic.Int64
	taken   atomic.Int64 // Unix seconds of the snapshot in use; 0 for none

	descFetches, descSuccess, descTaken *prometheus.Desc
}

func newFetchMetrics() *fetchMetrics {
	return &fetchMetrics{
		results:     map[[2]string]*atomic.Uint64{},
		lastOK:      map[string]*atomic.Int64{},
		descFetches: prometheus.NewDesc("dnsd_fetches_total", "Fetches of the inputs given by URL (input: config or state), by result: ok (new, verified, loaded), not_modified, or why the last good copy stayed: timeout, network, tls, http_status, redirect, too_large, truncated, signature, invalid, stale, reload.", []string{"input", "result"}, nil),
		descSuccess: prometheus.NewDesc("dnsd_fetch_success_timestamp_seconds", "When a fetch of the input last succeeded (ok or not_modified): the copy in use was current then.", []string{"input"}, nil),
		descTaken:   prometheus.NewDesc("dnsd_snapshot_taken_timestamp_seconds", "The taken time (the serial) of the snapshot in use; 0 without one.", nil, nil),
	}
}

// watch makes the input's counters appear from the start, at 0.
func (m *fetchMetrics) watch(input string) {
	for _, r := range remote.Reasons {
		m.counter(input, string(r))
	}
	for _, r := range []string{resultOK, resultNotModified, resultInvalid, resultStale, resultReload} {
		m.counter(input, r)
	}
	m.mu.Lock()
	m.lastOK[input] = &atomic.Int64{}
	m.mu.Unlock()
}

func (m *fetchMetrics) counter(input, result string) *atomic.Uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{input, result}
	c := m.results[k]
	if c == nil {
		c = &atomic.Uint64{}
		m.results[k] = c
	}
	return c
}

func (m *fetchMetrics) count(input, result string) { m.counter(input, result).Add(1) }

func (m *fetchMetrics) success(input, result string, at time.Time) {
	m.count(input, result)
	m.mu.Lock()
	s := m.lastOK[input]
	m.mu.Unlock()
	if s != nil {
		s.Store(at.Unix())
	}
}

// Describe implements prometheus.Collector.
func (m *fetchMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.descFetches
	ch <- m.descSuccess
	ch <- m.descTaken
}

// Collect implements prometheus.Collector.
func (m *fetchMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.results {
		ch <- prometheus.MustNewConstMetric(m.descFetches, prometheus.CounterValue, float64(c.Load()), k[0], k[1])
	}
	for input, s := range m.lastOK {
		ch <- prometheus.MustNewConstMetric(m.descSuccess, prometheus.GaugeValue, float64(s.Load()), input)
	}
	ch <- prometheus.MustNewConstMetric(m.descTaken, prometheus.GaugeValue, float64(m.taken.Load()))
}
