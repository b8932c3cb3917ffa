package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/internal/serving"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

// run executes one crowdgate command line. Everything the process touches comes in as an argument,
// so tests run commands, and the whole server, in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	return c.run(ctx, args)
}

// serve runs the server until ctx ends or SIGTERM/SIGINT arrives, then shuts down gracefully.
func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("serve"))
	cf, _, err := c.parseConfig(fs, config.ScopeServe, args, 0, 0)
	if err != nil {
		return helpOK(err)
	}
	cfg, err := cf.Load(c.getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := newLogger(cfg.Log, c.stderr)
	cfg.Store.PasswordWorkers = password.ReserveProcs(cfg.Store.PasswordWorkers, c.getenv("GOMAXPROCS") != "")
	v, rev := buildVersion()
	log.Info("starting crowdgate", "version", v, "commit", rev, "database", cfg.Store.Dialect(), "database_url", redactDatabaseURL(cfg.Store.URL))
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrap(ctx, st, cfg.AdminPassword, cfg.AdminGroup, log, c.stdout); err != nil {
		return err
	}

	secrets := newSecretKeys(cfg, log.With("surface", "secrets"))
	st.SetSettingSealer(secrets) // the SAML state and console CSRF keys are stored encrypted
	if secrets.configured() {
		// A configured key that cannot be read is an operator error to report now, not at the
		// first sync.
		if _, err := secrets.load(false); err != nil {
			return err
		}
	}
	if err := secrets.sealStored(ctx, st); err != nil {
		// The secrets stay as they were; the directories' syncs report what is wrong.
		log.Error("encrypting stored client secrets failed", "err", err)
	}
	syncs := newEntra(cfg.Graph, c.graphTokenClient, st, secrets, log.With("surface", "graphsync"))
	syncs.sup.AdminGroup = cfg.AdminGroup
	surf, err := buildSurfaces(cfg, st, syncs, secrets, log)
	if err != nil {
		return err
	}
	syncs.observer = observeSync(surf.metrics)
	surf.metrics.WatchCertificates(syncs.certificates)
	handler, err := routes(cfg, st, surf, log)
	if err != nil {
		return err
	}
	servers, err := newServers(cfg, handler, healthRoutes(cfg, st, surf, log), log)
	if err != nil {
		return err
	}
	addrs, err := bind(servers)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", addrs.Main, "tls", addrs.TLS, "crowd_rest", cfg.Crowd.Prefix()+"/1", "health_addr", addrs.Health)
	if c.listening != nil {
		c.listening(addrs)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(s.serve)
	}
	g.Go(func() error {
		<-gctx.Done()
		stop() // a second signal now ends the process at once
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		shutdown(context.WithoutCancel(ctx), servers, cfg.ShutdownTimeout, log)
		return nil
	})
	for _, task := range background(cfg, st, surf, syncs, log) {
		g.Go(func() error { return task(gctx) })
	}
	err = g.Wait()

	// The listeners are closed: no validation can record an access any more. Write the last ones.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if n, ferr := st.FlushSessionAccess(fctx); ferr != nil {
		log.Error("final flush of session access times failed", "err", ferr)
		err = errors.Join(err, ferr)
	} else {
		log.Info("stopped", "flushed_sessions", n)
	}
	if n, ferr := st.FlushAuthentications(fctx); ferr != nil {
		log.Error("final flush of last authentications failed", "err", ferr)
		err = errors.Join(err, ferr)
	} else {
		log.Info("flushed last authentications", "sign_ins", n)
	}
	return err
}

// redactDatabaseURL returns the database address fit for a log: a PostgreSQL URL without
// password or parameters, or the SQLite file path.
func redactDatabaseURL(s string) string {
	if (store.Config{URL: s}).Dialect() != "postgres" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// routes assembles the main listener's handler: every HTTP surface under its path.
func routes(cfg config.Config, st *store.Store, surf *surfaces, log *slog.Logger) (http.Handler, error) {
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, err
	}
	crowdCfg := cfg.Crowd
	crowdCfg.Observer, crowdCfg.TrustedProxies = surf.metrics, proxies
	crowd, err := crowdapi.New(crowdCfg, st, log.With("surface", "crowdapi"))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(cfg.Crowd.Prefix()+"/", crowd)
	surf.mount(mux, cfg.Metrics && cfg.HealthListen == "")
	addHealth(mux, st, log)
	secure := strings.HasPrefix(cfg.BaseURL, "https://") || cfg.TLSCert != ""
	return clientaddr.WarnTLSProxy(mux, proxies, secure, log), nil
}

// healthRoutes is the handler of the optional health listener (and metrics, when enabled).
func healthRoutes(cfg config.Config, st *store.Store, surf *surfaces, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	addHealth(mux, st, log)
	if cfg.Metrics {
		mux.Handle("GET /metrics", surf.metrics.Handler())
	}
	return mux
}

// addHealth registers /healthz (the process answers) and /readyz (the database answers too).
func addHealth(mux *http.ServeMux, st *store.Store, log *slog.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			log.Warn("readiness check: database does not answer", "err", err)
			plain(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		plain(w, http.StatusOK, "ok")
	})
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// background returns the long-running tasks the server's errgroup owns besides the listeners. Each
// returns nil when its context ends; an error stops the server.
func background(cfg config.Config, st *store.Store, surf *surfaces, syncs *entra, log *slog.Logger) []func(ctx context.Context) error {
	tasks := []func(context.Context) error{st.Listen, syncs.Run}
	if surf.sp != nil {
		tasks = append(tasks, surf.sp.Run)
	}
	for _, j := range serving.Jobs(st) {
		tasks = append(tasks, func(ctx context.Context) error { return j.Loop(ctx, log) })
	}
	return tasks
}
