package msgraph_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

// TestScaleFullRound reads a generated tenant of 20,000 users, 500 groups and 100,000 memberships
// through SDKSource at 999 objects per page, then one small delta round, and logs the times.
func TestScaleFullRound(t *testing.T) {
	if testing.Short() {
		t.Skip("scale smoke test; run without -short")
	}
	const users, groups, memberships = 20_000, 500, 100_000
	start := time.Now()
	tn := fakegraph.Generate(42, users, groups, memberships, 3)
	genTime := time.Since(start)
	fake := fakegraph.New(tn, fakegraph.Options{})
	defer fake.Close()
	src := newSource(t, fake, func(c *msgraph.Config) { c.PageSize = 999 })

	start = time.Now()
	us, usersLink, userPages := round(t, src.UsersDelta, "")
	usersTime := time.Since(start)
	if n := len(mergeUsers(us)); n != users || userPages != 21 {
		t.Errorf("users round: %d users in %d pages, want %d in 21", n, userPages, users)
	}

	start = time.Now()
	gs, _, groupPages := round(t, src.GroupsDelta, "")
	groupsTime := time.Since(start)
	merged := mergeGroups(gs)
	got := 0
	for _, g := range merged {
		got += len(g.Members)
	}
	_, _, wantMemberships := tn.Counts()
	if len(merged) != groups || got != wantMemberships {
		t.Errorf("groups round: %d groups, %d memberships; want %d, %d", len(merged), got, groups, wantMemberships)
	}

	ids := tn.UserIDs()
	if err := tn.RenameUser(ids[123], "renamed@contoso.com"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	delta, _, _ := round(t, src.UsersDelta, usersLink)
	deltaTime := time.Since(start)
	if len(delta) != 1 || delta[0].UserPrincipalName != "renamed@contoso.com" {
		t.Errorf("delta round after one rename: %+v", delta)
	}
	t.Logf("generate %d users/%d groups/%d memberships: %s; users full round (%d pages): %s; groups full round (%d pages, %d group objects): %s; users delta round with 1 change: %s",
		users, groups, wantMemberships, genTime.Round(time.Millisecond), userPages, usersTime.Round(time.Millisecond),
		groupPages, len(gs), groupsTime.Round(time.Millisecond), deltaTime.Round(time.Millisecond))
}
