package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// job is a periodic background task owned by the server's errgroup.
type job struct {
	name     string
	every    time.Duration
	atStart  bool
	run      func(ctx context.Context) (int64, error)
	logCount string // log key for a non-zero count
}

// jobs are the store's housekeeping tasks.
func jobs(st *store.Store) []job {
	return []job{
		{name: "flush session access", every: 5 * time.Second, logCount: "sessions",
			run: func(ctx context.Context) (int64, error) {
				n, err := st.FlushDueSessionAccess(ctx)
				return int64(n), err
			}},
		{name: "load sessions into memory", every: time.Second, atStart: true, logCount: "sessions", run: st.WarmSessions},
		{name: "expire sessions", every: time.Minute, atStart: true, logCount: "expired", run: st.ExpireSessions},
		{name: "prune events", every: time.Hour, atStart: true, logCount: "pruned", run: st.PruneEvents},
		{name: "prune failed sign-ins", every: 5 * time.Minute, logCount: "addresses", run: st.PruneLoginFailures},
	}
}

// loop runs j every j.every until ctx ends. A failure is logged and retried at the next tick: the
// database may come back, and serving must not stop because housekeeping failed once.
func (j job) loop(ctx context.Context, log *slog.Logger) error {
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "housekeeping"})
	once := func() {
		n, err := j.run(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn(j.name+" failed", "err", err)
		case err == nil && n > 0:
			log.Debug(j.name, j.logCount, n)
		}
	}
	if j.atStart {
		once()
	}
	t := time.NewTicker(j.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			once()
		}
	}
}
