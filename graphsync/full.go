package graphsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/crowdgate/crowdgate/store"
)

// ---- full rounds ----

// fullUser is a present user of a full round.
type fullUser struct {
	store.SyncUser
	excluded bool // an excluded guest
}

// fullGroup is a present group of a full round with its direct members (ids; duplicates allowed).
type fullGroup struct {
	name    string // Graph's display name, for the filter
	typed   bool   // of a replicated type (mapper.typed)
	sg      store.SyncGroup
	users   []string
	groups  []string
	dropped map[string]bool // members reported removed (not expected in a full round)
}

func (r *run) full(ctx context.Context) error {
	// The two rounds are independent: read them at once (parsing pages is the costly part).
	r.phase("reading")
	users := map[string]*fullUser{}
	groups := map[string]*fullGroup{}
	var usersLink, groupsLink string
	var usersErr, groupsErr error
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if usersLink, usersErr = r.readUsers(rctx, "", users); usersErr != nil {
			cancel()
		}
	})
	wg.Go(func() {
		if groupsLink, groupsErr = r.readGroups(rctx, groups); groupsErr != nil {
			cancel()
		}
	})
	wg.Wait()
	cancel()
	switch {
	case usersErr != nil && !(errors.Is(usersErr, context.Canceled) && groupsErr != nil && ctx.Err() == nil):
		return usersErr
	case groupsErr != nil:
		return groupsErr
	}
	// Share member id strings with the users map, and notice members the users round did not have.
	missing := false
	for _, g := range groups {
		for i, id := range g.users {
			if u := users[id]; u != nil {
				g.users[i] = u.ExternalID
			} else {
				missing = true
			}
		}
	}
	if missing {
		// Users created while the groups were read: read what changed since the users round.
		r.phase("users again")
		var err error
		if usersLink, err = r.readUsers(ctx, usersLink, users); err != nil {
			return err
		}
	}
	return r.applyFull(ctx, users, groups, usersLink, groupsLink)
}

// readUsers reads a users round from link into users (last one wins; removals delete).
func (r *run) readUsers(ctx context.Context, link string, users map[string]*fullUser) (string, error) {
	for n := 1; ; n++ {
		page, err := r.s.src.UsersDelta(ctx, link)
		if err != nil {
			return "", fmt.Errorf("users page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		for _, u := range page.Items {
			if u.Removed {
				delete(users, u.ID)
				continue
			}
			users[u.ID] = &fullUser{SyncUser: r.s.m.user(u), excluded: r.s.m.excluded(u)}
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		link = page.NextLink
	}
}

// readGroups reads a full groups round.
func (r *run) readGroups(ctx context.Context, groups map[string]*fullGroup) (string, error) {
	link := ""
	for n := 1; ; n++ {
		page, err := r.s.src.GroupsDelta(ctx, link)
		if err != nil {
			return "", fmt.Errorf("groups page %d: %w", n, err)
		}
		r.pageRead(len(page.Items))
		for _, g := range page.Items {
			if g.Removed {
				delete(groups, g.ID)
				continue
			}
			acc := groups[g.ID]
			if acc == nil {
				acc = &fullGroup{}
				groups[g.ID] = acc
			}
			acc.name, acc.sg, acc.typed = g.DisplayName, r.s.m.group(g), r.s.m.typed(g)
			for _, c := range g.Members {
				id := c.ID
				if c.Removed {
					if acc.dropped == nil {
						acc.dropped = map[string]bool{}
					}
					acc.dropped[id] = true
					continue
				}
				switch c.Kind {
				case KindUser:
					acc.users = append(acc.users, id)
				case KindGroup:
					acc.groups = append(acc.groups, id)
				}
			}
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		link = page.NextLink
	}
}

// members returns a group's distinct members without those reported removed.
func (g *fullGroup) members(list []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(list)))
	if len(g.dropped) > 0 {
		out = slices.DeleteFunc(out, func(id string) bool { return g.dropped[id] })
	}
	return out
}

// applyMembers writes member sets in transactions of about MemberBatch memberships, Workers at once.
func (r *run) applyMembers(ctx context.Context, sets []store.SyncMembers) error {
	var batches [][]store.SyncMembers
	var cur []store.SyncMembers
	size := 0
	for _, s := range sets {
		cur = append(cur, s)
		size += len(s.Users) + len(s.Groups) + 1
		if size >= r.s.cfg.MemberBatch {
			batches, cur, size = append(batches, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []store.SyncMembers)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range min(r.s.cfg.Workers, max(len(batches), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if _, err := r.apply(ctx, store.SyncBatch{Members: b}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("memberships: %w", err); cancel() })
				}
			}
		}()
	}
send:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
