package crowdimport

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

// The import pass: directories first, then the source is read again for users and groups, and once
// more for memberships (so their order in the input does not matter), each written in batches of
// Options.BatchSize objects, one transaction per batch; applications last, one transaction each.
// Every object is looked up before it is written: equal objects are left alone and counted
// unchanged, so a second run writes nothing.

const kindKeptPassword = "kept (already set in crowdgate)"

// errCreatedHere stands for a lookup skipped in a directory this run created: nothing can be there yet.
var errCreatedHere = fmt.Errorf("created in this run: %w", store.ErrNotFound)

// byName looks a user or group up by name in t, or answers errCreatedHere when this run created t.
func byName[T any](ctx context.Context, t *target, name string, lookup func(context.Context, int64, string) (T, error)) (T, error) {
	if t.fresh {
		var zero T
		return zero, errCreatedHere
	}
	return lookup(ctx, t.dir.ID, name)
}

type importer struct {
	opts *Options
	st   Store
	p    *plan
	rep  *Report
	dry  bool

	batch []record
	done  int64
}

func runImport(ctx context.Context, src source, st Store, p *plan, opts *Options, rep *Report) error {
	im := &importer{opts: opts, st: st, p: p, rep: rep, dry: opts.DryRun}
	started := opts.Now()
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "importing", Done: im.done, Total: p.total(), Unit: "objects", Elapsed: opts.Now().Sub(started)})
		}
	}
	if err := im.directories(ctx); err != nil {
		return err
	}
	progress()
	flush := func() error {
		if len(im.batch) == 0 {
			return nil
		}
		err := im.apply(ctx)
		im.done += int64(len(im.batch))
		im.batch = im.batch[:0]
		progress()
		return err
	}
	add := func(r record) error {
		im.batch = append(im.batch, r)
		if len(im.batch) >= opts.BatchSize {
			return flush()
		}
		return nil
	}
	// pass reads the source once more and writes the records of kinds want that take accepts.
	pass := func(want kinds, take func(record) bool) error {
		err := src.each(ctx, want, func(r record) error {
			if take(r) {
				return add(r)
			}
			return nil
		}, nil)
		if err == nil {
			err = flush()
		}
		return err
	}
	if err := pass(wantUsers|wantGroups, func(r record) bool {
		switch r.(type) {
		case *userRec, *groupRec:
			return true
		}
		return false
	}); err != nil {
		return err
	}
	if err := pass(wantMembers, func(r record) bool {
		_, ok := r.(*memberRec)
		return ok
	}); err != nil {
		return err
	}
	for _, a := range p.apps {
		if err := im.application(ctx, a); err != nil {
			return err
		}
		im.done++
	}
	progress()
	return nil
}

// apply writes one batch: in one transaction, or against the read-only store in a dry run.
func (im *importer) apply(ctx context.Context) error {
	run := func(o ops) error {
		for _, r := range im.batch {
			var err error
			switch r := r.(type) {
			case *userRec:
				err = im.user(ctx, o, r)
			case *groupRec:
				err = im.group(ctx, o, r)
			case *memberRec:
				err = im.member(ctx, o, r)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if im.dry {
		// reads of a batch in one transaction are much cheaper (SQLite); readOnly refuses writes
		return im.st.InTx(ctx, func(tx *store.Store) error { return run(readOnly{tx}) })
	}
	return im.st.InTx(ctx, func(tx *store.Store) error { return run(tx) })
}

func (im *importer) directories(ctx context.Context) error {
	for _, d := range im.p.order {
		if d.skip != "" {
			im.rep.Directories.Skipped++
			im.rep.skip("directory", d.skip, d.rec.Name)
		}
	}
	for _, t := range sortedTargets(im.p.targets) {
		if t.exists {
			im.rep.Directories.Unchanged++
			continue
		}
		im.rep.Directories.Created++
		if im.dry {
			continue
		}
		lockout := t.lockout
		if lockout <= 0 {
			lockout = 5
		}
		d := store.Directory{Name: t.name, Kind: store.DirectoryInternal, Description: t.desc, Active: t.active,
			NestedGroups: t.nested, LockoutThreshold: lockout, LockoutSeconds: 300, MinPasswordLen: t.minLen}
		var err error
		err = im.st.InTx(ctx, func(tx *store.Store) error {
			d, err = tx.CreateDirectory(ctx, d)
			return err
		})
		if err != nil {
			return fmt.Errorf("crowdimport: create directory %q: %w", t.name, err)
		}
		t.dir, t.exists, t.fresh = d, true, true
		im.opts.Log.Info("directory created", "directory", t.name)
	}
	return nil
}

func sortedTargets(m map[string]*target) []*target {
	out := make([]*target, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// source returns the plan of a record's directory and whether its records are imported,
// recording the skip otherwise.
func (im *importer) source(dir int64, kind, name string) (*dirPlan, bool) {
	d := im.p.dirs[dir]
	if d == nil {
		return nil, false // refused by validation; cannot happen after it passed
	}
	if d.skip != "" {
		im.rep.skip(kind, fmt.Sprintf("in skipped directory %q", d.rec.Name), name)
		return d, false
	}
	return d, true
}

func (im *importer) user(ctx context.Context, o ops, r *userRec) error {
	d, ok := im.source(r.Dir, "user", r.Name)
	if !ok {
		im.rep.Users.Skipped++
		return nil
	}
	t := d.target
	key := store.Lower(r.Name)
	seen := t.users[key]
	cp, err := planCredential(r.Credential, d.rec.Encoder, d.rec.Type == "INTERNAL", im.opts.DESKey)
	if err != nil {
		return fmt.Errorf("crowdimport: user %q (%s): %w", r.Name, r.Pos, err)
	}
	if r.History > 0 {
		im.rep.note("Crowd's password history (%s) is not imported: crowdgate keeps none", "credentialHistory")
	}
	if cp.kind == credDESNoKey {
		im.rep.warn("user %q: the password is DES-encrypted and no DES key was given: imported without a password", r.Name)
	}
	if t.dir.ID == 0 { // dry run into a directory that does not exist yet
		im.rep.Users.Created++
		im.rep.Passwords[cp.kind]++
		return nil
	}
	u, err := byName(ctx, t, r.Name, o.UserByName)
	if store.IsNotFound(err) && r.ExternalID != "" && !t.fresh {
		// renamed in Crowd since an earlier import: same external id, new name
		if ex, xerr := o.UserByExternalID(ctx, t.dir.ID, r.ExternalID); xerr == nil {
			if !im.dry {
				renamed, err := o.RenameUser(ctx, ex.ID, r.Name)
				if err != nil {
					return fmt.Errorf("crowdimport: rename user %q to %q: %w", ex.Name, r.Name, err)
				}
				ex = renamed
			}
			return im.updateUser(ctx, o, r, t, key, seen, ex, cp, true)
		} else if !store.IsNotFound(xerr) {
			return fmt.Errorf("crowdimport: user %q: %w", r.Name, xerr)
		}
	}
	if store.IsNotFound(err) {
		im.rep.Users.Created++
		im.rep.Passwords[cp.kind]++
		if im.dry {
			return nil
		}
		cred := cp.stored
		if cp.kind == credDES {
			if cred, err = password.Hash(cp.plain); err != nil {
				return fmt.Errorf("crowdimport: user %q: hash the decrypted password: %w", r.Name, err)
			}
		}
		nu := store.NewUser{DirectoryID: t.dir.ID, Name: r.Name, FirstName: r.FirstName, LastName: r.LastName,
			DisplayName: r.DisplayName, Email: r.Email, Active: r.Active, ExternalID: r.ExternalID, Credential: cred, Attributes: r.Attrs}
		created, err := o.CreateUser(ctx, nu)
		if err != nil {
			return fmt.Errorf("crowdimport: create user %q (%s): %w", r.Name, r.Pos, err)
		}
		seen.id = created.ID
		t.users[key] = seen
		return nil
	}
	if err != nil {
		return fmt.Errorf("crowdimport: user %q: %w", r.Name, err)
	}
	return im.updateUser(ctx, o, r, t, key, seen, u, cp, false)
}

// updateUser brings an existing user in line with the record; changed says a rename already happened.
func (im *importer) updateUser(ctx context.Context, o ops, r *userRec, t *target, key string, seen nameSeen,
	u store.User, cp credPlan, changed bool) error {
	seen.id = u.ID
	t.users[key] = seen
	var ch store.UserChange
	set := func(dst **string, cur, want string) {
		if cur != want {
			*dst = &want
			changed = true
		}
	}
	set(&ch.FirstName, u.FirstName, r.FirstName)
	set(&ch.LastName, u.LastName, r.LastName)
	set(&ch.Email, u.Email, r.Email)
	set(&ch.DisplayName, u.DisplayName, displayName(r.DisplayName, r.FirstName, r.LastName))
	if u.Active != r.Active {
		ch.Active = &r.Active
		changed = true
	}
	if changed && !im.dry && (ch != store.UserChange{}) {
		if _, err := o.UpdateUser(ctx, u.ID, ch); err != nil {
			return fmt.Errorf("crowdimport: update user %q (%s): %w", r.Name, r.Pos, err)
		}
	}
	attrsChanged, err := im.attributes(ctx, "user", r.Name, u.ID, r.Attrs, o.UserAttributes, o.StoreUserAttributes)
	if err != nil {
		return err
	}
	changed = changed || attrsChanged
	if cp.stored != "" || cp.kind == credDES {
		has, err := o.HasCredential(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("crowdimport: user %q: %w", r.Name, err)
		}
		if has {
			im.rep.Passwords[kindKeptPassword]++
		} else {
			changed = true
			im.rep.Passwords[cp.kind]++
			if !im.dry {
				cred := cp.stored
				if cp.kind == credDES {
					if cred, err = password.Hash(cp.plain); err != nil {
						return fmt.Errorf("crowdimport: user %q: hash the decrypted password: %w", r.Name, err)
					}
				}
				if err := o.SetCredential(ctx, u.ID, cred); err != nil {
					return fmt.Errorf("crowdimport: user %q credential: %w", r.Name, err)
				}
			}
		}
	}
	if changed {
		im.rep.Users.Updated++
	} else {
		im.rep.Users.Unchanged++
	}
	return nil
}

// displayName is the store's rule: an empty display name becomes "first last".
func displayName(display, first, last string) string {
	if strings.TrimSpace(display) != "" {
		return display
	}
	return strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
}

// attributes brings the attributes of an existing user or group (kind, named name, with id) in line
// with want, the record's: attributes crowdgate holds besides them stay. It reports whether any had
// to change (in a dry run nothing is written, but the change is still counted).
func (im *importer) attributes(ctx context.Context, kind, name string, id int64, want map[string][]string,
	load func(context.Context, int64) (map[string][]string, error),
	save func(context.Context, int64, map[string][]string) error) (bool, error) {
	if len(want) == 0 {
		return false, nil
	}
	cur, err := load(ctx, id)
	if err != nil {
		return false, fmt.Errorf("crowdimport: %s %q: %w", kind, name, err)
	}
	if attrsContained(want, cur) {
		return false, nil
	}
	if !im.dry {
		if err := save(ctx, id, want); err != nil {
			return false, fmt.Errorf("crowdimport: %s %q attributes: %w", kind, name, err)
		}
	}
	return true, nil
}

// attrsContained reports whether every attribute of want has exactly those values (as a set) in cur.
func attrsContained(want, cur map[string][]string) bool {
	for name, vals := range want {
		if !slices.Equal(setOf(vals), setOf(cur[name])) {
			return false
		}
	}
	return true
}

func setOf(v []string) []string {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}

func (im *importer) group(ctx context.Context, o ops, r *groupRec) error {
	d, ok := im.source(r.Dir, "group", r.Name)
	if !ok {
		im.rep.Groups.Skipped++
		return nil
	}
	if r.Type == "LEGACY_ROLE" {
		im.rep.Groups.Skipped++
		im.rep.skip("group", "Crowd legacy role (roles are not groups to Jira and Confluence today)", r.Name)
		return nil
	}
	t := d.target
	key := store.Lower(r.Name)
	seen := t.groups[key]
	if seen.dir != r.Dir {
		im.rep.Groups.Skipped++
		im.rep.skip("group", fmt.Sprintf("same name as a group of directory %q, merged into it in %q", im.p.dirs[seen.dir].rec.Name, t.name), r.Name)
		return nil
	}
	if t.dir.ID == 0 {
		im.rep.Groups.Created++
		return nil
	}
	g, err := byName(ctx, t, r.Name, o.GroupByName)
	if store.IsNotFound(err) {
		im.rep.Groups.Created++
		if im.dry {
			return nil
		}
		created, err := o.CreateGroup(ctx, store.NewGroup{DirectoryID: t.dir.ID, Name: r.Name, Description: r.Description,
			Active: r.Active, Attributes: r.Attrs})
		if err != nil {
			return fmt.Errorf("crowdimport: create group %q (%s): %w", r.Name, r.Pos, err)
		}
		seen.id = created.ID
		t.groups[key] = seen
		return nil
	}
	if err != nil {
		return fmt.Errorf("crowdimport: group %q: %w", r.Name, err)
	}
	seen.id = g.ID
	t.groups[key] = seen
	changed := false
	var ch store.GroupChange
	if g.Description != r.Description {
		ch.Description, changed = &r.Description, true
	}
	if g.Active != r.Active {
		ch.Active, changed = &r.Active, true
	}
	if changed && !im.dry {
		if _, err := o.UpdateGroup(ctx, g.ID, ch); err != nil {
			return fmt.Errorf("crowdimport: update group %q (%s): %w", r.Name, r.Pos, err)
		}
	}
	attrsChanged, err := im.attributes(ctx, "group", r.Name, g.ID, r.Attrs, o.GroupAttributes, o.StoreGroupAttributes)
	if err != nil {
		return err
	}
	changed = changed || attrsChanged
	if changed {
		im.rep.Groups.Updated++
	} else {
		im.rep.Groups.Unchanged++
	}
	return nil
}

func (im *importer) member(ctx context.Context, o ops, m *memberRec) error {
	counts := &im.rep.UserMemberships
	kind := "user membership"
	if m.Group {
		counts, kind = &im.rep.GroupMemberships, "group membership"
	}
	label := m.Child + " in " + m.Parent
	d, ok := im.source(m.Dir, kind, label)
	if !ok {
		counts.Skipped++
		return nil
	}
	t := d.target
	ps, okParent := t.hasGroup(m.Dir, store.Lower(m.Parent))
	cs, okChild := t.users[store.Lower(m.Child)]
	okChild = okChild && cs.dir == m.Dir
	if m.Group {
		cs, okChild = t.hasGroup(m.Dir, store.Lower(m.Child))
	}
	if !okParent || !okChild {
		// only from a lenient (REST) source: validation refuses these in a backup
		counts.Skipped++
		im.rep.skip(kind, "names a user or group that was not listed with the others", label)
		return nil
	}
	parent, child := ps.id, cs.id
	if parent == 0 || child == 0 {
		if !im.dry {
			return fmt.Errorf("crowdimport: membership of %q in %q (%s): not imported before its membership", m.Child, m.Parent, m.Pos)
		}
		counts.Created++ // a dry run: the user or group would be created
		return nil
	}
	var exists bool
	var err error
	if m.Group {
		exists, err = o.GroupMembershipExists(ctx, child, parent)
	} else {
		exists, err = o.UserMembershipExists(ctx, child, parent)
	}
	if err != nil {
		return fmt.Errorf("crowdimport: membership of %q in %q: %w", m.Child, m.Parent, err)
	}
	if exists {
		counts.Unchanged++
		return nil
	}
	counts.Created++
	if im.dry {
		return nil
	}
	if m.Group {
		err = o.AddGroupToGroup(ctx, child, parent)
	} else {
		err = o.AddUserToGroup(ctx, child, parent)
	}
	if err != nil {
		return fmt.Errorf("crowdimport: membership of %q in %q (%s): %w", m.Child, m.Parent, m.Pos, err)
	}
	return nil
}
