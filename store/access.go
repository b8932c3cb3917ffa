package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// MayAuthenticate reports whether u may authenticate to the view's application: the application is
// active, u's directory is mapped, and the mapping lets everyone in or u is a (nested) member of one
// of its allowed groups. It returns ErrNotAllowed (wrapped) when not.
func (v *View) MayAuthenticate(ctx context.Context, u User) error {
	return v.mayAuthenticate(ctx, u, nil)
}

// mayAuthenticate is MayAuthenticate with u's direct group ids already known (nil: read them).
func (v *View) mayAuthenticate(ctx context.Context, u User, direct []int64) error {
	if !v.App.Active {
		return fmt.Errorf("application %q is inactive: %w", v.App.Name, ErrNotAllowed)
	}
	m, ok := v.mappings[u.DirectoryID]
	if !ok {
		return fmt.Errorf("user %q is not in a directory of application %q: %w", u.Name, v.App.Name, ErrNotAllowed)
	}
	if m.AllowAll {
		return nil
	}
	if len(m.Groups) > 0 {
		allowed, err := v.allowedGroupIDs(ctx, u.DirectoryID)
		if err != nil {
			return err
		}
		if len(allowed) > 0 {
			if direct == nil {
				if err := v.s.q(ctx).Raw("SELECT group_id FROM user_memberships WHERE user_id = ?", u.ID).Scan(&direct).Error; err != nil {
					return fmt.Errorf("access of %q: %w", u.Name, err)
				}
			}
			set := v.allowedSet(u.DirectoryID, allowed)
			for _, g := range direct {
				if _, ok := set[g]; ok {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("user %q is not allowed to authenticate with the application %q: %w", u.Name, v.App.Name, ErrNotAllowed)
}

// visible applies the application's optional "only users with access" filter.
func (v *View) visible(ctx context.Context, u User) (bool, error) {
	if !v.App.FilterByAccess {
		return true, nil
	}
	err := v.MayAuthenticate(ctx, u)
	if err == nil {
		return true, nil
	}
	if IsNotAllowed(err) {
		return false, nil
	}
	return false, err
}

// IsNotAllowed reports whether err says a user may not authenticate to the application.
func IsNotAllowed(err error) bool { return errors.Is(err, ErrNotAllowed) }

// accessFilter returns a SQL condition on users alias u limiting rows to users with access, for
// applications that filter by access; "1=1" otherwise.
func (v *View) accessFilter(ctx context.Context, alias string) (string, []any, error) {
	if !v.App.FilterByAccess {
		return "1=1", nil, nil
	}
	return v.accessCond(ctx, alias)
}

// accessCond returns a SQL condition on users alias keeping the users the mappings let in: every
// user of an allow-all directory, or a direct member of an allowed group or of a group nested in
// one (allowedGroupIDs, cached per view).
func (v *View) accessCond(ctx context.Context, alias string) (string, []any, error) {
	var allowAll, groupIDs []int64
	for _, d := range v.dirs {
		m := v.mappings[d]
		if m.AllowAll {
			allowAll = append(allowAll, d)
			continue
		}
		if len(m.Groups) == 0 {
			continue
		}
		ids, err := v.allowedGroupIDs(ctx, d)
		if err != nil {
			return "", nil, err
		}
		groupIDs = append(groupIDs, ids...)
	}
	cond := "1=0"
	var args []any
	if len(allowAll) > 0 {
		cond += " OR " + alias + ".directory_id IN ?"
		args = append(args, allowAll)
	}
	if len(groupIDs) > 0 {
		cond += " OR " + alias + ".id IN (SELECT user_id FROM user_memberships WHERE group_id IN ?)"
		args = append(args, groupIDs)
	}
	return "(" + cond + ")", args, nil
}

// userGroupNames returns the names of u's direct (or, with nested, all ancestor) groups.
func (s *Store) userGroupNames(ctx context.Context, userID int64, nested bool) ([]string, error) {
	var ids []int64
	if err := s.q(ctx).Raw("SELECT group_id FROM user_memberships WHERE user_id = ?", userID).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("groups of user %d: %w", userID, err)
	}
	if nested && len(ids) > 0 {
		up, err := s.closure(ctx, ids, false)
		if err != nil {
			return nil, err
		}
		ids = append(ids, up...)
	}
	var names []string
	for c := range slices.Chunk(ids, 500) {
		var n []string
		if err := s.q(ctx).Raw("SELECT name FROM groups WHERE id IN ?", c).Scan(&n).Error; err != nil {
			return nil, fmt.Errorf("groups of user %d: %w", userID, err)
		}
		names = append(names, n...)
	}
	return names, nil
}

// allowedGroupIDs returns, for one mapped directory, the ids of its allowed groups and of every
// group nested in them: a user may authenticate when directly in one of them. Computed once per
// view (views are cached and dropped on any membership change), so an access check is a few map
// lookups over the user's direct groups instead of a walk up the group tree.
func (v *View) allowedGroupIDs(ctx context.Context, dirID int64) ([]int64, error) {
	v.allowedMu.Lock()
	defer v.allowedMu.Unlock()
	if ids, ok := v.allowed[dirID]; ok {
		return ids, nil
	}
	m := v.mappings[dirID]
	var ids []int64
	if err := v.s.q(ctx).Raw("SELECT id FROM groups WHERE directory_id = ? AND lower_name IN ?", dirID, m.Groups).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("allowed groups: %w", err)
	}
	if len(ids) > 0 {
		desc, err := v.s.closure(ctx, ids, true)
		if err != nil {
			return nil, err
		}
		ids = append(ids, desc...)
	}
	if v.allowed == nil {
		v.allowed = map[int64][]int64{}
	}
	v.allowed[dirID] = ids
	return ids, nil
}

// allowedSet is allowedGroupIDs as a set, built once per view and directory.
func (v *View) allowedSet(dirID int64, ids []int64) map[int64]struct{} {
	v.allowedMu.Lock()
	defer v.allowedMu.Unlock()
	if set, ok := v.allowedSets[dirID]; ok {
		return set
	}
	set := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	if v.allowedSets == nil {
		v.allowedSets = map[int64]map[int64]struct{}{}
	}
	v.allowedSets[dirID] = set
	return set
}
