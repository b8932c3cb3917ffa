package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Membership is one group of the bulk membership document with its direct members.
type Membership struct {
	Group  string
	Users  []string
	Groups []string
}

// membershipChunk is how many groups Memberships reads members for at once: large enough that the
// per-statement cost vanishes, small enough that memory holds only a chunk's members.
const membershipChunk = 200

// Memberships calls fn for every visible group, in name order, with its direct user and child-group
// members (each sorted by name): the /group/membership document. The names of the visible users
// are read once into memory (a map of id to name, some 10 MB for 100,000 users); groups then
// stream from a cursor, and their user members are read a chunk of groups at a time as bare ids
// from the membership table's primary key, with neither a join nor a sort in the database.
func (v *View) Memberships(ctx context.Context, fn func(Membership) error) error {
	if len(v.dirs) == 0 {
		return nil
	}
	ucanon, uargs := v.canonical("u", "users")
	acc, aargs, err := v.accessFilter(ctx, "u")
	if err != nil {
		return err
	}
	userNames := map[int64]string{}
	err = pairs(ctx, v.s, "SELECT u.id, u.name FROM users u WHERE u.directory_id IN ? AND "+ucanon+" AND "+acc,
		append(append([]any{v.dirs}, uargs...), aargs...), func(id int64, name string) { userNames[id] = name })
	if err != nil {
		return err
	}
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
		// One row per group with its members' ids joined by commas: a million memberships
		// become a few thousand rows, so reading them makes next to no garbage.
		users := map[int64][]string{}
		var bad error
		err := pairs(ctx, v.s, "SELECT group_id, "+v.s.idList("user_id")+" FROM user_memberships WHERE group_id IN ? GROUP BY group_id",
			[]any{ids}, func(gid int64, list string) {
				for part := range strings.SplitSeq(list, ",") {
					uid, err := strconv.ParseInt(part, 10, 64)
					if err != nil {
						bad = fmt.Errorf("memberships of group %d: %w", gid, err)
						return
					}
					if name, ok := userNames[uid]; ok {
						users[owner[gid]] = append(users[owner[gid]], name)
					}
				}
			})
		if err == nil {
			err = bad
		}
		if err != nil {
			return err
		}
		children := map[int64][]string{}
		err = pairs(ctx, v.s, "SELECT m.parent_id, c.name FROM group_memberships m JOIN groups c ON c.id = m.child_id WHERE m.parent_id IN ?",
			[]any{ids}, func(pid int64, name string) { children[owner[pid]] = append(children[owner[pid]], name) })
		if err != nil {
			return err
		}
		for _, g := range chunk {
			if err := fn(Membership{Group: g.Name, Users: sortedNames(users[g.ID]), Groups: sortedNames(children[g.ID])}); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	q, qargs := v.groupQuery("1=1", nil, All)
	err = eachRow(ctx, v, "groups", q, qargs, func(g Group) error {
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

// idList is the dialect's aggregate joining a column's ids with commas.
func (s *Store) idList(col string) string {
	if s.dialect == "sqlite" {
		return "group_concat(" + col + ")"
	}
	return "string_agg(" + col + "::text, ',')"
}

// pairs runs q and calls fn with each row's two columns: an id, and a name or another id.
func pairs[T any](ctx context.Context, s *Store, q string, args []any, fn func(int64, T)) error {
	rows, err := s.q(ctx).Raw(q, args...).Rows()
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v T
		if err := rows.Scan(&id, &v); err != nil {
			return fmt.Errorf("memberships: %w", err)
		}
		fn(id, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	return nil
}

// sortedNames sorts names by lower-cased name, as the database's lower_name columns order them,
// dropping repeats (a user in two directories' groups of one name is listed once).
func sortedNames(names []string) []string {
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(Lower(a), Lower(b)) })
	return slices.CompactFunc(names, func(a, b string) bool { return Lower(a) == Lower(b) })
}
