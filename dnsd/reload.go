package dnsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/remote"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// Sources are the files dnsd serves from. Config and State may be https
// URLs instead of paths: then they are fetched, verified by their
// detached signatures and polled (see Loader.Poll and package remote).
type Sources struct {
	Config string // mirrors.toml
	// State is probe's state.json or gen's api/state.json; "" serves
	// without health (every mirror counts as healthy).
	State string
	City  string // GeoIP City/Country .mmdb; "" for none
	ASN   string // GeoIP ASN .mmdb; "" for none
	// Remote says whose signatures to trust, which CAs, and how long a
	// fetch may take, for Config and State when they are URLs.
	Remote remote.Config
	// Prepare, when set, runs on every freshly loaded generation before
	// it is compiled: mirrorsteer places mirrors without lat/lon at their
	// GeoIP location here, exactly as lookup and gen do, so all three
	// rank alike.
	Prepare func(inv *inventory.Inventory, snap *state.Snapshot) error
}

// CloseGrace is how long a replaced GeoIP database stays open for the
// queries that started before the swap (they take microseconds).
const CloseGrace = 10 * time.Second

// Loader loads Sources into Zones and swaps them into a Handler: at start,
// on Reload (SIGHUP), with Watch when a file changes, and with Poll when
// an input given by URL does. A generation that fails to load is logged
// and counted, and the zone being served stays; so does a generation
// that fails half-way, since nothing is swapped until everything has
// loaded and compiled. An input fetched by URL that fails (unreachable,
// slow, unsigned, unreadable, older) is logged and counted the same way,
// and the last good copy stays.
type Loader struct {
	src Sources
	log *slog.Logger
	h   *Handler
	m   *Metrics
	fm  *fetchMetrics

	// The inputs given by URL, nil for a path. Their sources are used
	// under fetchMu; their data under mu.
	config, state *fetched
	fetchMu       sync.Mutex // one round of fetches at a time

	mu    sync.Mutex // one load at a time
	seen  map[string]stamp
	files []string
	// The GeoIP databases last opened, their index and the stamps they
	// had: a reload that finds them unchanged (every probe run changes
	// only state.json) reuses them instead of indexing them again.
	geo      *geo.DB
	geoIndex *geo.Index
	geoSeen  [2]stamp
	// clock is time.Now but in tests: when signatures are made and
	// made again.
	clock func() time.Time
}

// NewLoader returns a loader for src that logs to log.
func NewLoader(src Sources, log *slog.Logger, m *Metrics) *Loader {
	if m == nil {
		m = NewMetrics()
	}
	return &Loader{src: src, log: log, m: m, fm: newFetchMetrics(), clock: time.Now}
}

// FetchMetrics returns the counters of the inputs given by URL, a
// Prometheus collector of their own.
func (l *Loader) FetchMetrics() prometheus.Collector { return l.fm }

// Start loads the first generation and returns a Handler serving it. An
// input given by URL is fetched first, once: without a good copy of it
// there is nothing to serve, and Start fails.
func (l *Loader) Start() (*Handler, error) {
	if err := l.openRemote(); err != nil {
		return nil, err
	}
	l.fetchMu.Lock()
	defer l.fetchMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var fetched []*remote.Result
	for _, f := range l.remotes() {
		l.fm.watch(f.input)
		res, err := f.src.Fetch(context.Background())
		if err != nil {
			var re *remote.Error
			if errors.As(err, &re) {
				l.fm.count(f.input, string(re.Reason))
			}
			return nil, err
		}
		f.data, f.modified = res.Body, res.LastModified
		l.log.Info("fetched", "input", f.input, "url", f.src.URL(), "bytes", len(res.Body), "key", res.Key)
		fetched = append(fetched, res)
	}
	z, err := l.load()
	if err != nil {
		l.m.reloaded(false, time.Now())
		return nil, err
	}
	for i, f := range l.remotes() {
		f.src.Accept(fetched[i])
		l.fm.success(f.input, resultOK, time.Now())
	}
	l.h = NewHandler(z, l.m)
	l.loaded(z)
	l.log.Info("loaded", "zone", z.Summary(), "geoip", z.in.GeoIP.Describe())
	return l.h, nil
}

// loaded records that z is now served.
func (l *Loader) loaded(z *Zone) {
	l.m.reloaded(true, time.Now())
	var taken int64
	if s := z.in.Snapshot; s != nil {
		taken = s.Taken.Unix()
	}
	l.fm.taken.Store(taken)
}

// Reload fetches the inputs given by URL, loads the sources again and
// swaps the new zone in, or keeps the old one and returns why not.
func (l *Loader) Reload() error {
	fetchErr := l.fetchAll(context.Background())
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(fetchErr, l.reload())
}

func (l *Loader) reload() error {
	z, err := l.loadBehind()
	if err != nil {
		l.m.reloaded(false, time.Now())
		l.log.Error("reload failed; still serving the previous data", "error", err)
		return err
	}
	old := l.h.Swap(z)
	l.loaded(z)
	l.log.Info("reloaded", "zone", z.Summary(), "geoip", z.in.GeoIP.Describe())
	if old != nil && old.in.GeoIP != nil && old.in.GeoIP != z.in.GeoIP {
		db := old.in.GeoIP
		time.AfterFunc(CloseGrace, func() { db.Close() })
	}
	return nil
}

// reloadNice is the scheduling priority (nice) of the thread that loads
// a new generation: the readers answering queries at nice 0 come first,
// so a reload takes longer under load instead of taking queries' time
// (a weight of 110 against 1024: about a tenth of a busy core).
const reloadNice = 10

// loadBehind runs load on a thread of its own at reloadNice. The thread
// stays locked to the goroutine and so ends with it: its priority never
// reaches other goroutines.
func (l *Loader) loadBehind() (*Zone, error) {
	type result struct {
		z   *Zone
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Best effort: without the right to lower its own priority
		// (it needs none) the load simply runs at the usual one.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), reloadNice)
		z, err := l.load()
		done <- result{z, err}
	}()
	r := <-done
	return r.z, r.err
}

// load reads every source and compiles them. It records the files'
// stamps first, so that a change made during the load is seen by the
// next check. A panic while loading (a bug an input file brought out)
// fails the load like a bad file does: the server keeps its zone.
func (l *Loader) load() (z *Zone, err error) {
	var db *geo.DB
	fresh := false // db was opened by this load: close it if the load fails
	defer func() {
		if p := recover(); p != nil {
			if fresh {
				db.Close()
			}
			z, err = nil, fmt.Errorf("loading %s failed on a bug in mirrorsteer; please report it with these input files: %v\n%s", l.src.Config, p, debug.Stack())
		}
	}()
	l.files = []string{l.src.City, l.src.ASN}
	if l.config == nil {
		l.files = append(l.files, l.src.Config)
	}
	if l.state == nil {
		l.files = append(l.files, l.src.State)
	}
	l.seen = l.stamps()
	// The zone file is read as a check of the inventory, so that its
	// errors come with the inventory's, sorted, as mirrorsteer check
	// prints them.
	var records []dns.RR
	var keys *Keys
	zoneFile := func(inv *inventory.Inventory) inventory.Errors {
		var errs, kerrs inventory.Errors
		records, errs = ReadZoneFile(inv)
		keys, kerrs = ReadKeys(inv)
		return append(errs, kerrs...)
	}
	var inv *inventory.Inventory
	if l.config == nil {
		inv, err = inventory.Load(l.src.Config, zoneFile)
	} else if err = checkLocalFiles(l.src.Config, l.config.data); err == nil {
		inv, err = inventory.Parse(l.src.Config, l.config.data, "", zoneFile)
	}
	if err != nil {
		if l.config != nil {
			err = &inputError{resultInvalid, err}
		}
		return nil, err
	}
	if inv.DNS == nil {
		return nil, fmt.Errorf("%s: there is no [dns] table; add one (zone, ns, names) for dnsd to serve", l.src.Config)
	}
	if inv.DNS.ZoneFile != "" {
		l.files = append(l.files, inv.DNS.ZoneFile)
		l.seen[inv.DNS.ZoneFile] = stampOf(inv.DNS.ZoneFile)
	}
	if keys != nil {
		// A key pair written, replaced or removed is a reload: that is
		// how a rollover goes (README.md).
		for _, k := range keys.All {
			for _, f := range []string{k.File + ".key", k.File + ".private"} {
				l.files = append(l.files, f)
				l.seen[f] = stampOf(f)
			}
		}
	}
	var snap *state.Snapshot
	if l.src.State != "" {
		if snap, err = l.parseState(); err != nil {
			return nil, err
		}
	}
	var ix *geo.Index
	if l.src.City != "" || l.src.ASN != "" {
		now := [2]stamp{l.seen[l.src.City], l.seen[l.src.ASN]}
		if l.geo != nil && now == l.geoSeen && !now[0].err && !now[1].err {
			db, ix = l.geo, l.geoIndex
		} else {
			if db, err = geo.Open(l.src.City, l.src.ASN); err != nil {
				return nil, err
			}
			fresh = true
			index := db.Index
			if l.geo != nil {
				// A reload: the previous index answers meanwhile.
				index = db.IndexBehind
			}
			if ix, err = index(); err != nil {
				db.Close()
				return nil, err
			}
			defer func() {
				if err == nil {
					l.geo, l.geoIndex, l.geoSeen = db, ix, now
				}
			}()
		}
	}
	closeFresh := func() {
		if fresh {
			db.Close()
		}
	}
	if l.src.Prepare != nil {
		if err := l.src.Prepare(inv, snap); err != nil {
			closeFresh()
			return nil, err
		}
	}
	serial := uint32(0)
	if snap != nil {
		serial = uint32(snap.Taken.Unix())
	}
	for _, f := range []string{l.src.Config, inv.DNS.ZoneFile} {
		if st, ok := l.seen[f]; ok && !st.err && uint32(st.mtime.Unix()) > serial {
			serial = uint32(st.mtime.Unix())
		}
	}
	if l.config != nil && uint32(l.config.modified.Unix()) > serial {
		// The server's time of the file stands for its mtime: every dnsd
		// fetching the same file gets the same serial.
		serial = uint32(l.config.modified.Unix())
	}
	if z, err = Compile(Inputs{Inventory: inv, Records: records, Snapshot: snap, GeoIP: db, GeoIndex: ix, HasCity: l.src.City != "", HasASN: l.src.ASN != "", Serial: serial, Keys: keys, Now: l.clock()}); err != nil {
		closeFresh()
		return nil, err
	}
	return z, nil
}

// stamp is what tells that a file changed: a new file renamed into place
// has another inode; one written in place another size or mtime.
type stamp struct {
	mtime time.Time
	size  int64
	ino   uint64
	err   bool
}

func (s stamp) same(t stamp) bool {
	return s.mtime.Equal(t.mtime) && s.size == t.size && s.ino == t.ino && s.err == t.err
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{err: true}
	}
	st := stamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

func (l *Loader) stamps() map[string]stamp {
	out := map[string]stamp{}
	for _, f := range l.files {
		if f != "" {
			out[f] = stampOf(f)
		}
	}
	return out
}

// Watch checks the files every interval and reloads when one changed,
// until ctx is done.
func (l *Loader) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		changed := ""
		for f, st := range l.stamps() {
			if !st.same(l.seen[f]) {
				changed = f
				break
			}
		}
		if changed != "" {
			l.log.Info("file changed; reloading", "file", changed)
			_ = l.reload()
		}
		l.mu.Unlock()
	}
}

// KeepSigned makes the signatures of the zone being served again before
// they expire (Zone.ResignAt), looking every minute, until ctx is done.
// A reload signs anew too; this keeps a zone signed whose inputs do not
// change, or are broken and so not reloaded, for longer than half the
// signatures' validity.
func (l *Loader) KeepSigned(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = l.ResignIfDue()
	}
}

// ResignIfDue makes the signatures of the zone being served again, and
// swaps the re-signed zone in, when they are due; it reports whether it
// did. A failure is logged and counted as a failed reload, and tried
// again at the next call.
func (l *Loader) ResignIfDue() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	z := l.h.Zone()
	now := l.clock()
	if !z.Signed() || now.Before(z.ResignAt()) {
		return false, nil
	}
	nz, err := z.Resign(now)
	if err != nil {
		l.m.reloaded(false, now)
		l.log.Error("re-signing failed; still serving the previous signatures", "expires", z.Expires(), "error", err)
		return false, err
	}
	l.h.Swap(nz)
	l.log.Info("re-signed", "zone", nz.Summary())
	return true, nil
}
