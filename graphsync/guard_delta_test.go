package graphsync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// hundredUsers is a tenant of 100 enabled users (the default threshold is max(20, 10) = 20) and one
// group holding them all.
func hundredUsers(t *testing.T) (*fakegraph.Tenant, []string) {
	t.Helper()
	tn := fakegraph.NewTenant()
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("30000000-0000-4000-8000-%012d", i+1)
		if err := tn.AddUser(fakegraph.User{ID: ids[i], UserPrincipalName: fmt.Sprintf("user%03d@contoso.com", i+1), AccountEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	const staff = "40000000-0000-4000-8000-000000000001"
	if err := tn.AddGroup(fakegraph.Group{ID: staff, DisplayName: "staff", SecurityEnabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := tn.AddMember(staff, id); err != nil {
			t.Fatal(err)
		}
	}
	return tn, ids
}

// deltaEnv syncs a hundredUsers tenant in full, so that the next round is a delta round.
func deltaEnv(t *testing.T, d string, cfg graphsync.Config) (*env, []string) {
	t.Helper()
	tn, ids := hundredUsers(t)
	e := newEnv(t, d, tn, envOpts{cfg: cfg, fake: fakegraph.Options{PageSize: 7}})
	if rep := e.sync(false); rep.Mode != store.SyncModeFull {
		t.Fatalf("first round: %+v", rep)
	}
	e.check()
	return e, ids
}

// TestDeltaGuardDeletions: a delta round deleting 30 of 100 users is held, writing nothing and
// moving no link, and held again by the next run; an administrator's release applies that delta
// round, and the run after it is an ordinary delta round.
func TestDeltaGuardDeletions(t *testing.T) {
	for _, removal := range []string{graphsync.RemovalDeactivate, graphsync.RemovalDelete} {
		t.Run(removal, func(t *testing.T) {
			forDialects(t, func(t *testing.T, d string) {
				ctx := context.Background()
				e, ids := deltaEnv(t, d, graphsync.Config{UserRemoval: removal})
				for _, id := range ids[:30] {
					e.must(e.tn.DeleteUser(id, true))
				}
				state := storetest.Must(e.st.SyncState(ctx, e.dir.ID))
				rep := e.held(false, 30, 0)
				if rep.Mode != store.SyncModeDelta || rep.Held.UserLimit != 20 || rep.Held.ReplicaUsers != 100 || len(rep.Held.Sample) != 20 ||
					rep.Held.Sample[0] != "user user001@contoso.com" {
					t.Errorf("held: %+v, %+v", rep, rep.Held)
				}
				for id, u := range e.replica().Users {
					if !u.Active {
						t.Errorf("user %s inactive after the held round", id)
					}
				}
				if st := storetest.Must(e.st.SyncState(ctx, e.dir.ID)); st.UsersDeltaLink != state.UsersDeltaLink || st.GroupsDeltaLink != state.GroupsDeltaLink {
					t.Errorf("a held round moved the links: %+v", st)
				}
				e.held(false, 30, 0) // nothing was lost: the same changes come again

				admin := store.Actor{Kind: store.ActorAdmin, Name: "root"}
				rep, err := e.syncer.ApplyHeld(ctx, 0, admin)
				held := storetest.Must(e.st.SyncRuns(ctx, e.dir.ID, 2))[1]
				if err != nil || rep.Mode != store.SyncModeDelta || rep.Counts.UsersRemoved != 30 ||
					rep.Reason != fmt.Sprintf("held run %d was released by an administrator", held.ID) {
					t.Fatalf("apply held: %+v, %v", rep, err)
				}
				e.check()
				for _, id := range ids[:30] {
					o := storetest.Must(e.st.SyncLookup(ctx, e.dir.ID, []string{id}))[id]
					if removal == graphsync.RemovalDelete && o.InReplica() || removal == graphsync.RemovalDeactivate && (!o.InReplica() || o.User.Active) {
						t.Errorf("removed user %s: %+v", id, o)
					}
				}
				if st := storetest.Must(e.st.SyncState(ctx, e.dir.ID)); st.ReleaseRun != 0 {
					t.Errorf("the release was not used up: %+v", st)
				}
				e.must(e.tn.DeleteUser(ids[30], true))
				if rep := e.sync(false); rep.Mode != store.SyncModeDelta || rep.Reason != "" || rep.Counts.UsersRemoved != 1 {
					t.Errorf("the round after: %+v", rep)
				}
				e.check()
			})
		})
	}
}

// TestDeltaGuardDisabled: a delta round disabling 25 of 100 users is held like one deleting them.
func TestDeltaGuardDisabled(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		e, ids := deltaEnv(t, d, graphsync.Config{})
		for _, id := range ids[:25] {
			e.must(e.tn.UpdateUser(id, func(u *fakegraph.User) { u.AccountEnabled = false }))
		}
		if rep := e.held(false, 25, 0); rep.Mode != store.SyncModeDelta {
			t.Errorf("%+v", rep)
		}
		rep, err := e.syncer.ApplyHeld(context.Background(), 0, store.Actor{Kind: store.ActorAdmin, Name: "root"})
		if err != nil || rep.Mode != store.SyncModeDelta {
			t.Fatalf("apply held: %+v, %v", rep, err)
		}
		e.check()
	})
}

// TestDeltaGuardPasses: a delta round under the threshold, or with the guard off, is applied.
func TestDeltaGuardPasses(t *testing.T) {
	for _, c := range []struct {
		name    string
		limit   int
		removed int
	}{{"under the default threshold", 0, 20}, {"guard off", graphsync.MassChangeOff, 60}} {
		t.Run(c.name, func(t *testing.T) {
			forDialects(t, func(t *testing.T, d string) {
				e, ids := deltaEnv(t, d, graphsync.Config{MassChangeThreshold: c.limit})
				for _, id := range ids[:c.removed] {
					e.must(e.tn.DeleteUser(id, true))
				}
				if rep := e.sync(false); rep.Mode != store.SyncModeDelta || rep.Counts.UsersRemoved != c.removed {
					t.Errorf("%+v", rep)
				}
				e.check()
			})
		})
	}
}
