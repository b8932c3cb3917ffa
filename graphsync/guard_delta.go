package graphsync

import (
	"cmp"
	"context"
	"fmt"

	"github.com/crowdgate/crowdgate/store"
)

// A delta round is read whole before it writes anything, so that the mass-change guard can count
// what it would remove (docs/sync-guard.md). The pages are kept in memory, keyed by the link that
// read them, and the round is then applied page by page exactly as it was read.

// deltaRead holds a delta round's pages until they are applied.
type deltaRead struct {
	users  map[string]Page[User]
	groups map[string]Page[Group]
}

// readDelta reads the users and groups rounds from the committed links, as deltaUsers and
// deltaGroups will follow them, and returns their objects in order. Nothing is written: a run
// stopped while reading leaves the replica and the links as they were.
func (r *run) readDelta(ctx context.Context) ([]User, []Group, error) {
	r.read = &deltaRead{users: map[string]Page[User]{}, groups: map[string]Page[Group]{}}
	st := r.committed()
	users, err := readRound(ctx, r, "users", st.UsersDeltaLink, r.s.src.UsersDelta, r.read.users)
	if err != nil {
		return nil, nil, err
	}
	groups, err := readRound(ctx, r, "groups", st.GroupsDeltaLink, r.s.src.GroupsDelta, r.read.groups)
	if err != nil {
		return nil, nil, err
	}
	return users, groups, nil
}

func readRound[T any](ctx context.Context, r *run, kind, link string, get func(context.Context, string) (Page[T], error),
	into map[string]Page[T]) ([]T, error) {
	resumed := isNextLink(link) // see deltaUsers
	var all []T
	for n := 1; ; n++ {
		page, err := get(ctx, link)
		if err != nil {
			return nil, fmt.Errorf("%s page %d: %w", kind, n, err)
		}
		r.pageRead(len(page.Items))
		into[link] = page
		all = append(all, page.Items...)
		if page.DeltaLink != "" {
			if !resumed {
				return all, nil
			}
			resumed = false
		}
		link = cmp.Or(page.DeltaLink, page.NextLink)
	}
}

// usersPage returns the users page of link that readDelta read (once).
func (r *run) usersPage(link string) (Page[User], error) { return takePage(r.read.users, link) }

// groupsPage is usersPage for groups.
func (r *run) groupsPage(link string) (Page[Group], error) { return takePage(r.read.groups, link) }

// takePage hands out a page the guard counted. A page it did not read is never fetched here: that
// would apply removals the guard never saw.
func takePage[T any](read map[string]Page[T], link string) (Page[T], error) {
	p, ok := read[link]
	if !ok {
		return p, fmt.Errorf("delta page %q was not read before the round was applied (a bug: the round is not applied)", link)
	}
	delete(read, link)
	return p, nil
}

// guardDelta counts what a delta round read by readDelta would deactivate or delete: users removed
// or disabled in Entra, or that became excluded guests, while active in the replica (or deleted
// outright), and live groups removed or no longer of a replicated type. Users a scope pass takes
// out of a group filter's scope afterwards are not counted.
func (r *run) guardDelta(ctx context.Context, users []User, groups []Group) error {
	cfg := r.s.cfg
	if cfg.MassChangeThreshold < 0 {
		return nil
	}
	uIDs, lastU := lastByID(users, func(u User) string { return u.ID })
	gIDs, lastG := lastByID(groups, func(g Group) string { return g.ID })
	look, err := r.s.st.SyncLookup(ctx, r.dir.ID, append(uIDs, gIDs...))
	if err != nil {
		return err
	}
	h := &HeldError{}
	for _, id := range uIDs {
		u, o := lastU[id], look[id]
		if o.Kind != store.SyncKindUser || !o.InReplica() {
			continue
		}
		var gone bool
		switch {
		case u.Removed:
			gone = o.User.Active || !r.deactivate && u.RemovedReason != ReasonChanged
		case r.s.m.excluded(u):
			gone = o.Live()
		default:
			gone = o.Live() && o.User.Active && !r.s.m.user(u).Active
		}
		if gone {
			h.Users++
			if len(h.Sample) < heldSample {
				h.Sample = append(h.Sample, "user "+o.User.Name)
			}
		}
	}
	for _, id := range gIDs {
		g, o := lastG[id], look[id]
		if o.Kind != store.SyncKindGroup || !o.Live() {
			continue
		}
		if g.Removed || !r.s.m.typed(g) {
			h.Groups++
			if len(h.Sample) < heldSample {
				h.Sample = append(h.Sample, "group "+o.Group.Name)
			}
		}
	}
	if cfg.MassChangeThreshold == 0 && h.Users <= cfg.massLimit(0) && h.Groups <= cfg.massLimit(0) {
		// Under the smallest default threshold: the replica's size does not matter (and is not
		// counted in every delta round).
		r.dropRelease = r.committed().ReleaseRun != 0
		return nil
	}
	if h.ReplicaUsers, h.ReplicaGr, err = r.s.st.SyncReplicaSize(ctx, r.dir.ID); err != nil {
		return err
	}
	h.UserLimit, h.GroupLimit = cfg.massLimit(h.ReplicaUsers), cfg.massLimit(h.ReplicaGr)
	release, err := r.judge(h)
	r.dropRelease = release
	return err
}

// judge decides on a round that would remove h.Users and h.Groups: nil when it may go on (release
// reports whether it uses up, or drops, an administrator's release), h when it is held.
func (r *run) judge(h *HeldError) (release bool, err error) {
	st := r.committed()
	if h.Users <= h.UserLimit && h.Groups <= h.GroupLimit {
		return st.ReleaseRun != 0, nil // a release not needed any more is dropped too
	}
	if st.ReleaseRun != 0 && h.Users <= st.ReleaseUsers && h.Groups <= st.ReleaseGroups {
		r.s.log.Warn("graph sync: mass change applied, released by an administrator", "run", r.runID, "held_run", st.ReleaseRun,
			"users", h.Users, "groups", h.Groups)
		return true, nil
	}
	return false, h
}
