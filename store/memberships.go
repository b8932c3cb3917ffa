package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Membership is one group of the bulk membership document with its direct members.
type Membership struct {
	Group  string
	Users  []string
	Groups []string
}

// pairCursor walks (group lower name, member name) rows sorted by group lower name.
type pairCursor struct {
	rows       *sql.Rows
	key, value string
	ok         bool
	err        error
}

func (c *pairCursor) next() {
	if c.ok = c.rows.Next(); c.ok {
		c.err = c.rows.Scan(&c.key, &c.value)
		c.ok = c.err == nil
	} else {
		c.err = c.rows.Err()
	}
}

// take returns the members of group key, skipping rows of groups sorted before it.
func (c *pairCursor) take(key string) []string {
	for c.ok && c.key < key {
		c.next()
	}
	var out []string
	for c.ok && c.key == key {
		if len(out) == 0 || out[len(out)-1] != c.value {
			out = append(out, c.value)
		}
		c.next()
	}
	return out
}

// Memberships calls fn for every visible group, in name order, with its direct user and child-group
// members: the /group/membership document. Three cursors are merged, so memory holds one group at
// a time however large the directory.
func (v *View) Memberships(ctx context.Context, fn func(Membership) error) error {
	if len(v.dirs) == 0 {
		return nil
	}
	ucanon, uargs := v.canonical("u", "users")
	acc, aargs, err := v.accessFilter(ctx, "u")
	if err != nil {
		return err
	}
	uq := "SELECT g.lower_name, u.name FROM user_memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id " +
		"WHERE g.directory_id IN ? AND " + ucanon + " AND " + acc + " ORDER BY g.lower_name, u.lower_name"
	args := append([]any{v.dirs}, uargs...)
	args = append(args, aargs...)
	urows, err := v.s.q(ctx).Raw(uq, args...).Rows()
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	defer urows.Close()
	crows, err := v.s.q(ctx).Raw("SELECT p.lower_name, c.name FROM group_memberships m JOIN groups p ON p.id = m.parent_id "+
		"JOIN groups c ON c.id = m.child_id WHERE p.directory_id IN ? ORDER BY p.lower_name, c.lower_name", v.dirs).Rows()
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	defer crows.Close()
	users, children := &pairCursor{rows: urows}, &pairCursor{rows: crows}
	users.next()
	children.next()
	q, qargs := v.groupQuery("1=1", nil, All)
	err = v.eachGroup(ctx, q, qargs, func(g Group) error {
		m := Membership{Group: g.Name, Users: users.take(g.LowerName), Groups: children.take(g.LowerName)}
		if users.err != nil {
			return fmt.Errorf("memberships: %w", users.err)
		}
		if children.err != nil {
			return fmt.Errorf("memberships: %w", children.err)
		}
		return fn(m)
	})
	return err
}
