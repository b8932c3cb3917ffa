package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// SyncBatch is one unit of replication into an AZURE_AD directory. ApplySync applies it in one
// transaction, in this order:
//
//  1. RemoveGroups: groups deleted with their memberships.
//  2. RemoveUsers: users deleted, or with Deactivate deactivated (their sessions ended and their
//     direct memberships removed).
//  3. Forget, then Outside: outside records dropped, then written (replacing earlier ones).
//  4. Users, then Groups: upserts by external id (see ApplySync for names and clashes).
//  5. Members: complete direct member sets of groups, replacing what the replica holds.
//  6. Changes: single membership additions and removals.
//  7. State: the sync state, saved with the changes it describes.
//
// Unknown external ids in removals are ignored, so a batch can be applied again (after a crash or a
// replayed delta page) with the same result.
type SyncBatch struct {
	RemoveGroups []string
	RemoveUsers  []string
	// Deactivate makes RemoveUsers, and users who lose their name in a clash, deactivated instead of
	// deleted.
	Deactivate bool
	Forget     []string
	Outside    []SyncOutside
	Users      []SyncUser
	Groups     []SyncGroup
	Members    []SyncMembers
	Changes    []SyncMemberChange
	State      *SyncState
}

// Empty reports whether the batch changes nothing.
func (b SyncBatch) Empty() bool {
	return len(b.RemoveGroups) == 0 && len(b.RemoveUsers) == 0 && len(b.Forget) == 0 && len(b.Outside) == 0 &&
		len(b.Users) == 0 && len(b.Groups) == 0 && len(b.Members) == 0 && len(b.Changes) == 0 && b.State == nil
}

// SyncResult is what ApplySync did.
type SyncResult struct {
	Counts SyncCounts
	// Skipped lists upserted objects that are not live in the replica: invalid, or losing a clash.
	Skipped []SyncSkip
	// Revived lists external ids of upserted objects that were listed CLASH or INVALID and are now
	// live: their memberships are unknown to the replica.
	Revived []string
	// Unresolved lists membership additions (from Members or Changes) naming a group or member that
	// is not live in the replica; they were not applied.
	Unresolved []SyncMemberChange
}

// ApplySync applies b to the AZURE_AD directory dirID in one transaction (see SyncBatch), writing
// only what differs from the replica: an unchanged object writes nothing and emits no event. Events
// are written last, in a few set-based statements, under the event-order lock.
//
// Names: each upserted object wants its Name. Among the upserted objects wanting a name
// (case-insensitively) and the live object already holding it, the one with the smallest external
// id gets it; the others are not replicated (a losing user that exists is removed, per Deactivate;
// a losing group is deleted), are listed outside with reason CLASH and reported in Skipped. A name
// held by an object listed outside (a deactivated tombstone) is taken over: the holder is renamed to
// "name#externalID". Invalid objects are listed INVALID and reported. An upserted object that wins
// is live: its outside record is dropped.
//
// Renames keep the row, so a user's key survives; a renamed group emits Crowd's DELETED + CREATED
// pair with its memberships, as UpdateGroup does. Deactivation ends the user's sessions.
func (s *Store) ApplySync(ctx context.Context, dirID int64, b SyncBatch) (SyncResult, error) {
	var res SyncResult
	err := s.InTx(ctx, func(tx *Store) error {
		d, err := tx.Directory(ctx, dirID)
		if err != nil {
			return err
		}
		if d.Kind != DirectoryAzureAD {
			return fmt.Errorf("directory %q is %s, not %s: %w", d.Name, d.Kind, DirectoryAzureAD, ErrInvalid)
		}
		a := &syncApplier{s: tx, dir: dirID, now: tx.now(), deactivate: b.Deactivate}
		steps := []func() error{
			func() error { return a.removeGroups(ctx, b.RemoveGroups) },
			func() error { return a.removeUsers(ctx, b.RemoveUsers, b.Deactivate) },
			func() error { return a.forget(ctx, b.Forget) },
			func() error { return a.writeOutside(ctx, b.Outside) },
			func() error { return a.upsertUsers(ctx, b.Users) },
			func() error { return a.upsertGroups(ctx, b.Groups) },
			func() error { return a.setMembers(ctx, b.Members) },
			func() error { return a.changeMembers(ctx, b.Changes) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		if b.State != nil {
			st := *b.State
			st.DirectoryID = dirID
			if err := tx.SaveSyncState(ctx, st); err != nil {
				return err
			}
		}
		if err := tx.syncWriteEvents(ctx, a.events); err != nil {
			return err
		}
		if a.changed {
			// Here and on every other instance: access and views may have changed.
			if err := tx.invalidate(ctx, invClearSessions); err != nil {
				return err
			}
		}
		res = a.res
		return nil
	})
	if err != nil {
		return SyncResult{}, fmt.Errorf("apply sync batch: %w", err)
	}
	return res, nil
}

// syncApplier carries one ApplySync transaction.
type syncApplier struct {
	s          *Store // bound to the transaction
	dir        int64
	now        time.Time
	deactivate bool
	res        SyncResult
	events     []Event
	changed    bool
}

func (a *syncApplier) event(entity, op string, id int64, name, other string) {
	a.events = append(a.events, Event{DirectoryID: a.dir, Entity: entity, Operation: op, EntityID: id, Name: name, OtherName: other})
	a.changed = true
}

func syncDedupe(v []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(v)))
}

// syncRef is a replica row: id and name.
type syncRef struct {
	id   int64
	name string
}

// refs runs q, a statement returning id and name, and returns its rows in id order: the order of
// their events.
func (a *syncApplier) refs(ctx context.Context, q string, args ...any) ([]syncRef, error) {
	var out []syncRef
	err := a.s.syncScan(ctx, q, args, func(scan func(...any) error) error {
		var r syncRef
		if err := scan(&r.id, &r.name); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y syncRef) int { return cmp.Compare(x.id, y.id) })
	return out, nil
}

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
	n, err := a.deleteRows(ctx, "groups", EntityGroup, syncDedupe(exts))
	a.res.Counts.GroupsRemoved += n
	return err
}

// removeUsers deletes users, or deactivates them: sessions ended, direct memberships removed.
func (a *syncApplier) removeUsers(ctx context.Context, exts []string, deactivate bool) error {
	if len(exts) == 0 {
		return nil
	}
	exts = syncDedupe(exts)
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
		case OutsideGuest, OutsideFilter, OutsideRemoved, OutsideClash, OutsideInvalid:
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

// syncHolder is a replica row as the name syncContest sees it.
type syncHolder struct {
	id     int64
	ext    string
	name   string
	lower  string
	listed *SyncOutside // non-nil: listed outside, yields its name
}

// syncContestResult is the outcome of the name syncContest of one upsert.
type syncContestResult struct {
	winners map[string]bool   // item ext → got its name
	won     map[string]string // lower name → the item that got it
	losers  map[string]string // item ext → the ext that got the name instead
	beaten  []syncHolder      // live rows (not upserted) that lose their own name to an item
	vacate  []syncHolder      // rows that hold a name an item won and do not move by their own upsert
}

// syncContest gives each wanted name to the smallest external id among the items wanting it and the row
// holding it, when that row is live and not upserted itself (an upserted row wants what its item
// says; a listed row yields). order holds the valid items' external ids, sorted; want maps them to
// the lower-cased name they want; isItem reports every upserted id (valid or not); holders maps lower
// names to the rows holding them.
func syncContest(order []string, want map[string]string, isItem func(string) bool, holders map[string]syncHolder) syncContestResult {
	r := syncContestResult{winners: map[string]bool{}, won: map[string]string{}, losers: map[string]string{}}
	byName := map[string][]string{}
	var names []string
	for _, ext := range order {
		l := want[ext]
		if _, ok := byName[l]; !ok {
			names = append(names, l)
		}
		byName[l] = append(byName[l], ext)
	}
	for _, l := range names {
		cands := byName[l] // sorted, as order is
		best := cands[0]
		h, held := holders[l]
		incumbent := held && !isItem(h.ext) && h.listed == nil
		if incumbent && h.ext < best {
			best = h.ext
		}
		for _, c := range cands {
			if c == best {
				r.winners[c] = true
				r.won[l] = c
			} else {
				r.losers[c] = best
			}
		}
		if incumbent && best != h.ext {
			r.beaten = append(r.beaten, h)
		}
	}
	for _, l := range names {
		w, ok := r.won[l]
		h, held := holders[l]
		if ok && held && h.ext != w && !r.winners[h.ext] {
			r.vacate = append(r.vacate, h)
		}
	}
	return r
}

// syncYieldName is the name a listed row takes when it gives its name up: "name#externalID", cut so it
// stays within MaxNameLen characters.
func syncYieldName(name, ext string) string {
	suffix := "#" + ext
	room := MaxNameLen - utf8.RuneCountInString(suffix)
	if utf8.RuneCountInString(name) > room {
		r := []rune(name)
		name = string(r[:max(room, 0)])
	}
	return name + suffix
}

// syncTempName is a unique, never-committed name used to move rows out of each other's way in a rename
// chain or swap; the control character keeps it outside every valid name.
func syncTempName(id int64) string { return "\x01sync-rename-" + strconv.FormatInt(id, 10) }

// syncUpsert is what upsertUsers and upsertGroups share: the upserted objects by external id, the
// replica rows that hold them or the names they want, and the outcome of the name contest. The
// kind-specific code reads and writes the other columns.
type syncUpsert struct {
	kind    string                  // SyncKindUser or SyncKindGroup
	table   string                  // users or groups
	order   []string                // external ids of the upserted objects, sorted
	names   map[string]string       // ext → the name the object has in the batch
	invalid map[string]error        // ext → why the object cannot be stored
	valid   []string                // external ids of the valid objects, sorted
	want    map[string]string       // valid ext → the lower-cased name it wants
	rows    map[string]syncHolder   // ext → replica row, of an upserted object or of the holder of a wanted name
	listed  map[string]*SyncOutside // ext → outside record, of the upserted objects and the rows
	syncContestResult
}

// newSyncUpsert sorts the upserted objects (by external id) and sets the invalid ones apart; check
// returns an object's name and why it cannot be stored.
func newSyncUpsert[T any](kind, table string, items map[string]T, check func(T) (string, error)) *syncUpsert {
	up := &syncUpsert{kind: kind, table: table, order: slices.Sorted(syncKeys(items)), names: map[string]string{},
		invalid: map[string]error{}, want: map[string]string{}}
	for _, ext := range up.order {
		name, err := check(items[ext])
		up.names[ext] = name
		if err != nil {
			up.invalid[ext] = err
			continue
		}
		up.want[ext] = Lower(name)
		up.valid = append(up.valid, ext)
	}
	return up
}

// contest reads the replica rows of the upserted objects and of the holders of the names they want,
// and the outside records of both, then gives each wanted name to its winner (see syncContest).
// The rows are read with "SELECT cols FROM table": cols begin with id, external_id, name,
// lower_name, and scan reads one row (a row may come twice) and returns its part in the contest.
func (a *syncApplier) contest(ctx context.Context, up *syncUpsert, cols string,
	scan func(scan func(...any) error) (syncHolder, error)) error {
	lowers := make([]string, len(up.valid))
	for i, ext := range up.valid {
		lowers[i] = up.want[ext]
	}
	up.rows = map[string]syncHolder{}
	byLower := map[string]syncHolder{}
	// Two queries, so each follows its index (an OR of the two would read the whole directory).
	for _, q := range []struct {
		col  string
		vals []string
	}{{"external_id", up.order}, {"lower_name", syncDedupe(lowers)}} {
		if len(q.vals) == 0 {
			continue
		}
		cond, arg := a.s.syncInTexts(q.col, q.vals)
		err := a.s.syncScan(ctx, "SELECT "+cols+" FROM "+up.table+" WHERE directory_id = ? AND "+cond, []any{a.dir, arg},
			func(s func(...any) error) error {
				h, err := scan(s)
				if err != nil {
					return err
				}
				up.rows[h.ext], byLower[h.lower] = h, h
				return nil
			})
		if err != nil {
			return fmt.Errorf("upsert %s: %w", up.table, err)
		}
	}
	listed, err := a.listed(ctx, append(slices.Clone(up.order), slices.Collect(syncKeys(up.rows))...))
	if err != nil {
		return err
	}
	holders := make(map[string]syncHolder, len(byLower))
	for l, h := range byLower {
		h.listed = listed[h.ext]
		holders[l] = h
	}
	isItem := func(ext string) bool { _, ok := up.names[ext]; return ok }
	up.listed = listed
	up.syncContestResult = syncContest(up.valid, up.want, isItem, holders)
	return nil
}

// clashDetail says why an object lost the name contest to the object winner.
func clashDetail(name, winner string) string {
	return fmt.Sprintf("name %q is taken by %s (the smaller object id keeps it)", name, winner)
}

// skipLosers lists outside, and reports as skipped, the invalid objects and those that lost the name
// contest (reason INVALID or CLASH), and the live rows they beat (CLASH). It returns the records, and
// the external ids of the rows the caller removes: the beaten rows, and those of the invalid and losing objects.
func (a *syncApplier) skipLosers(up *syncUpsert) (remove []string, outside []SyncOutside) {
	skip := func(ext, name, reason, detail string) {
		outside = append(outside, SyncOutside{ExternalID: ext, Kind: up.kind, Reason: reason, Name: name})
		a.res.Skipped = append(a.res.Skipped, SyncSkip{Kind: up.kind, ExternalID: ext, Name: name, Reason: reason, Detail: detail})
	}
	for _, ext := range up.order {
		name := up.names[ext]
		if err, bad := up.invalid[ext]; bad {
			skip(ext, name, OutsideInvalid, err.Error())
		} else if by, lost := up.losers[ext]; lost {
			skip(ext, name, OutsideClash, clashDetail(name, by))
		} else {
			continue
		}
		// A listed user's row is a deactivated tombstone: it stays as it is.
		if _, exists := up.rows[ext]; exists && (up.kind == SyncKindGroup || up.listed[ext] == nil) {
			remove = append(remove, ext)
		}
	}
	for _, h := range up.beaten {
		remove = append(remove, h.ext)
		if up.kind == SyncKindGroup {
			skip(h.ext, h.name, OutsideClash, fmt.Sprintf("name %q is taken by an object with a smaller id", h.name))
		} else {
			skip(h.ext, h.name, OutsideClash, clashDetail(h.name, up.won[h.lower]))
		}
	}
	return remove, outside
}

// settleNames carries out the name contest before the winners are written: the invalid objects and
// the losers are listed outside, their rows and the live rows they beat removed (users per
// Deactivate), and the rows in the winners' way moved aside. It returns the rows that yielded their
// names (see moveAside).
func (a *syncApplier) settleNames(ctx context.Context, up *syncUpsert) ([]syncRename, error) {
	remove, outside := a.skipLosers(up)
	removed := remove // rows gone; deactivated users keep theirs, and their names until they yield them
	var err error
	if up.kind == SyncKindGroup {
		err = a.removeGroups(ctx, remove)
	} else {
		err = a.removeUsers(ctx, remove, a.deactivate)
		if a.deactivate {
			removed = nil
		}
	}
	if err != nil {
		return nil, err
	}
	if err := a.writeOutside(ctx, outside); err != nil {
		return nil, err
	}
	return a.moveAside(ctx, up, removed)
}

// syncRename is a row of users or groups given a new name.
type syncRename struct {
	id       int64
	old, new string
}

// moveAside renames the rows that stand in the winners' way. Rows holding a name that an object won,
// and not moving by their own upsert, take "name#externalID": they are returned, for the caller's
// events. Winners whose lower-cased name changes first take a temporary name, so chains and swaps
// never meet the unique index half-way. The rows of removed are gone already.
func (a *syncApplier) moveAside(ctx context.Context, up *syncUpsert, removed []string) ([]syncRename, error) {
	gone := make(map[string]bool, len(removed))
	for _, ext := range removed {
		gone[ext] = true
	}
	var yield []syncRename
	var ids []int64
	var names []string
	for _, h := range up.vacate {
		if gone[h.ext] {
			continue
		}
		y := syncRename{id: h.id, old: h.name, new: syncYieldName(h.name, h.ext)}
		yield = append(yield, y)
		ids, names = append(ids, y.id), append(names, y.new)
	}
	for _, ext := range up.valid {
		if r, ok := up.rows[ext]; ok && up.winners[ext] && r.lower != up.want[ext] {
			ids, names = append(ids, r.id), append(names, syncTempName(r.id))
		}
	}
	if err := a.renameRows(ctx, up.table, ids, names); err != nil {
		return nil, err
	}
	return yield, nil
}

// revive returns the external ids of the objects that won their names, in order, and of those among
// them listed outside: they are live now, so their records go. Those listed CLASH or INVALID are
// reported revived.
func (a *syncApplier) revive(up *syncUpsert) (winners, forget []string) {
	for _, ext := range up.valid {
		if !up.winners[ext] {
			continue
		}
		winners = append(winners, ext)
		if rec := up.listed[ext]; rec != nil {
			forget = append(forget, ext)
			if rec.Reason == OutsideClash || rec.Reason == OutsideInvalid {
				a.res.Revived = append(a.res.Revived, ext)
			}
		}
	}
	return winners, forget
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
	up := newSyncUpsert(SyncKindUser, "users", items, func(u SyncUser) (string, error) { return u.Name, u.Validate() })
	byExt := map[string]syncUserRow{}
	err := a.contest(ctx, up, "id, external_id, name, lower_name, first_name, last_name, display_name, email, active",
		func(scan func(...any) error) (syncHolder, error) {
			var r syncUserRow
			if err := scan(&r.id, &r.ExternalID, &r.Name, &r.lower, &r.FirstName, &r.LastName, &r.DisplayName, &r.Email, &r.Active); err != nil {
				return syncHolder{}, err
			}
			byExt[r.ExternalID] = r
			return syncHolder{id: r.id, ext: r.ExternalID, name: r.Name, lower: r.lower}, nil
		})
	if err != nil {
		return err
	}
	yield, err := a.settleNames(ctx, up)
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
	return a.forget(ctx, forget)
}

func syncKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// listed returns the outside records of exts, by external id.
func (a *syncApplier) listed(ctx context.Context, exts []string) (map[string]*SyncOutside, error) {
	out := map[string]*SyncOutside{}
	if len(exts) == 0 {
		return out, nil
	}
	recs, err := a.s.syncOutsideRecords(ctx, a.dir, syncDedupe(exts))
	if err != nil {
		return nil, err
	}
	for i := range recs {
		out[recs[i].ExternalID] = &recs[i]
	}
	return out, nil
}

// renameRows sets name and lower_name of rows of table (users or groups) by id.
func (a *syncApplier) renameRows(ctx context.Context, table string, ids []int64, names []string) error {
	if len(ids) == 0 {
		return nil
	}
	lowers := make([]string, len(names))
	for i, n := range names {
		lowers[i] = Lower(n)
	}
	_, err := a.s.syncBulk(ctx, []syncCol{syncInts(ids), syncTexts(names), syncTexts(lowers)}, []string{"id", "n", "ln"},
		func(from string, fargs []any) (string, []any) {
			return "UPDATE " + table + " AS x SET name = t.n, lower_name = t.ln, updated_at = ? FROM " + from + " WHERE x.id = t.id",
				append([]any{a.now}, fargs...)
		})
	if err != nil {
		return fmt.Errorf("rename %s: %w", table, translate(err, "rename"))
	}
	return nil
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
	lower string
}

// upsertGroups creates and updates groups by external id; see ApplySync.
func (a *syncApplier) upsertGroups(ctx context.Context, in []SyncGroup) error {
	if len(in) == 0 {
		return nil
	}
	items := map[string]SyncGroup{}
	for _, g := range in {
		items[g.ExternalID] = g
	}
	up := newSyncUpsert(SyncKindGroup, "groups", items, func(g SyncGroup) (string, error) { return g.Name, g.Validate() })
	byExt := map[string]syncGroupRow{}
	err := a.contest(ctx, up, "id, external_id, name, lower_name, description",
		func(scan func(...any) error) (syncHolder, error) {
			var r syncGroupRow
			if err := scan(&r.id, &r.ExternalID, &r.Name, &r.lower, &r.Description); err != nil {
				return syncHolder{}, err
			}
			byExt[r.ExternalID] = r
			return syncHolder{id: r.id, ext: r.ExternalID, name: r.Name, lower: r.lower}, nil
		})
	if err != nil {
		return err
	}
	yield, err := a.settleNames(ctx, up)
	if err != nil {
		return err
	}
	var ren []syncRename
	var create []SyncGroup
	var upd []syncGroupRow
	winners, forget := a.revive(up)
	for _, ext := range winners {
		g := items[ext]
		r, ok := byExt[ext]
		if !ok {
			create = append(create, g)
			continue
		}
		if r.SyncGroup == g {
			continue
		}
		upd = append(upd, syncGroupRow{id: r.id, SyncGroup: g})
		a.res.Counts.GroupsUpdated++
		if r.Name != g.Name {
			ren = append(ren, syncRename{r.id, r.Name, g.Name})
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
	return a.forget(ctx, forget)
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
