package store

import (
	"context"
	"fmt"
	"slices"
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
		if slices.Equal(cur[name], want) {
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

// attributeOwner is what the attribute functions need to know of the users or of the groups.
type attributeOwner struct {
	table     string // the owners' table
	attrs     string // their attribute table
	column    string // the owner column of attrs
	entity    string // the entity of the owners' events
	auditKind string // the kind of owner in audit entries (USER_ATTRIBUTES_STORED, …)
	noun      string // the kind of owner in messages
}

var (
	userOwner  = attributeOwner{"users", "user_attributes", "user_id", EntityUser, "USER", "user"}
	groupOwner = attributeOwner{"groups", "group_attributes", "group_id", EntityGroup, "GROUP", "group"}
)

// UserAttributes returns a user's attributes, names and values sorted.
func (s *Store) UserAttributes(ctx context.Context, userID int64) (map[string][]string, error) {
	return s.attributes(ctx, userOwner.attrs, userOwner.column, userID)
}

// StoreUserAttributes replaces the values of the given attributes of a user; others stay.
func (s *Store) StoreUserAttributes(ctx context.Context, userID int64, attrs map[string][]string) error {
	return s.storeAttributes(ctx, userOwner, userID, attrs)
}

// DeleteUserAttribute removes one attribute of a user; removing a missing attribute is not an error.
func (s *Store) DeleteUserAttribute(ctx context.Context, userID int64, name string) error {
	return s.deleteAttribute(ctx, userOwner, userID, name)
}

// GroupAttributes returns a group's attributes.
func (s *Store) GroupAttributes(ctx context.Context, groupID int64) (map[string][]string, error) {
	return s.attributes(ctx, groupOwner.attrs, groupOwner.column, groupID)
}

// StoreGroupAttributes replaces the values of the given attributes of a group; others stay.
func (s *Store) StoreGroupAttributes(ctx context.Context, groupID int64, attrs map[string][]string) error {
	return s.storeAttributes(ctx, groupOwner, groupID, attrs)
}

// DeleteGroupAttribute removes one attribute of a group; removing a missing attribute is not an error.
func (s *Store) DeleteGroupAttribute(ctx context.Context, groupID int64, name string) error {
	return s.deleteAttribute(ctx, groupOwner, groupID, name)
}

// storeAttributes is StoreUserAttributes and StoreGroupAttributes.
func (s *Store) storeAttributes(ctx context.Context, o attributeOwner, id int64, attrs map[string][]string) error {
	return s.InTx(ctx, func(tx *Store) error {
		dirID, owner, err := tx.lockOwner(ctx, o, id)
		if err != nil {
			return err
		}
		changed, err := tx.replaceAttributes(ctx, o.attrs, o.column, id, attrs)
		if err != nil || !changed {
			return err
		}
		return tx.attributesChanged(ctx, o, id, dirID, owner, o.auditKind+"_ATTRIBUTES_STORED", "")
	})
}

// deleteAttribute is DeleteUserAttribute and DeleteGroupAttribute.
func (s *Store) deleteAttribute(ctx context.Context, o attributeOwner, id int64, name string) error {
	return s.InTx(ctx, func(tx *Store) error {
		dirID, owner, err := tx.lockOwner(ctx, o, id)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Exec("DELETE FROM "+o.attrs+" WHERE "+o.column+" = ? AND name = ?", id, name)
		if res.Error != nil {
			return fmt.Errorf("%s %q attribute %q: %w", o.noun, owner, name, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		return tx.attributesChanged(ctx, o, id, dirID, owner, o.auditKind+"_ATTRIBUTE_DELETED", name)
	})
}

// lockOwner locks the row of a user or group for the rest of the transaction, so concurrent
// attribute changes apply one after the other, and returns its directory and name.
func (s *Store) lockOwner(ctx context.Context, o attributeOwner, id int64) (int64, string, error) {
	if err := s.lock(ctx, o.table, id); err != nil {
		return 0, "", err
	}
	if o == groupOwner {
		g, err := s.Group(ctx, id)
		return g.DirectoryID, g.Name, err
	}
	u, err := s.User(ctx, id)
	return u.DirectoryID, u.Name, err
}

// attributesChanged records a change of the attributes of a user or group: its updated_at, its
// event and its audit entry.
func (s *Store) attributesChanged(ctx context.Context, o attributeOwner, id, dirID int64, owner, action, details string) error {
	if err := s.touch(ctx, o.table, id); err != nil {
		return err
	}
	if err := s.event(ctx, dirID, o.entity, OpUpdated, id, owner, ""); err != nil {
		return err
	}
	return s.audit(ctx, action, o.auditKind, owner, details)
}

// touch bumps updated_at of one row.
func (s *Store) touch(ctx context.Context, table string, id int64) error {
	if err := s.q(ctx).Exec("UPDATE "+table+" SET updated_at = ? WHERE id = ?", s.now(), id).Error; err != nil {
		return fmt.Errorf("%s %d: %w", table, id, err)
	}
	return nil
}
