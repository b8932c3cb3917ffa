package graphsync

import (
	"cmp"
	"context"
	"encoding/json"
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
	users := map[string]*fullUser{}
	groups := map[string]*fullGroup{}
	round, err := r.openStage(ctx, users, groups)
	if err != nil {
		return err
	}
	usersLink, groupsLink, err := r.readFull(ctx, round, users, groups)
	if errors.Is(err, ErrDeltaExpired) && round.Users.Pages+round.Groups.Pages > 0 {
		// Graph no longer accepts the link the interrupted round stopped at.
		r.restarted("Graph no longer accepts the interrupted full round's next link (" + err.Error() + ")")
		clear(users)
		clear(groups)
		if round, err = r.s.st.SyncStageBegin(ctx, r.dir.ID, r.fence, r.stageKey()); err != nil {
			return err
		}
		usersLink, groupsLink, err = r.readFull(ctx, round, users, groups)
	}
	if err != nil {
		return err
	}
	if err := r.applyFull(ctx, users, groups, usersLink, groupsLink); err != nil {
		var held *HeldError
		if unplanned := (unplannedError{}); errors.As(err, &held) || errors.As(err, &unplanned) {
			// Not to be continued: the next round reads Graph again (an administrator may fix
			// Entra meanwhile).
			if cerr := r.s.st.SyncStageClear(ctx, r.dir.ID, r.fence); cerr != nil {
				r.s.log.Warn("graph sync: clear the staged full round", "run", r.runID, "err", cerr)
			}
		}
		return err
	}
	return nil
}

// readFull reads a full round from where round stands, staging every page, and returns its delta
// links.
func (r *run) readFull(ctx context.Context, round store.SyncFullRound, users map[string]*fullUser,
	groups map[string]*fullGroup) (usersLink, groupsLink string, err error) {
	// The two rounds are independent: read them at once (parsing pages is the costly part).
	r.phase("reading")
	stU := r.newStager(ctx, store.SyncStageUsers, round.Users)
	stG := r.newStager(ctx, store.SyncStageGroups, round.Groups)
	var usersErr, groupsErr error
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if usersLink, usersErr = r.readUsers(rctx, round.Users, users, stU); usersErr != nil {
			cancel()
		}
	})
	wg.Go(func() {
		if groupsLink, groupsErr = r.readGroups(rctx, round.Groups, groups, stG); groupsErr != nil {
			cancel()
		}
	})
	wg.Wait()
	cancel()
	switch {
	case usersErr != nil && !(errors.Is(usersErr, context.Canceled) && groupsErr != nil && ctx.Err() == nil):
		err = usersErr
	case groupsErr != nil:
		err = groupsErr
	case round.Users.Pages+round.Groups.Pages > 0:
		// A continued round was read over a longer time: what changed meanwhile (a restore brings
		// memberships back on pages already staged) is read from both delta links, groups first.
		r.phase("catching up")
		if groupsLink, err = r.readGroups(ctx, store.SyncStageCursor{DeltaLink: groupsLink}, groups, stG); err == nil {
			usersLink, err = r.readUsers(ctx, store.SyncStageCursor{DeltaLink: usersLink}, users, stU)
		}
	}
	// Whatever was read is staged before the run ends, failed or not.
	if errG := stG.close(); err == nil {
		err = errG
	}
	if err != nil {
		stU.close()
		return "", "", err
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
		usersLink, err = r.readUsers(ctx, store.SyncStageCursor{DeltaLink: usersLink}, users, stU)
	}
	if cerr := stU.close(); err == nil {
		err = cerr
	}
	return usersLink, groupsLink, err
}

// readUsers reads a users round into users (last one wins; removals delete), staging each page: from
// cur's next link, or its delta link (the round was read: what changed since), or from the start.
func (r *run) readUsers(ctx context.Context, cur store.SyncStageCursor, users map[string]*fullUser, st *stager) (string, error) {
	link := cmp.Or(cur.NextLink, cur.DeltaLink)
	if cur.Pages > 0 && cur.NextLink == "" {
		return cur.DeltaLink, nil // read completely before the run that staged it stopped
	}
	return r.readPages(ctx, "users", link, st, func(ctx context.Context, link string) (int, string, string, func() ([]byte, error), error) {
		page, err := r.s.src.UsersDelta(ctx, link)
		if err != nil {
			return 0, "", "", nil, err
		}
		r.addUsers(users, page.Items)
		return len(page.Items), page.NextLink, page.DeltaLink, func() ([]byte, error) { return json.Marshal(stagedUsers(page.Items)) }, nil
	})
}

// readPageFn reads one page from link and returns its size, links and staged form.
type readPageFn func(ctx context.Context, link string) (n int, next, delta string, encode func() ([]byte, error), err error)

// readPages reads pages from link until a delta link, staging each, and returns the delta link.
func (r *run) readPages(ctx context.Context, what, link string, st *stager, read readPageFn) (string, error) {
	for {
		items, next, delta, encode, err := read(ctx, link)
		if err != nil {
			return "", fmt.Errorf("%s page %d: %w", what, st.seq+1, err)
		}
		r.pageRead(items)
		if err := st.put(ctx, items, next, delta, encode); err != nil {
			return "", err
		}
		if delta != "" {
			return delta, nil
		}
		link = next
	}
}

// addUsers adds a users page to a full round.
func (r *run) addUsers(users map[string]*fullUser, items []User) {
	for _, u := range items {
		if u.Removed {
			delete(users, u.ID)
			continue
		}
		users[u.ID] = &fullUser{SyncUser: r.s.m.user(u), excluded: r.s.m.excluded(u)}
	}
}

// readGroups reads a full groups round from cur (see readUsers), staging each page.
func (r *run) readGroups(ctx context.Context, cur store.SyncStageCursor, groups map[string]*fullGroup, st *stager) (string, error) {
	if cur.Pages > 0 && cur.NextLink == "" {
		return cur.DeltaLink, nil
	}
	return r.readPages(ctx, "groups", cmp.Or(cur.NextLink, cur.DeltaLink), st, func(ctx context.Context, link string) (int, string, string, func() ([]byte, error), error) {
		page, err := r.s.src.GroupsDelta(ctx, link)
		if err != nil {
			return 0, "", "", nil, err
		}
		r.addGroups(groups, page.Items)
		return len(page.Items), page.NextLink, page.DeltaLink, func() ([]byte, error) { return json.Marshal(stagedGroups(page.Items)) }, nil
	})
}

// addGroups adds a groups page to a full round.
func (r *run) addGroups(groups map[string]*fullGroup, items []Group) {
	for _, g := range items {
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
