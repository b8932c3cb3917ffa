package store

import (
	"context"
	"fmt"
	"sort"
)

// Limits on attributes, so one request cannot store unbounded data.
const (
	maxAttrName   = 255
	maxAttrValue  = 4000
	maxAttrValues = 1000
)

func checkAttributes(attrs map[string][]string) error {
	for name, vals := range attrs {
		if name == "" {
			return fmt.Errorf("attribute name must not be empty: %w", ErrInvalid)
		}
		if err := checkText("attribute name", name, maxAttrName); err != nil {
			return err
		}
		if len(vals) > maxAttrValues {
			return fmt.Errorf("attribute %q has more than %d values: %w", name, maxAttrValues, ErrInvalid)
		}
		for _, v := range vals {
			if err := checkText(fmt.Sprintf("value of attribute %q", name), v, maxAttrValue); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertAttributes writes attribute values (a set: duplicates collapse) for one owner.
func (s *Store) insertAttributes(ctx context.Context, table, owner string, id int64, attrs map[string][]string) error {
	for name, vals := range attrs {
		seen := map[string]bool{}
		for _, v := range vals {
			if seen[v] {
				continue
			}
			seen[v] = true
			err := s.q(ctx).Exec("INSERT INTO "+table+" ("+owner+", name, value) VALUES (?, ?, ?)", id, name, v).Error
			if err != nil {
				return fmt.Errorf("attribute %q: %w", name, err)
			}
		}
	}
	return nil
}

// attributes reads the attributes of one owner, values sorted.
func (s *Store) attributes(ctx context.Context, table, owner string, id int64) (map[string][]string, error) {
	var rows []struct{ Name, Value string }
	err := s.q(ctx).Raw("SELECT name, value FROM "+table+" WHERE "+owner+" = ? ORDER BY name, value", id).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	out := make(map[string][]string)
	for _, r := range rows {
		out[r.Name] = append(out[r.Name], r.Value)
	}
	return out, nil
}

// replaceAttributes replaces the values of the named attributes only; others stay. It reports
// whether anything changed.
func (s *Store) replaceAttributes(ctx context.Context, table, owner string, id int64, attrs map[string][]string) (bool, error) {
	if err := checkAttributes(attrs); err != nil {
		return false, err
	}
	cur, err := s.attributes(ctx, table, owner, id)
	if err != nil {
		return false, err
	}
	changed := false
	for name, vals := range attrs {
		want := dedupSorted(vals)
		if equalStrings(cur[name], want) {
			continue
		}
		changed = true
		if err := s.q(ctx).Exec("DELETE FROM "+table+" WHERE "+owner+" = ? AND name = ?", id, name).Error; err != nil {
			return false, fmt.Errorf("attribute %q: %w", name, err)
		}
		if err := s.insertAttributes(ctx, table, owner, id, map[string][]string{name: want}); err != nil {
			return false, err
		}
	}
	return changed, nil
}

func dedupSorted(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	j := 0
	for i, x := range out {
		if i == 0 || x != out[j-1] {
			out[j] = x
			j++
		}
	}
	return out[:j]
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// UserAttributes returns a user's attributes, names and values sorted.
func (s *Store) UserAttributes(ctx context.Context, userID int64) (map[string][]string, error) {
	return s.attributes(ctx, "user_attributes", "user_id", userID)
}

// StoreUserAttributes replaces the values of the given attributes of a user; others stay.
func (s *Store) StoreUserAttributes(ctx context.Context, userID int64, attrs map[string][]string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.lock(ctx, "users", userID); err != nil {
			return err
		}
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		changed, err := tx.replaceAttributes(ctx, "user_attributes", "user_id", userID, attrs)
		if err != nil || !changed {
			return err
		}
		if err := tx.touch(ctx, "users", userID); err != nil {
			return err
		}
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpUpdated, u.ID, u.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "USER_ATTRIBUTES_STORED", "USER", u.Name, "")
	})
}

// DeleteUserAttribute removes one attribute of a user; removing a missing attribute is not an error.
func (s *Store) DeleteUserAttribute(ctx context.Context, userID int64, name string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.lock(ctx, "users", userID); err != nil {
			return err
		}
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Exec("DELETE FROM user_attributes WHERE user_id = ? AND name = ?", userID, name)
		if res.Error != nil {
			return fmt.Errorf("user %q attribute %q: %w", u.Name, name, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if err := tx.touch(ctx, "users", userID); err != nil {
			return err
		}
		if err := tx.event(ctx, u.DirectoryID, EntityUser, OpUpdated, u.ID, u.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "USER_ATTRIBUTE_DELETED", "USER", u.Name, name)
	})
}

// GroupAttributes returns a group's attributes.
func (s *Store) GroupAttributes(ctx context.Context, groupID int64) (map[string][]string, error) {
	return s.attributes(ctx, "group_attributes", "group_id", groupID)
}

// StoreGroupAttributes replaces the values of the given attributes of a group; others stay.
func (s *Store) StoreGroupAttributes(ctx context.Context, groupID int64, attrs map[string][]string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.lock(ctx, "groups", groupID); err != nil {
			return err
		}
		g, err := tx.Group(ctx, groupID)
		if err != nil {
			return err
		}
		changed, err := tx.replaceAttributes(ctx, "group_attributes", "group_id", groupID, attrs)
		if err != nil || !changed {
			return err
		}
		if err := tx.touch(ctx, "groups", groupID); err != nil {
			return err
		}
		if err := tx.event(ctx, g.DirectoryID, EntityGroup, OpUpdated, g.ID, g.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "GROUP_ATTRIBUTES_STORED", "GROUP", g.Name, "")
	})
}

// DeleteGroupAttribute removes one attribute of a group; removing a missing attribute is not an error.
func (s *Store) DeleteGroupAttribute(ctx context.Context, groupID int64, name string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.lock(ctx, "groups", groupID); err != nil {
			return err
		}
		g, err := tx.Group(ctx, groupID)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Exec("DELETE FROM group_attributes WHERE group_id = ? AND name = ?", groupID, name)
		if res.Error != nil {
			return fmt.Errorf("group %q attribute %q: %w", g.Name, name, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if err := tx.touch(ctx, "groups", groupID); err != nil {
			return err
		}
		if err := tx.event(ctx, g.DirectoryID, EntityGroup, OpUpdated, g.ID, g.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "GROUP_ATTRIBUTE_DELETED", "GROUP", g.Name, name)
	})
}

// touch bumps updated_at of one row.
func (s *Store) touch(ctx context.Context, table string, id int64) error {
	if err := s.q(ctx).Exec("UPDATE "+table+" SET updated_at = ? WHERE id = ?", s.now(), id).Error; err != nil {
		return fmt.Errorf("%s %d: %w", table, id, err)
	}
	return nil
}
