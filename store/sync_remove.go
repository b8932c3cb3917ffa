package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// deleteRows deletes the rows of table (users or groups) with the given external ids, emits their
// DELETED events (of entity) and returns how many went.
func (a *syncApplier) deleteRows(ctx context.Context, table, entity string, exts []string) (int, error) {
	cond, arg := a.s.syncInTexts("external_id", exts)
	rows, err := a.refs(ctx, "DELETE FROM "+table+" WHERE directory_id = ? AND "+cond+" RETURNING id, name", a.dir, arg)
	if err != nil {
		return 0, fmt.Errorf("remove %s: %w", table, err)
	}
	for _, r := range rows {
		a.event(entity, OpDeleted, r.id, r.name, "")
	}
	return len(rows), nil
}

// removeGroups deletes groups (memberships go with them).
func (a *syncApplier) removeGroups(ctx context.Context, exts []string) error {
	if len(exts) == 0 {
		return nil
	}
	exts = syncDedupe(exts)
	n, err := a.deleteRows(ctx, "groups", EntityGroup, exts)
	a.res.Counts.GroupsRemoved += n
	if err != nil {
		return err
	}
	return a.dropClashes(ctx, exts)
}

// removeUsers deletes users, or deactivates them: sessions ended, direct memberships removed.
func (a *syncApplier) removeUsers(ctx context.Context, exts []string, deactivate bool) error {
	if len(exts) == 0 {
		return nil
	}
	exts = syncDedupe(exts)
	if err := a.dropClashes(ctx, exts); err != nil {
		return err
	}
	if !deactivate {
		n, err := a.deleteRows(ctx, "users", EntityUser, exts)
		a.res.Counts.UsersRemoved += n
		return err
	}
	cond, arg := a.s.syncInTexts("external_id", exts)
	ucond, uarg := a.s.syncInTexts("u.external_id", exts)
	type mrow struct {
		gid, uid    int64
		user, group string
	}
	var ms []mrow
	err := a.s.syncScan(ctx, "SELECT m.group_id, m.user_id, u.name, g.name FROM user_memberships m JOIN users u ON u.id = m.user_id "+
		"JOIN groups g ON g.id = m.group_id WHERE u.directory_id = ? AND "+ucond+" ORDER BY g.lower_name, u.lower_name",
		[]any{a.dir, uarg}, func(scan func(...any) error) error {
			var r mrow
			if err := scan(&r.gid, &r.uid, &r.user, &r.group); err != nil {
				return err
			}
			ms = append(ms, r)
			return nil
		})
	if err != nil {
		return fmt.Errorf("remove users: memberships: %w", err)
	}
	if len(ms) > 0 {
		if _, err := a.s.syncExec(ctx, "DELETE FROM user_memberships WHERE user_id IN (SELECT id FROM users WHERE directory_id = ? AND "+cond+")",
			a.dir, arg); err != nil {
			return fmt.Errorf("remove users: memberships: %w", err)
		}
		for _, m := range ms {
			a.event(EntityUserMembership, OpDeleted, 0, m.user, m.group)
			a.res.Counts.MembershipsRemoved++
		}
	}
	rows, err := a.refs(ctx, "UPDATE users SET active = ?, updated_at = ? WHERE directory_id = ? AND "+cond+" AND active = ? RETURNING id, name",
		false, a.now, a.dir, arg, true)
	if err != nil {
		return fmt.Errorf("deactivate users: %w", err)
	}
	if len(rows) > 0 {
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		scond, sarg := a.s.syncInInts("user_id", ids)
		if _, err := a.s.syncExec(ctx, "DELETE FROM sessions WHERE "+scond, sarg); err != nil {
			return fmt.Errorf("deactivate users: sessions: %w", err)
		}
	}
	for _, r := range rows {
		a.event(EntityUser, OpUpdated, r.id, r.name, "")
		a.res.Counts.UsersRemoved++
	}
	return nil
}

// forget drops outside records.
func (a *syncApplier) forget(ctx context.Context, exts []string) error {
	if len(exts) == 0 {
		return nil
	}
	cond, arg := a.s.syncInTexts("external_id", syncDedupe(exts))
	if _, err := a.s.syncExec(ctx, "DELETE FROM sync_outside WHERE directory_id = ? AND "+cond, a.dir, arg); err != nil {
		return fmt.Errorf("sync outside records: %w", err)
	}
	return nil
}

// writeOutside inserts or replaces outside records; unchanged records are not written.
func (a *syncApplier) writeOutside(ctx context.Context, recs []SyncOutside) error {
	if len(recs) == 0 {
		return nil
	}
	byExt := make(map[string]SyncOutside, len(recs))
	for _, r := range recs {
		switch {
		case r.ExternalID == "":
			return fmt.Errorf("sync outside record without external id: %w", ErrInvalid)
		case r.Kind != SyncKindUser && r.Kind != SyncKindGroup:
			return fmt.Errorf("sync outside record %s: kind %q: %w", r.ExternalID, r.Kind, ErrInvalid)
		}
		switch r.Reason {
		case OutsideGuest, OutsideFilter, OutsideRemoved, OutsideClash, OutsideInvalid, OutsideType:
		default:
			return fmt.Errorf("sync outside record %s: reason %q: %w", r.ExternalID, r.Reason, ErrInvalid)
		}
		byExt[r.ExternalID] = r
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range byExt {
			if !yield(k) {
				return
			}
		}
	})
	ext, kind, reason, lower, data := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)),
		make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		r := byExt[k]
		ext[i], kind[i], reason[i], lower[i] = r.ExternalID, r.Kind, r.Reason, Lower(r.Name)
		if r.User != nil {
			b, err := json.Marshal(r.User.Normalize())
			if err != nil {
				return fmt.Errorf("sync outside record %s: %w", r.ExternalID, err)
			}
			data[i] = string(b)
		}
	}
	_, err := a.s.syncBulk(ctx, []syncCol{syncTexts(ext), syncTexts(kind), syncTexts(reason), syncTexts(lower), syncTexts(data)},
		[]string{"e", "k", "r", "n", "d"}, func(from string, fargs []any) (string, []any) {
			return "INSERT INTO sync_outside (directory_id, external_id, kind, reason, lower_name, data) " +
					"SELECT ?, e, k, r, n, d FROM " + from + " WHERE true ON CONFLICT (directory_id, external_id) DO UPDATE SET " +
					"kind = excluded.kind, reason = excluded.reason, lower_name = excluded.lower_name, data = excluded.data " +
					"WHERE sync_outside.kind <> excluded.kind OR sync_outside.reason <> excluded.reason OR " +
					"sync_outside.lower_name <> excluded.lower_name OR sync_outside.data <> excluded.data",
				append([]any{a.dir}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("sync outside records: %w", err)
	}
	return nil
}

// deactivateGroups deactivates groups and removes their memberships, as parent and as child: an
// inactive group of the replica has no members and is nobody's member, so it grants nothing.
func (a *syncApplier) deactivateGroups(ctx context.Context, exts []string) error {
	if len(exts) == 0 {
		return nil
	}
	exts = syncDedupe(exts)
	cond, arg := a.s.syncInTexts("external_id", exts)
	gcond, garg := a.s.syncInTexts("g.external_id", exts)
	sub := "(SELECT id FROM groups WHERE directory_id = ? AND " + cond + ")"
	err := a.s.syncScan(ctx, "SELECT u.name, g.name FROM user_memberships m JOIN users u ON u.id = m.user_id "+
		"JOIN groups g ON g.id = m.group_id WHERE g.directory_id = ? AND "+gcond+" ORDER BY g.lower_name, u.lower_name",
		[]any{a.dir, garg}, func(scan func(...any) error) error {
			var u, g string
			if err := scan(&u, &g); err != nil {
				return err
			}
			a.event(EntityUserMembership, OpDeleted, 0, u, g)
			a.res.Counts.MembershipsRemoved++
			return nil
		})
	if err != nil {
		return fmt.Errorf("deactivate groups: memberships: %w", err)
	}
	err = a.s.syncScan(ctx, "SELECT c.name, p.name FROM group_memberships m JOIN groups p ON p.id = m.parent_id "+
		"JOIN groups c ON c.id = m.child_id WHERE m.parent_id IN "+sub+" OR m.child_id IN "+sub+" ORDER BY p.lower_name, c.lower_name",
		[]any{a.dir, arg, a.dir, arg}, func(scan func(...any) error) error {
			var c, p string
			if err := scan(&c, &p); err != nil {
				return err
			}
			a.event(EntityGroupMembership, OpDeleted, 0, c, p)
			a.res.Counts.MembershipsRemoved++
			return nil
		})
	if err != nil {
		return fmt.Errorf("deactivate groups: nesting: %w", err)
	}
	if _, err := a.s.syncExec(ctx, "DELETE FROM user_memberships WHERE group_id IN "+sub, a.dir, arg); err != nil {
		return fmt.Errorf("deactivate groups: memberships: %w", err)
	}
	if _, err := a.s.syncExec(ctx, "DELETE FROM group_memberships WHERE parent_id IN "+sub+" OR child_id IN "+sub, a.dir, arg, a.dir, arg); err != nil {
		return fmt.Errorf("deactivate groups: nesting: %w", err)
	}
	rows, err := a.refs(ctx, "UPDATE groups SET active = ?, updated_at = ? WHERE directory_id = ? AND "+cond+" AND active = ? RETURNING id, name",
		false, a.now, a.dir, arg, true)
	if err != nil {
		return fmt.Errorf("deactivate groups: %w", err)
	}
	for _, r := range rows {
		a.event(EntityGroup, OpUpdated, r.id, r.name, "")
		a.res.Counts.GroupsRemoved++
	}
	return a.dropClashes(ctx, exts)
}
