package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/internal/serving"
)

// listeners are the addresses the server is bound to.
type listeners struct {
	Main   string // host:port of the main listener
	Health string // host:port of the health listener, "" when there is none
	TLS    bool   // the main listener speaks HTTPS
}

// server is one listener and its http.Server.
type server struct {
	name string
	srv  *http.Server
	ln   net.Listener
	tls  bool
	log  *slog.Logger
}

// newServers builds the main server and, when configured, the health server, each with timeouts.
func newServers(cfg config.Config, main, health http.Handler, log *slog.Logger) ([]*server, error) {
	mk := func(name, addr string, h http.Handler) *server {
		return &server{name: name, log: log, srv: serving.HTTPServer(cfg, addr, h, log.With("listener", name))}
	}
	m := mk("main", cfg.Listen, main)
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("CROWDGATE_TLS_CERT / CROWDGATE_TLS_KEY: %w", err)
		}
		m.tls = true
		m.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	out := []*server{m}
	if cfg.HealthListen != "" {
		out = append(out, mk("health", cfg.HealthListen, health))
	}
	return out, nil
}

// bind opens every listener before any serves, so a port in use fails the start cleanly.
func bind(servers []*server) (listeners, error) {
	var addrs listeners
	for i, s := range servers {
		ln, err := net.Listen("tcp", s.srv.Addr)
		if err != nil {
			for _, o := range servers[:i] {
				o.ln.Close()
			}
			return listeners{}, fmt.Errorf("%s listener: %w", s.name, err)
		}
		s.ln = ln
		switch s.name {
		case "main":
			addrs.Main, addrs.TLS = ln.Addr().String(), s.tls
		case "health":
			addrs.Health = ln.Addr().String()
		}
	}
	return addrs, nil
}

// serve accepts connections until shutdown; it returns nil once shut down.
func (s *server) serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s listener: %w", s.name, err)
}

// shutdown stops accepting connections and waits up to timeout for in-flight requests to finish,
// then closes what is left.
func shutdown(ctx context.Context, servers []*server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(ctx); err != nil {
			log.Warn("requests still running at the shutdown timeout; closing their connections", "listener", s.name, "err", err)
			s.srv.Close()
		}
	}
}
