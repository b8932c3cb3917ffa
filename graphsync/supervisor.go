package graphsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// ErrRunning is what Supervisor.SyncNow returns when the directory is already synchronising.
var ErrRunning = errors.New("a sync of this directory is already running")

// SupervisorStore is what the supervisor reads; *store.Store implements it.
type SupervisorStore interface {
	Store
	Directories(ctx context.Context) ([]store.Directory, error)
}

// SourceFunc builds the Source for an Entra ID directory from its validated settings (cmd/crowdgate
// opens the stored secrets and builds graphsync/msgraph's source).
type SourceFunc func(d store.Directory, s Settings) (Source, error)

// Supervisor runs one Syncer per active AZURE_AD directory, each on its own schedule, and keeps them
// in step with the stored directories: a directory whose Config changed gets a new syncer, one
// removed or deactivated is stopped. A directory it cannot synchronise (invalid or incomplete
// settings, a secret that does not decrypt) is reported by Status with the reason, never silently
// skipped.
type Supervisor struct {
	st        SupervisorStore
	newSource SourceFunc
	onRun     func(Report, error)
	log       *slog.Logger
	// Refresh is how often the stored directories are read again (default 1 minute), so settings
	// saved by the console or the CLI of any instance take effect without a restart.
	Refresh time.Duration
	// AdminGroup is the console's administrator group name, a protected name for every syncer
	// (Config.AdminGroup). Set it before Run.
	AdminGroup string

	mu      sync.Mutex
	running map[int64]*supervised
	stopped map[int64]error // why an active Entra ID directory has no syncer
}

type supervised struct {
	syncer   *Syncer
	config   string // the Config JSON it was built from
	interval time.Duration
	stop     context.CancelFunc
	done     chan struct{}
}

// NewSupervisor returns a Supervisor; onRun (may be nil) sees every run's report, log may be nil.
func NewSupervisor(st SupervisorStore, newSource SourceFunc, onRun func(Report, error), log *slog.Logger) *Supervisor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{st: st, newSource: newSource, onRun: onRun, log: log, Refresh: time.Minute,
		running: map[int64]*supervised{}, stopped: map[int64]error{}}
}

// Run reconciles at once and then every Refresh until ctx ends; then it stops every syncer, waits
// for them and returns nil.
func (s *Supervisor) Run(ctx context.Context) error {
	t := time.NewTicker(s.Refresh)
	defer t.Stop()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reading Entra ID directories failed", "err", err)
		}
		select {
		case <-ctx.Done():
			s.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Stop stops every syncer (a round in progress is cancelled) and waits for them.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.running {
		r.stop()
		<-r.done
		delete(s.running, id)
	}
}

// Reconcile starts, restarts and stops syncers to match the stored directories.
func (s *Supervisor) Reconcile(ctx context.Context) error {
	ds, err := s.st.Directories(ctx)
	if err != nil {
		return fmt.Errorf("graphsync: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int64]bool{}
	for _, d := range ds {
		if d.Kind != store.DirectoryAzureAD || !d.Active {
			continue
		}
		seen[d.ID] = true
		r := s.running[d.ID]
		if r != nil && r.config == d.Config {
			continue
		}
		if r != nil {
			r.stop()
			<-r.done
			delete(s.running, d.ID)
		}
		r, err := s.start(ctx, d)
		if err != nil {
			if prev := s.stopped[d.ID]; prev == nil || prev.Error() != err.Error() {
				s.log.Warn("Entra ID directory is not synchronised", "directory", d.Name, "err", err)
			}
			s.stopped[d.ID] = err
			continue
		}
		delete(s.stopped, d.ID)
		s.running[d.ID] = r
	}
	for id := range s.stopped {
		if !seen[id] {
			delete(s.stopped, id)
		}
	}
	for id, r := range s.running {
		if !seen[id] {
			r.stop()
			<-r.done
			delete(s.running, id)
		}
	}
	return nil
}

// Source validates d's settings and builds its Source.
func (s *Supervisor) Source(d store.Directory) (Source, Settings, error) {
	set, err := ParseSettings(d.Config)
	if err == nil {
		err = set.Validate()
	}
	if err == nil {
		err = set.Ready()
	}
	if err != nil {
		return nil, set, fmt.Errorf("directory %q: %w", d.Name, err)
	}
	src, err := s.newSource(d, set)
	if err != nil {
		return nil, set, fmt.Errorf("directory %q: %w", d.Name, err)
	}
	return src, set, nil
}

func (s *Supervisor) start(ctx context.Context, d store.Directory) (*supervised, error) {
	src, set, err := s.Source(d)
	if err != nil {
		return nil, err
	}
	cfg := set.Config()
	cfg.OnRun = s.onRun
	cfg.AdminGroup = s.AdminGroup
	sy, err := New(cfg, src, s.st, d.ID, s.log.With("directory", d.Name))
	if err != nil {
		return nil, fmt.Errorf("directory %q: %w", d.Name, err)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &supervised{syncer: sy, config: d.Config, interval: cfg.withDefaults().Interval, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := sy.Run(store.WithActor(rctx, store.Actor{Kind: store.ActorSync, Name: d.Name})); err != nil {
			s.log.Error("directory synchronisation stopped", "directory", d.Name, "err", err)
		}
	}()
	return r, nil
}

func (s *Supervisor) get(dirID int64) (*supervised, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[dirID], s.stopped[dirID]
}

// SyncNow asks the directory's syncer for a round at once (a full one when full is set) and
// returns without waiting; ErrRunning when one is in progress. A directory whose syncer has not
// started yet is started: its first round runs at once and serves the request.
func (s *Supervisor) SyncNow(ctx context.Context, dirID int64, full bool) error {
	r, _ := s.get(dirID)
	if r == nil {
		if err := s.Reconcile(ctx); err != nil {
			return err
		}
		var stopped error
		if r, stopped = s.get(dirID); stopped != nil {
			return stopped
		} else if r == nil {
			return errors.New("this directory is not synchronised: it is not an active Entra ID directory")
		}
	}
	if r.syncer.Progress().Running {
		return ErrRunning
	}
	if full {
		r.syncer.FullSyncNow()
	} else {
		r.syncer.SyncNow()
	}
	return nil
}

// Status is a directory's synchronisation as this instance sees it.
type Status struct {
	Progress Progress      // the syncer's progress; zero when none runs
	Interval time.Duration // between rounds; 0 when none runs
	// Stopped says why an active Entra ID directory is not being synchronised (its settings, a
	// secret that does not decrypt); nil while its syncer runs or before the first Reconcile.
	Stopped error
	Started bool // a syncer runs for the directory
}

// Status returns dirID's status.
func (s *Supervisor) Status(dirID int64) Status {
	r, stopped := s.get(dirID)
	if r == nil {
		return Status{Stopped: stopped}
	}
	return Status{Progress: r.syncer.Progress(), Interval: r.interval, Started: true}
}

// Syncer returns the directory's running syncer, nil when none runs.
func (s *Supervisor) Syncer(dirID int64) *Syncer {
	r, _ := s.get(dirID)
	if r == nil {
		return nil
	}
	return r.syncer
}
