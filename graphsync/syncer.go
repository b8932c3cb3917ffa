package graphsync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
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
// memberships take a few hundred megabytes at most); scope, name clashes and the desired member
// sets are computed; then the difference against the replica is applied in transactions of a
// bounded size (mark-and-sweep: whatever the round did not see is removed). Nothing is written
// before every page has been read, so a round that fails while reading changes nothing. The delta
// links are cleared when writing starts and saved with the last transaction, so a round that stops
// half-way is followed by another full round.
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

// Defaults and limits of Config.
const (
	DefaultInterval     = 20 * time.Minute
	MinInterval         = time.Minute
	MaxInterval         = 6 * 24 * time.Hour // Graph's delta links live 7 days: a round must come sooner
	DefaultFullInterval = 24 * time.Hour
	DefaultBatchSize    = 2000  // users or groups per transaction in a full round
	DefaultMemberBatch  = 20000 // memberships per transaction in a full round
	DefaultWorkers      = 2     // membership transactions running at once in a full round

	RemovalDeactivate = "deactivate" // a user removed in Entra ID is deactivated (kept for Jira's history)
	RemovalDelete     = "delete"     // a user removed in Entra ID is deleted
)

// Config configures a Syncer. Zero values take the defaults.
type Config struct {
	// Interval between rounds: default 20 minutes, at least 1 minute, at most 6 days (a delta link
	// unused for 7 days expires and costs a full round).
	Interval time.Duration
	// FullInterval is how often a round is a full reconciliation instead of a delta round, repairing
	// any drift: default 24 hours; negative disables periodic full rounds (they still run when needed).
	FullInterval time.Duration

	// UsernameSource is the user attribute that becomes the crowd user name: UsernameUPN (default),
	// UsernameMail, UsernameSAM or UsernameMailNickname; userPrincipalName when that attribute is empty.
	UsernameSource string
	// StripDomain cuts "@domain" from user names.
	StripDomain bool
	// ExcludeGuests leaves guest users (userType Guest) out; by default they are replicated.
	ExcludeGuests bool
	// Groups, when set, is the group filter: object ids or display names (case-insensitive) of the
	// groups to replicate. Groups nested in them and their (transitive) members come along;
	// everything else stays out. Empty replicates the whole tenant.
	Groups []string
	// UserRemoval is what happens to a user removed in Entra ID (or leaving the filter's scope):
	// RemovalDeactivate (default: deactivated, sessions ended, memberships removed, key kept) or
	// RemovalDelete. Removed groups are always deleted.
	UserRemoval string

	// Instance names this process in sync_runs; default host name and process id.
	Instance string
	// OnRun, when set, is called after every run that held the sync lock, successful or not (a
	// metrics hook); not for rounds skipped with ErrBusy.
	OnRun func(Report, error)
	// BatchSize, MemberBatch and Workers tune the writes of a full round (defaults 2000 objects and
	// 20,000 memberships per transaction, 2 membership transactions at once).
	BatchSize   int
	MemberBatch int
	Workers     int
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.FullInterval == 0 {
		c.FullInterval = DefaultFullInterval
	}
	if c.UsernameSource == "" {
		c.UsernameSource = UsernameUPN
	}
	if c.UserRemoval == "" {
		c.UserRemoval = RemovalDeactivate
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MemberBatch == 0 {
		c.MemberBatch = DefaultMemberBatch
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	return c
}

// Validate reports every problem in c (after defaults) in one error, one line each.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		add("Interval %s is out of range %s–%s", c.Interval, MinInterval, MaxInterval)
	}
	if c.FullInterval > 0 && c.FullInterval < c.Interval {
		add("FullInterval %s is shorter than Interval %s", c.FullInterval, c.Interval)
	}
	switch c.UsernameSource {
	case UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname:
	default:
		add("UsernameSource %q: want %s, %s, %s or %s", c.UsernameSource, UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname)
	}
	switch c.UserRemoval {
	case RemovalDeactivate, RemovalDelete:
	default:
		add("UserRemoval %q: want %q or %q", c.UserRemoval, RemovalDeactivate, RemovalDelete)
	}
	for i, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			add("Groups[%d] is blank", i)
		}
	}
	if c.BatchSize < 1 || c.MemberBatch < 1 || c.Workers < 1 {
		add("BatchSize, MemberBatch and Workers must be positive")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("graphsync: invalid sync config:\n%w", errors.Join(problems...))
}

// fingerprint identifies what the replica's content depends on; a change forces a full round.
func (c Config) fingerprint(nested bool) string {
	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = store.Lower(strings.TrimSpace(g))
	}
	slices.Sort(groups)
	h := sha256.Sum256([]byte(fmt.Sprintf("v1|%s|%t|%t|%q|%s|%t", c.UsernameSource, c.StripDomain, c.ExcludeGuests,
		groups, c.UserRemoval, nested)))
	return hex.EncodeToString(h[:8])
}

// Store is the part of the directory the syncer uses; *store.Store implements it.
type Store interface {
	Directory(ctx context.Context, id int64) (store.Directory, error)
	TryLockSync(ctx context.Context, dirID int64) (unlock func(), ok bool, err error)
	SyncState(ctx context.Context, dirID int64) (store.SyncState, error)
	StartSyncRun(ctx context.Context, dirID int64, mode, instance string) (store.SyncRun, error)
	FinishSync(ctx context.Context, f store.SyncFinish) error
	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
	SyncSnapshot(ctx context.Context, dirID int64) (store.SyncSnapshot, error)
	SyncLookup(ctx context.Context, dirID int64, exts []string) (map[string]store.SyncObject, error)
	SyncClashWaiting(ctx context.Context, dirID int64) (int, error)
	ApplySync(ctx context.Context, dirID int64, b store.SyncBatch) (store.SyncResult, error)
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
	Phase     string // "reading" (full), "users", "groups" (delta), "users again", "apply users", "apply groups", "apply memberships", "scope", "done"
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
	r := &run{s: s, dir: dir, state: state, hash: s.cfg.fingerprint(dir.NestedGroups),
		deactivate: s.cfg.UserRemoval != RemovalDelete, started: s.now()}
	r.mode, r.reason = store.SyncModeDelta, ""
	switch {
	case full:
		r.mode, r.reason = store.SyncModeFull, "requested"
	case state.UsersDeltaLink == "" || state.GroupsDeltaLink == "":
		r.mode, r.reason = store.SyncModeFull, "no delta links (first sync, or the last full round did not finish)"
	case state.ConfigHash != r.hash:
		r.mode, r.reason = store.SyncModeFull, "configuration changed"
	case s.cfg.FullInterval > 0 && (state.LastFullAt == nil || s.now().Sub(*state.LastFullAt) >= s.cfg.FullInterval):
		r.mode, r.reason = store.SyncModeFull, "periodic reconciliation"
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

	runErr := r.execute(ctx)
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
	if runErr != nil {
		rec.Status = store.SyncFailed
		st.LastError = runErr.Error()
		rec.Errors = errorText(runErr.Error(), rep.Problems)
		details["error"] = runErr.Error()
	} else {
		rec.Status = store.SyncSucceeded
		st.LastSuccessAt, st.LastError = &fin, ""
		rec.Errors = errorText("", rep.Problems)
	}
	if err := s.st.FinishSync(bctx, store.SyncFinish{Run: rec, State: st, Directory: dir.Name, Details: details}); err != nil {
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

// escalation stops a delta round that needs a full one.
type escalation struct{ why string }

func (e *escalation) Error() string { return "a full round is needed: " + e.why }

func escalate(format string, args ...any) error {
	return &escalation{why: fmt.Sprintf(format, args...)}
}

// run is one SyncOnce.
type run struct {
	s          *Syncer
	dir        store.Directory
	hash       string
	deactivate bool
	runID      int64
	mode       string
	reason     string
	started    time.Time

	mu       sync.Mutex // guards what concurrent membership transactions update
	state    store.SyncState
	counts   store.SyncCounts
	problems []string
	pages    int
	objects  int

	scopeDirty bool // a delta round removed memberships or renamed groups under a group filter

	phaseName  string
	phaseStart time.Time
}

func (r *run) report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Report{RunID: r.runID, Mode: r.mode, Reason: r.reason, Started: r.started, Finished: r.s.now(),
		Counts: r.counts, Pages: r.pages, Objects: r.objects, Problems: slices.Clone(r.problems)}
}

// committed is the sync state as last committed.
func (r *run) committed() store.SyncState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *run) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.problems = append(r.problems, msg)
	r.mu.Unlock()
	r.s.log.Warn("graph sync: "+msg, "run", r.runID)
}

// phase records the start of a phase for Progress, and logs how long the previous one took.
func (r *run) phase(name string) {
	now := r.s.now()
	if r.phaseName != "" {
		r.s.log.Debug("graph sync phase done", "run", r.runID, "phase", r.phaseName, "took", now.Sub(r.phaseStart).Round(time.Millisecond))
	}
	r.phaseName, r.phaseStart = name, now
	r.s.progress(func(p *Progress) { p.Phase, p.Mode = name, r.mode })
}

func (r *run) pageRead(n int) {
	r.mu.Lock()
	r.pages++
	r.objects += n
	r.mu.Unlock()
	r.s.progress(func(p *Progress) { p.Pages++; p.Objects += n })
}

// apply writes one batch (one transaction) and accounts for it. The state in b, if any, becomes the
// committed state.
func (r *run) apply(ctx context.Context, b store.SyncBatch) (store.SyncResult, error) {
	if b.Empty() {
		return store.SyncResult{}, nil
	}
	b.Deactivate = r.deactivate
	res, err := r.s.st.ApplySync(ctx, r.dir.ID, b)
	if err != nil {
		return res, err
	}
	r.mu.Lock()
	if b.State != nil {
		r.state = *b.State
		r.state.DirectoryID = r.dir.ID
	}
	r.counts.Add(res.Counts)
	r.mu.Unlock()
	r.s.progress(func(p *Progress) { p.Changes += res.Counts.Total() })
	for _, k := range res.Skipped {
		r.problem("%s", k)
	}
	for _, u := range res.Unresolved {
		switch {
		case u.MemberExternalID == "":
			r.problem("group %s is not in the replica: its members were not applied", u.GroupExternalID)
		default:
			r.problem("member %s of group %s is not in the replica: membership not applied", u.MemberExternalID, u.GroupExternalID)
		}
	}
	return res, nil
}

// withState returns a copy of the committed state changed by fn.
func (r *run) withState(fn func(st *store.SyncState)) *store.SyncState {
	st := r.committed()
	fn(&st)
	return &st
}

// execute runs the round, turning a delta round into a full one when it must.
func (r *run) execute(ctx context.Context) error {
	if r.mode == store.SyncModeDelta {
		err := r.delta(ctx)
		var esc *escalation
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrDeltaExpired):
			r.reason = "delta link expired (Graph answered 410 or syncStateNotFound)"
		case errors.As(err, &esc):
			r.reason = esc.why
		default:
			return err
		}
		r.s.log.Info("graph sync: switching to a full round", "run", r.runID, "reason", r.reason)
		r.mu.Lock()
		r.mode = store.SyncModeFull
		r.mu.Unlock()
	}
	return r.full(ctx)
}

// ---- delta rounds ----

// pending is a member addition held back until the object it names is known.
type pending struct {
	group  string
	member MemberChange
}

func (r *run) delta(ctx context.Context) error {
	r.phase("users")
	if err := r.deltaUsers(ctx); err != nil {
		return err
	}
	r.phase("groups")
	if err := r.deltaGroups(ctx); err != nil {
		return err
	}
	if r.scopeDirty {
		r.phase("scope")
		if err := r.scopePass(ctx); err != nil {
			return err
		}
	}
	n, err := r.s.st.SyncClashWaiting(ctx, r.dir.ID)
	if err != nil {
		return err
	}
	if n > 0 {
		return escalate("%d object(s) that lost a name clash can now take their name", n)
	}
	return nil
}

// deltaUsers follows the users round from the committed link, one transaction per page.
func (r *run) deltaUsers(ctx context.Context) error {
	link := r.committed().UsersDeltaLink
	for n := 1; ; n++ {
		page, err := r.s.src.UsersDelta(ctx, link)
		if err != nil {
			return fmt.Errorf("users page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		b, err := r.usersBatch(ctx, page.Items)
		if err != nil {
			return err
		}
		next := cmp.Or(page.DeltaLink, page.NextLink)
		b.State = r.withState(func(st *store.SyncState) { st.UsersDeltaLink = next })
		res, err := r.apply(ctx, b)
		if err != nil {
			return fmt.Errorf("users page %d: %w", n, err)
		}
		if len(res.Revived) > 0 {
			return escalate("user %s that was not replicated (clash or invalid) now is", res.Revived[0])
		}
		if page.DeltaLink != "" {
			return nil
		}
		link = page.NextLink
	}
}

// lastByID keeps the last occurrence of each object of a page (an object may come back within a
// page or a round; the last one wins), in id order.
func lastByID[T any](items []T, id func(T) string) ([]string, map[string]T) {
	m := make(map[string]T, len(items))
	for _, it := range items {
		m[id(it)] = it
	}
	return slices.Sorted(mapKeysOf(m)), m
}

func mapKeysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// usersBatch turns a users delta page into a batch.
func (r *run) usersBatch(ctx context.Context, items []User) (store.SyncBatch, error) {
	var b store.SyncBatch
	ids, last := lastByID(items, func(u User) string { return u.ID })
	if len(ids) == 0 {
		return b, nil
	}
	look, err := r.s.st.SyncLookup(ctx, r.dir.ID, ids)
	if err != nil {
		return b, err
	}
	for _, id := range ids {
		u, o := last[id], look[id]
		if o.Kind == store.SyncKindGroup {
			continue
		}
		if u.Removed {
			switch {
			case o.InReplica() && r.deactivate:
				b.RemoveUsers = append(b.RemoveUsers, id)
				b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideRemoved, Name: o.User.Name})
			case o.InReplica():
				b.RemoveUsers = append(b.RemoveUsers, id)
				b.Forget = append(b.Forget, id)
			case o.Outside != nil:
				b.Forget = append(b.Forget, id)
			}
			continue
		}
		su := r.s.m.user(u)
		if r.s.m.excluded(u) {
			if o.Live() {
				b.RemoveUsers = append(b.RemoveUsers, id)
			}
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideGuest, Name: su.Name})
			continue
		}
		if o.Outside != nil && o.Outside.Reason == store.OutsideGuest {
			return b, escalate("user %s is no longer an excluded guest", id)
		}
		if r.s.m.filtered() && !o.Live() && (o.Outside == nil || o.Outside.Reason == store.OutsideFilter || o.Outside.Reason == store.OutsideRemoved) {
			// Outside the group filter until a membership brings it in: keep its data.
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideFilter, Name: su.Name, User: &su})
			continue
		}
		b.Users = append(b.Users, su)
	}
	return b, nil
}

// deltaGroups follows the groups round from the committed link, one transaction per page.
func (r *run) deltaGroups(ctx context.Context) error {
	link := r.committed().GroupsDeltaLink
	var held []pending
	var deltaLink string
	for n := 1; ; n++ {
		page, err := r.s.src.GroupsDelta(ctx, link)
		if err != nil {
			return fmt.Errorf("groups page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		b, more, err := r.groupsBatch(ctx, page.Items)
		if err != nil {
			return err
		}
		held = append(held, more...)
		if len(held) == 0 {
			// With member additions held back, the committed link stays before them.
			next := cmp.Or(page.DeltaLink, page.NextLink)
			b.State = r.withState(func(st *store.SyncState) { st.GroupsDeltaLink = next })
		}
		res, err := r.apply(ctx, b)
		if err != nil {
			return fmt.Errorf("groups page %d: %w", n, err)
		}
		if len(res.Revived) > 0 {
			return escalate("group %s that was not replicated (clash or invalid) now is", res.Revived[0])
		}
		if page.DeltaLink != "" {
			deltaLink = page.DeltaLink
			break
		}
		link = page.NextLink
	}
	if len(held) > 0 {
		// Members created after the users round was read: read what changed since.
		r.phase("users again")
		if err := r.deltaUsers(ctx); err != nil {
			return err
		}
		ids := make([]string, len(held))
		for i, p := range held {
			ids[i] = p.member.ID
		}
		look, err := r.s.st.SyncLookup(ctx, r.dir.ID, ids)
		if err != nil {
			return err
		}
		var b store.SyncBatch
		promoted := map[string]bool{}
		for _, p := range held {
			if err := r.memberAdd(&b, p.group, p.member, look[p.member.ID], promoted); err != nil {
				return err
			}
			if _, ok := look[p.member.ID]; !ok {
				r.problem("member %s of group %s is unknown to Graph's users and groups rounds: membership not applied (the next full round retries)",
					p.member.ID, p.group)
			}
		}
		b.State = r.withState(func(st *store.SyncState) { st.GroupsDeltaLink = deltaLink })
		if _, err := r.apply(ctx, b); err != nil {
			return fmt.Errorf("groups: held members: %w", err)
		}
	}
	return nil
}

// groupsBatch turns a groups delta page into a batch, and returns the member additions it must
// hold back.
func (r *run) groupsBatch(ctx context.Context, items []Group) (store.SyncBatch, []pending, error) {
	var b store.SyncBatch
	// A big group comes in chunks, possibly twice on one page: union its members.
	merged := map[string]*Group{}
	for _, g := range items {
		acc, ok := merged[g.ID]
		if !ok || g.Removed {
			cp := g
			cp.Members = slices.Clone(g.Members)
			merged[g.ID] = &cp
			continue
		}
		members := append(acc.Members, g.Members...)
		*acc = g
		acc.Members = members
	}
	ids := slices.Sorted(mapKeysOf(merged))
	if len(ids) == 0 {
		return b, nil, nil
	}
	all := slices.Clone(ids)
	for _, g := range merged {
		for _, c := range g.Members {
			all = append(all, c.ID)
		}
	}
	look, err := r.s.st.SyncLookup(ctx, r.dir.ID, all)
	if err != nil {
		return b, nil, err
	}
	here := map[string]bool{} // groups of this page: true when they will be live, false when filtered out
	var live []string
	for _, id := range ids {
		g, o := merged[id], look[id]
		if o.Kind == store.SyncKindUser {
			continue
		}
		if g.Removed {
			if o.InReplica() {
				b.RemoveGroups = append(b.RemoveGroups, id)
				r.scopeDirty = r.scopeDirty || r.s.m.filtered()
			}
			if o.Outside != nil {
				b.Forget = append(b.Forget, id)
			}
			continue
		}
		sg := r.s.m.group(*g)
		chosen := r.s.m.chosen(id, g.DisplayName)
		switch {
		case o.Live():
			b.Groups = append(b.Groups, sg)
			here[id] = true
			live = append(live, id)
			if r.s.m.filtered() && o.Group.Name != sg.Name {
				r.scopeDirty = true // it may have been chosen by its old name
			}
		case o.Outside != nil && o.Outside.Reason == store.OutsideFilter:
			if chosen {
				return b, nil, escalate("group %q (%s) now matches the group filter", sg.Name, id)
			}
			here[id] = false
		case o.Outside != nil:
			// A clash loser or an invalid group: the store decides; if it becomes live, the run
			// escalates (its members are unknown).
			b.Groups = append(b.Groups, sg)
		case r.s.m.filtered() && !chosen:
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideFilter, Name: sg.Name})
			here[id] = false
		default:
			b.Groups = append(b.Groups, sg)
			here[id] = true
			live = append(live, id)
		}
	}
	var held []pending
	promoted := map[string]bool{}
	for _, id := range live {
		for _, c := range merged[id].Members {
			if c.Kind != KindUser && c.Kind != KindGroup {
				continue // contacts, devices, service principals
			}
			if c.Removed {
				b.Changes = append(b.Changes, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: c.ID,
					Group: c.Kind == KindGroup, Removed: true})
				r.scopeDirty = r.scopeDirty || r.s.m.filtered()
				continue
			}
			if inPage, ok := here[c.ID]; ok && c.Kind == KindGroup {
				// A group of this very page: upserted before the changes in the same transaction.
				if !inPage {
					return b, nil, escalate("group %s was nested into the filter's scope", c.ID)
				}
				b.Changes = append(b.Changes, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: c.ID, Group: true})
				continue
			}
			m, known := look[c.ID]
			if !known {
				held = append(held, pending{group: id, member: c})
				continue
			}
			if err := r.memberAdd(&b, id, c, m, promoted); err != nil {
				return b, nil, err
			}
		}
	}
	return b, held, nil
}

// memberAdd adds a member addition to b when the member is (or becomes) live; m is what the replica
// knows of it (zero when unknown: nothing is added).
func (r *run) memberAdd(b *store.SyncBatch, group string, c MemberChange, m store.SyncObject, promoted map[string]bool) error {
	wantKind := store.SyncKindUser
	if c.Kind == KindGroup {
		wantKind = store.SyncKindGroup
	}
	if m.Kind != "" && m.Kind != wantKind {
		return nil
	}
	add := store.SyncMemberChange{GroupExternalID: group, MemberExternalID: c.ID, Group: c.Kind == KindGroup}
	switch {
	case m.Live():
		b.Changes = append(b.Changes, add)
	case m.Outside == nil:
		// unknown: nothing to add
	case m.Outside.Reason == store.OutsideFilter && c.Kind == KindGroup:
		return escalate("group %s was nested into the filter's scope", c.ID)
	case m.Outside.Reason == store.OutsideFilter && m.Outside.User != nil:
		// A user outside the filter joins a group in scope: it enters the replica.
		if !promoted[c.ID] {
			promoted[c.ID] = true
			b.Users = append(b.Users, *m.Outside.User)
		}
		b.Changes = append(b.Changes, add)
	}
	return nil
}

// scopePass removes what left the group filter's scope after a delta round removed memberships or
// groups: the scope is recomputed from the replica.
func (r *run) scopePass(ctx context.Context) error {
	snap, err := r.s.st.SyncSnapshot(ctx, r.dir.ID)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, o := range snap.Outside {
		listed[o.ExternalID] = true
	}
	gr := graph{users: map[string]bool{}, groups: map[string]string{}, uMem: map[string][]string{}, gMem: map[string][]string{}}
	uext, gext := map[int64]string{}, map[int64]string{}
	for _, u := range snap.Users {
		uext[u.ID] = u.ExternalID
		if !listed[u.ExternalID] {
			gr.users[u.ExternalID] = true
		}
	}
	for _, g := range snap.Groups {
		gext[g.ID] = g.ExternalID
		gr.groups[g.ExternalID] = g.Name
	}
	for _, m := range snap.UserMemberships {
		gr.uMem[gext[m[0]]] = append(gr.uMem[gext[m[0]]], uext[m[1]])
	}
	for _, m := range snap.GroupMemberships {
		gr.gMem[gext[m[0]]] = append(gr.gMem[gext[m[0]]], gext[m[1]])
	}
	inG, inU := r.s.m.scope(gr)
	var b store.SyncBatch
	for _, g := range snap.Groups {
		if !inG[g.ExternalID] {
			b.RemoveGroups = append(b.RemoveGroups, g.ExternalID)
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: g.ExternalID, Kind: store.SyncKindGroup, Reason: store.OutsideFilter, Name: g.Name})
		}
	}
	for _, u := range snap.Users {
		if gr.users[u.ExternalID] && !inU[u.ExternalID] {
			data := u.SyncUser
			b.RemoveUsers = append(b.RemoveUsers, u.ExternalID)
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: u.ExternalID, Kind: store.SyncKindUser, Reason: store.OutsideFilter, Name: u.Name, User: &data})
		}
	}
	_, err = r.apply(ctx, b)
	return err
}

// ---- full rounds ----

// fullUser is a present user of a full round.
type fullUser struct {
	store.SyncUser
	excluded bool // an excluded guest
}

// fullGroup is a present group of a full round with its direct members (ids; duplicates allowed).
type fullGroup struct {
	name    string // Graph's display name, for the filter
	sg      store.SyncGroup
	users   []string
	groups  []string
	dropped map[string]bool // members reported removed (not expected in a full round)
}

func (r *run) full(ctx context.Context) error {
	// The two rounds are independent: read them at once (parsing pages is the costly part).
	r.phase("reading")
	users := map[string]*fullUser{}
	groups := map[string]*fullGroup{}
	var usersLink, groupsLink string
	var usersErr, groupsErr error
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if usersLink, usersErr = r.readUsers(rctx, "", users); usersErr != nil {
			cancel()
		}
	})
	wg.Go(func() {
		if groupsLink, groupsErr = r.readGroups(rctx, groups); groupsErr != nil {
			cancel()
		}
	})
	wg.Wait()
	cancel()
	switch {
	case usersErr != nil && !(errors.Is(usersErr, context.Canceled) && groupsErr != nil && ctx.Err() == nil):
		return usersErr
	case groupsErr != nil:
		return groupsErr
	}
	// Share member id strings with the users map, and notice members the users round did not have.
	missing := false
	for _, g := range groups {
		for i, id := range g.users {
			if u := users[id]; u != nil {
				g.users[i] = u.ExternalID
			} else {
				missing = true
			}
		}
	}
	if missing {
		// Users created while the groups were read: read what changed since the users round.
		r.phase("users again")
		var err error
		if usersLink, err = r.readUsers(ctx, usersLink, users); err != nil {
			return err
		}
	}
	return r.applyFull(ctx, users, groups, usersLink, groupsLink)
}

// readUsers reads a users round from link into users (last one wins; removals delete).
func (r *run) readUsers(ctx context.Context, link string, users map[string]*fullUser) (string, error) {
	for n := 1; ; n++ {
		page, err := r.s.src.UsersDelta(ctx, link)
		if err != nil {
			return "", fmt.Errorf("users page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		for _, u := range page.Items {
			if u.Removed {
				delete(users, u.ID)
				continue
			}
			users[u.ID] = &fullUser{SyncUser: r.s.m.user(u), excluded: r.s.m.excluded(u)}
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		link = page.NextLink
	}
}

// readGroups reads a full groups round.
func (r *run) readGroups(ctx context.Context, groups map[string]*fullGroup) (string, error) {
	link := ""
	for n := 1; ; n++ {
		page, err := r.s.src.GroupsDelta(ctx, link)
		if err != nil {
			return "", fmt.Errorf("groups page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		for _, g := range page.Items {
			if g.Removed {
				delete(groups, g.ID)
				continue
			}
			acc := groups[g.ID]
			if acc == nil {
				acc = &fullGroup{}
				groups[g.ID] = acc
			}
			acc.name, acc.sg = g.DisplayName, r.s.m.group(g)
			for _, c := range g.Members {
				id := c.ID
				if c.Removed {
					if acc.dropped == nil {
						acc.dropped = map[string]bool{}
					}
					acc.dropped[id] = true
					continue
				}
				switch c.Kind {
				case KindUser:
					acc.users = append(acc.users, id)
				case KindGroup:
					acc.groups = append(acc.groups, id)
				}
			}
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		link = page.NextLink
	}
}

// members returns a group's distinct members without those reported removed.
func (g *fullGroup) members(list []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(list)))
	if len(g.dropped) > 0 {
		out = slices.DeleteFunc(out, func(id string) bool { return g.dropped[id] })
	}
	return out
}

func (r *run) applyFull(ctx context.Context, users map[string]*fullUser, groups map[string]*fullGroup, usersLink, groupsLink string) error {
	m := r.s.m
	// Scope.
	gr := graph{users: make(map[string]bool, len(users)), groups: make(map[string]string, len(groups)),
		uMem: make(map[string][]string, len(groups)), gMem: map[string][]string{}}
	for id, u := range users {
		if !u.excluded {
			gr.users[id] = true
		}
	}
	for id, g := range groups {
		g.users, g.groups = g.members(g.users), g.members(g.groups)
		gr.groups[id] = g.name
		gr.uMem[id] = g.users
		gr.gMem[id] = g.groups
	}
	inG, inU := m.scope(gr)
	for _, f := range m.unmatched(gr.groups) {
		r.problem("group filter entry %q matches no group of the tenant", f)
	}

	// Desired live objects and outside records.
	out := map[string]store.SyncOutside{}
	liveU := make(map[string]store.SyncUser, len(inU))
	for id, u := range users {
		switch {
		case u.excluded:
			out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideGuest, Name: u.Name}
		case !inU[id]:
			data := u.SyncUser
			out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideFilter, Name: u.Name, User: &data}
		default:
			liveU[id] = u.SyncUser
		}
	}
	liveG := make(map[string]store.SyncGroup, len(inG))
	for id, g := range groups {
		if inG[id] {
			liveG[id] = g.sg
		} else {
			out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideFilter, Name: g.sg.Name}
		}
	}
	names := make(map[string]string, len(liveU))
	for _, id := range slices.Sorted(mapKeysOf(liveU)) {
		u := liveU[id]
		if err := u.Validate(); err != nil {
			r.problem("user %s (%q) not replicated: %v", id, u.Name, err)
			out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideInvalid, Name: u.Name}
			delete(liveU, id)
			continue
		}
		names[id] = u.Name
	}
	lost := winners(names)
	for _, id := range slices.Sorted(mapKeysOf(lost)) {
		u := liveU[id]
		r.problem("user %s (%q) not replicated: name %q is taken by %s (the smaller object id keeps it)", id, u.Name, u.Name, lost[id])
		out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideClash, Name: u.Name}
		delete(liveU, id)
	}
	gnames := make(map[string]string, len(liveG))
	for _, id := range slices.Sorted(mapKeysOf(liveG)) {
		g := liveG[id]
		if err := g.Validate(); err != nil {
			r.problem("group %s (%q) not replicated: %v", id, g.Name, err)
			out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideInvalid, Name: g.Name}
			delete(liveG, id)
			continue
		}
		gnames[id] = g.Name
	}
	glost := winners(gnames)
	for _, id := range slices.Sorted(mapKeysOf(glost)) {
		g := liveG[id]
		r.problem("group %s (%q) not replicated: name %q is taken by %s (the smaller object id keeps it)", id, g.Name, g.Name, glost[id])
		out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideClash, Name: g.Name}
		delete(liveG, id)
	}

	// Compare with the replica.
	r.phase("apply users")
	snap, err := r.s.st.SyncSnapshot(ctx, r.dir.ID)
	if err != nil {
		return err
	}
	hasMembership := map[int64]bool{}
	for _, p := range snap.UserMemberships {
		hasMembership[p[1]] = true
	}
	// First transaction: removals (mark-and-sweep), outside records, and the links cleared, so a
	// round that stops half-way is followed by a full round.
	var sweep store.SyncBatch
	rowsU := make(map[string]store.SyncReplicaUser, len(snap.Users))
	for _, ru := range snap.Users {
		rowsU[ru.ExternalID] = ru
		if _, ok := liveU[ru.ExternalID]; ok {
			continue
		}
		if !r.deactivate || ru.Active || hasMembership[ru.ID] {
			sweep.RemoveUsers = append(sweep.RemoveUsers, ru.ExternalID)
		}
		if _, inEntra := users[ru.ExternalID]; !inEntra && r.deactivate {
			out[ru.ExternalID] = store.SyncOutside{ExternalID: ru.ExternalID, Kind: store.SyncKindUser, Reason: store.OutsideRemoved, Name: ru.Name}
		}
	}
	rowsG := make(map[string]store.SyncReplicaGroup, len(snap.Groups))
	for _, rg := range snap.Groups {
		rowsG[rg.ExternalID] = rg
		if _, ok := liveG[rg.ExternalID]; !ok {
			sweep.RemoveGroups = append(sweep.RemoveGroups, rg.ExternalID)
		}
	}
	cur := make(map[string]store.SyncOutside, len(snap.Outside))
	for _, o := range snap.Outside {
		cur[o.ExternalID] = o
	}
	for _, id := range slices.Sorted(mapKeysOf(out)) {
		if o, ok := cur[id]; !ok || !sameOutside(o, out[id]) {
			sweep.Outside = append(sweep.Outside, out[id])
		}
	}
	for _, id := range slices.Sorted(mapKeysOf(cur)) {
		if _, ok := out[id]; !ok {
			sweep.Forget = append(sweep.Forget, id)
		}
	}
	sweep.State = r.withState(func(st *store.SyncState) { st.UsersDeltaLink, st.GroupsDeltaLink = "", "" })
	if _, err := r.apply(ctx, sweep); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}

	// Users: renames first, all in one transaction (chains and swaps need to see each other), then
	// creates and updates in batches.
	var renames, rest []store.SyncUser
	for _, id := range slices.Sorted(mapKeysOf(liveU)) {
		u := liveU[id]
		ru, ok := rowsU[id]
		switch {
		case !ok:
			rest = append(rest, u)
		case ru.SyncUser == u:
		case ru.Name != u.Name:
			renames = append(renames, u)
		default:
			rest = append(rest, u)
		}
	}
	if _, err := r.apply(ctx, store.SyncBatch{Users: renames}); err != nil {
		return fmt.Errorf("rename users: %w", err)
	}
	for part := range slices.Chunk(rest, r.s.cfg.BatchSize) {
		if _, err := r.apply(ctx, store.SyncBatch{Users: part}); err != nil {
			return fmt.Errorf("users: %w", err)
		}
	}

	r.phase("apply groups")
	var grenames, grest []store.SyncGroup
	for _, id := range slices.Sorted(mapKeysOf(liveG)) {
		g := liveG[id]
		rg, ok := rowsG[id]
		switch {
		case !ok:
			grest = append(grest, g)
		case rg.SyncGroup == g:
		case rg.Name != g.Name:
			grenames = append(grenames, g)
		default:
			grest = append(grest, g)
		}
	}
	if _, err := r.apply(ctx, store.SyncBatch{Groups: grenames}); err != nil {
		return fmt.Errorf("rename groups: %w", err)
	}
	for part := range slices.Chunk(grest, r.s.cfg.BatchSize) {
		if _, err := r.apply(ctx, store.SyncBatch{Groups: part}); err != nil {
			return fmt.Errorf("groups: %w", err)
		}
	}

	// Memberships: only groups whose direct member set differs.
	r.phase("apply memberships")
	idU := make(map[int64]string, len(snap.Users))
	for _, ru := range snap.Users {
		idU[ru.ID] = ru.ExternalID
	}
	idG := make(map[int64]string, len(snap.Groups))
	for _, rg := range snap.Groups {
		idG[rg.ID] = rg.ExternalID
	}
	haveU, haveG := map[string][]string{}, map[string][]string{}
	for _, p := range snap.UserMemberships {
		haveU[idG[p[0]]] = append(haveU[idG[p[0]]], idU[p[1]])
	}
	for _, p := range snap.GroupMemberships {
		haveG[idG[p[0]]] = append(haveG[idG[p[0]]], idG[p[1]])
	}
	var sets []store.SyncMembers
	for _, id := range slices.Sorted(mapKeysOf(liveG)) {
		g := groups[id]
		want := store.SyncMembers{GroupExternalID: id}
		for _, u := range g.users {
			if _, ok := liveU[u]; ok {
				want.Users = append(want.Users, u)
			}
		}
		if r.dir.NestedGroups {
			for _, c := range g.groups {
				if _, ok := liveG[c]; ok && c != id {
					want.Groups = append(want.Groups, c)
				}
			}
		}
		if !sameSet(want.Users, haveU[id]) || !sameSet(want.Groups, haveG[id]) {
			sets = append(sets, want)
		}
	}
	if err := r.applyMembers(ctx, sets); err != nil {
		return err
	}

	// Last transaction: the links, so the next round continues from this one.
	now := r.s.now()
	final := store.SyncBatch{State: r.withState(func(st *store.SyncState) {
		st.UsersDeltaLink, st.GroupsDeltaLink, st.LastFullAt, st.ConfigHash = usersLink, groupsLink, &now, r.hash
	})}
	if _, err := r.apply(ctx, final); err != nil {
		return err
	}
	return nil
}

// applyMembers writes member sets in transactions of about MemberBatch memberships, Workers at once.
func (r *run) applyMembers(ctx context.Context, sets []store.SyncMembers) error {
	var batches [][]store.SyncMembers
	var cur []store.SyncMembers
	size := 0
	for _, s := range sets {
		cur = append(cur, s)
		size += len(s.Users) + len(s.Groups) + 1
		if size >= r.s.cfg.MemberBatch {
			batches, cur, size = append(batches, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []store.SyncMembers)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range min(r.s.cfg.Workers, max(len(batches), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if _, err := r.apply(ctx, store.SyncBatch{Members: b}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("memberships: %w", err); cancel() })
				}
			}
		}()
	}
send:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func sameOutside(a, b store.SyncOutside) bool {
	if a.Kind != b.Kind || a.Reason != b.Reason || store.Lower(a.Name) != store.Lower(b.Name) {
		return false
	}
	if (a.User == nil) != (b.User == nil) {
		return false
	}
	return a.User == nil || a.User.Normalize() == b.User.Normalize()
}

// sameSet compares a sorted, distinct list with an unsorted one.
func sameSet(sorted []string, other []string) bool {
	if len(sorted) != len(other) {
		return false
	}
	o := slices.Sorted(slices.Values(other))
	return slices.Equal(sorted, o)
}
