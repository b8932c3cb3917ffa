package graphsync_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/store"
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
