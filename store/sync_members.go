package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// resolve maps external ids to live rows of table (users or groups); rows listed outside are not live.
func (a *syncApplier) resolve(ctx context.Context, table string, exts []string) (map[string]syncRef, error) {
	out := map[string]syncRef{}
	if len(exts) == 0 {
		return out, nil
	}
	cond, arg := a.s.syncInTexts("x.external_id", syncDedupe(exts))
	err := a.s.syncScan(ctx, "SELECT x.id, x.external_id, x.name FROM "+table+" x WHERE x.directory_id = ? AND "+cond+
		" AND NOT EXISTS (SELECT 1 FROM sync_outside o WHERE o.directory_id = x.directory_id AND o.external_id = x.external_id)",
		[]any{a.dir, arg}, func(scan func(...any) error) error {
			var r syncRef
			var e string
			if err := scan(&r.id, &e, &r.name); err != nil {
				return err
			}
			out[e] = r
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", table, err)
	}
	return out, nil
}

// resolveMembers resolves the groups gexts and the users uexts (see resolve).
func (a *syncApplier) resolveMembers(ctx context.Context, gexts, uexts []string) (groups, users map[string]syncRef, err error) {
	if groups, err = a.resolve(ctx, "groups", gexts); err != nil {
		return nil, nil, err
	}
	if users, err = a.resolve(ctx, "users", uexts); err != nil {
		return nil, nil, err
	}
	return groups, users, nil
}

// syncEdge is one membership: a parent group and a member (user or group), with names for events.
type syncEdge struct {
	parent, member         int64
	parentName, memberName string
}

// setMembers replaces the direct member sets of groups.
func (a *syncApplier) setMembers(ctx context.Context, sets []SyncMembers) error {
	if len(sets) == 0 {
		return nil
	}
	byGroup := map[string]SyncMembers{}
	var gexts, uexts []string
	for _, m := range sets {
		byGroup[m.GroupExternalID] = m
	}
	order := slices.Sorted(syncKeys(byGroup))
	for _, g := range order {
		m := byGroup[g]
		gexts = append(gexts, g)
		gexts = append(gexts, m.Groups...)
		uexts = append(uexts, m.Users...)
	}
	groups, users, err := a.resolveMembers(ctx, gexts, uexts)
	if err != nil {
		return err
	}
	var gids []int64
	wantU, wantG := map[[2]int64]syncEdge{}, map[[2]int64]syncEdge{}
	for _, gext := range order {
		g, ok := groups[gext]
		if !ok {
			a.res.Unresolved = append(a.res.Unresolved, SyncMemberChange{GroupExternalID: gext})
			continue
		}
		gids = append(gids, g.id)
		m := byGroup[gext]
		for _, uext := range m.Users {
			u, ok := users[uext]
			if !ok {
				a.res.Unresolved = append(a.res.Unresolved, SyncMemberChange{GroupExternalID: gext, MemberExternalID: uext})
				continue
			}
			wantU[[2]int64{g.id, u.id}] = syncEdge{g.id, u.id, g.name, u.name}
		}
		for _, cext := range m.Groups {
			c, ok := groups[cext]
			if !ok {
				a.res.Unresolved = append(a.res.Unresolved, SyncMemberChange{GroupExternalID: gext, MemberExternalID: cext, Group: true})
				continue
			}
			if c.id != g.id {
				wantG[[2]int64{g.id, c.id}] = syncEdge{g.id, c.id, g.name, c.name}
			}
		}
	}
	if len(gids) == 0 {
		return nil
	}
	gname := make(map[int64]string, len(groups))
	for _, g := range groups {
		gname[g.id] = g.name
	}
	haveU, err := a.currentEdges(ctx, false, gids, gname, wantU)
	if err != nil {
		return err
	}
	haveG, err := a.currentEdges(ctx, true, gids, gname, wantG)
	if err != nil {
		return err
	}
	// The difference was computed in this transaction and only the synchroniser (holding the sync
	// lock) writes an AZURE_AD directory's memberships: every row of it changes.
	if err := a.writeEdges(ctx, false, syncDiffEdges(wantU, haveU), syncDiffEdges(haveU, wantU)); err != nil {
		return err
	}
	return a.writeEdges(ctx, true, syncDiffEdges(wantG, haveG), syncDiffEdges(haveG, wantG))
}

func syncEdgeCols(es []syncEdge) []syncCol {
	p, c := make([]int64, len(es)), make([]int64, len(es))
	for i, e := range es {
		p[i], c[i] = e.parent, e.member
	}
	return []syncCol{syncInts(p), syncInts(c)}
}

// writeEdges inserts and deletes memberships known to be absent and present, without reading back.
func (a *syncApplier) writeEdges(ctx context.Context, nested bool, add, del []syncEdge) error {
	m := membershipOf(nested)
	cols := m.parentCol + ", " + m.memberCol
	if len(del) > 0 {
		_, err := a.s.syncBulk(ctx, syncEdgeCols(del), []string{"p", "c"}, func(from string, fargs []any) (string, []any) {
			return "DELETE FROM " + m.table + " WHERE (" + cols + ") IN (SELECT p, c FROM " + from + ")", fargs
		})
		if err != nil {
			return fmt.Errorf("remove memberships: %w", err)
		}
		for _, e := range del {
			a.event(m.entity, OpDeleted, 0, e.memberName, e.parentName)
		}
		a.res.Counts.MembershipsRemoved += len(del)
	}
	if len(add) > 0 {
		_, err := a.s.syncBulk(ctx, syncEdgeCols(add), []string{"p", "c"}, func(from string, fargs []any) (string, []any) {
			return "INSERT INTO " + m.table + " (" + cols + ", created_at) SELECT p, c, ? FROM " + from, append([]any{a.now}, fargs...)
		})
		if err != nil {
			return fmt.Errorf("add memberships: %w", err)
		}
		for _, e := range add {
			a.event(m.entity, OpCreated, 0, e.memberName, e.parentName)
		}
		a.res.Counts.MembershipsAdded += len(add)
	}
	return nil
}

// currentEdges reads the direct memberships of groups gids (by ids only, from the primary key) and
// names them: parents from gname, members from want when they stay, else from the database (only
// removed members need a name, for their events).
func (a *syncApplier) currentEdges(ctx context.Context, nested bool, gids []int64, gname map[int64]string,
	want map[[2]int64]syncEdge) (map[[2]int64]syncEdge, error) {
	m := membershipOf(nested)
	cond, arg := a.s.syncInInts(m.parentCol, gids)
	out := map[[2]int64]syncEdge{}
	var unnamed []int64
	err := a.s.syncScan(ctx, "SELECT "+m.parentCol+", "+m.memberCol+" FROM "+m.table+" WHERE "+cond, []any{arg}, func(scan func(...any) error) error {
		var k [2]int64
		if err := scan(&k[0], &k[1]); err != nil {
			return err
		}
		e := syncEdge{parent: k[0], member: k[1], parentName: gname[k[0]]}
		if w, ok := want[k]; ok {
			e.memberName = w.memberName
		} else {
			unnamed = append(unnamed, k[1])
		}
		out[k] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	if len(unnamed) > 0 {
		names := map[int64]string{}
		ncond, narg := a.s.syncInInts("id", syncDedupeInts(unnamed))
		err := a.s.syncScan(ctx, "SELECT id, name FROM "+m.members+" WHERE "+ncond, []any{narg}, func(scan func(...any) error) error {
			var id int64
			var name string
			if err := scan(&id, &name); err != nil {
				return err
			}
			names[id] = name
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		for k, e := range out {
			if e.memberName == "" {
				e.memberName = names[k[1]]
				out[k] = e
			}
		}
	}
	return out, nil
}

func syncDedupeInts(v []int64) []int64 {
	return slices.Compact(slices.Sorted(slices.Values(v)))
}

// syncDiffEdges returns the edges of a missing from b, sorted for deterministic events.
func syncDiffEdges(a, b map[[2]int64]syncEdge) []syncEdge {
	var out []syncEdge
	for k, e := range a {
		if _, ok := b[k]; !ok {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y syncEdge) int {
		if c := cmp.Compare(x.parent, y.parent); c != 0 {
			return c
		}
		return cmp.Compare(x.member, y.member)
	})
	return out
}

// applyEdges inserts and deletes memberships (user memberships, or with nested group nesting) that
// may or may not exist, and emits events for the rows that really changed.
func (a *syncApplier) applyEdges(ctx context.Context, nested bool, add, del []syncEdge) error {
	m := membershipOf(nested)
	cols := m.parentCol + ", " + m.memberCol
	if len(del) > 0 {
		done, err := a.changedEdges(ctx, del, func(from string, fargs []any) (string, []any) {
			return "DELETE FROM " + m.table + " WHERE (" + cols + ") IN (SELECT p, c FROM " + from + ") RETURNING " + cols, fargs
		})
		if err != nil {
			return fmt.Errorf("remove memberships: %w", err)
		}
		for _, e := range del {
			if done[[2]int64{e.parent, e.member}] {
				a.event(m.entity, OpDeleted, 0, e.memberName, e.parentName)
				a.res.Counts.MembershipsRemoved++
			}
		}
	}
	if len(add) > 0 {
		done, err := a.changedEdges(ctx, add, func(from string, fargs []any) (string, []any) {
			return "INSERT INTO " + m.table + " (" + cols + ", created_at) SELECT p, c, ? FROM " + from +
				" WHERE true ON CONFLICT DO NOTHING RETURNING " + cols, append([]any{a.now}, fargs...)
		})
		if err != nil {
			return fmt.Errorf("add memberships: %w", err)
		}
		for _, e := range add {
			if done[[2]int64{e.parent, e.member}] {
				a.event(m.entity, OpCreated, 0, e.memberName, e.parentName)
				a.res.Counts.MembershipsAdded++
			}
		}
	}
	return nil
}

// changedEdges runs the statements build makes for the memberships es (see syncBulk); they return
// the parent and member of every row they change, and changedEdges returns those pairs.
func (a *syncApplier) changedEdges(ctx context.Context, es []syncEdge,
	build func(from string, fromArgs []any) (string, []any)) (map[[2]int64]bool, error) {
	done := map[[2]int64]bool{}
	err := a.s.syncBulkQuery(ctx, syncEdgeCols(es), []string{"p", "c"}, build, func(scan func(...any) error) error {
		var k [2]int64
		if err := scan(&k[0], &k[1]); err != nil {
			return err
		}
		done[k] = true
		return nil
	})
	return done, err
}

// changeMembers adds and removes single memberships; the last change of a pair wins.
func (a *syncApplier) changeMembers(ctx context.Context, changes []SyncMemberChange) error {
	if len(changes) == 0 {
		return nil
	}
	type key struct {
		g, m  string
		group bool
	}
	last := map[key]SyncMemberChange{}
	var keys []key
	var gexts, uexts []string
	for _, c := range changes {
		k := key{c.GroupExternalID, c.MemberExternalID, c.Group}
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = c
		gexts = append(gexts, c.GroupExternalID)
		if c.Group {
			gexts = append(gexts, c.MemberExternalID)
		} else {
			uexts = append(uexts, c.MemberExternalID)
		}
	}
	groups, users, err := a.resolveMembers(ctx, gexts, uexts)
	if err != nil {
		return err
	}
	var addU, delU, addG, delG []syncEdge
	for _, k := range keys {
		c := last[k]
		g, gok := groups[k.g]
		var m syncRef
		var mok bool
		if k.group {
			m, mok = groups[k.m]
		} else {
			m, mok = users[k.m]
		}
		if !gok || !mok {
			if !c.Removed {
				a.res.Unresolved = append(a.res.Unresolved, c)
			}
			continue
		}
		if k.group && g.id == m.id {
			continue
		}
		e := syncEdge{g.id, m.id, g.name, m.name}
		switch {
		case k.group && c.Removed:
			delG = append(delG, e)
		case k.group:
			addG = append(addG, e)
		case c.Removed:
			delU = append(delU, e)
		default:
			addU = append(addU, e)
		}
	}
	if err := a.applyEdges(ctx, false, addU, delU); err != nil {
		return err
	}
	return a.applyEdges(ctx, true, addG, delG)
}
