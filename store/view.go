package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// View is what one application sees of the directory: the users and groups of its active mapped
// directories, in mapping order, where a name in an earlier directory shadows the same name in a
// later one. Every Crowd REST read goes through a View.
type View struct {
	s        *Store
	App      Application
	dirs     []int64 // active mapped directories, in order
	mappings map[int64]Mapping
	kinds    map[int64]string

	allowedMu   sync.Mutex
	allowed     map[int64][]int64            // per directory: allowed groups and their descendants
	allowedSets map[int64]map[int64]struct{} // the same as sets
}

// View returns app's view of the directory. Inactive directories are skipped. Views are cached
// briefly (every Crowd request needs one); a change of directories or applications drops them.
//
// Only stored applications share cached views: the cache knows an application by its id and
// configuration version, and an application that was never stored (id 0, such as the CLI's
// per-directory listing application) has neither, so two of them would get each other's view.
func (s *Store) View(ctx context.Context, app Application) (*View, error) {
	if app.ID == 0 {
		return s.loadView(ctx, app)
	}
	if v := s.shared.views.get(app, s.now()); v != nil {
		return v, nil
	}
	if s.tx != nil {
		return s.loadView(ctx, app) // sees the transaction's own changes: not shared
	}
	c := s.shared.views
	gen := c.generation()
	key := strconv.FormatInt(app.ID, 10) + "." + strconv.FormatInt(app.ConfigVersion, 10)
	// Concurrent misses share one load; one client giving up must not fail the others.
	v, err, _ := c.loads.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		v, err := s.loadView(ctx, app)
		if err != nil {
			return nil, err
		}
		c.put(v, s.now(), gen)
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*View), nil
}

func (s *Store) loadView(ctx context.Context, app Application) (*View, error) {
	v := &View{s: s, App: app, mappings: map[int64]Mapping{}, kinds: map[int64]string{}}
	if len(app.Mappings) == 0 {
		return v, nil
	}
	ids := make([]int64, len(app.Mappings))
	for i, m := range app.Mappings {
		ids[i] = m.DirectoryID
	}
	var ds []Directory
	if err := s.q(ctx).Where("id IN ?", ids).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("view of %q: %w", app.Name, err)
	}
	active := map[int64]Directory{}
	for _, d := range ds {
		if d.Active {
			active[d.ID] = d
		}
	}
	for _, m := range app.Mappings {
		if d, ok := active[m.DirectoryID]; ok {
			v.dirs = append(v.dirs, m.DirectoryID)
			v.mappings[m.DirectoryID] = m
			v.kinds[m.DirectoryID] = d.Kind
		}
	}
	return v, nil
}

// Directories returns the ids of the view's active directories in order.
func (v *View) Directories() []int64 { return slices.Clone(v.dirs) }

// canonical returns a SQL condition (alias a, table t: "users" or "groups") that keeps a row only
// when no earlier directory of the view has the same name: Crowd's shadowing rule.
func (v *View) canonical(alias, table string) (string, []any) {
	if len(v.dirs) <= 1 {
		return "1=1", nil
	}
	var parts []string
	var args []any
	for i, d := range v.dirs {
		if i == 0 {
			parts = append(parts, alias+".directory_id = ?")
			args = append(args, d)
			continue
		}
		parts = append(parts, "("+alias+".directory_id = ? AND NOT EXISTS (SELECT 1 FROM "+table+" x WHERE x.lower_name = "+
			alias+".lower_name AND x.directory_id IN ?))")
		args = append(args, d, v.dirs[:i])
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// User returns the visible user with that name (the first mapped directory's one).
func (v *View) User(ctx context.Context, name string) (User, error) {
	for _, d := range v.dirs {
		u, err := v.s.UserByName(ctx, d, name)
		if err == nil {
			if ok, err := v.visible(ctx, u); err != nil {
				return User{}, err
			} else if !ok {
				break
			}
			return u, nil
		}
		if !IsNotFound(err) {
			return User{}, err
		}
	}
	return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
}

// UserByKey returns the user with that Crowd key when it is visible and not shadowed.
func (v *View) UserByKey(ctx context.Context, key string) (User, error) {
	u, err := v.s.UserByKey(ctx, key)
	if err != nil {
		return User{}, err
	}
	if _, ok := v.mappings[u.DirectoryID]; !ok {
		return User{}, fmt.Errorf("user with key %q: %w", key, ErrNotFound)
	}
	c, err := v.User(ctx, u.Name)
	if err != nil || c.ID != u.ID {
		return User{}, fmt.Errorf("user with key %q: %w", key, ErrNotFound)
	}
	return u, nil
}

// Group returns the visible group with that name (the first mapped directory's one).
func (v *View) Group(ctx context.Context, name string) (Group, error) {
	for _, d := range v.dirs {
		g, err := v.s.GroupByName(ctx, d, name)
		if err == nil {
			return g, nil
		}
		if !IsNotFound(err) {
			return Group{}, err
		}
	}
	return Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
}

// groupIDs returns the ids of every group named name across the view's directories: groups with
// one name are one group to the application.
func (v *View) groupIDs(ctx context.Context, name string) ([]int64, error) {
	if len(v.dirs) == 0 {
		return nil, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	var ids []int64
	err := v.s.q(ctx).Raw("SELECT id FROM groups WHERE lower_name = ? AND directory_id IN ?", Lower(name), v.dirs).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", name, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return ids, nil
}

// IsNotFound reports whether err wraps ErrNotFound.
func IsNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

// cacheLifetime bounds how long a cached view or application is reused. Every change through any
// instance drops them at once (see invalidate), so this only bounds staleness after a lost
// notification.
const cacheLifetime = 30 * time.Second

// viewCache keeps one view per application.
type viewCache struct {
	mu    sync.Mutex
	m     map[int64]cachedView
	gen   uint64 // bumped by every clear: a load that raced one is not kept
	loads singleflight.Group
}

type cachedView struct {
	v      *View
	loaded time.Time
}

func newViewCache() *viewCache { return &viewCache{m: map[int64]cachedView{}} }

func (c *viewCache) get(app Application, now time.Time) *View {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[app.ID]
	if !ok || now.Sub(e.loaded) >= cacheLifetime || now.Before(e.loaded) ||
		e.v.App.ConfigVersion != app.ConfigVersion || !e.v.App.UpdatedAt.Equal(app.UpdatedAt) {
		return nil
	}
	return e.v
}

func (c *viewCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *viewCache) put(v *View, now time.Time, gen uint64) {
	c.mu.Lock()
	if c.gen == gen {
		c.m[v.App.ID] = cachedView{v: v, loaded: now}
	}
	c.mu.Unlock()
}

func (c *viewCache) clear() {
	c.mu.Lock()
	c.gen++
	c.m = map[int64]cachedView{}
	c.mu.Unlock()
}
