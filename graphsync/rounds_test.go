package graphsync_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSyncNestingOffDelta: with nesting off, a delta round writes no group-in-group edge: the new
// nesting of executives into confluence-users is not replicated, its user members are.
func TestSyncNestingOffDelta(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e := newEnv(t, d, smallTenant(t), envOpts{noNested: true})
		e.sync(false)
		e.check()
		e.must(e.tn.AddMember(confUsers, executives), e.tn.AddMember(confUsers, alice))
		rep := e.sync(false)
		if rep.Mode != store.SyncModeDelta || rep.Counts.MembershipsAdded != 1 {
			t.Errorf("%+v", rep)
		}
		e.check()
	})
}

// failFull is a Source whose full rounds (link "") fail while fail is set.
type failFull struct {
	graphsync.Source
	fail *atomic.Bool
}

var errFullDown = errors.New("full rounds are down")

func (f failFull) UsersDelta(ctx context.Context, link string) (graphsync.Page[graphsync.User], error) {
	if link == "" && f.fail.Load() {
		return graphsync.Page[graphsync.User]{}, errFullDown
	}
	return f.Source.UsersDelta(ctx, link)
}

func (f failFull) GroupsDelta(ctx context.Context, link string) (graphsync.Page[graphsync.Group], error) {
	if link == "" && f.fail.Load() {
		return graphsync.Page[graphsync.Group]{}, errFullDown
	}
	return f.Source.GroupsDelta(ctx, link)
}

// TestSyncFullDecisionPersisted: a delta page that revives a group (invalid until renamed) commits
// the decision to run a full round with it; when that full round fails, the next run is still a full
// round and brings the group's members (a delta round would never see them).
func TestSyncFullDecisionPersisted(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		var fail atomic.Bool
		e := newEnv(t, d, smallTenant(t), envOpts{wrap: func(s graphsync.Source) graphsync.Source { return failFull{s, &fail} }})
		const bad = "20000000-0000-4000-8000-000000000007"
		e.must(e.tn.AddGroup(fakegraph.Group{ID: bad, DisplayName: "bad\x01group", SecurityEnabled: true}), e.tn.AddMember(bad, alice))
		e.sync(false)
		if e.outside(bad) != store.OutsideInvalid {
			t.Fatalf("bad group: %q", e.outside(bad))
		}
		e.must(e.tn.UpdateGroup(bad, func(g *fakegraph.Group) { g.DisplayName = "good-group" }))
		fail.Store(true)
		if _, err := e.syncer.SyncOnce(t.Context(), false); !errors.Is(err, errFullDown) {
			t.Fatalf("err = %v", err)
		}
		fail.Store(false)
		rep := e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.Contains(rep.Reason, bad) {
			t.Errorf("next run: %+v", rep)
		}
		e.check()
		if st := storetest.Must(e.st.SyncState(context.Background(), e.dir.ID)); st.FullReason != "" {
			t.Errorf("full reason after the full round: %q", st.FullReason)
		}
	})
}

// TestSyncMembershipLag: Graph's groups round shows a new user in jira-users before its users round
// shows the user. The membership is kept pending (persisted), and applied in the round in which the
// user arrives; in a delta round (erin) and in a full round (gina) alike.
func TestSyncMembershipLag(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		var lagging atomic.Value // the id the users round does not show yet
		lagging.Store("")
		e := newEnv(t, d, smallTenant(t), envOpts{wrap: func(s graphsync.Source) graphsync.Source {
			return hiding{s, func(id string) bool { return id != lagging.Load().(string) }}
		}})
		e.sync(false)
		const gina = "10000000-0000-4000-8000-000000000009"
		for _, tc := range []struct {
			id, upn string
			full    bool
		}{{erin, "erin@contoso.com", false}, {gina, "gina@contoso.com", true}} {
			lagging.Store(tc.id)
			e.must(e.tn.AddUser(fakegraph.User{ID: tc.id, UserPrincipalName: tc.upn, AccountEnabled: true}),
				e.tn.AddMember(jiraUsers, tc.id))
			rep := e.sync(tc.full)
			want := store.SyncMemberChange{GroupExternalID: jiraUsers, MemberExternalID: tc.id}
			got := storetest.Must(e.st.SyncPending(ctx, e.dir.ID))
			if len(got) != 1 || got[0].SyncMemberChange != want {
				t.Fatalf("%s: pending %+v (report %+v)", tc.upn, got, rep)
			}
			// The user arrives in the next users round.
			lagging.Store("")
			e.must(e.tn.UpdateUser(tc.id, func(u *fakegraph.User) { u.DisplayName = "Newcomer" }))
			rep = e.sync(false)
			if rep.Mode != store.SyncModeDelta || rep.Counts.MembershipsAdded != 1 {
				t.Errorf("%s: arrival: %+v", tc.upn, rep)
			}
			e.check()
			if got := storetest.Must(e.st.SyncPending(ctx, e.dir.ID)); len(got) != 0 {
				t.Errorf("%s: still pending %+v", tc.upn, got)
			}
		}
	})
}

// licensed returns the names of the replica's users that application app (licence group: the
// replica's jira-users) lets in.
func (e *env) licensed(app store.Application) []string {
	e.t.Helper()
	ctx := context.Background()
	v := storetest.Must(e.st.View(ctx, storetest.Must(e.st.Application(ctx, app.ID))))
	var out []string
	for _, id := range []string{alice, bob, carol, room, dave} {
		u, err := e.st.UserByExternalID(ctx, e.dir.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		switch err := v.MayAuthenticate(ctx, u); {
		case err == nil:
			out = append(out, u.Name)
		case !store.IsNotAllowed(err):
			e.t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// TestSyncSoftDeletedGroup: a group soft-deleted in Entra (removed with reason "changed") is kept,
// inactive and without memberships, so the licence it carries grants nothing; a full round keeps it
// so (it is not read, and not counted by the mass-change guard); restored, it is the same group
// again (same row) with exactly its members, and grants again. A permanent deletion then deletes it.
func TestSyncSoftDeletedGroup(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		ctx := context.Background()
		// The licence group's name is protected (an allowed group): bound to the Entra group.
		e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 2, MemberChunk: 2},
			cfg: graphsync.Config{BoundGroups: map[string]string{"jira-users": jiraUsers}}})
		app := storetest.Must(e.st.CreateApplication(ctx, store.NewApplication{Name: "jira", Password: "jira-secret-1", Active: true,
			Kind: store.AppJira, Mappings: []store.Mapping{{DirectoryID: e.dir.ID, Groups: []string{"jira-users"}}}}))
		e.sync(false)
		lic := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, jiraUsers))
		before := e.licensed(app)
		if len(before) != 4 {
			t.Fatalf("licensed before: %q, want alice, bob and the executives", before)
		}

		e.must(e.tn.DeleteGroup(jiraUsers, false))
		tok := e.token()
		rep := e.sync(false)
		if rep.Mode != store.SyncModeDelta || rep.Counts.GroupsRemoved != 1 || rep.Counts.MembershipsRemoved != 3 {
			t.Errorf("soft delete round: %+v", rep)
		}
		g := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, jiraUsers))
		if g.ID != lic.ID || g.Active || e.outside(jiraUsers) != store.OutsideRemoved {
			t.Errorf("soft-deleted group: %+v, outside %q", g, e.outside(jiraUsers))
		}
		if got := e.licensed(app); len(got) != 0 {
			t.Errorf("licensed while the group is soft-deleted: %q", got)
		}
		if evs := e.events(tok); !slices.Contains(evs, "GROUP UPDATED "+lic.Name) {
			t.Errorf("soft delete events: %q", evs)
		}
		e.check()

		// A full round does not read it and keeps it as it is (removing nothing).
		rep = e.sync(true)
		if rep.Counts.GroupsRemoved != 0 || rep.Held != nil {
			t.Errorf("full round after the soft delete: %+v", rep)
		}
		if g := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, jiraUsers)); g.ID != lic.ID || g.Active {
			t.Errorf("after a full round: %+v", g)
		}
		e.check()

		e.must(e.tn.RestoreGroup(jiraUsers))
		rep = e.sync(false)
		if rep.Mode != store.SyncModeFull || !strings.Contains(rep.Reason, "was restored") {
			t.Errorf("restore round: mode %s, reason %q", rep.Mode, rep.Reason)
		}
		if g := storetest.Must(e.st.GroupByExternalID(ctx, e.dir.ID, jiraUsers)); g.ID != lic.ID || !g.Active || e.outside(jiraUsers) != "" {
			t.Errorf("restored group: %+v, outside %q", g, e.outside(jiraUsers))
		}
		if got := e.licensed(app); !slices.Equal(got, before) {
			t.Errorf("licensed after the restore: %q, want %q", got, before)
		}
		e.check()

		// Soft-deleted, then deleted for good: the group goes.
		e.must(e.tn.DeleteGroup(jiraUsers, false))
		e.sync(false)
		e.must(e.tn.DeleteGroup(jiraUsers, true))
		e.sync(false)
		if _, err := e.st.GroupByExternalID(ctx, e.dir.ID, jiraUsers); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("permanently deleted group: %v", err)
		}
		if e.outside(jiraUsers) != "" {
			t.Errorf("permanently deleted group still listed %q", e.outside(jiraUsers))
		}
		e.check()
	})
}
