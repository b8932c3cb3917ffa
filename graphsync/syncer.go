package graphsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// The syncer keeps an AZURE_AD directory an exact replica of the tenant's users, groups and direct
// memberships.
//
// Full round (the first sync, a periodic reconciliation, a configuration change, an expired delta
// link, or a delta round that met something only a full picture can settle): both delta queries are
// read from the start (at once), every page, into memory (100,000 users, 5,000 groups and 1,000,000
// memberships take a few hundred megabytes at most), and each page is staged in the database with
// the link that continues after it (full_stage.go): a run that fails while reading leaves the
// replica as it was, and the next run continues the round where it stopped. Then scope, name
// clashes and the desired member sets are computed, and the difference against the replica is
// applied in transactions of a bounded size (mark-and-sweep: whatever the round did not see is
// removed). The delta links are cleared when writing starts and saved with the last transaction,
// which also drops the staged round; a round that stops half-way through writing is applied again
// from its staged pages by the next run.
//
// Delta round: the users round and then the groups round continue from the saved links, and each
// page is applied in one transaction together with the link that continues after it: a failure or
// a crash leaves the replica as of the last applied page, and the next run goes on from there
// (pages replay idempotently). Member additions naming an object the replica does not know yet (a
// user created after the users round was read, a group on a later page) are held back, the link
// is not advanced past them, and after the groups round the users round is read once more to
// resolve them. A delta round turns into a full round when the replica alone cannot settle a
// change: a guest who became a member while guests are excluded, a group that enters the group
// filter's scope with members the replica never saw, a clash loser whose name became free.
//
// One run at a time per directory across all instances (Store.TryLockSync); a run that finds the
// lock taken is skipped with ErrBusy. Each run is recorded in sync_runs and audited (SYNC_STARTED,
// SYNC_FINISHED or SYNC_FAILED, actor kind SYNC).

// Store is the part of the directory the syncer uses; *store.Store implements it.
type Store interface {
	Directory(ctx context.Context, id int64) (store.Directory, error)
	TryLockSync(ctx context.Context, dirID int64) (unlock func(), ok bool, err error)
	SyncState(ctx context.Context, dirID int64) (store.SyncState, error)
	StartSyncRun(ctx context.Context, dirID int64, mode, instance string) (store.SyncRun, error)
	FinishSync(ctx context.Context, f store.SyncFinish) error
	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
	SyncSnapshot(ctx context.Context, dirID int64) (store.SyncSnapshot, error)
	SyncReplicaSize(ctx context.Context, dirID int64) (users, groups int, err error)
	SyncLookup(ctx context.Context, dirID int64, exts []string) (map[string]store.SyncObject, error)
	SyncClashWaiting(ctx context.Context, dirID int64) (int, error)
	ApplySync(ctx context.Context, dirID int64, b store.SyncBatch) (store.SyncResult, error)
	SyncProtectedGroups(ctx context.Context) ([]string, error)
	SyncPending(ctx context.Context, dirID int64) ([]store.SyncPendingMember, error)
	SyncFence(ctx context.Context, dirID int64) (int64, error)
	HeartbeatSyncRun(ctx context.Context, runID int64) error
	SyncRuns(ctx context.Context, dirID int64, limit int) ([]store.SyncRun, error)
	AbortSyncRun(ctx context.Context, runID int64, why string) error
	SyncHeldRun(ctx context.Context, dirID int64) (store.SyncRun, error)
	ReleaseHeldSync(ctx context.Context, dirID, runID int64) error
	SyncStagedRound(ctx context.Context, dirID int64) (store.SyncFullRound, bool, error)
	SyncStageBegin(ctx context.Context, dirID, fence int64, key string) (store.SyncFullRound, error)
	SyncStagePut(ctx context.Context, dirID, fence int64, p store.SyncStagePage) error
	SyncStagePages(ctx context.Context, dirID int64, kind string, fn func(store.SyncStagePage) error) error
	SyncStageClear(ctx context.Context, dirID, fence int64) error
}

var _ Store = (*store.Store)(nil)

// ErrBusy is returned by SyncOnce when another run of the directory holds the sync lock (in this
// process or another instance); the round is skipped.
var ErrBusy = errors.New("graphsync: another sync of this directory is running")

// Report describes one run.
type Report struct {
	RunID    int64
	Mode     string // store.SyncModeFull or store.SyncModeDelta: what the run ended up doing
	Reason   string // why a full round ran
	Started  time.Time
	Finished time.Time
	Counts   store.SyncCounts
	Pages    int // Graph pages read
	Objects  int // Graph objects read
	// Held is set when the mass-change guard stopped the run (its error wraps ErrHeld).
	Held *HeldError
	// Problems lists what the run could not replicate (name clashes, invalid objects, members it
	// could not resolve); the run still succeeded.
	Problems []string
}

// Duration is how long the run took.
func (r Report) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Progress is a live view of the syncer for the console.
type Progress struct {
	Running   bool
	RunID     int64
	Mode      string
	Phase     string // "staged pages", "reading" (full), "users", "groups" (delta), "users again", "apply users", "apply groups", "apply memberships", "scope", "done"
	Pages     int    // Graph pages read in this run
	Objects   int    // Graph objects read in this run
	Changes   int    // changes written in this run
	StartedAt time.Time
	Last      *Report // the last finished run, nil before the first
	LastError string  // its error, if it failed
}

// Syncer replicates one Entra ID tenant into one AZURE_AD directory.
type Syncer struct {
	cfg Config
	m   mapper
	src Source
	st  Store
	dir int64
	log *slog.Logger
	now func() time.Time

	kick    chan struct{}
	fullReq atomic.Bool

	mu   sync.Mutex
	prog Progress
}

// New returns a Syncer for directory dirID. log may be nil (no logging).
func New(cfg Config, src Source, st Store, dirID int64, log *slog.Logger) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil || st == nil {
		return nil, errors.New("graphsync: New needs a Source and a Store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Syncer{cfg: cfg, m: newMapper(cfg), src: src, st: st, dir: dirID,
		log: log.With("directory", dirID), now: time.Now, kick: make(chan struct{}, 1)}, nil
}

// SyncNow asks Run for a round at once (a delta round unless a full one is due); it does not wait.
func (s *Syncer) SyncNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// FullSyncNow asks Run for a full round at once; it does not wait.
func (s *Syncer) FullSyncNow() {
	s.fullReq.Store(true)
	s.SyncNow()
}

// Progress returns a snapshot of what the syncer is doing.
func (s *Syncer) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prog
	if p.Last != nil {
		last := *p.Last
		last.Problems = slices.Clone(last.Problems)
		p.Last = &last
	}
	return p
}

func (s *Syncer) progress(fn func(p *Progress)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.prog)
}

// Run syncs at once and then every Interval, and whenever SyncNow asks, until ctx ends; it returns
// nil then. A failed round is logged and the loop goes on (sooner when Graph asked to wait less
// than Interval).
func (s *Syncer) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.kick:
			timer.Stop()
		}
		// A SyncNow made before this round starts is served by it (the first "sync now" on a
		// syncer just started would otherwise run a second round right after the first).
		select {
		case <-s.kick:
		default:
		}
		rep, err := s.SyncOnce(ctx, s.fullReq.Swap(false))
		wait := s.cfg.Interval
		var te *ThrottledError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrBusy):
			s.log.Info("graph sync skipped: another instance is syncing")
		case err != nil:
			s.log.Error("graph sync failed", "err", err)
			if errors.As(err, &te) {
				wait = min(wait, max(te.RetryAfter, MinInterval))
			}
		default:
			s.log.Debug("graph sync round done", "mode", rep.Mode, "next_in", wait)
		}
		timer.Reset(wait)
	}
}

// SyncOnce runs one round now: a delta round, or a full round when full is set or one is due (no
// saved links, configuration changed, FullInterval elapsed). It returns ErrBusy without doing
// anything when another run holds the directory's sync lock.
func (s *Syncer) SyncOnce(ctx context.Context, full bool) (Report, error) {
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorSync, Name: "graphsync", Address: s.cfg.Instance})
	unlock, ok, err := s.st.TryLockSync(ctx, s.dir)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	if !ok {
		return Report{}, ErrBusy
	}
	defer unlock()
	// If the lock's connection drops, another instance may take the lock: every write of this run
	// carries the fencing token, so it stops writing at once.
	fence, err := s.st.SyncFence(ctx, s.dir)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	dir, err := s.st.Directory(ctx, s.dir)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	if dir.Kind != store.DirectoryAzureAD {
		return Report{}, fmt.Errorf("graphsync: directory %q is %s, not %s", dir.Name, dir.Kind, store.DirectoryAzureAD)
	}
	state, err := s.st.SyncState(ctx, s.dir)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	state.DirectoryID = s.dir
	appGroups, err := s.st.SyncProtectedGroups(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	protected := s.cfg.protectedNames(appGroups)
	r := &run{s: s, dir: dir, state: state, hash: s.cfg.fingerprint(dir.NestedGroups, protected), protected: protected, fence: fence,
		deactivate: s.cfg.UserRemoval != RemovalDelete, started: s.now()}
	staged, resume, _, err := s.stagedRound(ctx, r.stageKey())
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	releasedDelta := false // a released delta round is applied as a delta round, from the same links
	if state.ReleaseRun != 0 {
		held, err := s.st.SyncHeldRun(ctx, s.dir)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Report{}, fmt.Errorf("graphsync: %w", err)
		}
		releasedDelta = err == nil && held.ID == state.ReleaseRun && held.Mode == store.SyncModeDelta
	}
	r.mode, r.reason = store.SyncModeDelta, ""
	switch {
	case full:
		r.mode, r.reason = store.SyncModeFull, "requested"
	case state.FullReason != "":
		r.mode, r.reason = store.SyncModeFull, state.FullReason
	case state.ReleaseRun != 0 && !releasedDelta:
		r.mode, r.reason = store.SyncModeFull, fmt.Sprintf("held run %d was released by an administrator", state.ReleaseRun)
	case state.UsersDeltaLink == "" || state.GroupsDeltaLink == "":
		r.mode, r.reason = store.SyncModeFull, "no delta links (first sync, or the last full round did not finish)"
	case state.ConfigHash != r.hash:
		r.mode, r.reason = store.SyncModeFull, "configuration changed"
	case s.cfg.FullInterval > 0 && (state.LastFullAt == nil || s.now().Sub(*state.LastFullAt) >= s.cfg.FullInterval):
		r.mode, r.reason = store.SyncModeFull, "periodic reconciliation"
	case releasedDelta:
		r.reason = fmt.Sprintf("held run %d was released by an administrator", state.ReleaseRun)
	}
	if n := staged.Users.Pages + staged.Groups.Pages; resume && n > 0 {
		// A full round interrupted while reading goes on where it stopped.
		cont := fmt.Sprintf("continuing the full round interrupted after %d pages (begun %s)", n, staged.StartedAt.UTC().Format(time.RFC3339))
		r.mode, r.reason = store.SyncModeFull, strings.TrimPrefix(r.reason+"; "+cont, "; ")
	}
	if err := s.abortDead(ctx); err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	rec, err := s.st.StartSyncRun(ctx, s.dir, r.mode, s.cfg.Instance)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: %w", err)
	}
	r.runID = rec.ID
	s.progress(func(p *Progress) {
		*p = Progress{Running: true, RunID: rec.ID, Mode: r.mode, StartedAt: r.started, Last: p.Last, LastError: p.LastError}
	})
	log := s.log.With("run", rec.ID)
	log.Info("graph sync started", "mode", r.mode, "reason", r.reason)
	if err := s.st.Audit(ctx, "SUCCESS", "SYNC_STARTED", "DIRECTORY", dir.Name,
		map[string]any{"run": rec.ID, "mode": r.mode, "reason": r.reason}); err != nil {
		log.Warn("audit", "err", err)
	}

	stopBeat := s.heartbeat(ctx, rec.ID, log)
	runErr := r.execute(ctx)
	stopBeat()
	r.phase("done")

	// Bookkeeping must happen even when ctx was cancelled.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rep := r.report()
	rec.Mode, rec.SyncCounts = rep.Mode, rep.Counts
	fin := rep.Finished
	rec.FinishedAt = &fin
	st := r.committed()
	details := map[string]any{"run": rec.ID, "mode": rep.Mode, "duration_ms": rep.Duration().Milliseconds(),
		"counts": rep.Counts, "problems": len(rep.Problems)}
	var held *HeldError
	switch {
	case errors.As(runErr, &held):
		rec.Status = store.SyncHeld
		rec.UsersRemoved, rec.GroupsRemoved = held.Users, held.Groups
		st.LastError = runErr.Error()
		rec.Errors = errorText(runErr.Error(), rep.Problems)
		details["error"], details["held_users"], details["held_groups"] = runErr.Error(), held.Users, held.Groups
		rep.Held = held
	case runErr != nil:
		rec.Status = store.SyncFailed
		st.LastError = runErr.Error()
		rec.Errors = errorText(runErr.Error(), rep.Problems)
		details["error"] = runErr.Error()
	default:
		rec.Status = store.SyncSucceeded
		st.LastSuccessAt, st.LastError = &fin, ""
		rec.Errors = errorText("", rep.Problems)
	}
	if err := s.st.FinishSync(bctx, store.SyncFinish{Run: rec, State: st, Directory: dir.Name, Details: details, Fence: fence}); err != nil {
		log.Error("record the end of the sync run", "err", err)
	}
	s.progress(func(p *Progress) {
		p.Running, p.Phase, p.Last, p.LastError = false, "done", &rep, ""
		if runErr != nil {
			p.LastError = runErr.Error()
		}
	})
	if runErr != nil {
		log.Warn("graph sync failed", "mode", rep.Mode, "duration", rep.Duration().Round(time.Millisecond), "err", runErr)
		runErr = fmt.Errorf("graphsync: directory %q: %s round: %w", dir.Name, strings.ToLower(rep.Mode), runErr)
		if s.cfg.OnRun != nil {
			s.cfg.OnRun(rep, runErr)
		}
		return rep, runErr
	}
	if s.cfg.OnRun != nil {
		s.cfg.OnRun(rep, nil)
	}
	log.Info("graph sync finished", "mode", rep.Mode, "reason", rep.Reason, "duration", rep.Duration().Round(time.Millisecond),
		"users_added", rep.Counts.UsersAdded, "users_updated", rep.Counts.UsersUpdated, "users_removed", rep.Counts.UsersRemoved,
		"groups_added", rep.Counts.GroupsAdded, "groups_updated", rep.Counts.GroupsUpdated, "groups_removed", rep.Counts.GroupsRemoved,
		"memberships_added", rep.Counts.MembershipsAdded, "memberships_removed", rep.Counts.MembershipsRemoved,
		"problems", len(rep.Problems))
	return rep, nil
}

// heartbeatEvery is how often a run tells other instances it is alive (store.HeartbeatSyncRun); well
// within store.SyncRunStale.
const heartbeatEvery = 30 * time.Second

// heartbeat beats for run runID until the returned function is called (and has returned).
func (s *Syncer) heartbeat(ctx context.Context, runID int64, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.st.HeartbeatSyncRun(ctx, runID); err != nil && ctx.Err() == nil {
					log.Warn("sync run heartbeat", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// errorText is what sync_runs.errors holds: the error, then the problems, bounded.
func errorText(err string, problems []string) string {
	const maxLines = 200
	lines := make([]string, 0, min(len(problems), maxLines)+2)
	if err != "" {
		lines = append(lines, err)
	}
	for i, p := range problems {
		if i == maxLines {
			lines = append(lines, fmt.Sprintf("… and %d more", len(problems)-maxLines))
			break
		}
		lines = append(lines, p)
	}
	return strings.Join(lines, "\n")
}
