package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Console administrators are identities, not names: a user administers crowdgate when it is a
// direct or nested member of a group bound as an administrator group, either by its id (the
// internal directory's admin group, bound when the first administrator is created) or, for Entra ID,
// by the group's object id. A group that merely carries the admin group's name, in another directory
// or created by an application or a tenant user, grants nothing.

// settingAdminGroups holds the ids of the groups bound as administrator groups, as a JSON array.
const settingAdminGroups = "admin_groups"

// AdminBinding says why a user is an administrator: the bound group it is a (nested) member of.
type AdminBinding struct {
	Group     Group
	Directory Directory
	// How is how that group is bound: "group id" (an internal group bound by id) or "Entra object id".
	How string
	// Via is the user's direct group through which it reaches Group ("" when the user is a direct
	// member of Group).
	Via string
}

// String reads like "member of crowdgate-admins (Internal, bound by group id)".
func (b AdminBinding) String() string {
	s := "member of " + b.Group.Name + " (" + b.Directory.Name + ", bound by " + b.How + ")"
	if b.Via != "" {
		s += " through " + b.Via
	}
	return s
}

// BindAdminGroup binds the internal directory group id as an administrator group, audited. Only
// groups of internal directories are bound by id; Entra ID groups are bound by object id
// (Config.AdminEntraGroups), since the synchroniser may recreate them under new ids.
func (s *Store) BindAdminGroup(ctx context.Context, groupID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		g, err := tx.Group(ctx, groupID)
		if err != nil {
			return fmt.Errorf("bind admin group: %w", err)
		}
		d, err := tx.Directory(ctx, g.DirectoryID)
		if err != nil {
			return fmt.Errorf("bind admin group: %w", err)
		}
		if d.Kind != DirectoryInternal {
			return fmt.Errorf("bind admin group %q: it is in the %s directory %q; bind Entra ID groups by object id (CROWDGATE_ADMIN_ENTRA_GROUPS): %w",
				g.Name, d.Kind, d.Name, ErrInvalid)
		}
		ids, err := tx.boundAdminGroupIDs(ctx)
		if err != nil {
			return err
		}
		if slices.Contains(ids, groupID) {
			return nil
		}
		b, _ := json.Marshal(append(ids, groupID))
		if err := tx.q(ctx).Exec("INSERT INTO settings (name, value) VALUES (?, ?) "+
			"ON CONFLICT (name) DO UPDATE SET value = excluded.value", settingAdminGroups, string(b)).Error; err != nil {
			return fmt.Errorf("bind admin group: %w", err)
		}
		return tx.audit(ctx, "ADMIN_GROUP_BOUND", "GROUP", g.Name, fmt.Sprintf("group id %d in directory %q", g.ID, d.Name))
	})
}

// EnsureAdminBinding binds, on a database that has no administrator group bound yet (one made
// before bindings existed), the group named name in the oldest internal directory, and reports
// whether it did. It never binds a second group.
func (s *Store) EnsureAdminBinding(ctx context.Context, name string) (bool, error) {
	ids, err := s.boundAdminGroupIDs(ctx)
	if err != nil || len(ids) > 0 {
		return false, err
	}
	var dirs []Directory
	if err := s.q(ctx).Where("kind = ?", DirectoryInternal).Order("id").Limit(1).Find(&dirs).Error; err != nil {
		return false, fmt.Errorf("admin binding: %w", err)
	}
	if len(dirs) == 0 {
		return false, nil
	}
	dir := dirs[0]
	g, err := s.GroupByName(ctx, dir.ID, name)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("admin binding: %w", err)
	}
	return true, s.BindAdminGroup(ctx, g.ID)
}

func (s *Store) boundAdminGroupIDs(ctx context.Context) ([]int64, error) {
	return jsonListSetting[int64](ctx, s, settingAdminGroups, "group ids")
}

// jsonListSetting reads a setting holding a JSON array; a missing setting is an empty list. what
// names the array's items in the error.
func jsonListSetting[T any](ctx context.Context, s *Store, name, what string) ([]T, error) {
	v, err := s.Setting(ctx, name)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []T
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, fmt.Errorf("setting %s is not a JSON array of %s: %w", name, what, errors.Join(err, ErrInvalid))
	}
	return list, nil
}

// adminGroups returns the bound administrator groups that exist and are active, each with how it is
// bound: internal groups by id, and groups of active Entra ID directories whose object id is in
// the configured list.
func (s *Store) adminGroups(ctx context.Context) (map[int64]string, error) {
	out := map[int64]string{}
	// bound adds the active groups of active directories of the kind whose column is in keys.
	bound := func(column string, keys any, kind, how string) error {
		var found []int64
		if err := s.q(ctx).Raw("SELECT g.id FROM groups g JOIN directories d ON d.id = g.directory_id "+
			"WHERE "+column+" IN ? AND g.active = ? AND d.active = ? AND d.kind = ?", keys, true, true, kind).Scan(&found).Error; err != nil {
			return fmt.Errorf("admin groups: %w", err)
		}
		for _, id := range found {
			out[id] = how
		}
		return nil
	}
	ids, err := s.boundAdminGroupIDs(ctx)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := bound("g.id", ids, DirectoryInternal, "group id"); err != nil {
			return nil, err
		}
	}
	objs, err := s.adminEntraObjectIDs(ctx)
	if err != nil {
		return nil, err
	}
	if len(objs) > 0 {
		if err := bound("LOWER(g.external_id)", objs, DirectoryAzureAD, "Entra object id"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Administrator reports whether u administers crowdgate, and through which binding.
func (s *Store) Administrator(ctx context.Context, u User) (AdminBinding, bool, error) {
	if !u.Active {
		return AdminBinding{}, false, nil
	}
	admins, err := s.adminGroups(ctx)
	if err != nil || len(admins) == 0 {
		return AdminBinding{}, false, err
	}
	var direct []int64
	if err := s.q(ctx).Raw("SELECT group_id FROM user_memberships WHERE user_id = ?", u.ID).Scan(&direct).Error; err != nil {
		return AdminBinding{}, false, fmt.Errorf("groups of user %d: %w", u.ID, err)
	}
	slices.Sort(direct) // deterministic: the same binding is reported every time
	for _, id := range direct {
		reach := []int64{id}
		up, err := s.closure(ctx, reach, false)
		if err != nil {
			return AdminBinding{}, false, err
		}
		for _, gid := range append(reach, up...) {
			how, ok := admins[gid]
			if !ok {
				continue
			}
			b := AdminBinding{How: how}
			if b.Group, err = s.Group(ctx, gid); err != nil {
				return AdminBinding{}, false, err
			}
			if b.Directory, err = s.Directory(ctx, b.Group.DirectoryID); err != nil {
				return AdminBinding{}, false, err
			}
			if gid != id {
				via, err := s.Group(ctx, id)
				if err != nil {
					return AdminBinding{}, false, err
				}
				b.Via = via.Name
			}
			return b, true, nil
		}
	}
	return AdminBinding{}, false, nil
}

// Protected is what no application may change through the Crowd REST API: the administrator
// groups, every group nested in them (its members are administrators too), and their direct
// members.
type Protected struct {
	Groups map[int64]bool
	Users  map[int64]bool
}

// ProtectedObjects returns the administrator groups, the groups nested in them, and their members.
func (s *Store) ProtectedObjects(ctx context.Context) (Protected, error) {
	p := Protected{Groups: map[int64]bool{}, Users: map[int64]bool{}}
	admins, err := s.adminGroups(ctx)
	if err != nil || len(admins) == 0 {
		return p, err
	}
	start := make([]int64, 0, len(admins))
	for id := range admins {
		start = append(start, id)
	}
	down, err := s.closure(ctx, start, true)
	if err != nil {
		return p, err
	}
	all := append(start, down...)
	for _, id := range all {
		p.Groups[id] = true
	}
	for chunk := range slices.Chunk(all, 500) {
		var users []int64
		if err := s.q(ctx).Raw("SELECT user_id FROM user_memberships WHERE group_id IN ?", chunk).Scan(&users).Error; err != nil {
			return p, fmt.Errorf("administrators: %w", err)
		}
		for _, id := range users {
			p.Users[id] = true
		}
	}
	return p, nil
}

// normaliseObjectIDs lower-cases and trims Entra object ids (GUIDs), dropping empty ones.
func normaliseObjectIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			out = append(out, id)
		}
	}
	return out
}
