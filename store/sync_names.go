package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

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
