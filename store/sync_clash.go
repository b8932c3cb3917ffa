package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// SyncClash is a replicated object placed under another name than the one it wants: the name is
// held by another object (the incumbent keeps it), or it is a protected name the object is not bound
// to. See ApplySync.
type SyncClash struct {
	Kind       string // SyncKindUser or SyncKindGroup
	ExternalID string
	Wanted     string    // the name it wants
	Given      string    // the name it has in the replica
	Holder     string    // external id of the object holding Wanted; "" for a protected name
	Protected  bool      // Wanted is a protected name the object is not bound to
	Since      time.Time // when it was first placed so
	New        bool      // in SyncResult.Clashes: placed so by this batch
}

func (c SyncClash) String() string {
	if c.Protected {
		return fmt.Sprintf("%s %s synced as %q: %q is a protected name and the %s is not bound to it",
			lowerKind(c.Kind), c.ExternalID, c.Given, c.Wanted, lowerKind(c.Kind))
	}
	return fmt.Sprintf("%s %s synced as %q: %q is held by %s",
		lowerKind(c.Kind), c.ExternalID, c.Given, c.Wanted, c.Holder)
}

func lowerKind(k string) string {
	if k == SyncKindGroup {
		return "group"
	}
	return "user"
}

func (c SyncClash) same(o SyncClash) bool {
	return c.Kind == o.Kind && c.Wanted == o.Wanted && c.Given == o.Given && c.Holder == o.Holder && c.Protected == o.Protected
}

// SyncNameClashes returns the directory's objects placed under another name than they want, by
// kind and wanted name.
func (s *Store) SyncNameClashes(ctx context.Context, dirID int64) ([]SyncClash, error) {
	out, err := s.syncClashes(ctx, dirID, nil)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y SyncClash) int {
		if x.Kind != y.Kind {
			return cmp.Compare(x.Kind, y.Kind)
		}
		if c := cmp.Compare(Lower(x.Wanted), Lower(y.Wanted)); c != 0 {
			return c
		}
		return cmp.Compare(x.ExternalID, y.ExternalID)
	})
	return out, nil
}

// syncClashes reads the clash records of exts (all of the directory's when exts is nil).
func (s *Store) syncClashes(ctx context.Context, dirID int64, exts []string) ([]SyncClash, error) {
	q, args := "SELECT kind, external_id, wanted_name, given_name, holder, protected, since FROM sync_name_clashes WHERE directory_id = ?",
		[]any{dirID}
	if exts != nil {
		if len(exts) == 0 {
			return nil, nil
		}
		cond, arg := s.syncInTexts("external_id", syncDedupe(exts))
		q, args = q+" AND "+cond, append(args, arg)
	}
	var out []SyncClash
	err := s.syncScan(ctx, q, args, func(scan func(...any) error) error {
		var c SyncClash
		if err := scan(&c.Kind, &c.ExternalID, &c.Wanted, &c.Given, &c.Holder, &c.Protected, &c.Since); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync name clashes: %w", err)
	}
	return out, nil
}

// recordClashes brings the clash records of an upsert's placed objects and moved rows up to date:
// new or changed ones are written (new ones audited and counted), those of objects that now have
// their name dropped.
func (a *syncApplier) recordClashes(ctx context.Context, up *syncUpsert) error {
	exts := make([]string, 0, len(up.placed)+len(up.moved))
	for ext := range up.placed {
		exts = append(exts, ext)
	}
	for _, m := range up.moved {
		exts = append(exts, m.ext)
	}
	have, err := a.s.syncClashes(ctx, a.dir, exts)
	if err != nil {
		return err
	}
	cur := make(map[string]SyncClash, len(have))
	for _, c := range have {
		cur[c.ExternalID] = c
	}
	var drop []string
	for ext := range up.placed {
		if _, clash := up.clash[ext]; !clash {
			if _, ok := cur[ext]; ok {
				drop = append(drop, ext)
			}
		}
	}
	if err := a.dropClashes(ctx, drop); err != nil {
		return err
	}
	for _, ext := range slices.Sorted(syncKeys(up.clash)) {
		c := up.clash[ext]
		old, had := cur[ext]
		c.New, c.Since = !had, a.now
		if had {
			c.Since = old.Since
		}
		a.res.Clashes = append(a.res.Clashes, c)
		if had && old.same(c) {
			continue
		}
		err := a.s.q(ctx).Exec("INSERT INTO sync_name_clashes (directory_id, external_id, kind, wanted_name, lower_wanted, given_name, holder, protected, since) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (directory_id, external_id) DO UPDATE SET kind = excluded.kind, "+
			"wanted_name = excluded.wanted_name, lower_wanted = excluded.lower_wanted, given_name = excluded.given_name, "+
			"holder = excluded.holder, protected = excluded.protected",
			a.dir, c.ExternalID, c.Kind, c.Wanted, Lower(c.Wanted), c.Given, c.Holder, c.Protected, c.Since).Error
		if err != nil {
			return fmt.Errorf("sync name clash %s: %w", c.ExternalID, err)
		}
		if had {
			continue
		}
		a.res.Counts.NameClashes++
		if err := a.s.Audit(ctx, "SUCCESS", "SYNC_NAME_CLASH", c.Kind, c.Wanted, map[string]any{"external_id": c.ExternalID,
			"given": c.Given, "holder": c.Holder, "protected": c.Protected}); err != nil {
			return fmt.Errorf("sync name clash %s: %w", c.ExternalID, err)
		}
	}
	return nil
}

// dropClashes drops the clash records of exts (objects removed, or that have their name now).
func (a *syncApplier) dropClashes(ctx context.Context, exts []string) error {
	if len(exts) == 0 {
		return nil
	}
	cond, arg := a.s.syncInTexts("external_id", syncDedupe(exts))
	if _, err := a.s.syncExec(ctx, "DELETE FROM sync_name_clashes WHERE directory_id = ? AND "+cond, a.dir, arg); err != nil {
		return fmt.Errorf("sync name clashes: %w", err)
	}
	return nil
}

// SyncProtectedGroups returns the lower-cased names of every application's allowed (licence) groups,
// in any directory: with Crowd's same-name aggregation a group of one directory can carry another's
// name, so the synchroniser protects them all (see ApplySync).
func (s *Store) SyncProtectedGroups(ctx context.Context) ([]string, error) {
	var out []string
	err := s.syncScan(ctx, "SELECT DISTINCT group_lower_name FROM application_groups ORDER BY group_lower_name", nil,
		func(scan func(...any) error) error {
			var n string
			if err := scan(&n); err != nil {
				return err
			}
			out = append(out, n)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("protected groups: %w", err)
	}
	return out, nil
}

// SyncClashWaiting counts the objects that could now have the name they want, which only a full
// round can settle: CLASH records (not replicated; their memberships are not known to the replica)
// and clash records of objects placed under a suffixed name (not for a protected name), whose wanted
// name no live object of their kind holds any more (a deactivated one, listed outside, yields it).
func (s *Store) SyncClashWaiting(ctx context.Context, dirID int64) (int, error) {
	const free = `NOT EXISTS (
		SELECT 1 FROM users u WHERE o.kind = ? AND u.directory_id = o.directory_id AND u.lower_name = o.%[1]s
		AND NOT EXISTS (SELECT 1 FROM sync_outside x WHERE x.directory_id = u.directory_id AND x.external_id = u.external_id))
		AND NOT EXISTS (SELECT 1 FROM groups g WHERE o.kind = ? AND g.directory_id = o.directory_id AND g.lower_name = o.%[1]s
		AND NOT EXISTS (SELECT 1 FROM sync_outside x WHERE x.directory_id = g.directory_id AND x.external_id = g.external_id))`
	var n, m int
	err := s.syncScan(ctx, "SELECT COUNT(*) FROM sync_outside o WHERE o.directory_id = ? AND o.reason = ? AND "+fmt.Sprintf(free, "lower_name"),
		[]any{dirID, OutsideClash, SyncKindUser, SyncKindGroup}, func(scan func(...any) error) error { return scan(&n) })
	if err == nil {
		err = s.syncScan(ctx, "SELECT COUNT(*) FROM sync_name_clashes o WHERE o.directory_id = ? AND o.protected = ? AND "+fmt.Sprintf(free, "lower_wanted"),
			[]any{dirID, false, SyncKindUser, SyncKindGroup}, func(scan func(...any) error) error { return scan(&m) })
	}
	if err != nil {
		return 0, fmt.Errorf("sync clashes: %w", err)
	}
	return n + m, nil
}
