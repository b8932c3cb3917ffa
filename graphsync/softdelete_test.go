package graphsync_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

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
