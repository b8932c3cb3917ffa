package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/metrics"
	"github.com/crowdgate/crowdgate/store"
)

// entraSettings are the keys of an AZURE_AD directory's Config JSON (as the console writes them).
type entraSettings struct {
	TenantID       string   `json:"tenant_id"`
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret"`
	SyncInterval   string   `json:"sync_interval"`
	Groups         []string `json:"groups"`
	UsernameSource string   `json:"username_source"`
	ExcludeGuests  bool     `json:"exclude_guests"`
	UserRemoval    string   `json:"user_removal"`
	// Names (docs/sync-names.md): Microsoft 365 groups too; protected names (absent: the defaults);
	// protected names bound to Entra group object ids.
	UnifiedGroups   bool              `json:"unified_groups,omitempty"`
	ProtectedGroups []string          `json:"protected_groups,omitempty"`
	BoundGroups     map[string]string `json:"bound_groups,omitempty"`
	// MassChangeThreshold: absent for the default, 0 to turn the guard off (docs/sync-guard.md).
	MassChangeThreshold *int `json:"mass_change_threshold,omitempty"`
}

// entra runs one graphsync.Syncer per configured Entra ID directory and is the console's
// SyncController. It re-reads the directories every minute, so settings saved in the console
// take effect without a restart.
type entra struct {
	cfg     config.GraphConfig
	st      *store.Store
	secrets *secretKeys
	log     *slog.Logger
	mu      sync.Mutex
	running map[int64]*runningSyncer
	// failed holds why a directory's syncer could not start (its settings, or a client secret that
	// does not decrypt), for the console's progress and "sync now".
	failed map[int64]error
	// observer sees every run's report (metrics); nil for none.
	observer func(graphsync.Report, error)
	// adminGroup is the console's administrator group: a protected name for every syncer.
	adminGroup string
	// tokenClient carries token requests; nil is azidentity's default. Tests set it to trust a
	// fake token service's certificate.
	tokenClient *http.Client
}

type runningSyncer struct {
	syncer   *graphsync.Syncer
	settings string // the Config JSON it was built from
	interval time.Duration
	stop     context.CancelFunc
	done     chan struct{}
}

func newEntra(cfg config.GraphConfig, tokenClient *http.Client, st *store.Store, secrets *secretKeys, log *slog.Logger) *entra {
	return &entra{cfg: cfg, tokenClient: tokenClient, st: st, secrets: secrets, log: log,
		running: map[int64]*runningSyncer{}, failed: map[int64]error{}}
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
func (e *entra) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := e.reconcile(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("reading Entra ID directories failed", "err", err)
		}
		select {
		case <-ctx.Done():
			e.mu.Lock()
			for _, r := range e.running {
				r.stop()
				<-r.done
			}
			e.mu.Unlock()
			return nil
		case <-t.C:
		}
	}
}

func (e *entra) reconcile(ctx context.Context) error {
	ds, err := e.st.Directories(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[int64]bool{}
	for _, d := range ds {
		if d.Kind != store.DirectoryAzureAD || !d.Active {
			continue
		}
		seen[d.ID] = true
		if r := e.running[d.ID]; r != nil && r.settings == d.Config {
			continue
		}
		if r := e.running[d.ID]; r != nil {
			r.stop()
			<-r.done
			delete(e.running, d.ID)
		}
		r, err := e.start(ctx, d)
		if err != nil {
			if prev := e.failed[d.ID]; prev == nil || prev.Error() != err.Error() {
				e.log.Warn("Entra ID directory is not synchronised", "directory", d.Name, "err", err)
			}
			e.failed[d.ID] = err
			continue
		}
		delete(e.failed, d.ID)
		e.running[d.ID] = r
	}
	for id := range e.failed {
		if !seen[id] {
			delete(e.failed, id)
		}
	}
	for id, r := range e.running {
		if !seen[id] {
			r.stop()
			<-r.done
			delete(e.running, id)
		}
	}
	return nil
}

func (e *entra) source(d store.Directory) (graphsync.Source, entraSettings, error) {
	var s entraSettings
	if err := json.Unmarshal([]byte(d.Config), &s); err != nil {
		return nil, s, fmt.Errorf("directory %q settings: %w", d.Name, err)
	}
	if s.TenantID == "" || s.ClientID == "" || s.ClientSecret == "" {
		return nil, s, fmt.Errorf("directory %q has no tenant, client id and secret yet (set them in the console)", d.Name)
	}
	secret, err := e.secrets.openSecret(d.ID, s.ClientSecret)
	if err != nil {
		return nil, s, fmt.Errorf("directory %q: %w", d.Name, err)
	}
	src, err := graphsync.NewSDKSource(graphsync.SDKConfig{BaseURL: e.cfg.BaseURL, AuthorityHost: e.cfg.AuthorityHost,
		TokenHTTPClient: e.tokenClient, TenantID: s.TenantID, ClientID: s.ClientID, ClientSecret: secret}, e.log)
	return src, s, err
}

func (e *entra) start(ctx context.Context, d store.Directory) (*runningSyncer, error) {
	src, s, err := e.source(d)
	if err != nil {
		return nil, err
	}
	cfg := graphsync.Config{Groups: s.Groups, UsernameSource: s.UsernameSource, ExcludeGuests: s.ExcludeGuests, UserRemoval: s.UserRemoval,
		OnRun: e.observer, UnifiedGroups: s.UnifiedGroups, ProtectedNames: s.ProtectedGroups, BoundGroups: s.BoundGroups,
		AdminGroup: e.adminGroup}
	if t := s.MassChangeThreshold; t != nil {
		cfg.MassChangeThreshold = *t
		if *t == 0 {
			cfg.MassChangeThreshold = graphsync.MassChangeOff
		}
	}
	if s.SyncInterval != "" {
		if cfg.Interval, err = time.ParseDuration(s.SyncInterval); err != nil {
			return nil, fmt.Errorf("directory %q: sync interval %q: %w", d.Name, s.SyncInterval, err)
		}
	}
	sy, err := graphsync.New(cfg, src, e.st, d.ID, e.log.With("directory", d.Name))
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &runningSyncer{syncer: sy, settings: d.Config, interval: cfg.Interval, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := sy.Run(store.WithActor(rctx, store.Actor{Kind: store.ActorSync, Name: d.Name})); err != nil {
			e.log.Error("directory synchronisation stopped", "directory", d.Name, "err", err)
		}
	}()
	return r, nil
}

// get returns the directory's syncer, or why it could not start.
func (e *entra) get(dirID int64) (*runningSyncer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[dirID], e.failed[dirID]
}

// SyncNow starts a run of the directory's syncer (api.SyncController).
func (e *entra) SyncNow(ctx context.Context, dirID int64) error {
	r, _ := e.get(dirID)
	if r == nil {
		if err := e.reconcile(ctx); err != nil {
			return err
		}
		var failed error
		if r, failed = e.get(dirID); failed != nil {
			return failed
		} else if r == nil {
			return errors.New("this directory is not synchronised: save its tenant, client id and secret first")
		}
	}
	if r.syncer.Progress().Running {
		return api.ErrSyncRunning
	}
	r.syncer.SyncNow()
	return nil
}

// Progress reports the directory's current or last run (api.SyncController).
func (e *entra) Progress(dirID int64) api.SyncProgress {
	r, failed := e.get(dirID)
	if failed != nil {
		return api.SyncProgress{Message: "not synchronised", Error: failed.Error()}
	}
	if r == nil {
		return api.SyncProgress{Message: "not synchronised yet"}
	}
	p := r.syncer.Progress()
	out := api.SyncProgress{Running: p.Running, Phase: p.Phase, Done: p.Objects, Error: p.LastError, StartedAt: p.StartedAt}
	if p.Last != nil {
		out.FinishedAt = p.Last.Finished
		if r.interval > 0 {
			out.NextRunAt = p.Last.Finished.Add(r.interval)
		}
	}
	return out
}

// TestConnection gets a token and reads one page of users with the stored settings.
func (e *entra) TestConnection(ctx context.Context, dirID int64) error {
	d, err := e.st.Directory(ctx, dirID)
	if err != nil {
		return err
	}
	src, _, err := e.source(d)
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
