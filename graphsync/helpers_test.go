package graphsync_test

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newSource returns an SDKSource for fake with a static token; edit adjusts the config first.
func newSource(t *testing.T, fake *fakegraph.Server, edit func(*graphsync.SDKConfig)) *graphsync.SDKSource {
	t.Helper()
	cfg := graphsync.SDKConfig{
		BaseURL:        fake.BaseURL(),
		Credential:     graphsync.StaticToken(fake.Token()),
		RetryBaseDelay: time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	src, err := graphsync.NewSDKSource(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewSDKSource: %v", err)
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

// Object IDs of the small tenant; their order is the paging order.
const (
	alice = "10000000-0000-4000-8000-000000000001"
	bob   = "10000000-0000-4000-8000-000000000002"
	carol = "10000000-0000-4000-8000-000000000003" // guest
	room  = "10000000-0000-4000-8000-000000000004" // no mail, disabled
	dave  = "10000000-0000-4000-8000-000000000005"
	erin  = "10000000-0000-4000-8000-000000000006" // added later
	frank = "10000000-0000-4000-8000-000000000007" // guest, added later

	jiraUsers  = "20000000-0000-4000-8000-000000000001"
	executives = "20000000-0000-4000-8000-000000000002"
	confUsers  = "20000000-0000-4000-8000-000000000003"
	emptyGroup = "20000000-0000-4000-8000-000000000004"
)

// smallTenant: jira-users = {alice, bob, executives}, executives = {carol (guest), dave},
// confluence-users = {bob}, empty-group = {}.
func smallTenant(t *testing.T) *fakegraph.Tenant {
	t.Helper()
	tn := fakegraph.NewTenant()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tn.AddUser(fakegraph.User{ID: alice, UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com",
		GivenName: "Alice", Surname: "Smith", DisplayName: "Alice Smith", MailNickname: "alice",
		OnPremisesSamAccountName: "asmith", AccountEnabled: true}))
	must(tn.AddUser(fakegraph.User{ID: bob, UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com",
		GivenName: "Bob", Surname: "Jones", DisplayName: "Bob Jones", MailNickname: "bob", AccountEnabled: true}))
	must(tn.AddUser(fakegraph.User{ID: carol, UserPrincipalName: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com",
		Mail: "carol@fabrikam.com", OtherMails: []string{"carol@fabrikam.com"}, DisplayName: "Carol (Fabrikam)",
		MailNickname: "carol_fabrikam.com#EXT#", UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: true}))
	must(tn.AddUser(fakegraph.User{ID: room, UserPrincipalName: "Adams@contoso.com", DisplayName: "Conf Room Adams",
		MailNickname: "Adams"}))
	must(tn.AddUser(fakegraph.User{ID: dave, UserPrincipalName: "dave@contoso.com", Mail: "dave@contoso.com",
		GivenName: "Dave", Surname: "Lee", DisplayName: "Dave Lee", MailNickname: "dave", AccountEnabled: true}))
	must(tn.AddGroup(fakegraph.Group{ID: jiraUsers, DisplayName: "jira-users", Description: "Jira users",
		MailNickname: "jira-users", SecurityEnabled: true}))
	must(tn.AddGroup(fakegraph.Group{ID: executives, DisplayName: "Executives", MailNickname: "execs",
		MailEnabled: true, GroupTypes: []string{"Unified"}}))
	must(tn.AddGroup(fakegraph.Group{ID: confUsers, DisplayName: "confluence-users", MailNickname: "confluence-users", SecurityEnabled: true}))
	must(tn.AddGroup(fakegraph.Group{ID: emptyGroup, DisplayName: "empty-group", MailNickname: "empty", SecurityEnabled: true}))
	for _, m := range [][2]string{{jiraUsers, alice}, {jiraUsers, bob}, {jiraUsers, executives},
		{executives, carol}, {executives, dave}, {confUsers, bob}} {
		must(tn.AddMember(m[0], m[1]))
	}
	return tn
}
