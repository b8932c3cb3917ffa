package store

import (
	"context"
	"fmt"
	"strings"
)

// Page selects a slice of a list sorted by lower-cased name: skip Start entries, return at most Max
// (Max < 0: all).
type Page struct {
	Start int
	Max   int
}

// All is the page holding everything.
var All = Page{Start: 0, Max: -1}

func (p Page) sql() string {
	max := int64(p.Max)
	if max < 0 {
		max = 1 << 62
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", max, p.Start)
}

// userQuery builds "SELECT users WHERE <cond> visible in the view" ordered by name.
func (v *View) userQuery(ctx context.Context, cond string, args []any, p Page) (string, []any, error) {
	if len(v.dirs) == 0 {
		return "", nil, nil
	}
	canon, cargs := v.canonical("e", "users")
	acc, aargs, err := v.accessFilter(ctx, "e")
	if err != nil {
		return "", nil, err
	}
	cols := "e." + strings.ReplaceAll(userColumns, ", ", ", e.")
	q := "SELECT " + cols + " FROM users e WHERE e.directory_id IN ? AND " + canon + " AND " + acc + " AND (" + cond + ")" +
		" ORDER BY e.lower_name" + p.sql()
	all := append([]any{v.dirs}, cargs...)
	all = append(all, aargs...)
	all = append(all, args...)
	return q, all, nil
}

// groupQuery builds "SELECT groups WHERE <cond>", one (the canonical) group per name, ordered by name.
func (v *View) groupQuery(cond string, args []any, p Page) (string, []any) {
	if len(v.dirs) == 0 {
		return "", nil
	}
	canon, cargs := v.canonical("e", "groups")
	q := "SELECT e.* FROM groups e WHERE e.directory_id IN ? AND " + canon + " AND (" + cond + ") ORDER BY e.lower_name" + p.sql()
	all := append([]any{v.dirs}, cargs...)
	return q, append(all, args...)
}

// eachRow streams the rows of q to fn as Ts; an empty q lists nothing. what names the rows in errors.
func eachRow[T any](ctx context.Context, v *View, what, q string, args []any, fn func(T) error) error {
	if q == "" {
		return nil
	}
	rows, err := v.s.q(ctx).Raw(q, args...).Rows()
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var row T
		if err := v.s.db.ScanRows(rows, &row); err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SearchUsers calls fn for each visible user matching r, sorted by name, within page p. Rows stream
// from a cursor, so memory stays flat whatever the result size.
func (v *View) SearchUsers(ctx context.Context, r Restriction, p Page, fn func(User) error) error {
	cond, args, err := sqlFor(r, SearchUsers, 0)
	if err != nil {
		return err
	}
	q, all, err := v.userQuery(ctx, cond, args, p)
	if err != nil {
		return err
	}
	return eachRow(ctx, v, "users", q, all, fn)
}

// SearchGroups calls fn for each visible group matching r, sorted by name, within page p.
func (v *View) SearchGroups(ctx context.Context, r Restriction, p Page, fn func(Group) error) error {
	cond, args, err := sqlFor(r, SearchGroups, 0)
	if err != nil {
		return err
	}
	q, all := v.groupQuery(cond, args, p)
	return eachRow(ctx, v, "groups", q, all, fn)
}

// UserGroups lists the groups u is a direct (or nested) member of. Memberships come from u's own
// directory, the one that makes u canonical.
func (v *View) UserGroups(ctx context.Context, u User, nested bool, p Page, fn func(Group) error) error {
	var ids []int64
	if err := v.s.q(ctx).Raw("SELECT group_id FROM user_memberships WHERE user_id = ?", u.ID).Scan(&ids).Error; err != nil {
		return fmt.Errorf("groups of %q: %w", u.Name, err)
	}
	if nested && len(ids) > 0 {
		up, err := v.s.closure(ctx, ids, false)
		if err != nil {
			return err
		}
		ids = append(ids, up...)
	}
	if len(ids) == 0 {
		return nil
	}
	q, args := v.groupQuery("e.lower_name IN (SELECT lower_name FROM groups WHERE id IN ?)", []any{ids}, p)
	return eachRow(ctx, v, "groups", q, args, fn)
}

// GroupUsers lists the users who are direct (or nested) members of the group named name.
func (v *View) GroupUsers(ctx context.Context, name string, nested bool, p Page, fn func(User) error) error {
	ids, err := v.groupIDs(ctx, name)
	if err != nil {
		return err
	}
	if nested {
		down, err := v.s.closure(ctx, ids, true)
		if err != nil {
			return err
		}
		ids = append(ids, down...)
	}
	q, args, err := v.userQuery(ctx, "e.id IN (SELECT user_id FROM user_memberships WHERE group_id IN ?)", []any{ids}, p)
	if err != nil {
		return err
	}
	return eachRow(ctx, v, "users", q, args, fn)
}

// ChildGroups lists the groups directly (or transitively) inside the group named name.
func (v *View) ChildGroups(ctx context.Context, name string, nested bool, p Page, fn func(Group) error) error {
	return v.relatedGroups(ctx, name, nested, true, p, fn)
}

// ParentGroups lists the groups the group named name is directly (or transitively) inside.
func (v *View) ParentGroups(ctx context.Context, name string, nested bool, p Page, fn func(Group) error) error {
	return v.relatedGroups(ctx, name, nested, false, p, fn)
}

func (v *View) relatedGroups(ctx context.Context, name string, nested, down bool, p Page, fn func(Group) error) error {
	ids, err := v.groupIDs(ctx, name)
	if err != nil {
		return err
	}
	var rel []int64
	if nested {
		rel, err = v.s.closure(ctx, ids, down)
		if err != nil {
			return err
		}
	} else {
		from, to := "parent_id", "child_id"
		if !down {
			from, to = "child_id", "parent_id"
		}
		if err := v.s.q(ctx).Raw("SELECT "+to+" FROM group_memberships WHERE "+from+" IN ?", ids).Scan(&rel).Error; err != nil {
			return fmt.Errorf("groups related to %q: %w", name, err)
		}
	}
	if len(rel) == 0 {
		return nil
	}
	// A group reached through a cycle is not its own member.
	q, args := v.groupQuery("e.lower_name IN (SELECT lower_name FROM groups WHERE id IN ?) AND e.lower_name <> ?", []any{rel, Lower(name)}, p)
	return eachRow(ctx, v, "groups", q, args, fn)
}

// Users collects a listing into a slice, for callers that need the whole (bounded) result.
func Users(list func(fn func(User) error) error) ([]User, error) {
	var out []User
	err := list(func(u User) error { out = append(out, u); return nil })
	return out, err
}

// Groups collects a listing into a slice.
func Groups(list func(fn func(Group) error) error) ([]Group, error) {
	var out []Group
	err := list(func(g Group) error { out = append(out, g); return nil })
	return out, err
}
