package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/internal/serving"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

// childArg is the hidden first argument that turns the binary into the server under test.
const childArg = "__serve"

// The server under test runs in a child process of the benchmark (the same binary), so its CPU time
// and RSS are its own, not the load generator's. It is crowdgate's server as cmd/crowdgate builds
// it: the Crowd REST handler (crowdapi.New over store.Open) behind a ServeMux, with the listener
// settings and housekeeping jobs of package serving, plus bench-only routes next to it:
//
//	POST /bench/echo         the ceiling: reads the body, answers a fixed session-sized XML document
//	GET  /bench/stats        getrusage, VmRSS/VmHWM and Go runtime counters of this process
//	POST /bench/close-idle   closes idle database connections (PostgreSQL flushes their statistics)
//	/debug/pprof/...         profiles (only with -pprof)
//	GET  /readyz             as crowdgate's: 200 once the database answers

// childReady is the first line the child prints on stdout.
type childReady struct {
	Addr    string  `json:"addr"`
	PID     int     `json:"pid"`
	OpenMS  float64 `json:"open_ms"`  // store.Open (connect + migrations check on an up-to-date schema)
	ReadyMS float64 `json:"ready_ms"` // process start to the first successful Ping, listener bound
}

// serverStats is what /bench/stats returns.
type serverStats struct {
	UserUS     int64  `json:"user_us"`
	SysUS      int64  `json:"sys_us"`
	RSSKB      int64  `json:"rss_kb"`
	HWMKB      int64  `json:"hwm_kb"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	NumGC      uint32 `json:"num_gc"`
	// SlowQueries counts statements gorm reported slower than its 500 ms threshold.
	SlowQueries int64 `json:"slow_queries"`
	// From store.Stats: the session verdict cache and the database pool.
	CacheHits   uint64 `json:"session_cache_hits"`
	CacheMisses uint64 `json:"session_cache_misses"`
	// SessionsCached is how many SSO sessions the server holds in memory (store.WarmSessions).
	SessionsCached int   `json:"sessions_cached"`
	PoolWaits      int64 `json:"db_pool_waits"`
	PoolWaitUS     int64 `json:"db_pool_wait_us"`
}

var slowQueries atomic.Int64

// slowCounter counts gorm's slow-statement warnings instead of writing them.
type slowCounter struct{ slog.Handler }

func (h *slowCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "SQL executed" {
		slowQueries.Add(1)
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *slowCounter) WithAttrs(a []slog.Attr) slog.Handler {
	return &slowCounter{h.Handler.WithAttrs(a)}
}

func (h *slowCounter) WithGroup(n string) slog.Handler { return &slowCounter{h.Handler.WithGroup(n)} }

func (s serverStats) cpu() time.Duration {
	return time.Duration(s.UserUS+s.SysUS) * time.Microsecond
}

// echoBody is the same size and shape as a session validation answer.
var echoBody = []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<session expand="user"><token>AAAAAAAAAAAAAAAAAAAAAAAA</token><user name="user000000"><link href="http://127.0.0.1/crowd/rest/usermanagement/1/user?username=user000000" rel="self"/></user>` +
	`<link href="http://127.0.0.1/crowd/rest/usermanagement/1/session/AAAAAAAAAAAAAAAAAAAAAAAA" rel="self"/><created-date>2024-01-01T00:00:00.000Z</created-date><expiry-date>2024-01-01T08:00:00.000Z</expiry-date></session>`)

// benchPassword and benchSalt make the {PKCS5S2} credential of P3's ceilings.
const benchPassword, benchSalt = "bench-pw-000", "0123456789abcdef"

func serveChild(args []string) int {
	start := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL")
	withPprof := fs.Bool("pprof", false, "serve /debug/pprof")
	cacheTTL := fs.Duration("session-cache-ttl", 0, "store.Config.SessionCacheTTL (0: the store's default)")
	accessFlush := fs.Duration("access-flush", serving.FlushAccessEvery, "interval of FlushDueSessionAccess (0: never)")
	pwWorkers := fs.Int("password-workers", 0, "store.Config.PasswordWorkers (0: the store's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// gorm reports statements slower than 500 ms as warnings; under load they would flood the
	// benchmark's output, so they are counted (in /bench/stats) instead of printed.
	log := slog.New(&slowCounter{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t0 := time.Now()
	workers := password.ReserveProcs(*pwWorkers, os.Getenv("GOMAXPROCS") != "") // cmd/crowdgate's processor reservation
	st, err := store.Open(ctx, store.Config{URL: *dbURL, SessionCacheTTL: *cacheTTL, PasswordWorkers: workers}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	defer st.Close()
	opened := time.Since(t0)
	if err := st.Ping(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}

	crowd, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, st, log.With("surface", "crowdapi"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/crowd/rest/usermanagement/", crowd)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /bench/echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Write(echoBody)
	})
	// P3's ceiling: one {PKCS5S2} verification through a pool like the store's, behind a bare
	// handler, as echo is P1's: the same process, HTTP stack and load generator as a login.
	verifyPool := password.NewPool(workers)
	verifyCred, err := dataset.PKCS5S2(benchPassword, []byte(benchSalt))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	mux.HandleFunc("POST /bench/verify", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if ok, _, err := verifyPool.Verify(r.Context(), verifyCred, benchPassword); !ok || err != nil {
			http.Error(w, fmt.Sprintf("verify: %v %v", ok, err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write(echoBody)
	})
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, hwm, _ := procStatus(os.Getpid())
		ss := st.Stats()
		json.NewEncoder(w).Encode(serverStats{UserUS: ru.Utime.Nano() / 1000, SysUS: ru.Stime.Nano() / 1000, RSSKB: rss, HWMKB: hwm,
			Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse, NumGC: ms.NumGC, SlowQueries: slowQueries.Load(),
			CacheHits: ss.SessionCacheHits, CacheMisses: ss.SessionCacheMisses, SessionsCached: ss.SessionsCached, PoolWaits: ss.DB.WaitCount, PoolWaitUS: ss.DB.WaitDuration.Microseconds()})
	})
	mux.HandleFunc("POST /bench/close-idle", func(w http.ResponseWriter, r *http.Request) {
		db, err := st.DB()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		db.SetMaxIdleConns(0) // closes the idle connections
		if st.Dialect() == "postgres" {
			db.SetMaxIdleConns(16) // store.Open's setting
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if *withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	// The production listener settings, with the configuration's defaults.
	cfg, err := config.AddFlags(flag.NewFlagSet("defaults", flag.ContinueOnError), config.ScopeServe).Load(func(string) string { return "" })
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	srv := serving.HTTPServer(cfg, "", mux, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	ready := time.Since(start)
	json.NewEncoder(os.Stdout).Encode(childReady{Addr: ln.Addr().String(), PID: os.Getpid(),
		OpenMS: ms(opened), ReadyMS: ms(ready)})

	// Housekeeping: cmd/crowdgate's jobs, with the session-access flush at -access-flush (0: never).
	jctx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	for _, j := range serving.Jobs(st) {
		if j.Name == serving.FlushAccess {
			if *accessFlush <= 0 {
				continue
			}
			j.Every = *accessFlush
		}
		go j.Loop(jctx, log)
	}
	// Cache invalidations from other instances (PostgreSQL LISTEN; returns at once on SQLite).
	go st.Listen(jctx)

	// The parent closes stdin to stop the child (and a dead parent closes it too).
	go func() {
		io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		stop()
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			return 1
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	cancelJobs()
	if _, err := st.FlushSessionAccess(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench server: final flush:", err)
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
