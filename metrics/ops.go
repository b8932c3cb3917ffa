package metrics

import (
	"context"
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/store"
)

// The families below exist for alerting (deploy/prometheus/crowdgate-rules.yml): each is read from
// the database or the process on scrape, so every instance reports the same directory state and a
// restarted instance loses nothing.

// defaultSyncInterval is the schedule of a directory whose settings name none; it must match the
// synchroniser's default.
const defaultSyncInterval = 20 * time.Minute

// alertedAudit are the audit actions that alerts watch, reported at 0 before the first one happens
// so that increase() has a series to work on.
var alertedAudit = []store.AuditKey{
	{Action: "BREAKGLASS_LOGIN", Outcome: "SUCCESS"},
	{Action: "BREAKGLASS_LOGIN", Outcome: "FAILURE"},
	{Action: "CONSOLE_LOGIN", Outcome: "FAILURE"},
	{Action: "ADMIN_CHANGE_REFUSED", Outcome: "FAILURE"},
}

// Certificate is one certificate whose expiry is watched.
type Certificate struct {
	Role     string // "saml_idp_signing", "saml_sp", "entra_client"
	Subject  string // who it names (or the directory, for Entra credentials)
	NotAfter time.Time
}

var (
	syncLastSuccessDesc = prometheus.NewDesc("crowdgate_sync_last_success_timestamp_seconds",
		"When the directory's last synchronisation run succeeded (Unix time; 0: never).", []string{"directory"}, nil)
	syncIntervalDesc = prometheus.NewDesc("crowdgate_sync_interval_seconds",
		"The directory's synchronisation schedule.", []string{"directory"}, nil)
	syncHeldDesc = prometheus.NewDesc("crowdgate_sync_held",
		"1 while the directory's latest run is held by the mass-change guard, waiting for an administrator.", []string{"directory"}, nil)
	syncClashesDesc = prometheus.NewDesc("crowdgate_sync_name_clashes",
		"Objects of the directory synced under another name than the one they asked for (a name clash).", []string{"directory"}, nil)
	syncPendingDesc = prometheus.NewDesc("crowdgate_sync_pending_memberships",
		"Memberships waiting for their member to arrive from Graph (replication lag).", []string{"directory"}, nil)
	syncPendingAgeDesc = prometheus.NewDesc("crowdgate_sync_pending_oldest_seconds",
		"How long the oldest pending membership has waited (0 when none waits).", []string{"directory"}, nil)
	auditDesc = prometheus.NewDesc("crowdgate_audit_events_total",
		"Audit entries written by this instance, by action and outcome.", []string{"action", "outcome"}, nil)
	dbUpDesc = prometheus.NewDesc("crowdgate_database_up",
		"1 when the database answered a ping during this scrape (what /readyz checks).", nil, nil)
	workersDesc = prometheus.NewDesc("crowdgate_password_workers",
		"Password checks that may run at once (compare with crowdgate_password_queue).", nil, nil)
	seatsUsedDesc = prometheus.NewDesc("crowdgate_licence_seats_used",
		"Users allowed to authenticate to the application (its licensed users), refreshed every few minutes.", []string{"application"}, nil)
	seatsLimitDesc = prometheus.NewDesc("crowdgate_licence_seats_limit",
		"The application's licence limit (only for applications that have one).", []string{"application"}, nil)
	certDesc = prometheus.NewDesc("crowdgate_certificate_expiry_timestamp_seconds",
		"When a watched certificate or credential expires (Unix time).", []string{"role", "subject"}, nil)
)

// opsCollector reads the alerting families on scrape.
type opsCollector struct {
	st    Store
	certs []func() []Certificate

	mu         sync.Mutex
	seats      []seats   // the last count
	seatsUntil time.Time // when to count again
}

// seats is one application's licence use.
type seats struct {
	app         string
	used, limit int64
}

// seatsTTL bounds how often licence use is counted: a count walks every allowed group's members.
const seatsTTL = 5 * time.Minute

// licences returns the applications' licence use, counted at most every seatsTTL.
func (c *opsCollector) licences(ctx context.Context) []seats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.seatsUntil) {
		return c.seats
	}
	apps, err := c.st.Applications(ctx)
	if err != nil {
		return c.seats
	}
	var out []seats
	for _, a := range apps {
		if !a.Active {
			continue
		}
		v, err := c.st.View(ctx, a)
		if err != nil {
			return c.seats
		}
		n, err := v.CountLicensed(ctx)
		if err != nil {
			return c.seats
		}
		out = append(out, seats{app: a.Name, used: n, limit: int64(a.LicenceLimit)})
	}
	c.seats, c.seatsUntil = out, time.Now().Add(seatsTTL)
	return out
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{syncLastSuccessDesc, syncIntervalDesc, syncHeldDesc, syncClashesDesc, syncPendingDesc, syncPendingAgeDesc, auditDesc, dbUpDesc, workersDesc,
		seatsUsedDesc, seatsLimitDesc, certDesc} {
		ch <- d
	}
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 0.0
	if c.st.Ping(ctx) == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(dbUpDesc, prometheus.GaugeValue, up)
	stats := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(stats.PasswordWorkers))
	events := map[store.AuditKey]uint64{}
	for _, k := range alertedAudit {
		events[k] = 0
	}
	maps.Copy(events, stats.AuditEvents)
	for k, n := range events {
		ch <- prometheus.MustNewConstMetric(auditDesc, prometheus.CounterValue, float64(n), k.Action, k.Outcome)
	}
	if up == 1 {
		if hs, err := c.st.SyncHealth(ctx); err == nil {
			for _, h := range hs {
				last := 0.0
				if !h.LastSuccess.IsZero() {
					last = float64(h.LastSuccess.Unix())
				}
				held := 0.0
				if h.LastStatus == "HELD" {
					held = 1
				}
				ch <- prometheus.MustNewConstMetric(syncLastSuccessDesc, prometheus.GaugeValue, last, h.Directory)
				ch <- prometheus.MustNewConstMetric(syncIntervalDesc, prometheus.GaugeValue, syncInterval(h.Config).Seconds(), h.Directory)
				ch <- prometheus.MustNewConstMetric(syncHeldDesc, prometheus.GaugeValue, held, h.Directory)
				ch <- prometheus.MustNewConstMetric(syncClashesDesc, prometheus.GaugeValue, float64(h.NameClashes), h.Directory)
				ch <- prometheus.MustNewConstMetric(syncPendingDesc, prometheus.GaugeValue, float64(h.Pending), h.Directory)
				age := 0.0
				if !h.PendingSince.IsZero() {
					age = time.Since(h.PendingSince).Seconds()
				}
				ch <- prometheus.MustNewConstMetric(syncPendingAgeDesc, prometheus.GaugeValue, age, h.Directory)
			}
		}
	}
	if up == 1 {
		for _, l := range c.licences(ctx) {
			ch <- prometheus.MustNewConstMetric(seatsUsedDesc, prometheus.GaugeValue, float64(l.used), l.app)
			if l.limit > 0 {
				ch <- prometheus.MustNewConstMetric(seatsLimitDesc, prometheus.GaugeValue, float64(l.limit), l.app)
			}
		}
	}
	for _, certs := range c.certs {
		for _, cert := range certs() {
			ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Role, cert.Subject)
		}
	}
}

// syncInterval is the schedule named in a directory's settings, or the default.
func syncInterval(config string) time.Duration {
	var s struct {
		SyncInterval string `json:"sync_interval"`
	}
	if json.Unmarshal([]byte(config), &s) == nil {
		if d, err := time.ParseDuration(s.SyncInterval); err == nil && d > 0 {
			return d
		}
	}
	return defaultSyncInterval
}
