package store

import (
	"context"
	"fmt"
	"slices"
)

// MaxNestingDepth bounds nested group resolution; deeper chains are cut, never looped.
const MaxNestingDepth = 32

// AddUserToGroup adds a direct membership. Both must be in the same directory.
func (s *Store) AddUserToGroup(ctx context.Context, userID, groupID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, g, err := tx.userAndGroup(ctx, userID, groupID)
		if err != nil {
			return err
		}
		if u.DirectoryID != g.DirectoryID {
			return fmt.Errorf("user %q and group %q are in different directories: %w", u.Name, g.Name, ErrInvalid)
		}
		return tx.addMembership(ctx, userMembership, g, userID, u.Name)
	})
}

// RemoveUserFromGroup removes a direct membership.
func (s *Store) RemoveUserFromGroup(ctx context.Context, userID, groupID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, g, err := tx.userAndGroup(ctx, userID, groupID)
		if err != nil {
			return err
		}
		return tx.removeMembership(ctx, userMembership, g, userID, u.Name)
	})
}

// AddGroupToGroup nests child in parent. A group cannot contain itself, directly or through others.
func (s *Store) AddGroupToGroup(ctx context.Context, childID, parentID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		c, p, err := tx.childAndParent(ctx, childID, parentID)
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
		return tx.addMembership(ctx, groupMembership, p, childID, c.Name)
	})
}

// RemoveGroupFromGroup removes a direct group nesting.
func (s *Store) RemoveGroupFromGroup(ctx context.Context, childID, parentID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		c, p, err := tx.childAndParent(ctx, childID, parentID)
		if err != nil {
			return err
		}
		return tx.removeMembership(ctx, groupMembership, p, childID, c.Name)
	})
}

// userAndGroup reads the user and the group of a user membership.
func (s *Store) userAndGroup(ctx context.Context, userID, groupID int64) (User, Group, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return User{}, Group{}, err
	}
	g, err := s.Group(ctx, groupID)
	if err != nil {
		return User{}, Group{}, err
	}
	return u, g, nil
}

// childAndParent reads the two groups of a group nesting.
func (s *Store) childAndParent(ctx context.Context, childID, parentID int64) (Group, Group, error) {
	c, err := s.Group(ctx, childID)
	if err != nil {
		return Group{}, Group{}, err
	}
	p, err := s.Group(ctx, parentID)
	if err != nil {
		return Group{}, Group{}, err
	}
	return c, p, nil
}

// membershipKind is one of the two kinds of direct membership: of users in groups, and (nested) of
// groups in groups. The interactive functions here and the synchroniser share it.
type membershipKind struct {
	table     string // its table
	parentCol string // the column of the group that has the member
	memberCol string // the column of the member
	members   string // the table of the members: users or groups
	entity    string // the entity of its events
	noun      string // the kind of member in messages
	auditKind string // the kind of member in audit entries
}

var (
	userMembership  = membershipKind{"user_memberships", "group_id", "user_id", "users", EntityUserMembership, "user", "USER"}
	groupMembership = membershipKind{"group_memberships", "parent_id", "child_id", "groups", EntityGroupMembership, "group", "GROUP"}
)

// membershipOf returns groupMembership when nested, else userMembership.
func membershipOf(nested bool) membershipKind {
	if nested {
		return groupMembership
	}
	return userMembership
}

// addMembership inserts the direct membership of a member (a user or group, per m) in g and records
// it; the caller has checked that it may exist.
func (s *Store) addMembership(ctx context.Context, m membershipKind, g Group, memberID int64, member string) error {
	err := s.q(ctx).Exec("INSERT INTO "+m.table+" ("+m.parentCol+", "+m.memberCol+", created_at) VALUES (?, ?, ?)",
		g.ID, memberID, s.now()).Error
	if err != nil {
		return translate(err, "membership of %s %q in group %q", m.noun, member, g.Name)
	}
	return s.membershipChanged(ctx, m, OpCreated, g, member)
}

// removeMembership deletes the direct membership of a member (a user or group, per m) in g and
// records it; a membership that does not exist is ErrNotFound.
func (s *Store) removeMembership(ctx context.Context, m membershipKind, g Group, memberID int64, member string) error {
	res := s.q(ctx).Exec("DELETE FROM "+m.table+" WHERE "+m.parentCol+" = ? AND "+m.memberCol+" = ?", g.ID, memberID)
	if res.Error != nil {
		return fmt.Errorf("membership of %s %q in group %q: %w", m.noun, member, g.Name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %q is not a direct member of group %q: %w", m.noun, member, g.Name, ErrNotFound)
	}
	return s.membershipChanged(ctx, m, OpDeleted, g, member)
}

// membershipChanged records a membership of member in g created or deleted (op): its event, its
// audit entry (MEMBERSHIP_CREATED or MEMBERSHIP_DELETED), and the end of cached sessions, whose
// access may have changed with it.
func (s *Store) membershipChanged(ctx context.Context, m membershipKind, op string, g Group, member string) error {
	if err := s.event(ctx, g.DirectoryID, m.entity, op, 0, member, g.Name); err != nil {
		return err
	}
	if err := s.invalidate(ctx, invClearSessions); err != nil {
		return err
	}
	return s.audit(ctx, "MEMBERSHIP_"+op, m.auditKind, member, "group "+g.Name)
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
		for chunk := range slices.Chunk(frontier, 500) {
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
