// Package metrics exposes crowdgate's numbers to Prometheus: requests by route and status, latency
// histograms of the hot paths, the session cache, the password pool, sessions, the database pool
// and directory synchronisation.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crowdgate/crowdgate/store"
)

// Store is what the metrics read on each scrape.
type Store interface {
	Stats() store.Stats
	CountSessions(ctx context.Context, kind string) (int64, error)
	Ping(ctx context.Context) error
	SyncHealth(ctx context.Context) ([]store.SyncHealth, error)
	Applications(ctx context.Context) ([]store.Application, error)
	View(ctx context.Context, app store.Application) (*store.View, error)
}

// Metrics holds crowdgate's collectors in a registry of its own (no global state).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	syncRuns *prometheus.CounterVec
	syncDur  *prometheus.HistogramVec
	syncObj  *prometheus.CounterVec
	ops      *opsCollector
}

// hotRoutes get a latency histogram each; other routes share one series ("other") so the number of
// series stays small.
var hotRoutes = map[string]string{
	"/session/:token":   "session_validation",
	"/session":          "session_creation",
	"/authentication":   "authentication",
	"/group/membership": "bulk_memberships",
	"/search":           "search",
	"/event/:token":     "events",
}

// New builds the collectors.
func New(st Store) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_http_requests_total", Help: "Crowd REST requests by route, method and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "crowdgate_http_request_duration_seconds", Help: "Crowd REST latency by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"operation"})
	m.syncRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_sync_runs_total", Help: "Directory synchronisation runs by mode and result.",
	}, []string{"mode", "result"})
	m.syncDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "crowdgate_sync_duration_seconds", Help: "Directory synchronisation run time.",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	}, []string{"mode"})
	m.syncObj = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_sync_changes_total", Help: "Objects changed by synchronisation, by kind and change.",
	}, []string{"kind", "change"})
	// Every mode and result exists from the start, so rates and alerts have series to work on.
	for _, mode := range []string{"full", "delta"} {
		for _, result := range []string{"success", "failure"} {
			m.syncRuns.WithLabelValues(mode, result)
		}
		m.syncDur.WithLabelValues(mode)
	}
	for _, kind := range []string{"user", "group", "membership"} {
		for _, change := range []string{"added", "updated", "removed"} {
			m.syncObj.WithLabelValues(kind, change)
		}
	}
	m.ops = &opsCollector{st: st}
	stat := func(f func(store.Stats) float64) func() float64 { return func() float64 { return f(st.Stats()) } }
	m.reg.MustRegister(m.requests, m.latency, m.syncRuns, m.syncDur, m.syncObj, m.ops,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_session_cache_hits_total",
			Help: "Session validations answered from memory."}, stat(func(s store.Stats) float64 { return float64(s.SessionCacheHits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_session_cache_misses_total",
			Help: "Session validations that read the database."}, stat(func(s store.Stats) float64 { return float64(s.SessionCacheMisses) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowdgate_password_queue",
			Help: "Password checks waiting for a hashing slot."}, stat(func(s store.Stats) float64 { return float64(s.PasswordQueue) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_password_hashes_total",
			Help: "Password hashes and checks run."}, stat(func(s store.Stats) float64 { return float64(s.PasswordHashes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_signin_failures_total",
			Help: "Failed sign-ins by unauthenticated callers (audited aggregated per address and minute)."},
			stat(func(s store.Stats) float64 { return float64(s.SignInFailures) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_signin_throttled_total",
			Help: "Sign-in attempts refused by throttling before any password check (not audited)."},
			stat(func(s store.Stats) float64 { return float64(s.SignInsThrottled) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowdgate_db_open_connections",
			Help: "Open database connections."}, stat(func(s store.Stats) float64 { return float64(s.DB.OpenConnections) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowdgate_db_in_use_connections",
			Help: "Database connections in use."}, stat(func(s store.Stats) float64 { return float64(s.DB.InUse) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crowdgate_db_wait_total",
			Help: "Times a request waited for a database connection."}, stat(func(s store.Stats) float64 { return float64(s.DB.WaitCount) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowdgate_active_sso_sessions",
			Help: "Live Crowd SSO sessions."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := st.CountSessions(ctx, store.SessionSSO)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
	)
	return m
}

// WatchCertificates makes each scrape report the expiry of the certificates certs returns, besides
// those of earlier calls (the SAML identity provider's signing certificates and the SP's, Entra ID
// client certificates). Call it before serving.
func (m *Metrics) WatchCertificates(certs func() []Certificate) {
	m.ops.certs = append(m.ops.certs, certs)
}

// ObserveRequest records one Crowd REST request (crowdapi.Observer).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if _, ok := hotRoutes[route]; !ok && route != "other" {
		// Known, colder routes keep their name in the counter; only the histogram is shared.
		m.latency.WithLabelValues("other").Observe(d.Seconds())
	} else if op, ok := hotRoutes[route]; ok {
		m.latency.WithLabelValues(op).Observe(d.Seconds())
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
}

// ObserveSync records one synchronisation run.
func (m *Metrics) ObserveSync(mode string, ok bool, d time.Duration, changes map[string]map[string]int) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.syncRuns.WithLabelValues(mode, result).Inc()
	m.syncDur.WithLabelValues(mode).Observe(d.Seconds())
	for kind, byChange := range changes {
		for change, n := range byChange {
			m.syncObj.WithLabelValues(kind, change).Add(float64(n))
		}
	}
}

// Register adds a collector of another package (the SAML sign-in's counters) to /metrics.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
