package msgraph_test

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newSource returns a Source for fake with a static token; edit adjusts the config first.
func newSource(t *testing.T, fake *fakegraph.Server, edit func(*msgraph.Config)) *msgraph.Source {
	t.Helper()
	cfg := msgraph.Config{
		BaseURL:        fake.BaseURL(),
		Credential:     msgraph.StaticToken(fake.Token()),
		RetryBaseDelay: time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	src, err := msgraph.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("msgraph.New: %v", err)
	}
	return src
}

func ptr[T any](v T) *T { return &v }

// round follows one delta round from link to its deltaLink and returns every page's items in order.
func round[T any](t *testing.T, fetch func(context.Context, string) (graphsync.Page[T], error), link string) (items []T, deltaLink string, pages int) {
	t.Helper()
	for pages = 1; ; pages++ {
		if pages > 10000 {
			t.Fatal("round does not end")
		}
		p, err := fetch(t.Context(), link)
		if err != nil {
			t.Fatalf("page %d of round from %q: %v", pages, link, err)
		}
		items = append(items, p.Items...)
		if p.DeltaLink != "" {
			return items, p.DeltaLink, pages
		}
		link = p.NextLink
	}
}

// mergeUsers keys users on ID, last one wins, sorted by ID: what a syncer does with a round.
func mergeUsers(us []graphsync.User) []graphsync.User {
	m := map[string]graphsync.User{}
	for _, u := range us {
		m[u.ID] = u
	}
	out := make([]graphsync.User, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b graphsync.User) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// mergeGroups keys groups on ID and unions members@delta chunks, sorted by ID (members too).
func mergeGroups(gs []graphsync.Group) []graphsync.Group {
	m := map[string]graphsync.Group{}
	for _, g := range gs {
		prev := m[g.ID]
		g.Members = append(prev.Members, g.Members...)
		m[g.ID] = g
	}
	out := make([]graphsync.Group, 0, len(m))
	for _, g := range m {
		slices.SortFunc(g.Members, func(a, b graphsync.MemberChange) int { return cmp.Compare(a.ID, b.ID) })
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b graphsync.Group) int { return cmp.Compare(a.ID, b.ID) })
	return out
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
