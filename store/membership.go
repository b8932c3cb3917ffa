package store

import (
	"context"
	"fmt"
)

// MaxNestingDepth bounds nested group resolution; deeper chains are cut, never looped.
const MaxNestingDepth = 32

// AddUserToGroup adds a direct membership. Both must be in the same directory.
func (s *Store) AddUserToGroup(ctx context.Context, userID, groupID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		g, err := tx.Group(ctx, groupID)
		if err != nil {
			return err
		}
		if u.DirectoryID != g.DirectoryID {
			return fmt.Errorf("user %q and group %q are in different directories: %w", u.Name, g.Name, ErrInvalid)
		}
		err = tx.q(ctx).Exec("INSERT INTO user_memberships (group_id, user_id, created_at) VALUES (?, ?, ?)",
			groupID, userID, tx.now()).Error
		if err != nil {
			return translate(err, "membership of user %q in group %q", u.Name, g.Name)
		}
		if err := tx.event(ctx, g.DirectoryID, EntityUserMembership, OpCreated, 0, u.Name, g.Name); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "MEMBERSHIP_CREATED", "USER", u.Name, "group "+g.Name)
	})
}

// RemoveUserFromGroup removes a direct membership.
func (s *Store) RemoveUserFromGroup(ctx context.Context, userID, groupID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		g, err := tx.Group(ctx, groupID)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Exec("DELETE FROM user_memberships WHERE group_id = ? AND user_id = ?", groupID, userID)
		if res.Error != nil {
			return fmt.Errorf("membership of user %q in group %q: %w", u.Name, g.Name, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %q is not a direct member of group %q: %w", u.Name, g.Name, ErrNotFound)
		}
		if err := tx.event(ctx, g.DirectoryID, EntityUserMembership, OpDeleted, 0, u.Name, g.Name); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "MEMBERSHIP_DELETED", "USER", u.Name, "group "+g.Name)
	})
}

// AddGroupToGroup nests child in parent. A group cannot contain itself, directly or through others.
func (s *Store) AddGroupToGroup(ctx context.Context, childID, parentID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		c, err := tx.Group(ctx, childID)
		if err != nil {
			return err
		}
		p, err := tx.Group(ctx, parentID)
		if err != nil {
			return err
		}
		if c.DirectoryID != p.DirectoryID {
			return fmt.Errorf("groups %q and %q are in different directories: %w", c.Name, p.Name, ErrInvalid)
		}
		if childID == parentID {
			return fmt.Errorf("group %q cannot be a member of itself: %w", c.Name, ErrInvalid)
		}
		d, err := tx.Directory(ctx, c.DirectoryID)
		if err != nil {
			return err
		}
		if !d.NestedGroups {
			return fmt.Errorf("directory %q does not allow nested groups: %w: %w", d.Name, ErrNestingDisabled, ErrInvalid)
		}
		// parent must not already be (transitively) inside child
		desc, err := tx.closure(ctx, []int64{childID}, true)
		if err != nil {
			return err
		}
		for _, id := range desc {
			if id == parentID {
				return fmt.Errorf("adding group %q to %q would create a cycle: %w", c.Name, p.Name, ErrInvalid)
			}
		}
		err = tx.q(ctx).Exec("INSERT INTO group_memberships (parent_id, child_id, created_at) VALUES (?, ?, ?)",
			parentID, childID, tx.now()).Error
		if err != nil {
			return translate(err, "membership of group %q in group %q", c.Name, p.Name)
		}
		if err := tx.event(ctx, p.DirectoryID, EntityGroupMembership, OpCreated, 0, c.Name, p.Name); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "MEMBERSHIP_CREATED", "GROUP", c.Name, "group "+p.Name)
	})
}

// RemoveGroupFromGroup removes a direct group nesting.
func (s *Store) RemoveGroupFromGroup(ctx context.Context, childID, parentID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		c, err := tx.Group(ctx, childID)
		if err != nil {
			return err
		}
		p, err := tx.Group(ctx, parentID)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Exec("DELETE FROM group_memberships WHERE parent_id = ? AND child_id = ?", parentID, childID)
		if res.Error != nil {
			return fmt.Errorf("membership of group %q in group %q: %w", c.Name, p.Name, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("group %q is not a direct member of group %q: %w", c.Name, p.Name, ErrNotFound)
		}
		if err := tx.event(ctx, p.DirectoryID, EntityGroupMembership, OpDeleted, 0, c.Name, p.Name); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "MEMBERSHIP_DELETED", "GROUP", c.Name, "group "+p.Name)
	})
}

// closure returns the groups reachable from start (excluding start unless reached through a cycle)
// following child edges (down=true: descendants) or parent edges (down=false: ancestors). It is a
// breadth-first walk with a visited set, bounded by MaxNestingDepth, so cycles and deep chains end.
func (s *Store) closure(ctx context.Context, start []int64, down bool) ([]int64, error) {
	from, to := "parent_id", "child_id"
	if !down {
		from, to = "child_id", "parent_id"
	}
	seen := map[int64]bool{}
	for _, id := range start {
		seen[id] = true
	}
	var out []int64
	frontier := start
	for depth := 0; depth < MaxNestingDepth && len(frontier) > 0; depth++ {
		var next []int64
		for _, chunk := range chunks(frontier, 500) {
			var ids []int64
			err := s.q(ctx).Raw("SELECT "+to+" FROM group_memberships WHERE "+from+" IN ?", chunk).Scan(&ids).Error
			if err != nil {
				return nil, fmt.Errorf("nested groups: %w", err)
			}
			for _, id := range ids {
				if !seen[id] {
					seen[id] = true
					out = append(out, id)
					next = append(next, id)
				}
			}
		}
		frontier = next
	}
	return out, nil
}

func chunks(ids []int64, n int) [][]int64 {
	var out [][]int64
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}
