package store

import (
	"context"
	"fmt"
	"time"
)

// Group is a group in one directory.
type Group struct {
	ID          int64
	DirectoryID int64
	ExternalID  string
	Name        string
	LowerName   string
	Description string
	Active      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName maps Group to its table.
func (Group) TableName() string { return "groups" }

// NewGroup describes a group to create.
type NewGroup struct {
	DirectoryID int64
	Name        string
	Description string
	Active      bool
	ExternalID  string // Entra object id; a UUID is generated when empty
	Attributes  map[string][]string
}

// GroupChange holds the fields to change; nil means unchanged.
type GroupChange struct {
	Name        *string // rename (Entra groups are renamed by the synchroniser; Crowd clients cannot rename)
	Description *string
	Active      *bool
}

const maxDescription = 4000

// CreateGroup adds a group, emitting a CREATED event.
func (s *Store) CreateGroup(ctx context.Context, ng NewGroup) (Group, error) {
	if err := checkName("group", ng.Name); err != nil {
		return Group{}, err
	}
	if err := checkText("description", ng.Description, maxDescription); err != nil {
		return Group{}, err
	}
	if err := checkAttributes(ng.Attributes); err != nil {
		return Group{}, err
	}
	ext := ng.ExternalID
	if ext == "" {
		ext = newUUID()
	}
	now := s.now()
	var g Group
	err := s.InTx(ctx, func(tx *Store) error {
		var id int64
		err := tx.q(ctx).Raw("INSERT INTO groups (directory_id, external_id, name, lower_name, description, active, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			ng.DirectoryID, ext, ng.Name, Lower(ng.Name), ng.Description, ng.Active, now, now).Scan(&id).Error
		if err != nil {
			return translate(err, "group %q", ng.Name)
		}
		if err := tx.insertAttributes(ctx, "group_attributes", "group_id", id, ng.Attributes); err != nil {
			return fmt.Errorf("group %q: %w", ng.Name, err)
		}
		if g, err = tx.Group(ctx, id); err != nil {
			return err
		}
		if err := tx.event(ctx, g.DirectoryID, EntityGroup, OpCreated, g.ID, g.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "GROUP_CREATED", "GROUP", g.Name, "")
	})
	return g, err
}

// byID reads the row of a T by id; kind names it in the error.
func byID[T any](ctx context.Context, s *Store, kind string, id int64) (T, error) {
	var v T
	err := s.q(ctx).Where("id = ?", id).Take(&v).Error
	return v, translate(err, "%s %d", kind, id)
}

// Group returns a group by id.
func (s *Store) Group(ctx context.Context, id int64) (Group, error) {
	return byID[Group](ctx, s, "group", id)
}

// GroupByName returns the group named name (case-insensitively) in one directory.
func (s *Store) GroupByName(ctx context.Context, directoryID int64, name string) (Group, error) {
	var g Group
	err := s.q(ctx).Where("directory_id = ? AND lower_name = ?", directoryID, Lower(name)).Take(&g).Error
	return g, translate(err, "group %q", name)
}

// GroupByExternalID returns the group with the given external id in one directory.
func (s *Store) GroupByExternalID(ctx context.Context, directoryID int64, externalID string) (Group, error) {
	var g Group
	err := s.q(ctx).Where("directory_id = ? AND external_id = ?", directoryID, externalID).Take(&g).Error
	return g, translate(err, "group with external id %q", externalID)
}

// UpdateGroup changes a group, emitting an UPDATED event (DELETED + CREATED on a rename, since Crowd
// clients know groups only by name).
func (s *Store) UpdateGroup(ctx context.Context, id int64, ch GroupChange) (Group, error) {
	if ch.Name != nil {
		if err := checkName("group", *ch.Name); err != nil {
			return Group{}, err
		}
	}
	if ch.Description != nil {
		if err := checkText("description", *ch.Description, maxDescription); err != nil {
			return Group{}, err
		}
	}
	var g Group
	err := s.InTx(ctx, func(tx *Store) error {
		old, err := lockedRead(ctx, tx, "groups", id, tx.Group)
		if err != nil {
			return err
		}
		g = old
		if ch.Name != nil {
			g.Name = *ch.Name
		}
		if ch.Description != nil {
			g.Description = *ch.Description
		}
		if ch.Active != nil {
			g.Active = *ch.Active
		}
		if g.Name == old.Name && g.Description == old.Description && g.Active == old.Active {
			return nil
		}
		g.LowerName, g.UpdatedAt = Lower(g.Name), tx.now()
		err = tx.q(ctx).Exec("UPDATE groups SET name = ?, lower_name = ?, description = ?, active = ?, updated_at = ? WHERE id = ?",
			g.Name, g.LowerName, g.Description, g.Active, g.UpdatedAt, id).Error
		if err != nil {
			return translate(err, "group %q", g.Name)
		}
		if g.Name != old.Name {
			if err := tx.renameGroupEvents(ctx, old, g); err != nil {
				return err
			}
			if err := tx.invalidate(ctx, invClearSessions); err != nil {
				return err
			}
			return tx.audit(ctx, "GROUP_RENAMED", "GROUP", g.Name, "from "+old.Name)
		}
		if err := tx.event(ctx, g.DirectoryID, EntityGroup, OpUpdated, g.ID, g.Name, ""); err != nil {
			return err
		}
		return tx.audit(ctx, "GROUP_UPDATED", "GROUP", g.Name, "")
	})
	return g, err
}

// renameGroupEvents tells Crowd clients about a renamed group: the old name goes, the new one comes
// with its memberships in both directions.
func (s *Store) renameGroupEvents(ctx context.Context, old, g Group) error {
	if err := s.event(ctx, g.DirectoryID, EntityGroup, OpDeleted, g.ID, old.Name, ""); err != nil {
		return err
	}
	if err := s.event(ctx, g.DirectoryID, EntityGroup, OpCreated, g.ID, g.Name, ""); err != nil {
		return err
	}
	var users []string
	if err := s.q(ctx).Raw("SELECT u.name FROM user_memberships m JOIN users u ON u.id = m.user_id WHERE m.group_id = ?", g.ID).Scan(&users).Error; err != nil {
		return fmt.Errorf("group %q members: %w", g.Name, err)
	}
	for _, u := range users {
		if err := s.event(ctx, g.DirectoryID, EntityUserMembership, OpCreated, 0, u, g.Name); err != nil {
			return err
		}
	}
	var rel []struct{ Parent, Child string }
	err := s.q(ctx).Raw("SELECT p.name AS parent, c.name AS child FROM group_memberships m JOIN groups p ON p.id = m.parent_id "+
		"JOIN groups c ON c.id = m.child_id WHERE m.parent_id = ? OR m.child_id = ?", g.ID, g.ID).Scan(&rel).Error
	if err != nil {
		return fmt.Errorf("group %q nesting: %w", g.Name, err)
	}
	for _, r := range rel {
		if err := s.event(ctx, g.DirectoryID, EntityGroupMembership, OpCreated, 0, r.Child, r.Parent); err != nil {
			return err
		}
	}
	return nil
}

// DeleteGroup removes a group with its memberships and attributes.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		g, err := tx.Group(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.q(ctx).Exec("DELETE FROM groups WHERE id = ?", id).Error; err != nil {
			return translate(err, "group %q", g.Name)
		}
		if err := tx.event(ctx, g.DirectoryID, EntityGroup, OpDeleted, g.ID, g.Name, ""); err != nil {
			return err
		}
		if err := tx.invalidate(ctx, invClearSessions); err != nil {
			return err
		}
		return tx.audit(ctx, "GROUP_DELETED", "GROUP", g.Name, "")
	})
}
