package graphsync

import (
	"context"
	"fmt"
	"slices"

	"github.com/crowdgate/crowdgate/store"
)

// fullPlan is what a full round wants the replica to hold: the live users and groups, and the
// outside records of everything else it read.
type fullPlan struct {
	users  map[string]*fullUser  // every user read
	groups map[string]*fullGroup // every group read, with distinct members
	liveU  map[string]store.SyncUser
	liveG  map[string]store.SyncGroup
	out    map[string]store.SyncOutside
	// kept are the replica's soft-deleted groups (deactivated, listed REMOVED) the round did not
	// read: still in Entra's recycle bin as far as a full round can tell, so they stay as they are.
	kept map[string]bool
}

// keepSoftDeleted fills p.kept from the replica.
func (p *fullPlan) keepSoftDeleted(snap store.SyncSnapshot) {
	p.kept = map[string]bool{}
	for _, o := range snap.Outside {
		if o.Kind != store.SyncKindGroup || o.Reason != store.OutsideRemoved {
			continue
		}
		if _, read := p.groups[o.ExternalID]; !read {
			p.kept[o.ExternalID] = true
			p.out[o.ExternalID] = o
		}
	}
}

// applyFull writes a full round's result: scope and names are settled in memory, then the
// difference against the replica is written (sweep, users, groups, memberships) and the links last.
func (r *run) applyFull(ctx context.Context, users map[string]*fullUser, groups map[string]*fullGroup, usersLink, groupsLink string) error {
	p, err := r.planFull(users, groups)
	if err != nil {
		return unplannedError{err}
	}

	r.phase("apply users")
	snap, err := r.s.st.SyncSnapshot(ctx, r.dir.ID)
	if err != nil {
		return err
	}
	p.keepSoftDeleted(snap)
	release, err := r.guardFull(p, snap)
	if err != nil {
		return err
	}
	if err := r.sweepFull(ctx, p, snap, release); err != nil {
		return err
	}
	rowsU := make(map[string]store.SyncUser, len(snap.Users))
	for _, ru := range snap.Users {
		rowsU[ru.ExternalID] = ru.SyncUser
	}
	if err := writeObjects(r, ctx, "users", p.liveU, rowsU, func(u store.SyncUser) string { return u.Name }, nil,
		func(us []store.SyncUser) store.SyncBatch { return store.SyncBatch{Users: us} }); err != nil {
		return err
	}
	r.phase("apply groups")
	rowsG := make(map[string]store.SyncGroup, len(snap.Groups))
	inactive := map[string]bool{}
	for _, rg := range snap.Groups {
		rowsG[rg.ExternalID] = rg.SyncGroup
		inactive[rg.ExternalID] = rg.Inactive
	}
	// A group wanting a protected name it is not bound to is written even when its row is unchanged:
	// it may hold the name from before the name was protected. An inactive one (restored after a
	// soft delete) is written to be reactivated.
	unbound := func(g store.SyncGroup) bool {
		bound, ok := r.protected[store.Lower(g.Name)]
		return ok && bound != g.ExternalID || inactive[g.ExternalID]
	}
	if err := writeObjects(r, ctx, "groups", p.liveG, rowsG, func(g store.SyncGroup) string { return g.Name }, unbound,
		func(gs []store.SyncGroup) store.SyncBatch { return store.SyncBatch{Groups: gs} }); err != nil {
		return err
	}
	r.phase("apply memberships")
	sets, pending := r.memberSets(p, snap)
	if err := r.applyMembers(ctx, sets); err != nil {
		return err
	}

	// Last transaction: the links, so the next round continues from this one.
	now := r.s.now()
	final := store.SyncBatch{ClearPending: true, Pending: pending, ClearStage: true, State: r.withState(func(st *store.SyncState) {
		st.UsersDeltaLink, st.GroupsDeltaLink, st.LastFullAt, st.ConfigHash = usersLink, groupsLink, &now, r.hash
		st.FullReason = ""
	})}
	_, err = r.apply(ctx, final)
	return err
}

// unplannedError is a full round that could not be planned from what it read (an ambiguous group
// filter): the staged round is not continued, Graph is read again.
type unplannedError struct{ error }

func (e unplannedError) Unwrap() error { return e.error }

// planFull computes the scope, sets apart what stays outside (guests, out of the filter's scope,
// invalid objects, name clash losers) and returns the plan.
func (r *run) planFull(users map[string]*fullUser, groups map[string]*fullGroup) (*fullPlan, error) {
	m := r.s.m
	names := make(map[string]string, len(groups))
	for id, g := range groups {
		names[id] = g.name
	}
	if err := m.ambiguous(names); err != nil {
		return nil, err
	}
	gr := graph{users: make(map[string]bool, len(users)), groups: make(map[string]string, len(groups)),
		uMem: make(map[string][]string, len(groups)), gMem: map[string][]string{}}
	for id, u := range users {
		if !u.excluded {
			gr.users[id] = true
		}
	}
	for id, g := range groups {
		if !g.typed {
			continue
		}
		g.users, g.groups = g.members(g.users), g.members(g.groups)
		gr.groups[id] = g.name
		gr.uMem[id] = g.users
		gr.gMem[id] = g.groups
	}
	inG, inU := m.scope(gr)
	for _, f := range m.unmatched(gr.groups) {
		r.problem("group filter entry %q matches no group of the tenant", f)
	}

	p := &fullPlan{users: users, groups: groups, out: map[string]store.SyncOutside{},
		liveU: make(map[string]store.SyncUser, len(inU)), liveG: make(map[string]store.SyncGroup, len(inG))}
	for id, u := range users {
		switch {
		case u.excluded:
			p.out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideGuest, Name: u.Name}
		case !inU[id]:
			data := u.SyncUser
			p.out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideFilter, Name: u.Name, User: &data}
		default:
			p.liveU[id] = u.SyncUser
		}
	}
	for id, g := range groups {
		switch {
		case !g.typed:
			p.out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideType, Name: g.sg.Name}
		case inG[id]:
			p.liveG[id] = g.sg
		default:
			p.out[id] = store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideFilter, Name: g.sg.Name}
		}
	}
	keepValid(r, "user", store.SyncKindUser, p.liveU, p.out, func(u store.SyncUser) string { return u.Name })
	keepValid(r, "group", store.SyncKindGroup, p.liveG, p.out, func(g store.SyncGroup) string { return g.Name })
	return p, nil
}

// keepValid drops from live the objects that cannot be stored, listing them in out and reporting
// them. Names are settled by the store (the incumbent keeps its name).
func keepValid[T interface{ Validate() error }](r *run, noun, kind string, live map[string]T, out map[string]store.SyncOutside,
	name func(T) string) {
	for _, id := range slices.Sorted(mapKeysOf(live)) {
		o := live[id]
		if err := o.Validate(); err != nil {
			r.problem("%s %s (%q) not replicated: %v", noun, id, name(o), err)
			out[id] = store.SyncOutside{ExternalID: id, Kind: kind, Reason: store.OutsideInvalid, Name: name(o)}
			delete(live, id)
		}
	}
}

// sweepFull is the first transaction of a full round's writes: removals (mark-and-sweep), outside
// records, and the links cleared, so a round that stops half-way is followed by a full round.
func (r *run) sweepFull(ctx context.Context, p *fullPlan, snap store.SyncSnapshot, release bool) error {
	hasMembership := map[int64]bool{}
	for _, m := range snap.UserMemberships {
		hasMembership[m[1]] = true
	}
	var sweep store.SyncBatch
	for _, ru := range snap.Users {
		if _, ok := p.liveU[ru.ExternalID]; ok {
			continue
		}
		if !r.deactivate || ru.Active || hasMembership[ru.ID] {
			sweep.RemoveUsers = append(sweep.RemoveUsers, ru.ExternalID)
		}
		if _, inEntra := p.users[ru.ExternalID]; !inEntra && r.deactivate {
			p.out[ru.ExternalID] = store.SyncOutside{ExternalID: ru.ExternalID, Kind: store.SyncKindUser, Reason: store.OutsideRemoved, Name: ru.Name}
		}
	}
	for _, rg := range snap.Groups {
		if _, ok := p.liveG[rg.ExternalID]; !ok && !p.kept[rg.ExternalID] {
			sweep.RemoveGroups = append(sweep.RemoveGroups, rg.ExternalID)
		}
	}
	cur := make(map[string]store.SyncOutside, len(snap.Outside))
	for _, o := range snap.Outside {
		cur[o.ExternalID] = o
	}
	for _, id := range slices.Sorted(mapKeysOf(p.out)) {
		if o, ok := cur[id]; !ok || !sameOutside(o, p.out[id]) {
			sweep.Outside = append(sweep.Outside, p.out[id])
		}
	}
	for _, id := range slices.Sorted(mapKeysOf(cur)) {
		if _, ok := p.out[id]; !ok {
			sweep.Forget = append(sweep.Forget, id)
		}
	}
	sweep.State = r.withState(func(st *store.SyncState) {
		st.UsersDeltaLink, st.GroupsDeltaLink = "", ""
		if release { // used up with the removals it allowed
			st.ReleaseRun, st.ReleaseUsers, st.ReleaseGroups = 0, 0, 0
		}
	})
	if _, err := r.apply(ctx, sweep); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// writeObjects writes the live users or groups that differ from the replica rows: renames first,
// all in one transaction (chains and swaps need to see each other), then creates and updates in
// batches of BatchSize.
func writeObjects[T comparable](r *run, ctx context.Context, what string, live, rows map[string]T, name func(T) string,
	force func(T) bool, batch func([]T) store.SyncBatch) error {
	var renames, rest []T
	for _, id := range slices.Sorted(mapKeysOf(live)) {
		o := live[id]
		row, ok := rows[id]
		switch {
		case !ok:
			rest = append(rest, o)
		case row == o && (force == nil || !force(o)):
		case name(row) != name(o):
			renames = append(renames, o)
		default:
			rest = append(rest, o)
		}
	}
	if len(renames) > 0 {
		if _, err := r.apply(ctx, batch(renames)); err != nil {
			return fmt.Errorf("rename %s: %w", what, err)
		}
	}
	for part := range slices.Chunk(rest, r.s.cfg.BatchSize) {
		if _, err := r.apply(ctx, batch(part)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// memberSets returns the direct member sets of the live groups whose members differ from the
// replica's, and the members of live groups that the round did not read at all (Graph's users round
// lagging behind its groups round): they stay pending.
func (r *run) memberSets(p *fullPlan, snap store.SyncSnapshot) (sets []store.SyncMembers, pending []store.SyncMemberChange) {
	idU := make(map[int64]string, len(snap.Users))
	for _, ru := range snap.Users {
		idU[ru.ID] = ru.ExternalID
	}
	idG := make(map[int64]string, len(snap.Groups))
	for _, rg := range snap.Groups {
		idG[rg.ID] = rg.ExternalID
	}
	haveU, haveG := map[string][]string{}, map[string][]string{}
	for _, m := range snap.UserMemberships {
		haveU[idG[m[0]]] = append(haveU[idG[m[0]]], idU[m[1]])
	}
	for _, m := range snap.GroupMemberships {
		haveG[idG[m[0]]] = append(haveG[idG[m[0]]], idG[m[1]])
	}
	for _, id := range slices.Sorted(mapKeysOf(p.liveG)) {
		g := p.groups[id]
		want := store.SyncMembers{GroupExternalID: id}
		for _, u := range g.users {
			if _, ok := p.liveU[u]; ok {
				want.Users = append(want.Users, u)
			} else if _, read := p.users[u]; !read {
				pending = append(pending, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: u})
			}
		}
		if r.dir.NestedGroups {
			for _, c := range g.groups {
				if _, ok := p.liveG[c]; ok && c != id {
					want.Groups = append(want.Groups, c)
				}
			}
		}
		if !sameSet(want.Users, haveU[id]) || !sameSet(want.Groups, haveG[id]) {
			sets = append(sets, want)
		}
	}
	return sets, pending
}
