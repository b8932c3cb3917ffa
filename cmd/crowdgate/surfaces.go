package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/internal/doctor"
	"github.com/crowdgate/crowdgate/metrics"
	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/store"
)

// consoleCookie is the console session's cookie, shared by the SAML sign-in that creates it and
// the console that reads it.
const consoleCookie = "crowdgate_console"

// surfaces are the HTTP surfaces beside the Crowd REST API, built from the configuration.
type surfaces struct {
	sp      *saml.SP // nil without an identity provider
	console http.Handler
	metrics *metrics.Metrics
}

func buildSurfaces(cfg config.Config, st *store.Store, sync api.SyncController, secrets api.SecretSealer, log *slog.Logger) (*surfaces, error) {
	s := &surfaces{metrics: metrics.New(st)}
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, err
	}
	secure := strings.HasPrefix(cfg.BaseURL, "https://") || cfg.TLSCert != ""
	loginURL := ""
	if err := secureCookieDefault(context.Background(), st, cfg.BaseURL, cfg.SAML.Enabled(), log); err != nil {
		return nil, err
	}
	if cfg.SAML.Enabled() {
		if cfg.BaseURL == "" {
			return nil, fmt.Errorf("SAML sign-in (CROWDGATE_SAML_IDP_METADATA_URL or _FILE) needs CROWDGATE_BASE_URL (--base-url), the URL Entra ID sends browsers back to")
		}
		sp, err := saml.New(saml.Config{
			PublicURL:       cfg.BaseURL,
			IdPMetadataURL:  cfg.SAML.MetadataURL,
			IdPMetadataFile: cfg.SAML.MetadataFile,
			UserMapping:     cfg.SAML.UserMapping,
			IdPInitiated:    cfg.SAML.IdPInitiated,
			SingleLogout:    cfg.SAML.SingleLogout,
			ClockSkew:       cfg.SAML.ClockSkew,
			SessionTimeout:  cfg.Store.SessionTimeout,
			ConsoleCookie:   consoleCookie,
			BreakGlass:      cfg.BreakGlass != "off",
			BreakGlassGroup: cfg.AdminGroup,

			RequireSigned:         cfg.SAML.RequireSigned,
			ObjectIDClaims:        cfg.SAML.ObjectIDClaims,
			EmailClaims:           cfg.SAML.EmailClaims,
			Directories:           cfg.SAML.Directories,
			GuestRule:             cfg.SAML.Guests,
			SPKeyFile:             cfg.SAML.SPKeyFile,
			SPCertFile:            cfg.SAML.SPCertFile,
			SignRequests:          cfg.SAML.SignRequests,
			RequireEncryption:     cfg.SAML.RequireEncryption,
			ConsoleForceAuthn:     cfg.SAML.ConsoleForceAuthn,
			BreakGlassConsoleOnly: cfg.BreakGlass == "console",
			RequireSecondFactor:   cfg.LocalMFARequired(),
			TrustedProxies:        proxies,
		}, st, log.With("surface", "saml"))
		if err != nil {
			return nil, fmt.Errorf("SAML: %w", err)
		}
		s.sp = sp
		loginURL = "/sso/login?dest=/console/"
		if err := s.metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_saml_metadata_rejected_total",
			Help: "IdP metadata refused because its entityID changed (alert on any increase)."},
			func() float64 { return float64(sp.MetadataRejections()) })); err != nil {
			return nil, fmt.Errorf("SAML metrics: %w", err)
		}
		s.metrics.WatchCertificates(func() []metrics.Certificate {
			var out []metrics.Certificate
			for _, c := range sp.Certificates() {
				out = append(out, metrics.Certificate{Role: c.Role, Subject: c.Subject, NotAfter: c.NotAfter})
			}
			return out
		})
	}
	console, err := api.New(api.Config{
		AdminGroup:          cfg.AdminGroup,
		SessionCookie:       consoleCookie,
		Secure:              secure,
		PublicURL:           cfg.BaseURL,
		LoginURL:            loginURL,
		NoLocalSignIn:       cfg.BreakGlass == "off",
		RequireSecondFactor: cfg.LocalMFARequired(),
		CrowdURL:            crowdURL(cfg),
		TrustedProxies:      proxies,
		SyncController:      sync,
		Secrets:             secrets,
		Doctor: func(ctx context.Context) []doctor.Result {
			return doctor.Run(ctx, doctorConfig(cfg, st, sync), st)
		},
	}, st, log.With("surface", "console"))
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.console = console
	return s, nil
}

// crowdURL is the Crowd server URL Jira is configured with, for the console's snippets.
func crowdURL(cfg config.Config) string {
	if cfg.BaseURL == "" {
		return ""
	}
	return cfg.BaseURL + cfg.Crowd.ContextPath
}

// mount registers the surfaces on the main mux.
func (s *surfaces) mount(mux *http.ServeMux, withMetrics bool) {
	if s.sp != nil {
		h := s.sp.Handler()
		mux.Handle("/saml/", h)
		mux.Handle("/sso/", h)
	}
	mux.Handle("/console", s.console)
	mux.Handle("/console/", s.console)
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	if withMetrics {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
}
