package store

import (
	"context"
	"fmt"
)

// syncRow is what syncPrepare needs of a replica row: its id, external id, name and lower name.
type syncRow interface{ holder() syncHolder }

func (r syncUserRow) holder() syncHolder {
	return syncHolder{id: r.id, ext: r.ExternalID, name: r.Name, lower: r.lower}
}

func (r syncGroupRow) holder() syncHolder {
	return syncHolder{id: r.id, ext: r.ExternalID, name: r.Name, lower: r.lower}
}

// syncPrepare is the part of upsertUsers and upsertGroups that does not depend on the kind: it
// reads the replica rows (cols from table, read by scan) of the upserted items and of the holders
// of the names they want, runs the name contest and settles it (see settleNames). It returns the
// contest, the rows by external id and the rows that yielded their names.
func syncPrepare[T any, R syncRow](ctx context.Context, a *syncApplier, kind, table string, items map[string]T,
	check func(T) (string, error), protected map[string]string, cols string, scan func(func(...any) error) (R, error)) (*syncUpsert, map[string]R, []syncRename, error) {
	up := newSyncUpsert(kind, table, items, check)
	up.protected = protected
	byExt := map[string]R{}
	err := a.contest(ctx, up, cols, func(s func(...any) error) (syncHolder, error) {
		r, err := scan(s)
		if err != nil {
			return syncHolder{}, err
		}
		h := r.holder()
		byExt[h.ext] = r
		return h, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	yield, err := a.settleNames(ctx, up)
	if err != nil {
		return nil, nil, nil, err
	}
	return up, byExt, yield, nil
}

type syncUserRow struct {
	id int64
	SyncUser
	lower string
}

// upsertUsers creates and updates users by external id; see ApplySync.
func (a *syncApplier) upsertUsers(ctx context.Context, in []SyncUser) error {
	if len(in) == 0 {
		return nil
	}
	items := map[string]SyncUser{}
	for _, u := range in {
		items[u.ExternalID] = u.Normalize()
	}
	up, byExt, yield, err := syncPrepare(ctx, a, SyncKindUser, "users", items, func(u SyncUser) (string, error) { return u.Name, u.Validate() }, nil,
		"id, external_id, name, lower_name, first_name, last_name, display_name, email, active",
		func(scan func(...any) error) (r syncUserRow, err error) {
			err = scan(&r.id, &r.ExternalID, &r.Name, &r.lower, &r.FirstName, &r.LastName, &r.DisplayName, &r.Email, &r.Active)
			return r, err
		})
	if err != nil {
		return err
	}
	for _, y := range yield {
		a.event(EntityUser, OpUpdated, y.id, y.new, y.old)
		a.res.Counts.UsersUpdated++
	}

	// Creates and updates.
	var create []SyncUser
	var upd []syncUserRow
	var deactivated []int64
	winners, forget := a.revive(up)
	for _, ext := range winners {
		u := items[ext]
		u.Name = up.placed[ext]
		r, ok := byExt[ext]
		if !ok {
			create = append(create, u)
			continue
		}
		if r.SyncUser == u {
			continue
		}
		if r.Active && !u.Active {
			deactivated = append(deactivated, r.id)
		}
		upd = append(upd, syncUserRow{id: r.id, SyncUser: u})
		other := "" // a rename tells clients the old name, as RenameUser does
		if r.Name != u.Name {
			other = r.Name
		}
		a.event(EntityUser, OpUpdated, r.id, u.Name, other)
		a.res.Counts.UsersUpdated++
	}
	if err := a.updateUsers(ctx, upd); err != nil {
		return err
	}
	if len(deactivated) > 0 {
		cond, arg := a.s.syncInInts("user_id", deactivated)
		if _, err := a.s.syncExec(ctx, "DELETE FROM sessions WHERE "+cond, arg); err != nil {
			return fmt.Errorf("upsert users: sessions: %w", err)
		}
	}
	if err := a.insertUsers(ctx, create); err != nil {
		return err
	}
	if err := a.forget(ctx, forget); err != nil {
		return err
	}
	return a.recordClashes(ctx, up)
}

// insertRows runs the INSERT … RETURNING id, external_id statements build makes for the rows of
// cols (see syncBulk), and returns the new rows' ids by external id.
func (a *syncApplier) insertRows(ctx context.Context, cols []syncCol, names []string,
	build func(from string, fromArgs []any) (string, []any)) (map[string]int64, error) {
	ids := map[string]int64{}
	err := a.s.syncBulkQuery(ctx, cols, names, build, func(scan func(...any) error) error {
		var id int64
		var ext string
		if err := scan(&id, &ext); err != nil {
			return err
		}
		ids[ext] = id
		return nil
	})
	return ids, err
}

// updateUsers writes every field of existing users.
func (a *syncApplier) updateUsers(ctx context.Context, rows []syncUserRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ids := make([]int64, n)
	name, lname, first, last, disp, ldisp, email, lemail := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	active := make([]bool, n)
	for i, r := range rows {
		ids[i], name[i], lname[i], first[i], last[i] = r.id, r.Name, Lower(r.Name), r.FirstName, r.LastName
		disp[i], ldisp[i], email[i], lemail[i], active[i] = r.DisplayName, Lower(r.DisplayName), r.Email, Lower(r.Email), r.Active
	}
	_, err := a.s.syncBulk(ctx, []syncCol{syncInts(ids), syncTexts(name), syncTexts(lname), syncTexts(first), syncTexts(last), syncTexts(disp), syncTexts(ldisp),
		syncTexts(email), syncTexts(lemail), syncBools(active)}, []string{"id", "n", "ln", "f", "l", "d", "ld", "m", "lm", "a"},
		func(from string, fargs []any) (string, []any) {
			return "UPDATE users AS x SET name = t.n, lower_name = t.ln, first_name = t.f, last_name = t.l, display_name = t.d, " +
				"lower_display_name = t.ld, email = t.m, lower_email = t.lm, active = t.a, updated_at = ? FROM " + from +
				" WHERE x.id = t.id", append([]any{a.now}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("update users: %w", translate(err, "update users"))
	}
	return nil
}

// insertUsers creates users (in external id order) and emits their CREATED events.
func (a *syncApplier) insertUsers(ctx context.Context, us []SyncUser) error {
	if len(us) == 0 {
		return nil
	}
	n := len(us)
	ext, name, lname, first, last, disp, ldisp, email, lemail := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	active := make([]bool, n)
	for i, u := range us {
		ext[i], name[i], lname[i], first[i], last[i] = u.ExternalID, u.Name, Lower(u.Name), u.FirstName, u.LastName
		disp[i], ldisp[i], email[i], lemail[i], active[i] = u.DisplayName, Lower(u.DisplayName), u.Email, Lower(u.Email), u.Active
	}
	ids, err := a.insertRows(ctx, []syncCol{syncTexts(ext), syncTexts(name), syncTexts(lname), syncTexts(first), syncTexts(last), syncTexts(disp), syncTexts(ldisp),
		syncTexts(email), syncTexts(lemail), syncBools(active)}, []string{"e", "n", "ln", "f", "l", "d", "ld", "m", "lm", "a"},
		func(from string, fargs []any) (string, []any) {
			return "INSERT INTO users (directory_id, external_id, name, lower_name, first_name, last_name, display_name, " +
					"lower_display_name, email, lower_email, active, created_at, updated_at) " +
					"SELECT ?, e, n, ln, f, l, d, ld, m, lm, a, ?, ? FROM " + from + " ORDER BY ord RETURNING id, external_id",
				append([]any{a.dir, a.now, a.now}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("insert users: %w", translate(err, "insert users"))
	}
	for _, u := range us {
		a.event(EntityUser, OpCreated, ids[u.ExternalID], u.Name, "")
		a.res.Counts.UsersAdded++
	}
	return nil
}

type syncGroupRow struct {
	id int64
	SyncGroup
	lower    string
	inactive bool // deactivated (soft-deleted in Entra ID): an upsert reactivates it
}

// upsertGroups creates and updates groups by external id; see ApplySync.
func (a *syncApplier) upsertGroups(ctx context.Context, in []SyncGroup, protected map[string]string) error {
	if len(in) == 0 {
		return nil
	}
	items := map[string]SyncGroup{}
	for _, g := range in {
		items[g.ExternalID] = g
	}
	up, byExt, yield, err := syncPrepare(ctx, a, SyncKindGroup, "groups", items, func(g SyncGroup) (string, error) { return g.Name, g.Validate() }, protected,
		"id, external_id, name, lower_name, description, active",
		func(scan func(...any) error) (r syncGroupRow, err error) {
			var active bool
			err = scan(&r.id, &r.ExternalID, &r.Name, &r.lower, &r.Description, &active)
			r.inactive = !active
			return r, err
		})
	if err != nil {
		return err
	}
	var ren []syncRename
	var create []SyncGroup
	var upd []syncGroupRow
	winners, forget := a.revive(up)
	for _, ext := range winners {
		g := items[ext]
		g.Name = up.placed[ext]
		r, ok := byExt[ext]
		if !ok {
			create = append(create, g)
			continue
		}
		if r.SyncGroup == g && !r.inactive {
			continue
		}
		upd = append(upd, syncGroupRow{id: r.id, SyncGroup: g})
		a.res.Counts.GroupsUpdated++
		if r.Name != g.Name {
			ren = append(ren, syncRename{id: r.id, old: r.Name, new: g.Name})
		} else {
			a.event(EntityGroup, OpUpdated, r.id, g.Name, "")
		}
	}
	ren = append(ren, yield...)
	a.res.Counts.GroupsUpdated += len(yield)
	if err := a.updateGroups(ctx, upd); err != nil {
		return err
	}
	if err := a.insertGroups(ctx, create); err != nil {
		return err
	}
	if len(ren) > 0 {
		// Crowd clients know groups by name: the old one goes, the new one comes with its memberships.
		ids := make([]int64, len(ren))
		for i, r := range ren {
			ids[i] = r.id
			a.event(EntityGroup, OpDeleted, r.id, r.old, "")
			a.event(EntityGroup, OpCreated, r.id, r.new, "")
		}
		if err := a.membershipEvents(ctx, ids); err != nil {
			return err
		}
	}
	if err := a.forget(ctx, forget); err != nil {
		return err
	}
	return a.recordClashes(ctx, up)
}

// membershipEvents emits CREATED events for every membership of the given (renamed) groups.
func (a *syncApplier) membershipEvents(ctx context.Context, gids []int64) error {
	gcond, garg := a.s.syncInInts("m.group_id", gids)
	err := a.s.syncScan(ctx, "SELECT u.name, g.name FROM user_memberships m JOIN users u ON u.id = m.user_id "+
		"JOIN groups g ON g.id = m.group_id WHERE "+gcond+" ORDER BY g.lower_name, u.lower_name", []any{garg},
		func(scan func(...any) error) error {
			var u, g string
			if err := scan(&u, &g); err != nil {
				return err
			}
			a.event(EntityUserMembership, OpCreated, 0, u, g)
			return nil
		})
	if err != nil {
		return fmt.Errorf("renamed groups: memberships: %w", err)
	}
	pcond, parg := a.s.syncInInts("m.parent_id", gids)
	ccond, carg := a.s.syncInInts("m.child_id", gids)
	err = a.s.syncScan(ctx, "SELECT p.name, c.name FROM group_memberships m JOIN groups p ON p.id = m.parent_id "+
		"JOIN groups c ON c.id = m.child_id WHERE "+pcond+" OR "+ccond+" ORDER BY p.lower_name, c.lower_name", []any{parg, carg},
		func(scan func(...any) error) error {
			var p, c string
			if err := scan(&p, &c); err != nil {
				return err
			}
			a.event(EntityGroupMembership, OpCreated, 0, c, p)
			return nil
		})
	if err != nil {
		return fmt.Errorf("renamed groups: nesting: %w", err)
	}
	return nil
}

func (a *syncApplier) updateGroups(ctx context.Context, rows []syncGroupRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ids := make([]int64, n)
	name, lname, desc := make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		ids[i], name[i], lname[i], desc[i] = r.id, r.Name, Lower(r.Name), r.Description
	}
	_, err := a.s.syncBulk(ctx, []syncCol{syncInts(ids), syncTexts(name), syncTexts(lname), syncTexts(desc)}, []string{"id", "n", "ln", "d"},
		func(from string, fargs []any) (string, []any) {
			return "UPDATE groups AS x SET name = t.n, lower_name = t.ln, description = t.d, active = ?, updated_at = ? FROM " + from +
				" WHERE x.id = t.id", append([]any{true, a.now}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("update groups: %w", translate(err, "update groups"))
	}
	return nil
}

func (a *syncApplier) insertGroups(ctx context.Context, gs []SyncGroup) error {
	if len(gs) == 0 {
		return nil
	}
	n := len(gs)
	ext, name, lname, desc := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, g := range gs {
		ext[i], name[i], lname[i], desc[i] = g.ExternalID, g.Name, Lower(g.Name), g.Description
	}
	ids, err := a.insertRows(ctx, []syncCol{syncTexts(ext), syncTexts(name), syncTexts(lname), syncTexts(desc)}, []string{"e", "n", "ln", "d"},
		func(from string, fargs []any) (string, []any) {
			return "INSERT INTO groups (directory_id, external_id, name, lower_name, description, active, created_at, updated_at) " +
					"SELECT ?, e, n, ln, d, ?, ?, ? FROM " + from + " ORDER BY ord RETURNING id, external_id",
				append([]any{a.dir, true, a.now, a.now}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("insert groups: %w", translate(err, "insert groups"))
	}
	for _, g := range gs {
		a.event(EntityGroup, OpCreated, ids[g.ExternalID], g.Name, "")
		a.res.Counts.GroupsAdded++
	}
	return nil
}
