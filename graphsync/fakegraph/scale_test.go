package fakegraph_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

// TestScaleD100k generates dataset D-100k (docs/performance.md, "Dataset D-100k") and serves
// full users and groups rounds at 999 objects per page over HTTP, decoding every page. Times are
// logged; the generation bound is checked only without the race detector, which slows everything
// down several times.
func TestScaleD100k(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test; run without -short")
	}
	start := time.Now()
	tn := fakegraph.Generate(1, 100_000, 5_000, 1_000_000, 4)
	gen := time.Since(start)
	if !raceEnabled && gen > 10*time.Second {
		t.Errorf("Generate took %s, want a few seconds", gen)
	}
	_, _, memberships := tn.Counts()
	if memberships != 1_000_000 {
		t.Errorf("memberships = %d", memberships)
	}
	srv := fakegraph.New(tn, fakegraph.Options{})
	defer srv.Close()

	start = time.Now()
	users, _, userPages := all(t, srv.BaseURL()+"/users/delta?$select=id,userPrincipalName,mail,displayName,accountEnabled",
		"test-token", "Prefer", "odata.maxpagesize=999")
	usersTime := time.Since(start)
	start = time.Now()
	groups, _, groupPages := all(t, srv.BaseURL()+"/groups/delta?$select=id,displayName,members",
		"test-token", "Prefer", "odata.maxpagesize=999")
	groupsTime := time.Since(start)
	if len(users) != 100_000 || userPages != 101 {
		t.Errorf("users round: %d users in %d pages, want 100000 in 101", len(users), userPages)
	}
	seen := 0
	for _, g := range groups {
		if m, ok := g["members@delta"].([]any); ok {
			seen += len(m)
		}
	}
	if seen != memberships {
		t.Errorf("groups round carried %d memberships, want %d", seen, memberships)
	}
	t.Logf("Generate(100k users, 5k groups, 1M memberships): %s; users round %d pages %s; groups round %d pages (%d group objects) %s (client: encoding/json)",
		gen.Round(time.Millisecond), userPages, usersTime.Round(time.Millisecond), groupPages, len(groups), groupsTime.Round(time.Millisecond))
}
