package graphsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// ErrHeld is wrapped by the error of a run the mass-change guard stopped (see HeldError).
var ErrHeld = errors.New("graphsync: run held by the mass-change guard")

// HeldError describes a run that would have removed more users or groups than the threshold: it
// wrote nothing and is recorded HELD, with Users and Groups as its removal counts and Sample in its
// errors.
type HeldError struct {
	Users, Groups           int      // users and groups the run would deactivate or delete
	UserLimit, GroupLimit   int      // the thresholds they were held against
	ReplicaUsers, ReplicaGr int      // the replica's size
	Sample                  []string // names of some of them ("user alice@contoso.com", "group staff")
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("held by the mass-change guard: the round would remove %d of %d users (threshold %d) and %d of %d groups "+
		"(threshold %d); nothing was written, an administrator may apply it anyway: %s",
		e.Users, e.ReplicaUsers, e.UserLimit, e.Groups, e.ReplicaGr, e.GroupLimit, strings.Join(e.Sample, ", "))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// massLimit is the guard's threshold for a replica of n objects.
func (c Config) massLimit(n int) int {
	if c.MassChangeThreshold > 0 {
		return c.MassChangeThreshold
	}
	return max(20, min(500, n/10))
}

const heldSample = 20

// guardFull checks a full round's plan against the replica before anything is written. It returns a
// *HeldError when the round would remove too much and no administrator released that much, and
// whether a release is used up by this round.
func (r *run) guardFull(p *fullPlan, snap store.SyncSnapshot) (release bool, err error) {
	cfg := r.s.cfg
	if cfg.MassChangeThreshold < 0 {
		return false, nil
	}
	h := &HeldError{ReplicaUsers: len(snap.Users), ReplicaGr: len(snap.Groups)}
	h.UserLimit, h.GroupLimit = cfg.massLimit(h.ReplicaUsers), cfg.massLimit(h.ReplicaGr)
	for _, ru := range snap.Users {
		u, live := p.liveU[ru.ExternalID]
		if ru.Active && (!live || !u.Active) || !live && !r.deactivate {
			h.Users++
			if len(h.Sample) < heldSample {
				h.Sample = append(h.Sample, "user "+ru.Name)
			}
		}
	}
	for _, rg := range snap.Groups {
		if _, live := p.liveG[rg.ExternalID]; !live && !p.kept[rg.ExternalID] {
			h.Groups++
			if len(h.Sample) < heldSample {
				h.Sample = append(h.Sample, "group "+rg.Name)
			}
		}
	}
	return r.judge(h)
}

// ApplyHeld is an administrator's "apply anyway" for the directory's latest HELD run, runID (0: the
// latest held run, whichever it is): the release is recorded and audited with actor, and a round of
// the held run's kind (a full round, or the same delta round read again from the same links) runs
// at once that may remove as many users and groups as the held run planned (no more: a round that
// would remove more is held again). It returns ErrBusy when another run holds the lock;
// the release stays recorded, and the next round uses it.
func (s *Syncer) ApplyHeld(ctx context.Context, runID int64, actor store.Actor) (Report, error) {
	actx := store.WithActor(ctx, actor)
	held, err := s.st.SyncHeldRun(actx, s.dir)
	if err != nil {
		return Report{}, fmt.Errorf("graphsync: apply held run: %w", err)
	}
	if runID == 0 {
		runID = held.ID
	}
	if err := s.st.ReleaseHeldSync(actx, s.dir, runID); err != nil {
		return Report{}, fmt.Errorf("graphsync: apply held run: %w", err)
	}
	return s.SyncOnce(ctx, false) // SyncOnce runs the released round as the held run's kind
}
