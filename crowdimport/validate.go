package crowdimport

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// The validation pass reads the whole source once, checks every record against the rules the store
// would apply and against the rest of the input (dangling memberships, names that differ only in
// case, nesting cycles), and builds the plan the import pass follows. It keeps per directory the
// set of lower-cased user and group names (with the line each was seen on) and the group nesting
// edges; nothing else of the input stays in memory.

// dirPlan is what becomes of one Crowd directory.
type dirPlan struct {
	rec    dirRec
	skip   string  // why its content is left out; "" when imported
	target *target // where it goes
}

// target is a crowdgate directory receiving one or more Crowd directories.
type target struct {
	name    string
	nested  bool
	desc    string
	active  bool
	minLen  int
	lockout int
	dir     store.Directory // zero until it exists (in a dry run it may never)
	exists  bool
	fresh   bool // created by this run: nothing in it predates the run, so nothing needs looking up
	sources []*dirPlan

	users  map[string]nameSeen // lower name → first sighting
	groups map[string]nameSeen
	edges  map[string]map[string]struct{} // lower parent → lower children (nesting), for the cycle check
	merged map[mergedKey]bool             // groups of later Crowd directories merged into a same-named one
}

// mergedKey names a group of one Crowd directory.
type mergedKey struct {
	dir   int64
	lower string
}

// hasGroup reports whether Crowd directory dir has the group (lower-cased name) in t.
func (t *target) hasGroup(dir int64, lower string) (nameSeen, bool) {
	g, ok := t.groups[lower]
	return g, ok && (g.dir == dir || t.merged[mergedKey{dir, lower}])
}

// nameSeen is where a name was first seen, and (once the import pass has found or created it) the
// store id of its user or group.
type nameSeen struct {
	dir  int64 // Crowd directory
	line int32
	name string
	id   int64
}

// plan is the outcome of validation.
type plan struct {
	dirs    map[int64]*dirPlan // by Crowd id
	order   []*dirPlan         // in input order
	targets map[string]*target // by lower name
	apps    []*appRec
	ignored map[string]int // sections not imported → entities

	users, groups, userMembers, groupMembers int // records to import (including skipped ones)
	deferredMembers                          bool
}

func (p *plan) total() int64 {
	return int64(p.users + p.groups + p.userMembers + p.groupMembers + len(p.apps))
}

// validator runs the validation pass.
type validator struct {
	opts *Options
	st   reader
	src  string
	ps   problems
	p    *plan
	rep  *Report

	pending []*memberRec // memberships seen before the users and groups they name (unusual order)
	lenient bool         // dangling memberships are skipped (REST), not refused
}

func validate(ctx context.Context, src source, st reader, opts *Options, rep *Report) (*plan, error) {
	v := &validator{opts: opts, st: st, src: src.describe(), rep: rep,
		p: &plan{dirs: map[int64]*dirPlan{}, targets: map[string]*target{}, ignored: map[string]int{}}}
	if l, ok := src.(lenient); ok {
		v.lenient = l.lenientMembers()
	}
	started := opts.Now()
	progress := func(done, total int64) {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "validating", Done: done, Total: total, Unit: "bytes", Elapsed: opts.Now().Sub(started)})
		}
	}
	// Directories come first in Crowd's backups, but nothing below relies on it: records of
	// directories not yet seen wait in the first pass, and are checked in a second one.
	var late bool
	err := src.each(ctx, wantAll, func(r record) error {
		switch r := r.(type) {
		case *dirRec:
			return v.directory(ctx, r)
		case *userRec:
			if v.p.dirs[r.Dir] == nil {
				late = true
				return nil
			}
			v.user(r)
		case *groupRec:
			if v.p.dirs[r.Dir] == nil {
				late = true
				return nil
			}
			v.group(r)
		case *memberRec:
			v.p.countMember(r)
			if v.member(r, false) {
				return nil
			}
			if len(v.pending) < maxPending {
				m := *r
				v.pending = append(v.pending, &m)
			} else {
				v.p.deferredMembers = true // checked in a second pass instead of held in memory
			}
		case *appRec:
			v.p.apps = append(v.p.apps, r)
		case *ignoredRec:
			v.p.ignored[r.Section]++
		}
		return nil
	}, progress)
	if err != nil {
		return nil, v.fatal(err)
	}
	if late {
		// users or groups came before their directory: read them again now that every directory is known
		err := src.each(ctx, wantUsers|wantGroups, func(r record) error {
			switch r := r.(type) {
			case *userRec:
				if !v.seen(r.Dir, r.Name, r.Pos, targetUsers) {
					v.user(r)
				}
			case *groupRec:
				if !v.seen(r.Dir, r.Name, r.Pos, targetGroups) {
					v.group(r)
				}
			}
			return nil
		}, nil)
		if err != nil {
			return nil, v.fatal(err)
		}
	}
	if v.p.deferredMembers {
		// Too many memberships came before the users and groups they name to keep them: read them
		// again. Those that passed already pass again (nesting edges are a set).
		v.pending = nil
		err := src.each(ctx, wantMembers, func(r record) error {
			if m, ok := r.(*memberRec); ok {
				v.member(m, true)
			}
			return nil
		}, nil)
		if err != nil {
			return nil, v.fatal(err)
		}
	}
	for _, m := range v.pending {
		v.member(m, true)
	}
	v.pending = nil
	for _, t := range v.p.targets {
		v.cycles(t)
	}
	for _, a := range v.p.apps {
		v.application(a)
	}
	if err := v.targets(ctx); err != nil {
		return nil, err
	}
	if err := v.ps.err(v.src); err != nil {
		return nil, err
	}
	return v.p, nil
}

func (p *plan) countMember(m *memberRec) {
	if m.Group {
		p.groupMembers++
	} else {
		p.userMembers++
	}
}

// fatal turns a read error into the validation error it is (input problems) or passes it on.
func (v *validator) fatal(err error) error {
	if se, ok := err.(*syntaxError); ok {
		v.ps.total++
		v.ps.list = append(v.ps.list, se.Problem)
		return v.ps.err(v.src)
	}
	return err
}

func (v *validator) directory(ctx context.Context, r *dirRec) error {
	if old := v.p.dirs[r.ID]; old != nil {
		v.ps.add(r.Pos, "directory", "directory id %d is used twice (also by %q at %s)", r.ID, old.rec.Name, old.rec.Pos)
		return nil
	}
	if err := store.ValidateName("directory", r.Name); err != nil {
		v.ps.add(r.Pos, "directory", "%v", err)
		return nil
	}
	dp := &dirPlan{rec: *r}
	v.p.dirs[r.ID] = dp
	v.p.order = append(v.p.order, dp)
	internal := r.Type == "INTERNAL"
	switch {
	case !internal && r.Type == "AZURE_AD" && v.opts.OtherDirectories == OtherDirectoriesSkip:
		dp.skip = "Azure AD directory: its users come to crowdgate from Entra ID through graphsync"
	case !internal && v.opts.OtherDirectories == OtherDirectoriesSkip:
		dp.skip = fmt.Sprintf("%s directory: its users and passwords live outside Crowd (to import the users Crowd "+
			"cached for it as local accounts without passwords, import other directories as INTERNAL)", r.Type)
	case !r.Active:
		v.rep.warn("directory %q is inactive in Crowd: imported, inactive", r.Name)
	}
	if dp.skip != "" {
		return nil
	}
	name := r.Name
	if v.opts.TargetDirectory != "" {
		name = v.opts.TargetDirectory
	}
	t := v.p.targets[store.Lower(name)]
	if t == nil {
		t = &target{name: name, desc: r.Description, active: r.Active, nested: r.Nested, minLen: r.MinLength,
			lockout: r.MaxAttempts, users: map[string]nameSeen{}, groups: map[string]nameSeen{}, edges: map[string]map[string]struct{}{}, merged: map[mergedKey]bool{}}
		v.p.targets[store.Lower(name)] = t
	} else {
		t.nested = t.nested || r.Nested
		t.active = t.active || r.Active
	}
	t.sources = append(t.sources, dp)
	dp.target = t
	return nil
}

// dirOf returns the plan of a record's directory, reporting a dangling reference.
func (v *validator) dirOf(p pos, element, what string, id int64) *dirPlan {
	d := v.p.dirs[id]
	if d == nil {
		if id == 0 {
			v.ps.add(p, element, "%s has no <directoryId>", what)
		} else {
			v.ps.add(p, element, "%s is in directory %d, which is not in the backup's <directories>", what, id)
		}
	}
	return d
}

// seen says whether the first pass already took in this user or group record: its directory was
// known then and the first sighting of its name (in names, the target's users or groups) is this line.
func (v *validator) seen(dir int64, name string, p pos, names func(*target) map[string]nameSeen) bool {
	d := v.p.dirs[dir]
	if d == nil || d.target == nil {
		return false
	}
	s, ok := names(d.target)[store.Lower(name)]
	return ok && int(s.line) == p.Line
}

func targetUsers(t *target) map[string]nameSeen  { return t.users }
func targetGroups(t *target) map[string]nameSeen { return t.groups }

func (v *validator) user(r *userRec) {
	v.p.users++
	d := v.dirOf(r.Pos, "user", fmt.Sprintf("user %q", r.Name), r.Dir)
	if d == nil {
		return
	}
	if d.skip != "" {
		return
	}
	if err := store.ValidateNewUser(store.NewUser{Name: r.Name, FirstName: r.FirstName, LastName: r.LastName,
		DisplayName: r.DisplayName, Email: r.Email, Attributes: r.Attrs}); err != nil {
		v.ps.add(r.Pos, "user", "user %q: %v", r.Name, err)
		return
	}
	key := store.Lower(r.Name)
	if prev, dup := d.target.users[key]; dup {
		v.duplicate(r.Pos, "user", r.Name, r.Dir, prev, d.target)
		return
	}
	d.target.users[key] = nameSeen{dir: r.Dir, line: int32(r.Pos.Line), name: r.Name}
	if _, err := planCredential(r.Credential, d.rec.Encoder, d.rec.Type == "INTERNAL", v.opts.DESKey); err != nil {
		v.ps.add(r.Pos, "user", "user %q: <credential>: %v", r.Name, err)
	}
}

func (v *validator) group(r *groupRec) {
	v.p.groups++
	d := v.dirOf(r.Pos, "group", fmt.Sprintf("group %q", r.Name), r.Dir)
	if d == nil {
		return
	}
	if d.skip != "" || r.Type == "LEGACY_ROLE" {
		return
	}
	if err := store.ValidateNewGroup(store.NewGroup{Name: r.Name, Description: r.Description, Attributes: r.Attrs}); err != nil {
		v.ps.add(r.Pos, "group", "group %q: %v", r.Name, err)
		return
	}
	key := store.Lower(r.Name)
	if prev, dup := d.target.groups[key]; dup {
		if prev.dir != r.Dir && !d.target.merged[mergedKey{r.Dir, key}] {
			// same name in two Crowd directories merged into one: one group, as Crowd shows it
			d.target.merged[mergedKey{r.Dir, key}] = true
			return
		}
		v.duplicate(r.Pos, "group", r.Name, r.Dir, prev, d.target)
		return
	}
	d.target.groups[key] = nameSeen{dir: r.Dir, line: int32(r.Pos.Line), name: r.Name}
}

func (v *validator) duplicate(p pos, element, name string, dir int64, prev nameSeen, t *target) {
	where := fmt.Sprintf("line %d", prev.line)
	if prev.line == 0 {
		where = "earlier"
	}
	if prev.dir != dir {
		v.ps.add(p, element, "%s %q of directory %q clashes with %q of directory %q (%s), both going to crowdgate directory %q: "+
			"import the directories separately (no target directory)", element, name, v.p.dirs[dir].rec.Name, prev.name,
			v.p.dirs[prev.dir].rec.Name, where, t.name)
		return
	}
	if prev.name == name {
		v.ps.add(p, element, "%s %q appears twice in directory %q (first at %s)", element, name, v.p.dirs[dir].rec.Name, where)
		return
	}
	v.ps.add(p, element, "%s %q and %q (%s) differ only in case: names are case-insensitive, so they would be one %s",
		element, name, prev.name, where, element)
}

// maxPending bounds the memberships held back because they came before what they name.
const maxPending = 4096

// member checks one membership. With final false it only reports success: a membership naming a
// directory, user or group not seen yet is left for later (false, nothing reported).
func (v *validator) member(m *memberRec, final bool) bool {
	what := fmt.Sprintf("membership of %q in %q", m.Child, m.Parent)
	if !final && v.p.dirs[m.Dir] == nil {
		return false
	}
	d := v.dirOf(m.Pos, "membership", what, m.Dir)
	if d == nil || d.skip != "" {
		return true
	}
	t := d.target
	missing := func(kind, name string) bool {
		if final && !v.lenient {
			v.ps.add(m.Pos, "membership", "%s: %s %q is not a %s of directory %q in this backup", what, kind, name, kind, d.rec.Name)
		}
		return false
	}
	if _, ok := t.hasGroup(m.Dir, store.Lower(m.Parent)); !ok {
		return missing("group", m.Parent)
	}
	if !m.Group {
		child, ok := t.users[store.Lower(m.Child)]
		if !ok || child.dir != m.Dir {
			return missing("user", m.Child)
		}
		return true
	}
	if _, ok := t.hasGroup(m.Dir, store.Lower(m.Child)); !ok {
		return missing("group", m.Child)
	}
	if store.Lower(m.Child) == store.Lower(m.Parent) {
		v.ps.add(m.Pos, "membership", "%s: a group cannot be a member of itself", what)
		return true
	}
	pl, cl := store.Lower(m.Parent), store.Lower(m.Child)
	if t.edges[pl] == nil {
		t.edges[pl] = map[string]struct{}{}
	}
	t.edges[pl][cl] = struct{}{}
	if !t.nested {
		t.nested = true
		v.rep.note("directory %q has nested group memberships: nested groups are enabled for it in crowdgate", t.name)
	}
	return true
}

// cycles reports group nesting cycles, which the store refuses.
func (v *validator) cycles(t *target) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(g string) bool
	visit = func(g string) bool {
		color[g] = grey
		path = append(path, g)
		for _, c := range slices.Sorted(maps.Keys(t.edges[g])) {
			switch color[c] {
			case grey:
				i := len(path) - 1
				for i > 0 && path[i] != c {
					i--
				}
				names := make([]string, 0, len(path)-i+1)
				for _, n := range append(path[i:], c) {
					names = append(names, t.groups[n].name)
				}
				v.ps.add(pos{Line: int(t.groups[c].line)}, "membership", "groups of directory %q nest in a cycle: %s",
					t.name, strings.Join(names, " ⊃ "))
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		color[g] = black
		return false
	}
	for _, g := range slices.Sorted(maps.Keys(t.edges)) {
		if color[g] == white && visit(g) {
			return
		}
	}
}

func (v *validator) application(a *appRec) {
	if v.opts.skipsApplication(a.Name, a.Type) {
		return
	}
	if err := store.ValidateName("application", a.Name); err != nil {
		v.ps.add(a.Pos, "application", "%v", err)
		return
	}
	for _, m := range a.Mappings {
		if v.p.dirs[m.Dir] == nil {
			v.ps.add(a.Pos, "application", "application %q maps directory %d, which is not in the backup's <directories>", a.Name, m.Dir)
		}
		for _, g := range m.Groups {
			if err := store.ValidateName("group", g); err != nil {
				v.ps.add(a.Pos, "application", "application %q: allowed group: %v", a.Name, err)
			}
		}
	}
}

// targets checks the crowdgate directories the import writes to.
func (v *validator) targets(ctx context.Context) error {
	for _, t := range v.p.targets {
		d, err := v.st.DirectoryByName(ctx, t.name)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("crowdimport: directory %q: %w", t.name, err)
		}
		if d.Kind != store.DirectoryInternal {
			v.ps.add(t.sources[0].rec.Pos, "directory", "crowdgate directory %q exists and is %s, not INTERNAL: "+
				"choose another target directory", d.Name, d.Kind)
			continue
		}
		if !d.NestedGroups && len(t.edges) > 0 {
			v.ps.add(t.sources[0].rec.Pos, "directory", "crowdgate directory %q does not allow nested groups, "+
				"and the backup nests groups in it: enable nested groups for it first", t.name)
		}
		t.dir, t.exists = d, true
	}
	return nil
}
