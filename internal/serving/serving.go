// Package serving is what a crowdgate server runs besides its handlers: the listener settings and
// the store's housekeeping jobs. cmd/crowdgate serves with it, and the benchmark's server under test
// (cmd/crowdgate-bench) calls the same code, so what the benchmark measures is what runs in
// production.
package serving

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// ReadHeaderTimeout bounds how long a client may take to send request headers (slowloris).
const ReadHeaderTimeout = 10 * time.Second

// HTTPServer is an http.Server for addr with the configured timeouts and a header size limit; its
// own errors go to log as warnings.
func HTTPServer(cfg config.Config, addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Job is a periodic background task.
type Job struct {
	Name     string
	Every    time.Duration
	AtStart  bool
	Run      func(ctx context.Context) (int64, error)
	LogCount string // log key for a non-zero count
}

// FlushAccess is the name of the job that writes sessions' last access back, every
// FlushAccessEvery: often, so each flush is small (a few hundred sessions under load, one
// statement): the same writes in 5-s flushes came as bursts the validations queued behind.
const (
	FlushAccess      = "flush session access"
	FlushAccessEvery = time.Second
)

// Jobs are the store's housekeeping tasks.
func Jobs(st *store.Store) []Job {
	return []Job{
		{Name: FlushAccess, Every: FlushAccessEvery, LogCount: "sessions",
			Run: func(ctx context.Context) (int64, error) {
				n, err := st.FlushDueSessionAccess(ctx)
				return int64(n), err
			}},
		{Name: "load sessions into memory", Every: time.Second, AtStart: true, LogCount: "sessions", Run: st.WarmSessions},
		{Name: "expire sessions", Every: time.Minute, AtStart: true, LogCount: "expired", Run: st.ExpireSessions},
		{Name: "prune events", Every: time.Hour, AtStart: true, LogCount: "pruned", Run: st.PruneEvents},
		{Name: "prune failed sign-ins", Every: 5 * time.Minute, LogCount: "addresses", Run: st.PruneLoginFailures},
		// Sign-ins are written behind: a login reaches the database within a minute (and at shutdown).
		{Name: "flush last authentications", Every: time.Minute, LogCount: "sign-ins",
			Run: func(ctx context.Context) (int64, error) {
				n, err := st.FlushAuthentications(ctx)
				return int64(n), err
			}},
	}
}

// Loop runs j every j.Every until ctx ends. A failure is logged and retried at the next tick: the
// database may come back, and serving must not stop because housekeeping failed once.
func (j Job) Loop(ctx context.Context, log *slog.Logger) error {
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "housekeeping"})
	once := func() {
		n, err := j.Run(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn(j.Name+" failed", "err", err)
		case err == nil && n > 0:
			log.Debug(j.Name, j.LogCount, n)
		}
	}
	if j.AtStart {
		once()
	}
	t := time.NewTicker(j.Every)
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
