package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/metrics"
	"github.com/crowdgate/crowdgate/store"
)

// entra wires graphsync's Supervisor (one syncer per configured Entra ID directory) to the stored
// secrets and the Graph SDK source, and is the console's SyncController.
type entra struct {
	cfg     config.GraphConfig
	st      *store.Store
	secrets *secretKeys
	log     *slog.Logger
	sup     *graphsync.Supervisor
	// observer sees every run's report (metrics); nil for none.
	observer func(graphsync.Report, error)
	// tokenClient carries token requests; nil is azidentity's default. Tests set it to trust a
	// fake token service's certificate.
	tokenClient *http.Client
}

func newEntra(cfg config.GraphConfig, tokenClient *http.Client, st *store.Store, secrets *secretKeys, log *slog.Logger) *entra {
	e := &entra{cfg: cfg, tokenClient: tokenClient, st: st, secrets: secrets, log: log}
	e.sup = graphsync.NewSupervisor(st, e.source, func(r graphsync.Report, err error) {
		if e.observer != nil {
			e.observer(r, err)
		}
	}, log)
	return e
}

// observeSync turns graphsync's run reports into the sync metrics.
func observeSync(m *metrics.Metrics) func(graphsync.Report, error) {
	return func(r graphsync.Report, err error) {
		c := r.Counts
		// Labels in Prometheus' lower case: "full", "delta".
		m.ObserveSync(strings.ToLower(r.Mode), err == nil, r.Duration(), map[string]map[string]int{
			"user":       {"added": c.UsersAdded, "updated": c.UsersUpdated, "removed": c.UsersRemoved},
			"group":      {"added": c.GroupsAdded, "updated": c.GroupsUpdated, "removed": c.GroupsRemoved},
			"membership": {"added": c.MembershipsAdded, "removed": c.MembershipsRemoved},
		})
	}
}

// Run keeps the syncers in step with the stored directories until ctx ends.
func (e *entra) Run(ctx context.Context) error { return e.sup.Run(ctx) }

// source builds the Graph source for a directory from its validated settings.
func (e *entra) source(d store.Directory, s graphsync.Settings) (graphsync.Source, error) {
	cfg, err := e.sourceConfig(d, s)
	if err != nil {
		return nil, err
	}
	return msgraph.New(cfg, e.log)
}

// sourceConfig is the SDK configuration for a directory: the deployment's Graph endpoints and the
// credential its settings choose, with the stored secrets opened.
func (e *entra) sourceConfig(d store.Directory, s graphsync.Settings) (msgraph.Config, error) {
	cfg := msgraph.Config{BaseURL: e.cfg.BaseURL, AuthorityHost: e.cfg.AuthorityHost, Scope: e.cfg.Scope, AllowedHosts: e.cfg.AllowedHosts,
		TokenHTTPClient: e.tokenClient, TenantID: s.TenantID, ClientID: s.ClientID}
	var err error
	switch s.CredentialKind() {
	case graphsync.CredentialSecret:
		cfg.ClientSecret, err = e.secrets.openSecret(d.ID, graphsync.KeyClientSecret, s.ClientSecret)
	case graphsync.CredentialCertificate:
		var cert string
		if cert, err = e.secrets.openSecret(d.ID, graphsync.KeyCertificate, s.Certificate); err != nil {
			return cfg, err
		}
		if cfg.CertificatePEM, err = graphsync.CertificateFile(cert); err != nil {
			return cfg, err
		}
		cfg.CertificatePassword, err = e.secrets.openSecret(d.ID, graphsync.KeyCertificatePassword, s.CertificatePassword)
	case graphsync.CredentialManagedIdentity:
		cfg.UseManagedIdentity, cfg.TenantID = true, ""
	case graphsync.CredentialWorkloadIdentity:
		cfg.UseWorkloadIdentity = true
	}
	return cfg, err
}

// certificates returns the expiry of each active Entra ID directory's client certificate, for the
// certificate metrics. A directory whose certificate cannot be read is left out: its syncer and
// `crowdgate doctor` say why.
func (e *entra) certificates() []metrics.Certificate {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dirs, err := e.st.Directories(ctx)
	if err != nil {
		return nil
	}
	var out []metrics.Certificate
	for _, d := range dirs {
		if d.Kind != store.DirectoryAzureAD || !d.Active {
			continue
		}
		s, err := graphsync.ParseSettings(d.Config)
		if err != nil || s.CredentialKind() != graphsync.CredentialCertificate {
			continue
		}
		cfg, err := e.sourceConfig(d, s)
		if err != nil {
			continue
		}
		if notAfter, subject, ok, err := cfg.CertificateExpiry(); err == nil && ok {
			out = append(out, metrics.Certificate{Role: "entra_client", Subject: d.Name + ": " + subject, NotAfter: notAfter})
		}
	}
	return out
}

// SyncNow starts a round of the directory's syncer, a full one when full is set (api.SyncController).
func (e *entra) SyncNow(ctx context.Context, dirID int64, full bool) error {
	err := e.sup.SyncNow(ctx, dirID, full)
	if errors.Is(err, graphsync.ErrRunning) {
		return fmt.Errorf("%w", api.ErrSyncRunning)
	}
	return err
}

// Progress reports the directory's current or last run (api.SyncController).
func (e *entra) Progress(dirID int64) api.SyncProgress {
	st := e.sup.Status(dirID)
	if st.Stopped != nil {
		return api.SyncProgress{Stopped: true, Message: "not synchronised", Error: st.Stopped.Error()}
	}
	if !st.Started {
		return api.SyncProgress{Message: "not synchronised yet"}
	}
	p := st.Progress
	out := api.SyncProgress{Running: p.Running, Phase: p.Phase, Done: p.Objects, Error: p.LastError, StartedAt: p.StartedAt}
	if p.Last != nil {
		out.FinishedAt = p.Last.Finished
		out.NextRunAt = p.Last.Finished.Add(st.Interval)
	}
	// A run held by the mass-change guard waits for an administrator: say what it would do.
	if held, err := e.st.SyncHeldRun(context.Background(), dirID); err == nil {
		out.Held = fmt.Sprintf("would remove %d users and %d groups: %s", held.UsersRemoved, held.GroupsRemoved, firstLine(held.Errors))
	}
	return out
}

var _ api.HeldApplier = (*entra)(nil)

// ApplyHeld applies the run the mass-change guard held (api.HeldApplier).
func (e *entra) ApplyHeld(ctx context.Context, dirID int64) error {
	sy := e.sup.Syncer(dirID)
	if sy == nil {
		if st := e.sup.Status(dirID); st.Stopped != nil {
			return st.Stopped
		}
		return errors.New("this directory is not synchronised by this instance")
	}
	// The administrator stays the actor; the apply outlives the request.
	_, err := sy.ApplyHeld(context.WithoutCancel(ctx), 0, store.ActorFrom(ctx))
	if store.IsNotFound(err) {
		return errors.New("no run is held by the mass-change guard: nothing to apply")
	}
	return err
}

// TestConnection gets a token and reads one page of users with the stored settings.
func (e *entra) TestConnection(ctx context.Context, dirID int64) error {
	d, err := e.st.Directory(ctx, dirID)
	if err != nil {
		return err
	}
	src, _, err := e.sup.Source(d)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := src.UsersDelta(ctx, ""); err != nil {
		return fmt.Errorf("reading users from Microsoft Graph: %w", err)
	}
	return nil
}
