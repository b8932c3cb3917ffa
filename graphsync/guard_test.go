package graphsync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// hiding is a Source that drops users and groups from every page, as Graph does when the
// application's permissions are narrowed: keep decides what is still visible.
type hiding struct {
	graphsync.Source
	keep func(id string) bool
}

func (h hiding) UsersDelta(ctx context.Context, link string) (graphsync.Page[graphsync.User], error) {
	p, err := h.Source.UsersDelta(ctx, link)
	p.Items = filterItems(p.Items, func(u graphsync.User) bool { return h.keep(u.ID) })
	return p, err
}

func (h hiding) GroupsDelta(ctx context.Context, link string) (graphsync.Page[graphsync.Group], error) {
	p, err := h.Source.GroupsDelta(ctx, link)
	p.Items = filterItems(p.Items, func(g graphsync.Group) bool { return h.keep(g.ID) })
	return p, err
}

func filterItems[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// held runs a round that the guard must hold, and checks that it wrote nothing.
func (e *env) held(full bool, users, groups int) graphsync.Report {
	e.t.Helper()
	before, tok := e.replica(), e.token()
	rep, err := e.syncer.SyncOnce(e.t.Context(), full)
	var h *graphsync.HeldError
	if !errors.Is(err, graphsync.ErrHeld) || !errors.As(err, &h) || h.Users != users || h.Groups != groups || rep.Held == nil {
		e.t.Fatalf("want held with %d users and %d groups, got %+v, %v", users, groups, rep, err)
	}
	if diff := cmp.Diff(before, e.replica()); diff != "" {
		e.t.Errorf("a held run changed the replica (-before +after):\n%s", diff)
	}
	if evs := e.events(tok); len(evs) != 0 {
		e.t.Errorf("a held run wrote events %q", evs)
	}
	run := storetest.Must(e.st.SyncHeldRun(context.Background(), e.dir.ID))
	if run.UsersRemoved != users || run.GroupsRemoved != groups || !strings.Contains(run.Errors, "held by the mass-change guard") {
		e.t.Errorf("held run record: %+v", run)
	}
	return rep
}

// TestMassChangeGuard: with a threshold of 2, a filter that matches nothing, an empty page set,
// another tenant and permissions that hide most objects are each held, writing nothing; an
// administrator's release applies the round once, audited with the actor.
func TestMassChangeGuard(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		cfg := graphsync.Config{MassChangeThreshold: 2}
		var hide func(string) bool // nil: everything visible
		e := newEnv(t, d, smallTenant(t), envOpts{cfg: cfg, wrap: func(s graphsync.Source) graphsync.Source {
			return hiding{s, func(id string) bool { return hide == nil || hide(id) }}
		}})
		e.sync(false)
		e.check()

		// A group filter that matches nothing: every active user (room is disabled) and every group would go.
		e.cfg.Groups = []string{"no-such-group"}
		e.syncer = e.newSyncer(e.st)
		e.held(false, 4, 4)
		e.cfg.Groups = nil
		e.syncer = e.newSyncer(e.st)

		// An empty page set.
		hide = func(string) bool { return false }
		e.held(true, 4, 4)

		// Permissions that hide most objects: only alice and jira-users are visible.
		hide = func(id string) bool { return id == alice || id == jiraUsers }
		e.held(true, 3, 3)
		hide = nil

		// Another tenant (the tenant id was changed to another one's).
		other := fakegraph.NewTenant()
		e.must(other.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@fabrikam.com", AccountEnabled: true}))
		otherFake := fakegraph.New(other, fakegraph.Options{})
		t.Cleanup(otherFake.Close)
		e.src = newSource(otherFake, nil)
		e.syncer = e.newSyncer(e.st)
		rep := e.held(true, 4, 4)
		if rep.Mode != store.SyncModeFull {
			t.Errorf("%+v", rep)
		}

		// Apply anyway: the release is audited and the round applied once.
		admin := store.Actor{Kind: store.ActorAdmin, Name: "root", Address: "192.0.2.7"}
		rep, err := e.syncer.ApplyHeld(ctx, 0, admin)
		if err != nil || rep.Counts.UsersRemoved != 4 || rep.Counts.GroupsRemoved != 4 || rep.Counts.UsersAdded != 1 {
			t.Fatalf("apply held: %+v, %v", rep, err)
		}
		a := storetest.Must(e.st.ListAudit(ctx, store.AuditFilter{Action: "SYNC_HELD_RELEASED"}))
		if len(a) != 1 || a[0].Actor != "root" {
			t.Errorf("audit: %+v", a)
		}
		if st := storetest.Must(e.st.SyncState(ctx, e.dir.ID)); st.ReleaseRun != 0 {
			t.Errorf("the release was not used up: %+v", st)
		}
		if _, err := e.st.SyncHeldRun(ctx, e.dir.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("held run after apply: %v", err)
		}
		if _, err := e.syncer.ApplyHeld(ctx, 0, admin); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("nothing held: %v", err)
		}
	})
}
