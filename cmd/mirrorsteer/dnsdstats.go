package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
)

// writeAnswerStats writes m's answer statistics to path now, every
// interval until ctx ends, and once more when the returned function is
// called (at exit), so gen always finds the counts of a stopped dnsd. A
// failed write is logged and counted (dnsd_errors_total{kind="stats_write"});
// the next one tries again, and the counts are cumulative, so nothing is
// lost.
func writeAnswerStats(ctx context.Context, m *dnsd.Metrics, path string, interval time.Duration, log *slog.Logger) (stop func()) {
	var mu sync.Mutex // the ticker and the final write
	write := func() {
		mu.Lock()
		defer mu.Unlock()
		if err := m.AnswerSummary(time.Now()).Write(path); err != nil {
			m.Error("stats_write")
			log.Error("writing answer statistics", "file", path, "error", err)
		}
	}
	write()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				write()
			}
		}
	}()
	log.Info("answer statistics", "file", path, "every", interval.String())
	return func() {
		<-done
		write()
	}
}
