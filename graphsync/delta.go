package graphsync

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// ---- delta rounds ----

// pending is a member addition held back until the object it names is known.
type pending struct {
	group  string
	member MemberChange
}

func (r *run) delta(ctx context.Context) error {
	r.phase("reading")
	users, groups, err := r.readDelta(ctx)
	if err != nil {
		return err
	}
	if err := r.guardDelta(ctx, users, groups); err != nil {
		return err
	}
	r.phase("users")
	if err := r.deltaUsers(ctx); err != nil {
		return err
	}
	r.phase("groups")
	if err := r.deltaGroups(ctx); err != nil {
		return err
	}
	if err := r.retryPending(ctx); err != nil {
		return err
	}
	if r.scopeDirty {
		if !r.dir.NestedGroups {
			return escalate("%s", r.scopeReason()) // persisted with the page that made the scope dirty
		}
		r.phase("scope")
		if err := r.scopePass(ctx); err != nil {
			return err
		}
	}
	if err := r.applyReenabled(ctx); err != nil {
		return err
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

// deltaUsers follows the users round from the committed link, one transaction per page. A round an
// earlier run left half-way (its committed link is a next link) is finished, then followed once more
// from its delta link: its delta link only reads changes made since that round began, and those made
// since are due in this run.
func (r *run) deltaUsers(ctx context.Context) error {
	link := r.committed().UsersDeltaLink
	resumed := isNextLink(link)
	for n := 1; ; n++ {
		page, err := r.usersPage(link)
		if err != nil {
			return fmt.Errorf("users page %d: %w", n, err)
		}
		b, err := r.usersBatch(ctx, page.Items)
		if err != nil {
			return err
		}
		next := cmp.Or(page.DeltaLink, page.NextLink)
		b.State = r.withState(func(st *store.SyncState) {
			st.UsersDeltaLink = next
			if r.dropRelease { // used up with the removals it allowed
				st.ReleaseRun, st.ReleaseUsers, st.ReleaseGroups = 0, 0, 0
			}
			if len(r.reenable) > 0 && st.FullReason == "" {
				// Should this run fail before it re-enables them, the next one is a full round.
				st.FullReason = reenableReason
			}
		})
		res, err := r.apply(ctx, b)
		if err != nil {
			return fmt.Errorf("users page %d: %w", n, err)
		}
		if len(res.Revived) > 0 {
			return escalate("user %s that was not replicated (clash or invalid) now is", res.Revived[0])
		}
		if page.DeltaLink != "" {
			if !resumed {
				return nil
			}
			resumed = false
		}
		link = next
	}
}

// isNextLink reports whether link is a next link (the middle of a round, "$skiptoken") rather than a
// delta link ("$deltatoken") or none.
func isNextLink(link string) bool {
	u, err := url.Parse(link)
	return err == nil && u.Query().Has("$skiptoken")
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
		delete(r.reenable, id) // the last word of the round counts
		if u.Removed {
			switch {
			case o.InReplica() && (r.deactivate || u.RemovedReason == ReasonChanged):
				// A soft delete ("changed") may be undone within 30 days: the user is only deactivated.
				b.DeactivateUsers = append(b.DeactivateUsers, id)
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
		if o.Outside != nil && o.Outside.Reason == store.OutsideRemoved && o.InReplica() {
			// Restored in Entra ID: its memberships come back with it, which only a full round reads.
			return b, escalate("user %s was restored", id)
		}
		if r.s.m.filtered() && !o.Live() && (o.Outside == nil || o.Outside.Reason == store.OutsideFilter || o.Outside.Reason == store.OutsideRemoved) {
			// Outside the group filter until a membership brings it in: keep its data.
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindUser, Reason: store.OutsideFilter, Name: su.Name, User: &su})
			continue
		}
		if su.Active && o.Live() && !o.User.Active {
			// Re-enabled: the groups round may still remove memberships the user must not have
			// when active, so the user stays inactive until it is read (applyReenabled).
			if r.reenable == nil {
				r.reenable = map[string]store.SyncUser{}
			}
			r.reenable[id] = su
			su.Active = false
		}
		b.Users = append(b.Users, su)
	}
	return b, nil
}

// reenableReason is the full round decision stored while re-enabled users wait for the groups round.
const reenableReason = "users were re-enabled and the delta round did not finish"

// applyReenabled activates the users the delta round re-enabled, now that their memberships are
// read, in one transaction that also clears the stored decision for a full round (theirs, or the
// scope pass's when they were waiting).
func (r *run) applyReenabled(ctx context.Context) error {
	if len(r.reenable) == 0 {
		return nil
	}
	ids := slices.Sorted(mapKeysOf(r.reenable))
	look, err := r.s.st.SyncLookup(ctx, r.dir.ID, ids)
	if err != nil {
		return err
	}
	var b store.SyncBatch
	for _, id := range ids {
		if look[id].Live() { // not taken out of scope meanwhile
			b.Users = append(b.Users, r.reenable[id])
		}
	}
	if reason := r.committed().FullReason; reason == reenableReason || reason == r.scopeReason() {
		b.State = r.withState(func(st *store.SyncState) { st.FullReason = "" })
	}
	if _, err := r.apply(ctx, b); err != nil {
		return fmt.Errorf("re-enabled users: %w", err)
	}
	r.reenable = nil
	return nil
}

// deltaGroups follows the groups round from the committed link, one transaction per page.
func (r *run) deltaGroups(ctx context.Context) error {
	link := r.committed().GroupsDeltaLink
	resumed := isNextLink(link) // see deltaUsers
	var held []pending
	var deltaLink string
	for n := 1; ; n++ {
		page, err := r.groupsPage(link)
		if err != nil {
			return fmt.Errorf("groups page %d: %w", n, err)
		}
		b, more, err := r.groupsBatch(ctx, page.Items)
		if err != nil {
			return err
		}
		held = append(held, more...)
		if len(held) == 0 {
			// With member additions held back, the committed link stays before them.
			next := cmp.Or(page.DeltaLink, page.NextLink)
			b.State = r.withState(func(st *store.SyncState) {
				st.GroupsDeltaLink = next
				if r.scopeDirty && st.FullReason == "" {
					// Should this run fail before its scope pass, the next one is a full round.
					st.FullReason = r.scopeReason()
				}
			})
		}
		res, err := r.apply(ctx, b)
		if err != nil {
			return fmt.Errorf("groups page %d: %w", n, err)
		}
		if len(res.Revived) > 0 {
			return escalate("group %s that was not replicated (clash or invalid) now is", res.Revived[0])
		}
		if page.DeltaLink != "" {
			if !resumed {
				deltaLink = page.DeltaLink
				break
			}
			resumed = false
		}
		link = cmp.Or(page.DeltaLink, page.NextLink)
	}
	if len(held) > 0 {
		// Members created after the users round was read: read what changed since.
		r.phase("users again")
		// Read like the first users round (takePage hands out only what was read); it is not
		// guarded: it comes after the round's groups are written.
		if _, err := readRound(ctx, r, "users", r.committed().UsersDeltaLink, r.s.src.UsersDelta, r.read.users); err != nil {
			return err
		}
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
				// Graph's users round has not caught up with the groups round: kept pending, retried
				// every round (retryPending).
				b.Pending = append(b.Pending, store.SyncMemberChange{GroupExternalID: p.group, MemberExternalID: p.member.ID,
					Group: p.member.Kind == KindGroup})
			}
		}
		b.State = r.withState(func(st *store.SyncState) {
			st.GroupsDeltaLink = deltaLink
			if r.scopeDirty && st.FullReason == "" {
				st.FullReason = r.scopeReason()
			}
		})
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
	here := map[string]bool{}    // groups of this page: true when they will be live, false when filtered out
	typeOut := map[string]bool{} // groups of this page of a type not replicated
	var live []string
	for _, id := range ids {
		g, o := merged[id], look[id]
		if o.Kind == store.SyncKindUser {
			continue
		}
		if g.Removed {
			switch {
			case o.InReplica() && g.RemovedReason == ReasonChanged && (o.Outside == nil || o.Outside.Reason == store.OutsideRemoved):
				// A soft delete may be undone within 30 days: the group is kept, inactive and
				// without memberships (it grants nothing); restored, a full round reads them again.
				b.DeactivateGroups = append(b.DeactivateGroups, id)
				b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideRemoved, Name: o.Group.Name})
				r.scopeDirty = r.scopeDirty || r.s.m.filtered()
				continue
			case o.InReplica():
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
		case !r.s.m.typed(*g):
			if o.InReplica() {
				b.RemoveGroups = append(b.RemoveGroups, id)
				r.scopeDirty = r.scopeDirty || r.s.m.filtered()
			}
			b.Outside = append(b.Outside, store.SyncOutside{ExternalID: id, Kind: store.SyncKindGroup, Reason: store.OutsideType, Name: sg.Name})
			typeOut[id] = true
		case o.Outside != nil && o.Outside.Reason == store.OutsideRemoved:
			// Restored in Entra ID: its memberships come back with it, which only a full round reads.
			return b, nil, escalate("group %q (%s) was restored", sg.Name, id)
		case o.Outside != nil && o.Outside.Reason == store.OutsideType:
			// Its members were never read into the replica.
			return b, nil, escalate("group %q (%s) is now of a replicated type", sg.Name, id)
		case !o.InReplica() && r.s.m.filtered() && r.s.m.chosenByName(id, g.DisplayName):
			// Only a full round can tell whether the filter's display name is still unambiguous.
			return b, nil, escalate("new group %q (%s) has a name the group filter names", sg.Name, id)
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
			if c.Kind != KindUser && c.Kind != KindGroup || typeOut[c.ID] {
				continue // contacts, devices, service principals; groups not replicated
			}
			if c.Removed {
				b.Changes = append(b.Changes, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: c.ID,
					Group: c.Kind == KindGroup, Removed: true})
				b.DropPending = append(b.DropPending, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: c.ID})
				r.scopeDirty = r.scopeDirty || r.s.m.filtered()
				continue
			}
			if inPage, ok := here[c.ID]; ok && c.Kind == KindGroup {
				// A group of this very page: upserted before the changes in the same transaction.
				if !inPage {
					return b, nil, escalate("group %s was nested into the filter's scope", c.ID)
				}
				if r.dir.NestedGroups {
					b.Changes = append(b.Changes, store.SyncMemberChange{GroupExternalID: id, MemberExternalID: c.ID, Group: true})
				}
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
	case m.Live() && add.Group && !r.dir.NestedGroups:
		// nesting is not stored (the filter's scope still follows it, from Graph)
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

// scopeReason is the full round decision stored while a delta round's scope pass is due. With nested
// groups off the replica holds no group-in-group edges, so only a full round (reading nesting from
// Graph) can recompute the scope.
func (r *run) scopeReason() string {
	if !r.dir.NestedGroups {
		return "the group filter's scope changed; with nested groups off only a full round can recompute it"
	}
	return "the group filter's scope changed and was not recomputed"
}

// scopePass removes what left the group filter's scope after a delta round removed memberships or
// groups: the scope is recomputed from the replica (which holds nesting: nested groups are on). It
// clears the stored decision for a full round its dirty scope made, unless re-enabled users still
// wait for applyReenabled.
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
	if reason := r.scopeReason(); r.committed().FullReason == reason && len(r.reenable) == 0 {
		b.State = r.withState(func(st *store.SyncState) { st.FullReason = "" })
	}
	_, err = r.apply(ctx, b)
	return err
}

// PendingReportAge is how old a pending membership (its member not shown by Graph yet) gets before
// every round reports it.
const PendingReportAge = 24 * time.Hour

// retryPending applies the pending memberships whose member has arrived, drops those whose group is
// no longer live, and reports those older than PendingReportAge.
func (r *run) retryPending(ctx context.Context) error {
	ps, err := r.s.st.SyncPending(ctx, r.dir.ID)
	if err != nil || len(ps) == 0 {
		return err
	}
	ids := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		ids = append(ids, p.GroupExternalID, p.MemberExternalID)
	}
	look, err := r.s.st.SyncLookup(ctx, r.dir.ID, ids)
	if err != nil {
		return err
	}
	var b store.SyncBatch
	promoted := map[string]bool{}
	now := r.s.now()
	for _, p := range ps {
		m, known := look[p.MemberExternalID]
		switch {
		case !look[p.GroupExternalID].Live():
			b.DropPending = append(b.DropPending, p.SyncMemberChange)
		case known:
			kind := KindUser
			if p.Group {
				kind = KindGroup
			}
			if err := r.memberAdd(&b, p.GroupExternalID, MemberChange{ID: p.MemberExternalID, Kind: kind}, m, promoted); err != nil {
				return err
			}
			b.DropPending = append(b.DropPending, p.SyncMemberChange)
		case now.Sub(p.Since) > PendingReportAge:
			r.problem("member %s of group %s has been pending since %s: Graph's users round has not shown it yet",
				p.MemberExternalID, p.GroupExternalID, p.Since.UTC().Format(time.RFC3339))
		}
	}
	if _, err := r.apply(ctx, b); err != nil {
		return fmt.Errorf("pending memberships: %w", err)
	}
	return nil
}
