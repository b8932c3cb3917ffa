package graphsync_test

import (
	"log/slog"
	"testing"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newSource returns a plain net/http reader of fake (fakegraph.Client): the syncer's tests do not
// link the Graph SDK; graphsync/msgraph tests the SDK source against the same fake. edit adjusts it.
func newSource(fake *fakegraph.Server, edit func(*fakegraph.Client)) *fakegraph.Client {
	c := fake.Client()
	if edit != nil {
		edit(c)
	}
	return c
}

// The small tenant (fakegraph.SmallTenant): its object ids, in paging order.
const (
	alice      = fakegraph.SmallAlice
	bob        = fakegraph.SmallBob
	carol      = fakegraph.SmallCarol
	room       = fakegraph.SmallRoom
	dave       = fakegraph.SmallDave
	erin       = fakegraph.SmallErin
	frank      = fakegraph.SmallFrank
	jiraUsers  = fakegraph.SmallJiraUsers
	executives = fakegraph.SmallExecutives
	confUsers  = fakegraph.SmallConfUsers
	emptyGroup = fakegraph.SmallEmptyGroup
)

func smallTenant(t *testing.T) *fakegraph.Tenant {
	t.Helper()
	tn, err := fakegraph.SmallTenant()
	if err != nil {
		t.Fatal(err)
	}
	return tn
}
