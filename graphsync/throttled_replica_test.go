package graphsync_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

// TestSyncEveryLinkThrottledOnce runs the same rounds twice, once with every request (first pages,
// next links, delta links) throttled once, and requires exactly the same replica: a user disabled in
// Entra stays disabled and a member removed from a group stays removed. Before the fix, a retried
// link restarted the round without $select, so users came back without accountEnabled (re-enabled)
// and group members were replayed as additions only.
func TestSyncEveryLinkThrottledOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, d string) {
		run := func(throttle bool) replica {
			e := newEnv(t, d, smallTenant(t), envOpts{fake: fakegraph.Options{PageSize: 2, MemberChunk: 2}})
			if throttle {
				e.fake.ThrottleEachOnce(fakegraph.Throttle("0"))
			}
			e.sync(false) // full
			e.must(
				e.tn.UpdateUser(bob, func(u *fakegraph.User) { u.AccountEnabled = false }),
				e.tn.RemoveMember(jiraUsers, alice),
			)
			e.sync(false) // delta
			e.check()
			if e.user(bob).Active {
				t.Errorf("throttled=%v: bob, disabled in Entra, is active in the replica", throttle)
			}
			e.sync(true) // and a full reconciliation, its pages throttled too
			e.check()
			return e.replica()
		}
		if diff := cmp.Diff(run(false), run(true), cmp.AllowUnexported(replica{})); diff != "" {
			t.Errorf("replica after throttled rounds differs (-unthrottled +throttled):\n%s", diff)
		}
	})
}
