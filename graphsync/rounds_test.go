package graphsync_test

import (
	"context"
	"errors"
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
