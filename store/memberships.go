package store

import (
	"context"
	"fmt"
)

// Membership is one group of the bulk membership document with its direct members.
type Membership struct {
	Group  string
	Users  []string
	Groups []string
}

// membershipChunk is how many groups Memberships reads members for at once: large enough that the
// per-statement cost vanishes, small enough that the first group goes out at once and memory holds
// only a chunk's members.
const membershipChunk = 200

// Memberships calls fn for every visible group, in name order, with its direct user and child-group
// members (each sorted by name): the /group/membership document. Groups stream from a cursor and
// their members are read a chunk of groups at a time through the membership tables' primary keys,
// so nothing waits for a sort of every membership and memory stays flat however large the
// directory.
func (v *View) Memberships(ctx context.Context, fn func(Membership) error) error {
	if len(v.dirs) == 0 {
		return nil
	}
	ucanon, uargs := v.canonical("u", "users")
	acc, aargs, err := v.accessFilter(ctx, "u")
	if err != nil {
		return err
	}
	uq := "SELECT m.group_id, u.name FROM user_memberships m JOIN users u ON u.id = m.user_id " +
		"WHERE m.group_id IN ? AND " + ucanon + " AND " + acc + " ORDER BY m.group_id, u.lower_name"
	cq := "SELECT m.parent_id, c.name FROM group_memberships m JOIN groups c ON c.id = m.child_id " +
		"WHERE m.parent_id IN ? ORDER BY m.parent_id, c.lower_name"
	members := func(q string, ids []int64, extra ...any) (map[int64][]string, error) {
		rows, err := v.s.q(ctx).Raw(q, append([]any{ids}, extra...)...).Rows()
		if err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		defer rows.Close()
		out := make(map[int64][]string, len(ids))
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return nil, fmt.Errorf("memberships: %w", err)
			}
			out[id] = append(out[id], name)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		return out, nil
	}
	uextra := append(append([]any{}, uargs...), aargs...)
	chunk := make([]Group, 0, membershipChunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		// With several directories, a group's members are those of the groups of that name in
		// every mapped directory (Crowd's aggregated membership).
		owner := map[int64]int64{} // group id -> id of the visible group of that name
		ids := make([]int64, len(chunk))
		for i, g := range chunk {
			ids[i], owner[g.ID] = g.ID, g.ID
		}
		if len(v.dirs) > 1 {
			names := make([]string, len(chunk))
			byName := map[string]int64{}
			for i, g := range chunk {
				names[i], byName[g.LowerName] = g.LowerName, g.ID
			}
			var same []struct {
				ID        int64
				LowerName string
			}
			err := v.s.q(ctx).Raw("SELECT id, lower_name FROM groups WHERE directory_id IN ? AND lower_name IN ?", v.dirs, names).Scan(&same).Error
			if err != nil {
				return fmt.Errorf("memberships: %w", err)
			}
			for _, g := range same {
				if _, ok := owner[g.ID]; !ok {
					ids, owner[g.ID] = append(ids, g.ID), byName[g.LowerName]
				}
			}
		}
		users, err := members(uq, ids, uextra...)
		if err != nil {
			return err
		}
		children, err := members(cq, ids)
		if err != nil {
			return err
		}
		for _, g := range chunk {
			m := Membership{Group: g.Name}
			for _, id := range ids {
				if owner[id] == g.ID {
					m.Users = mergeNames(m.Users, users[id])
					m.Groups = mergeNames(m.Groups, children[id])
				}
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	q, qargs := v.groupQuery("1=1", nil, All)
	err = v.eachGroup(ctx, q, qargs, func(g Group) error {
		chunk = append(chunk, g)
		if len(chunk) == membershipChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// mergeNames merges two name lists sorted by lower-cased name, dropping repeats (a user in two
// directories is listed once).
func mergeNames(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		var n string
		switch {
		case len(b) == 0 || len(a) > 0 && Lower(a[0]) <= Lower(b[0]):
			n, a = a[0], a[1:]
		default:
			n, b = b[0], b[1:]
		}
		if len(out) == 0 || Lower(out[len(out)-1]) != Lower(n) {
			out = append(out, n)
		}
	}
	return out
}
