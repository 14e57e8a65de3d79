package probe

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// endpoint turns a check's outcome into the endpoint's new state, merged
// with its previous state.
//
// A run is good when the endpoint answered and its stamp is within
// max_lag, and not ahead of the origin's. Consecutive good and failed runs
// are counted; an endpoint that was healthy stays so until LeaveAfter
// failed runs in a row, one that was not (or is new) becomes healthy after
// ReturnAfter good runs. Freshness is never carried on trust: a stale or
// ahead endpoint is unhealthy at once, and one kept healthy through a
// failure is judged by the last stamp it showed against the origin's stamp
// of this run.
func (r *run) endpoint(j *job, out *outcome) state.Endpoint {
	limit := r.inv.LagLimit(j.mirror)
	prev := j.prev
	e := state.Endpoint{Protocol: state.Protocol(j.proto), Family: j.family, Checked: out.checked, Repos: []state.Repo{}}
	if prev != nil {
		e.LastGood, e.Stamp, e.CertExpiry = prev.LastGood, prev.Stamp, prev.CertExpiry
	}
	e.Up = out.err == nil
	if e.Up {
		e.Stamp = out.stamp
		e.LatencyMS = median(out.latencies)
	} else {
		e.Class, e.Error = classify(out.err)
	}
	if !out.certExpiry.IsZero() {
		e.CertExpiry = out.certExpiry
	}
	// The address is kept from a run that connected: a mirror down for
	// a run stays where it was.
	e.Addr = out.addr
	if !e.Addr.IsValid() && prev != nil {
		e.Addr = prev.Addr
	}
	stale := true // unknown freshness counts as stale
	ahead := time.Duration(0)
	if !e.Stamp.IsZero() && !r.origin.Stamp.IsZero() {
		lag := max(r.origin.Stamp.Sub(e.Stamp), 0)
		e.Lag = state.DurationOf(lag)
		stale = lag > limit
		// A stamp the origin never had: its freshness is unknown.
		if d := e.Stamp.Sub(r.latest); d > aheadTolerance {
			ahead, stale = d, true
		}
	}
	good := e.Up && !stale
	switch {
	case e.Up && ahead > 0:
		e.Class = state.ClassAhead
		e.Error = fmt.Sprintf("its stamp %s is %v ahead of the origin's newest (more than the %v allowed): a mirror copies the origin's stamp, it cannot be newer", e.Stamp.Format(time.RFC3339), ahead.Round(time.Second), aheadTolerance)
	case e.Up && stale:
		e.Class = state.ClassStale
		e.Error = fmt.Sprintf("its stamp is %v behind the origin's (max_lag %v)", e.Lag.Duration, limit)
	}
	if good {
		e.Successes = 1
		if prev != nil && prev.Successes > 0 {
			e.Successes = prev.Successes + 1
		}
		e.LastGood = e.Checked
	} else {
		e.Failures = 1
		if prev != nil && prev.Failures > 0 {
			e.Failures = prev.Failures + 1
		}
	}
	if prev != nil && prev.Healthy {
		e.Healthy = e.Failures < r.cfg.LeaveAfter
	} else {
		e.Healthy = e.Successes >= r.cfg.ReturnAfter
	}
	e.Healthy = e.Healthy && !stale

	if e.Up {
		e.Repos = r.repos(j, out, stale, ahead > 0, limit)
	} else if prev != nil {
		// Not reached this time: what it carried, as long as its last
		// stamp keeps it within max_lag.
		for _, p := range prev.Repos {
			p.Fresh = p.Fresh && !stale
			if !p.Fresh && p.Error == "" {
				p.Error = "not reached in this run, and its last stamp is now too old"
			}
			e.Repos = append(e.Repos, p)
		}
	}
	return e
}

// repos judges each variant the mirror carries by its metadata: the
// origin's current version is fresh; an older one the origin had is
// fresh while it was superseded no more than max_lag ago; anything else
// is not.
func (r *run) repos(j *job, out *outcome, stale, ahead bool, limit time.Duration) []state.Repo {
	list := []state.Repo{}
	for _, v := range r.inv.Variants() {
		if !j.mirror.Carries(v) {
			continue
		}
		k := keyOf(v)
		rep := state.Repo{Repo: k.repo, Release: k.release, Arch: k.arch}
		paths := metadataPaths(v)
		cur, known := r.current[k]
		var large *tooLargeError
		switch {
		case ahead:
			rep.Error = "the mirror's stamp is ahead of the origin's, so nothing it serves counts as fresh"
		case len(paths) == 0: // files: the stamp says it all
			rep.Fresh = !stale
			if stale {
				rep.Error = "the mirror's stamp is older than max_lag"
			}
		case !known:
			rep.Error = "the origin has no metadata for it, so it cannot be verified"
		default:
			got := out.metas[cur.path]
			if errors.As(got.err, &large) && large.limit < r.cfg.MaxBody {
				rep.Error = fmt.Sprintf("%s does not match the origin: it is larger than any of the origin's %d recent versions (%d bytes)", cur.path, len(r.history[k]), large.limit)
				break
			}
			if got.err != nil {
				_, msg := classify(got.err)
				rep.Error = msg
				break
			}
			hist := r.history[k]
			i := slices.IndexFunc(hist, func(m state.Meta) bool { return m.SHA256 == got.sha256 })
			switch {
			case i == 0:
				rep.Fresh = true
			case i > 0:
				behind := max(r.now.Sub(hist[i-1].FirstSeen), 0)
				rep.Fresh = behind <= limit
				if !rep.Fresh {
					rep.Error = fmt.Sprintf("%s is the origin's version first seen %s, superseded %v ago (max_lag %v)",
						cur.path, hist[i].FirstSeen.Format(time.RFC3339), behind.Round(time.Second), limit)
				}
			default:
				rep.Error = fmt.Sprintf("%s does not match the origin (it is none of its %d recent versions)", cur.path, len(hist))
			}
		}
		list = append(list, rep)
	}
	slices.SortFunc(list, func(a, b state.Repo) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Release, b.Release), cmp.Compare(a.Arch, b.Arch))
	})
	return list
}

// median returns the median latency in milliseconds, 0 for none.
func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var m time.Duration
	if n := len(s); n%2 == 1 {
		m = s[n/2]
	} else {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	ms := float64(m.Microseconds()) / 1000
	return max(ms, 0.001)
}
