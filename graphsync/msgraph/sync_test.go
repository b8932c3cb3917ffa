package msgraph_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// replicaOf is a directory's replica keyed by Entra object id: users, groups, "group > member" lines.
func replicaOf(t *testing.T, st *store.Store, dirID int64) (map[string]store.SyncUser, map[string]store.SyncGroup, []string) {
	t.Helper()
	snap := storetest.Must(st.SyncSnapshot(context.Background(), dirID))
	users, groups, ext := map[string]store.SyncUser{}, map[string]store.SyncGroup{}, map[int64]string{}
	for _, u := range snap.Users {
		users[u.ExternalID], ext[u.ID] = u.SyncUser, u.ExternalID
	}
	gext := map[int64]string{}
	for _, g := range snap.Groups {
		groups[g.ExternalID], gext[g.ID] = g.SyncGroup, g.ExternalID
	}
	var members []string
	for _, m := range snap.UserMemberships {
		members = append(members, gext[m[0]]+" > "+ext[m[1]])
	}
	for _, m := range snap.GroupMemberships {
		members = append(members, gext[m[0]]+" > "+gext[m[1]])
	}
	slices.Sort(members)
	return users, groups, members
}

// TestSyncThroughSDKEveryLinkThrottled is the end-to-end check of the SDK source with the syncer and
// a real store (the syncer's own tests read the fake without the SDK): a full and a delta round in
// which every first page, next link and delta link is throttled once end with exactly the replica of
// the same rounds without throttling; a user disabled in Entra stays disabled, a removed member
// stays removed.
func TestSyncThroughSDKEveryLinkThrottled(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			type side struct {
				fake *fakegraph.Server
				st   *store.Store
				sy   *graphsync.Syncer
				dir  int64
			}
			open := func(throttle bool) side {
				tn := smallTenant(t)
				fake := fakegraph.New(tn, fakegraph.Options{PageSize: 2, MemberChunk: 2})
				t.Cleanup(fake.Close)
				if throttle {
					fake.ThrottleEachOnce(fakegraph.Throttle("0"))
				}
				st, err := store.Open(context.Background(), store.Config{URL: storetest.URL(t, d), PasswordWorkers: 1}, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				dir := storetest.Must(st.CreateDirectory(context.Background(), store.Directory{Name: "Entra ID",
					Kind: store.DirectoryAzureAD, Active: true, NestedGroups: true}))
				sy, err := graphsync.New(graphsync.Config{}, newSource(t, fake, nil), st, dir.ID, testLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				return side{fake: fake, st: st, sy: sy, dir: dir.ID}
			}
			plain, throttled := open(false), open(true)
			for round, mutate := range []func(*fakegraph.Tenant) error{
				nil,
				func(tn *fakegraph.Tenant) error {
					if err := tn.UpdateUser(dave, func(u *fakegraph.User) { u.AccountEnabled = false }); err != nil {
						return err
					}
					return tn.RemoveMember(jiraUsers, alice)
				},
			} {
				for _, s := range []side{plain, throttled} {
					if mutate != nil {
						if err := mutate(s.fake.Tenant()); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := s.sy.SyncOnce(t.Context(), false); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				pu, pg, pm := replicaOf(t, plain.st, plain.dir)
				tu, tg, tm := replicaOf(t, throttled.st, throttled.dir)
				if diff := cmp.Diff([]any{pu, pg, pm}, []any{tu, tg, tm}); diff != "" {
					t.Fatalf("round %d: throttled replica differs from the plain one (-plain +throttled):\n%s", round, diff)
				}
			}
			users, _, members := replicaOf(t, throttled.st, throttled.dir)
			if users[dave].Active || !users[alice].Active || slices.Contains(members, jiraUsers+" > "+alice) ||
				!slices.Contains(members, jiraUsers+" > "+bob) {
				t.Errorf("after the delta round: dave active %t, alice active %t, members %q", users[dave].Active, users[alice].Active, members)
			}
			throttledReqs := 0
			for _, r := range throttled.fake.Requests() {
				if r.Status == 429 {
					throttledReqs++
				}
			}
			if throttledReqs == 0 {
				t.Error("the fake throttled nothing: the test proves nothing")
			}
		})
	}
}
