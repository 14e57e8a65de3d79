package probe

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// execute checks the jobs, at most limit at once and r.cfg.PerHost of
// one host, and returns their outcomes in the jobs' order. They start in
// startOrder; a goroutine exists only for a job that runs, so a long run
// holds limit goroutines, not one per endpoint. A job whose host is busy
// waits in its host's queue without holding a slot, and takes the slot
// of the job of its host that ends before it. Once ctx ends, jobs not
// started are not checked.
func (r *run) execute(ctx context.Context, jobs []job, limit int) []outcome {
	outs := make([]outcome, len(jobs))
	type host struct {
		busy  int
		queue []int // jobs waiting for this host, in order
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards hosts and done
		hosts = map[string]*host{}
		done  int
		slots = make(chan struct{}, limit)
	)
	hostOf := func(i int) *host {
		h := strings.ToLower(jobs[i].base.Hostname())
		if hosts[h] == nil {
			hosts[h] = &host{}
		}
		return hosts[h]
	}
	// finish records job i's outcome; mu is held.
	finish := func(i int, out outcome) {
		outs[i] = out
		done++
		if r.cfg.Progress != nil {
			r.cfg.Progress(done, len(jobs))
		}
	}
	skipped := func() outcome {
		return outcome{notChecked: true, err: &timeoutError{fmt.Sprintf("not checked: the run's deadline (%v) passed first", r.cfg.Deadline)}, checked: r.cfg.Now().UTC()}
	}
	// work checks job i in a slot, then the jobs its host queued behind
	// it in the same slot, and frees the slot.
	work := func(i int) {
		defer func() { <-slots }()
		for {
			out := r.check(ctx, &jobs[i])
			mu.Lock()
			finish(i, out)
			h := hostOf(i)
			for len(h.queue) > 0 && ctx.Err() != nil {
				finish(h.queue[0], skipped())
				h.queue = h.queue[1:]
			}
			if len(h.queue) == 0 {
				h.busy--
				mu.Unlock()
				return
			}
			i, h.queue = h.queue[0], h.queue[1:]
			mu.Unlock()
		}
	}
	order := startOrder(jobs)
	for n, i := range order {
		mu.Lock()
		h := hostOf(i)
		if h.busy >= r.cfg.PerHost {
			h.queue = append(h.queue, i)
			mu.Unlock()
			continue
		}
		h.busy++
		mu.Unlock()
		select {
		case slots <- struct{}{}:
			wg.Go(func() { work(i) })
			continue
		case <-ctx.Done():
		}
		mu.Lock()
		h.busy--
		for _, k := range order[n:] {
			finish(k, skipped())
		}
		mu.Unlock()
		break
	}
	wg.Wait()
	return outs
}

// startOrder is the order jobs start in: first those whose previous
// check timed out, then the others, each in inventory order. An endpoint
// that hangs holds its slot for a whole Timeout: started last, it would
// end the run a Timeout after every other check.
func startOrder(jobs []job) []int {
	order := make([]int, 0, len(jobs))
	for _, slow := range []bool{true, false} {
		for i, j := range jobs {
			if (j.prev != nil && j.prev.Class == state.ClassTimeout) == slow {
				order = append(order, i)
			}
		}
	}
	return order
}

// fdsPerEndpoint is the most file descriptors one check holds at once:
// an HTTP connection and the one a redirect opened beside it, FTP's
// control and data connections, or rsync's pipe and the file it copied.
const fdsPerEndpoint = 3

// fdReserve are the file descriptors the run needs besides its checks:
// the standard streams, the origin's connections, the snapshot being
// written, the runtime's own.
const fdReserve = 64

// concurrency is how many of n endpoints a run checks at once: what the
// configuration asks, no more than there are, and no more than fdLimit
// open files (0: unknown) allow; lowered says the limit lowered it.
func concurrency(want, n int, fdLimit uint64) (c int, lowered bool) {
	c = max(min(want, n), 1)
	if fdLimit == 0 {
		return c, false
	}
	room := 1
	if fdLimit > fdReserve+fdsPerEndpoint {
		room = int(min((fdLimit-fdReserve)/fdsPerEndpoint, uint64(c)))
	}
	return min(c, room), room < c
}
