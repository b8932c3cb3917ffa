package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// syncMove is an object that cannot have the name it wants and is placed under a suffixed one.
type syncMove struct {
	ext, name string      // the object and the name it wants
	holder    string      // the object holding that name; "" for a protected name
	protected bool        // the name is protected and the object is not bound to it
	row       *syncHolder // a row not upserted (an unbound holder of a protected name); nil for items
}

// syncContestResult is the outcome of the name contest of one upsert.
type syncContestResult struct {
	placed map[string]string    // item ext → the name it gets: its own, or a suffixed one
	moves  []syncMove           // objects to place under a suffixed name (settled by placeMoves)
	vacate []syncHolder         // listed rows (not upserted) holding a name an item got: they yield it
	losers map[string]string    // item ext → holder of its name: no name was free, not replicated (CLASH)
	evict  []syncHolder         // unbound holders of a protected name for which no name was free
	moved  []syncRename         // rows not upserted given a suffixed name
	clash  map[string]SyncClash // ext → why it has another name than it wants (placed items, moved rows)
}

// syncContest settles who gets each wanted name. The incumbent keeps its name: a live row holding a
// name and not upserted keeps it against every item, and an item whose own row holds the name it
// wants keeps it. A name nobody holds (or only a listed row, which yields) goes to the smallest
// external id wanting it. A protected name (protected: lower name → the external id bound to it, ""
// for none) goes only to the item bound to it, which also takes it from an unbound live holder.
// Everyone else is to be placed under a suffixed name (moves). order holds the valid items' external
// ids, sorted; want maps them to the lower-cased name they want and names to the name; isItem reports
// every upserted id (valid or not); holders maps lower names to the rows holding them.
func syncContest(order []string, want, names map[string]string, isItem func(string) bool, holders map[string]syncHolder,
	protected map[string]string) syncContestResult {
	r := syncContestResult{placed: map[string]string{}, losers: map[string]string{}, clash: map[string]SyncClash{}}
	byName := map[string][]string{}
	var lowers []string
	for _, ext := range order {
		l := want[ext]
		if _, ok := byName[l]; !ok {
			lowers = append(lowers, l)
		}
		byName[l] = append(byName[l], ext)
	}
	for _, l := range lowers {
		cands := byName[l] // sorted, as order is
		h, held := holders[l]
		bound, isProtected := protected[l]
		winner := ""
		switch {
		case isProtected:
			if slices.Contains(cands, bound) {
				winner = bound
			}
		case held && isItem(h.ext) && want[h.ext] == l:
			winner = h.ext // its own row holds the name
		case held && !isItem(h.ext) && h.listed == nil:
			// a live incumbent keeps its name
		default:
			winner = cands[0]
		}
		holder := winner
		if holder == "" && held {
			holder = h.ext
		}
		for _, c := range cands {
			if c == winner {
				r.placed[c] = names[c]
				continue
			}
			mv := syncMove{ext: c, name: names[c], protected: isProtected}
			if !isProtected {
				mv.holder = holder
			}
			r.moves = append(r.moves, mv)
		}
		if winner != "" && held && h.ext != winner && !isItem(h.ext) {
			if h.listed == nil { // only for a protected name: an unbound live holder gives it up
				r.moves = append(r.moves, syncMove{ext: h.ext, name: h.name, protected: true, row: &h})
			} else {
				r.vacate = append(r.vacate, h)
			}
		}
	}
	slices.SortFunc(r.moves, func(x, y syncMove) int { return strings.Compare(x.ext, y.ext) })
	return r
}

// syncShortID is the part of an external id a suffixed name carries: its first 8 characters.
func syncShortID(ext string) string {
	if r := []rune(ext); len(r) > 8 {
		return string(r[:8])
	}
	return ext
}

// syncMoveNames are the names an object that cannot have name is offered, in order: "name#<first 8
// characters of its id>", then "name#<its id>".
func syncMoveNames(name, ext string) [2]string {
	return [2]string{syncSuffixName(name, syncShortID(ext)), syncSuffixName(name, ext)}
}

// placeMoves gives each move (see syncContest) the first of its syncMoveNames that no other row
// holds and no other object of the batch gets. An item with a row and no free name keeps the name
// it has when it may; otherwise an item loses (CLASH, not replicated) and a row not upserted is
// evicted. Each placed move gets a clash record.
func (a *syncApplier) placeMoves(ctx context.Context, up *syncUpsert) error {
	if len(up.moves) == 0 {
		return nil
	}
	var lowers []string
	for _, mv := range up.moves {
		for _, n := range syncMoveNames(mv.name, mv.ext) {
			lowers = append(lowers, Lower(n))
		}
	}
	held := map[string]string{} // lower name → the row holding it
	cond, arg := a.s.syncInTexts("lower_name", syncDedupe(lowers))
	err := a.s.syncScan(ctx, "SELECT external_id, lower_name FROM "+up.table+" WHERE directory_id = ? AND "+cond, []any{a.dir, arg},
		func(scan func(...any) error) error {
			var ext, l string
			if err := scan(&ext, &l); err != nil {
				return err
			}
			held[l] = ext
			return nil
		})
	if err != nil {
		return fmt.Errorf("upsert %s: names: %w", up.table, err)
	}
	taken := make(map[string]string, len(up.placed)) // lower name → the object of this batch getting it
	for ext, name := range up.placed {
		taken[Lower(name)] = ext
	}
	free := func(ext, l string) bool {
		t, tk := taken[l]
		h, hd := held[l]
		return (!tk || t == ext) && (!hd || h == ext)
	}
	for _, mv := range up.moves {
		got := ""
		for _, n := range syncMoveNames(mv.name, mv.ext) {
			if free(mv.ext, Lower(n)) {
				got = n
				break
			}
		}
		row, hasRow := up.rows[mv.ext]
		if mv.row != nil {
			row, hasRow = *mv.row, true
		}
		if got == "" && hasRow && free(mv.ext, row.lower) && (!mv.protected || row.lower != Lower(mv.name)) {
			got = row.name // nothing else is free: it keeps the name it has
		}
		switch {
		case got == "" && mv.row != nil:
			up.evict = append(up.evict, row)
			continue
		case got == "":
			up.losers[mv.ext] = mv.holder
			continue
		case mv.row != nil:
			up.moved = append(up.moved, syncRename{id: row.id, old: row.name, new: got, ext: row.ext})
		default:
			up.placed[mv.ext] = got
		}
		taken[Lower(got)] = mv.ext
		up.clash[mv.ext] = SyncClash{Kind: up.kind, ExternalID: mv.ext, Wanted: mv.name, Given: got, Holder: mv.holder, Protected: mv.protected}
	}
	return nil
}

// syncSuffixName is name + "#" + suffix, the name cut so the whole stays within MaxNameLen characters.
func syncSuffixName(name, suffix string) string {
	suffix = "#" + suffix
	room := MaxNameLen - utf8.RuneCountInString(suffix)
	if utf8.RuneCountInString(name) > room {
		r := []rune(name)
		name = string(r[:max(room, 0)])
	}
	return name + suffix
}

// syncYieldName is the name a listed row takes when it gives its name up: "name#externalID".
func syncYieldName(name, ext string) string { return syncSuffixName(name, ext) }

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
	// protected maps protected lower-cased names to the external id bound to them ("" for none).
	protected map[string]string
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
	up.syncContestResult = syncContest(up.valid, up.want, up.names, isItem, holders, up.protected)
	return a.placeMoves(ctx, up)
}

// skipLosers lists outside, and reports as skipped, the invalid objects, those for which no name was
// free (reason INVALID or CLASH) and the evicted rows (CLASH). It returns the records, and the
// external ids of the rows the caller removes.
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
			skip(ext, name, OutsideClash, fmt.Sprintf("name %q is held by %s and no suffixed name is free", name, cmp.Or(by, "a protected name")))
		} else {
			continue
		}
		// A listed user's row is a deactivated tombstone: it stays as it is.
		if _, exists := up.rows[ext]; exists && (up.kind == SyncKindGroup || up.listed[ext] == nil) {
			remove = append(remove, ext)
		}
	}
	for _, h := range up.evict {
		remove = append(remove, h.ext)
		skip(h.ext, h.name, OutsideClash, fmt.Sprintf("protected name %q is bound to another group and no suffixed name is free", h.name))
	}
	return remove, outside
}

// settleNames carries out the name contest before the objects are written: the invalid objects and
// those without a name are listed outside and their rows removed (users per Deactivate), and the
// rows in the others' way moved aside. It returns the rows not upserted that were renamed (see
// moveAside).
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
	ext      string
}

// moveAside renames the rows that stand in the upserted objects' way: listed rows holding a name an
// object got take "name#externalID", unbound holders of a protected name their suffixed name; they
// are returned, for the caller's events. Upserted objects whose lower-cased name changes first take
// a temporary name, so chains and swaps never meet the unique index half-way. The rows of removed
// are gone already.
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
		yield = append(yield, syncRename{id: h.id, old: h.name, new: syncYieldName(h.name, h.ext)})
	}
	yield = append(yield, up.moved...)
	for _, y := range yield {
		ids, names = append(ids, y.id), append(names, y.new)
	}
	for _, ext := range up.valid {
		name, ok := up.placed[ext]
		if r, has := up.rows[ext]; ok && has && r.lower != Lower(name) {
			ids, names = append(ids, r.id), append(names, syncTempName(r.id))
		}
	}
	if err := a.renameRows(ctx, up.table, ids, names); err != nil {
		return nil, err
	}
	return yield, nil
}

// revive returns the external ids of the placed objects, in order, and of those among them listed
// outside: they are live now, so their records go. Those listed CLASH or INVALID are reported revived.
func (a *syncApplier) revive(up *syncUpsert) (placed, forget []string) {
	for _, ext := range up.valid {
		if _, ok := up.placed[ext]; !ok {
			continue
		}
		placed = append(placed, ext)
		if rec := up.listed[ext]; rec != nil {
			forget = append(forget, ext)
			if rec.Reason == OutsideClash || rec.Reason == OutsideInvalid {
				a.res.Revived = append(a.res.Revived, ext)
			}
		}
	}
	return placed, forget
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
