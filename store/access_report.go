package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file explains access for the admin console: licence use per application, the access report
// (who may use which application, and why) and the applications a group grants. Who may
// authenticate follows MayAuthenticate exactly; these functions only add the explanation and the
// counting.

// Reasons a user may authenticate to an application (Access.Reason).
const (
	AccessAllUsers = "ALL_USERS" // the directory is mapped with every user allowed
	AccessGroup    = "GROUP"     // the user is a direct or nested member of an allowed group
)

// Access says whether one user may authenticate to one application, and why.
type Access struct {
	ApplicationID int64
	Application   string
	UserID        int64
	User          string
	DisplayName   string
	Email         string
	DirectoryID   int64
	Directory     string
	Allowed       bool
	Reason        string   // AccessAllUsers or AccessGroup, when allowed
	Group         string   // AccessGroup: the allowed group that lets the user in
	Via           []string // AccessGroup: the groups from the user's direct group up to Group (excluded); empty for a direct member
	Denied        string   // why not, when not allowed
}

// Explain says whether u may authenticate to the view's application and why: the decision is
// MayAuthenticate's (plus the user's own activity and name shadowing, which sign-in also applies),
// and for a group grant the shortest chain of groups from u's direct group to the allowed group.
func (v *View) Explain(ctx context.Context, u User) (Access, error) {
	a := Access{ApplicationID: v.App.ID, Application: v.App.Name, UserID: u.ID, User: u.Name,
		DisplayName: u.DisplayName, Email: u.Email, DirectoryID: u.DirectoryID}
	d, err := v.s.Directory(ctx, u.DirectoryID)
	if err != nil {
		return Access{}, err
	}
	a.Directory = d.Name
	m, mapped := v.mappings[u.DirectoryID]
	switch {
	case !v.App.Active:
		a.Denied = "the application is inactive"
		return a, nil
	case !mapped:
		a.Denied = fmt.Sprintf("directory %q is not mapped to the application (or is inactive)", d.Name)
		return a, nil
	case !u.Active:
		a.Denied = "the user is inactive"
		return a, nil
	}
	for _, earlier := range v.dirs {
		if earlier == u.DirectoryID {
			break
		}
		if _, err := v.s.UserByName(ctx, earlier, u.Name); err == nil {
			ed, _ := v.s.Directory(ctx, earlier)
			a.Denied = fmt.Sprintf("a user of the same name in directory %q, mapped earlier, takes precedence", ed.Name)
			return a, nil
		} else if !IsNotFound(err) {
			return Access{}, err
		}
	}
	if m.AllowAll {
		a.Allowed, a.Reason = true, AccessAllUsers
		return a, nil
	}
	if len(m.Groups) == 0 {
		a.Denied = fmt.Sprintf("no group of directory %q is allowed", d.Name)
		return a, nil
	}
	var direct []int64
	if err := v.s.q(ctx).Raw("SELECT group_id FROM user_memberships WHERE user_id = ?", u.ID).Scan(&direct).Error; err != nil {
		return Access{}, fmt.Errorf("groups of %q: %w", u.Name, err)
	}
	path, err := v.s.pathToAllowed(ctx, direct, m.Groups)
	if err != nil {
		return Access{}, err
	}
	if path == nil {
		a.Denied = fmt.Sprintf("not a member of an allowed group (%s)", strings.Join(m.Groups, ", "))
		return a, nil
	}
	a.Allowed, a.Reason, a.Group, a.Via = true, AccessGroup, path[len(path)-1], path[:len(path)-1]
	return a, nil
}

// pathToAllowed walks up from the start groups, breadth first (so the shortest chain wins) and
// bounded by MaxNestingDepth, to the first group whose lower-cased name is in allowed. It returns
// the names along the chain, start group first and allowed group last, or nil.
func (s *Store) pathToAllowed(ctx context.Context, start []int64, allowed []string) ([]string, error) {
	if len(start) == 0 {
		return nil, nil
	}
	prev := map[int64]int64{} // group → the group below it on the chain (0 for a start group)
	frontier := slices.Clone(start)
	slices.Sort(frontier)
	for _, id := range frontier {
		prev[id] = 0
	}
	for depth := 0; depth <= MaxNestingDepth && len(frontier) > 0; depth++ {
		names, err := s.groupNames(ctx, frontier)
		if err != nil {
			return nil, err
		}
		for _, id := range frontier {
			if slices.Contains(allowed, Lower(names[id])) {
				var chain []int64
				for g := id; g != 0; g = prev[g] {
					chain = append(chain, g)
				}
				slices.Reverse(chain)
				all, err := s.groupNames(ctx, chain)
				if err != nil {
					return nil, err
				}
				out := make([]string, len(chain))
				for i, g := range chain {
					out[i] = all[g]
				}
				return out, nil
			}
		}
		var next []int64
		for c := range slices.Chunk(frontier, 500) {
			var edges []struct{ ChildID, ParentID int64 }
			err := s.q(ctx).Raw("SELECT child_id, parent_id FROM group_memberships WHERE child_id IN ? ORDER BY parent_id", c).Scan(&edges).Error
			if err != nil {
				return nil, fmt.Errorf("nested groups: %w", err)
			}
			for _, e := range edges {
				if _, seen := prev[e.ParentID]; !seen {
					prev[e.ParentID] = e.ChildID
					next = append(next, e.ParentID)
				}
			}
		}
		frontier = next
	}
	return nil, nil
}

// groupNames returns the names of groups by id.
func (s *Store) groupNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for c := range slices.Chunk(ids, 500) {
		var rows []struct {
			ID   int64
			Name string
		}
		if err := s.q(ctx).Raw("SELECT id, name FROM groups WHERE id IN ?", c).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("group names: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r.Name
		}
	}
	return out, nil
}

// grantChain is how a group reached from an allowed group got there.
type grantChain struct {
	depth   int
	allowed string // name of the allowed group at the top
	up      int64  // the group above this one on the chain (0 at the allowed group)
}

// userGrant is a user's shortest way into an allowed group: through its direct group.
type userGrant struct {
	depth int
	group int64
}

// licensedCond returns a SQL condition on users alias e keeping the active users allowed into the
// view's application (the mapping lets everyone in, or they are nested members of an allowed group).
func (v *View) licensedCond(ctx context.Context) (string, []any, error) {
	cond, args, err := v.accessCond(ctx, "e")
	if err != nil {
		return "", nil, err
	}
	return "e.active = ? AND " + cond, append([]any{true}, args...), nil
}

// CountLicensed counts the active users who may authenticate to the view's application (what a
// licence limit is compared with). An inactive application counts nobody.
func (v *View) CountLicensed(ctx context.Context) (int64, error) {
	if !v.App.Active || len(v.dirs) == 0 {
		return 0, nil
	}
	cond, args, err := v.licensedCond(ctx)
	if err != nil {
		return 0, err
	}
	canon, cargs := v.canonical("e", "users")
	all := append([]any{v.dirs}, cargs...)
	all = append(all, args...)
	var n int64
	err = v.s.q(ctx).Raw("SELECT COUNT(*) FROM users e WHERE e.directory_id IN ? AND "+canon+" AND "+cond, all...).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("licensed users of %q: %w", v.App.Name, err)
	}
	return n, nil
}

// AccessReport calls fn for every active user who may authenticate to an application, with the
// reason, ordered by application name, then mapping order, then user name. Applications that are
// inactive grant nothing and are skipped. Users stream from a cursor per mapped directory.
func (s *Store) AccessReport(ctx context.Context, fn func(Access) error) error {
	apps, err := s.Applications(ctx)
	if err != nil {
		return err
	}
	for _, app := range apps {
		if !app.Active {
			continue
		}
		v, err := s.View(ctx, app)
		if err != nil {
			return err
		}
		if err := v.report(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

// report emits the view's application's access rows.
func (v *View) report(ctx context.Context, fn func(Access) error) error {
	for _, d := range v.dirs {
		m := v.mappings[d]
		if !m.AllowAll && len(m.Groups) == 0 {
			continue
		}
		dir, err := v.s.Directory(ctx, d)
		if err != nil {
			return err
		}
		var grants map[int64]userGrant // user id → how
		var tree grantTree
		if !m.AllowAll {
			if grants, tree, err = v.s.groupGrants(ctx, d, m.Groups); err != nil {
				return err
			}
			if len(grants) == 0 {
				continue
			}
		}
		// Canonical users of d: no earlier mapped directory has the name.
		cond, args := "1=1", []any{}
		if i := slices.Index(v.dirs, d); i > 0 {
			cond, args = "NOT EXISTS (SELECT 1 FROM users x WHERE x.lower_name = e.lower_name AND x.directory_id IN ?)", []any{v.dirs[:i]}
		}
		q, qargs := "SELECT e.id, e.name, e.display_name, e.email FROM users e WHERE e.directory_id = ? AND e.active = ? AND "+cond+
			" ORDER BY e.lower_name", append([]any{d, true}, args...)
		rows, err := v.s.q(ctx).Raw(q, qargs...).Rows()
		if err != nil {
			return fmt.Errorf("access report: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				a := Access{ApplicationID: v.App.ID, Application: v.App.Name, DirectoryID: d, Directory: dir.Name, Allowed: true}
				if err := rows.Scan(&a.UserID, &a.User, &a.DisplayName, &a.Email); err != nil {
					return fmt.Errorf("access report: %w", err)
				}
				if m.AllowAll {
					a.Reason = AccessAllUsers
				} else {
					g, ok := grants[a.UserID]
					if !ok {
						continue
					}
					a.Reason = AccessGroup
					a.Group, a.Via = tree.explain(g.group)
				}
				if err := fn(a); err != nil {
					return err
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// groupGrants walks down from the allowed groups of directory d, breadth first and bounded by
// MaxNestingDepth, and returns the chain of every group reached and, for every user who is a
// direct member of one of them, the direct group of the shortest chain (ties: group name).
func (s *Store) groupGrants(ctx context.Context, d int64, allowed []string) (map[int64]userGrant, grantTree, error) {
	var tops []struct {
		ID   int64
		Name string
	}
	if err := s.q(ctx).Raw("SELECT id, name FROM groups WHERE directory_id = ? AND lower_name IN ? ORDER BY lower_name", d, allowed).
		Scan(&tops).Error; err != nil {
		return nil, grantTree{}, fmt.Errorf("allowed groups: %w", err)
	}
	t := grantTree{chains: map[int64]grantChain{}, names: map[int64]string{}}
	var frontier []int64
	for _, g := range tops {
		t.chains[g.ID] = grantChain{allowed: g.Name}
		t.names[g.ID] = g.Name
		frontier = append(frontier, g.ID)
	}
	for depth := 1; depth <= MaxNestingDepth && len(frontier) > 0; depth++ {
		var next []int64
		for c := range slices.Chunk(frontier, 500) {
			var edges []struct {
				ParentID, ChildID int64
				Name              string
			}
			err := s.q(ctx).Raw("SELECT m.parent_id, m.child_id, g.name FROM group_memberships m JOIN groups g ON g.id = m.child_id "+
				"WHERE m.parent_id IN ? ORDER BY g.lower_name, m.parent_id", c).Scan(&edges).Error
			if err != nil {
				return nil, grantTree{}, fmt.Errorf("nested groups: %w", err)
			}
			for _, e := range edges {
				if _, seen := t.chains[e.ChildID]; seen {
					continue
				}
				t.chains[e.ChildID] = grantChain{depth: depth, allowed: t.chains[e.ParentID].allowed, up: e.ParentID}
				t.names[e.ChildID] = e.Name
				next = append(next, e.ChildID)
			}
		}
		frontier = next
	}
	ids := slices.Sorted(maps.Keys(t.chains))
	users := map[int64]userGrant{}
	for c := range slices.Chunk(ids, 500) {
		var ms []struct{ UserID, GroupID int64 }
		if err := s.q(ctx).Raw("SELECT user_id, group_id FROM user_memberships WHERE group_id IN ?", c).Scan(&ms).Error; err != nil {
			return nil, grantTree{}, fmt.Errorf("allowed group members: %w", err)
		}
		for _, m := range ms {
			g := t.chains[m.GroupID]
			cur, ok := users[m.UserID]
			if !ok || g.depth < cur.depth || g.depth == cur.depth && Lower(t.names[m.GroupID]) < Lower(t.names[cur.group]) {
				users[m.UserID] = userGrant{depth: g.depth, group: m.GroupID}
			}
		}
	}
	return users, t, nil
}

// grantTree holds the groups reached from the allowed groups of one directory.
type grantTree struct {
	chains map[int64]grantChain
	names  map[int64]string
}

// explain returns the allowed group and the chain below it, starting at direct group g.
func (t grantTree) explain(g int64) (allowed string, via []string) {
	for id := g; id != 0; {
		c := t.chains[id]
		if c.up == 0 {
			return t.names[id], via
		}
		via = append(via, t.names[id])
		id = c.up
	}
	return "", via
}

// GroupGrant is an application a group's members may use because of the group (or, with AllUsers,
// because every user of its directory may).
type GroupGrant struct {
	ApplicationID int64
	Application   string
	Active        bool     // the application is active
	AllUsers      bool     // the directory is mapped with every user allowed
	Group         string   // the allowed group: the group itself or one it is nested in
	Via           []string // the groups from this one up to Group (excluded); empty when the group itself is allowed
}

// GroupGrants lists the applications that map g's directory and let g's members in, by
// application name.
func (s *Store) GroupGrants(ctx context.Context, g Group) ([]GroupGrant, error) {
	apps, err := s.Applications(ctx)
	if err != nil {
		return nil, err
	}
	var out []GroupGrant
	for _, app := range apps {
		for _, m := range app.Mappings {
			if m.DirectoryID != g.DirectoryID {
				continue
			}
			gg := GroupGrant{ApplicationID: app.ID, Application: app.Name, Active: app.Active}
			if m.AllowAll {
				gg.AllUsers = true
				out = append(out, gg)
				continue
			}
			path, err := s.pathToAllowed(ctx, []int64{g.ID}, m.Groups)
			if err != nil {
				return nil, err
			}
			if path != nil {
				gg.Group, gg.Via = path[len(path)-1], path[:len(path)-1]
				out = append(out, gg)
			}
		}
	}
	return out, nil
}

// consoleTouchEvery is how stale a console session's last access may get before a request writes it.
