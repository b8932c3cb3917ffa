package graphsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

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
	protected  map[string]string // protected group names (lower-cased) → bound object id
	fence      int64             // the run's fencing token (store.SyncFence)
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
	// reenable holds the users a delta round re-enables, applied after the groups round (see
	// deltaUsers).
	reenable map[string]store.SyncUser
	// read holds the delta round's pages read before it is applied (readDelta); dropRelease is
	// set when the round uses up an administrator's release, cleared with its first page.
	read        *deltaRead
	dropRelease bool

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
	b.Deactivate, b.Fence = r.deactivate, r.fence
	if len(b.Groups) > 0 {
		b.Protected = r.protected
	}
	res, err := r.s.st.ApplySync(ctx, r.dir.ID, b)
	if err != nil {
		return res, err
	}
	r.mu.Lock()
	if b.State != nil {
		r.state = *b.State
		r.state.DirectoryID = r.dir.ID
	}
	if len(res.Revived) > 0 { // the store set it in the same transaction
		r.state.FullReason = store.SyncRevivedReason(res.Revived[0])
	}
	r.counts.Add(res.Counts)
	r.mu.Unlock()
	r.s.progress(func(p *Progress) { p.Changes += res.Counts.Total() })
	for _, k := range res.Skipped {
		r.problem("%s", k)
	}
	for _, c := range res.Clashes {
		if c.New { // standing clashes are listed by SyncNameClashes, not reported by every run
			r.problem("%s", c)
		}
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
