package msgraph_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
)

var (
	aliceUser = graphsync.User{ID: alice, UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com",
		GivenName: "Alice", Surname: "Smith", DisplayName: "Alice Smith", MailNickname: "alice",
		OnPremisesSamAccountName: "asmith", UserType: "Member", AccountEnabled: ptr(true)}
	bobUser = graphsync.User{ID: bob, UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com",
		GivenName: "Bob", Surname: "Jones", DisplayName: "Bob Jones", MailNickname: "bob", UserType: "Member", AccountEnabled: ptr(true)}
	carolUser = graphsync.User{ID: carol, UserPrincipalName: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com",
		Mail: "carol@fabrikam.com", OtherMails: []string{"carol@fabrikam.com"}, DisplayName: "Carol (Fabrikam)",
		MailNickname: "carol_fabrikam.com#EXT#", UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: ptr(true)}
	roomUser = graphsync.User{ID: room, UserPrincipalName: "Adams@contoso.com",
		DisplayName: "Conf Room Adams", MailNickname: "Adams", UserType: "Member", AccountEnabled: ptr(false)}
	daveUser = graphsync.User{ID: dave, UserPrincipalName: "dave@contoso.com", Mail: "dave@contoso.com",
		GivenName: "Dave", Surname: "Lee", DisplayName: "Dave Lee", MailNickname: "dave", UserType: "Member", AccountEnabled: ptr(true)}

	memberUser = func(id string) graphsync.MemberChange {
		return graphsync.MemberChange{ID: id, Kind: graphsync.KindUser}
	}
	memberGroup = func(id string) graphsync.MemberChange {
		return graphsync.MemberChange{ID: id, Kind: graphsync.KindGroup}
	}
	removedUser = func(id string) graphsync.MemberChange {
		return graphsync.MemberChange{ID: id, Kind: graphsync.KindUser, Removed: true}
	}
)

// TestFullRoundSeveralPages reads a full round of two objects per page, with big groups split into
// chunks of two members, and checks the merged result and the requests the SDK sent.
func TestFullRoundSeveralPages(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{PageSize: 2, MemberChunk: 2})
	defer fake.Close()
	src := newSource(t, fake, nil)

	users, usersLink, pages := round(t, src.UsersDelta, "")
	if pages != 3 || len(users) != 5 {
		t.Errorf("users round: %d pages, %d users; want 3 pages, 5 users", pages, len(users))
	}
	if diff := cmp.Diff([]graphsync.User{aliceUser, bobUser, carolUser, roomUser, daveUser}, mergeUsers(users)); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(usersLink, fake.BaseURL()+"/users/delta?$deltatoken=") {
		t.Errorf("users deltaLink = %q, want one pointing back at the fake", usersLink)
	}

	groups, _, pages := round(t, src.GroupsDelta, "")
	// jira-users (3 members) comes back twice: 5 emissions in pages of 2.
	if pages != 3 || len(groups) != 5 {
		t.Errorf("groups round: %d pages, %d group objects; want 3 pages, 5", pages, len(groups))
	}
	want := []graphsync.Group{
		{ID: jiraUsers, DisplayName: "jira-users", Description: "Jira users", MailNickname: "jira-users", SecurityEnabled: true,
			Members: []graphsync.MemberChange{memberUser(alice), memberUser(bob), memberGroup(executives)}},
		{ID: executives, DisplayName: "Executives", MailNickname: "execs", GroupTypes: []string{"Unified"},
			Members: []graphsync.MemberChange{memberUser(carol), memberUser(dave)}},
		{ID: confUsers, DisplayName: "confluence-users", MailNickname: "confluence-users", SecurityEnabled: true,
			Members: []graphsync.MemberChange{memberUser(bob)}},
		{ID: emptyGroup, DisplayName: "empty-group", MailNickname: "empty", SecurityEnabled: true},
	}
	if diff := cmp.Diff(want, mergeGroups(groups)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}

	reqs := fake.Requests()
	if len(reqs) != 6 {
		t.Fatalf("fake saw %d requests, want 6: %+v", len(reqs), reqs)
	}
	first, err := url.ParseQuery(reqs[0].Query)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Path != "/v1.0/users/delta()" || !strings.Contains(first.Get("$select"), "accountEnabled") {
		t.Errorf("first request %s?%s: want /v1.0/users/delta() with $select", reqs[0].Path, reqs[0].Query)
	}
	for _, r := range reqs {
		if r.Authorization != "Bearer test-token" || r.Status != 200 {
			t.Errorf("request %s?%s: Authorization %q, status %d", r.Path, r.Query, r.Authorization, r.Status)
		}
	}
	if !strings.Contains(reqs[3].Query, "members") {
		t.Errorf("groups request does not select members: %s", reqs[3].Query)
	}
}

// TestDeltaRoundAfterMutations follows the deltaLinks of a full round after updates, a rename,
// soft and permanent deletes, member additions and removals, a nested group and a new guest.
func TestDeltaRoundAfterMutations(t *testing.T) {
	tn := smallTenant(t)
	fake := fakegraph.New(tn, fakegraph.Options{PageSize: 2, MemberChunk: 2})
	defer fake.Close()
	src := newSource(t, fake, nil)
	_, usersLink, _ := round(t, src.UsersDelta, "")
	_, groupsLink, _ := round(t, src.GroupsDelta, "")

	for _, err := range []error{
		tn.RenameUser(alice, "alice.jones@contoso.com"),
		tn.UpdateUser(alice, func(u *fakegraph.User) { u.Surname, u.DisplayName = "Jones", "Alice Jones" }),
		tn.UpdateUser(bob, func(u *fakegraph.User) { u.AccountEnabled = false }),
		tn.DeleteUser(dave, true),  // permanent: leaves executives too
		tn.DeleteUser(room, false), // soft
		tn.AddUser(fakegraph.User{ID: erin, UserPrincipalName: "erin@contoso.com", DisplayName: "Erin", AccountEnabled: true}),
		tn.AddUser(fakegraph.User{ID: frank, UserPrincipalName: "frank_example.org#EXT#@contoso.onmicrosoft.com",
			Mail: "frank@example.org", DisplayName: "Frank", UserType: "Guest", ExternalUserState: "PendingAcceptance", AccountEnabled: true}),
		tn.AddMember(jiraUsers, erin),
		tn.RemoveMember(jiraUsers, bob),
		tn.AddMember(executives, frank),
		tn.AddMember(confUsers, executives), // nested group
		tn.DeleteGroup(emptyGroup, false),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	users, usersLink2, _ := round(t, src.UsersDelta, usersLink)
	renamed := aliceUser
	renamed.UserPrincipalName, renamed.Surname, renamed.DisplayName = "alice.jones@contoso.com", "Jones", "Alice Jones"
	disabled := bobUser
	disabled.AccountEnabled = ptr(false)
	wantUsers := []graphsync.User{
		renamed, disabled,
		{ID: room, Removed: true, RemovedReason: graphsync.ReasonChanged},
		{ID: dave, Removed: true, RemovedReason: graphsync.ReasonDeleted},
		{ID: erin, UserPrincipalName: "erin@contoso.com", DisplayName: "Erin", UserType: "Member", AccountEnabled: ptr(true)},
		{ID: frank, UserPrincipalName: "frank_example.org#EXT#@contoso.onmicrosoft.com", Mail: "frank@example.org",
			DisplayName: "Frank", UserType: "Guest", ExternalUserState: "PendingAcceptance", AccountEnabled: ptr(true)},
	}
	if diff := cmp.Diff(wantUsers, mergeUsers(users)); diff != "" {
		t.Errorf("users delta (-want +got):\n%s", diff)
	}

	groups, groupsLink2, _ := round(t, src.GroupsDelta, groupsLink)
	wantGroups := []graphsync.Group{
		{ID: jiraUsers, DisplayName: "jira-users", Description: "Jira users", MailNickname: "jira-users", SecurityEnabled: true,
			Members: []graphsync.MemberChange{removedUser(bob), memberUser(erin)}},
		{ID: executives, DisplayName: "Executives", MailNickname: "execs", GroupTypes: []string{"Unified"},
			Members: []graphsync.MemberChange{removedUser(dave), memberUser(frank)}},
		{ID: confUsers, DisplayName: "confluence-users", MailNickname: "confluence-users", SecurityEnabled: true,
			Members: []graphsync.MemberChange{memberGroup(executives)}},
		{ID: emptyGroup, Removed: true, RemovedReason: graphsync.ReasonChanged},
	}
	if diff := cmp.Diff(wantGroups, mergeGroups(groups)); diff != "" {
		t.Errorf("groups delta (-want +got):\n%s", diff)
	}

	// Nothing changed since: both rounds are one empty page with a fresh deltaLink.
	for name, fetch := range map[string]func() (int, int, string){
		"users": func() (int, int, string) {
			items, link, pages := round(t, src.UsersDelta, usersLink2)
			return len(items), pages, link
		},
		"groups": func() (int, int, string) {
			items, link, pages := round(t, src.GroupsDelta, groupsLink2)
			return len(items), pages, link
		},
	} {
		if n, pages, link := fetch(); n != 0 || pages != 1 || link == "" {
			t.Errorf("%s round without changes: %d items, %d pages, deltaLink %q; want 0, 1, a link", name, n, pages, link)
		}
	}
}

// TestPageSizePreference sends "Prefer: odata.maxpagesize" on every page, first and next links.
func TestPageSizePreference(t *testing.T) {
	fake := fakegraph.New(smallTenant(t), fakegraph.Options{PageSize: 100})
	defer fake.Close()
	src := newSource(t, fake, func(c *msgraph.Config) { c.PageSize = 2 })
	if _, _, pages := round(t, src.UsersDelta, ""); pages != 3 {
		t.Errorf("5 users at maxpagesize 2: %d pages, want 3", pages)
	}
	for _, r := range fake.Requests() {
		if r.Prefer != "odata.maxpagesize=2" {
			t.Errorf("request %s?%s: Prefer %q", r.Path, r.Query, r.Prefer)
		}
	}
}

// TestEveryLinkThrottledOnce: a retry after 429 goes to exactly the URL that was throttled (first
// request with $select, next links, delta links), and the rounds read exactly what unthrottled
// rounds read: a disabled user stays disabled, a removed member stays removed. Before the fix the
// retry of a link went to a bare /users/delta() without token or $select (a new round, without
// accountEnabled).
func TestEveryLinkThrottledOnce(t *testing.T) {
	read := func(throttle bool) (users []graphsync.User, groups []graphsync.Group, fake *fakegraph.Server) {
		tn := smallTenant(t)
		fake = fakegraph.New(tn, fakegraph.Options{PageSize: 2, MemberChunk: 2})
		t.Cleanup(fake.Close)
		src := newSource(t, fake, nil)
		if throttle {
			fake.ThrottleEachOnce(fakegraph.Throttle("0"))
		}
		_, usersLink, _ := round(t, src.UsersDelta, "")
		_, groupsLink, _ := round(t, src.GroupsDelta, "")
		for _, err := range []error{
			tn.UpdateUser(bob, func(u *fakegraph.User) { u.AccountEnabled = false }),
			tn.RemoveMember(jiraUsers, alice),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		u, _, _ := round(t, src.UsersDelta, usersLink)
		g, _, _ := round(t, src.GroupsDelta, groupsLink)
		return mergeUsers(u), mergeGroups(g), fake
	}
	wantUsers, wantGroups, _ := read(false)
	users, groups, fake := read(true)
	if diff := cmp.Diff(wantUsers, users); diff != "" {
		t.Errorf("throttled users delta (-unthrottled +throttled):\n%s", diff)
	}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("throttled groups delta (-unthrottled +throttled):\n%s", diff)
	}
	if len(users) != 1 || users[0].ID != bob || users[0].AccountEnabled == nil || *users[0].AccountEnabled {
		t.Errorf("users delta = %+v, want bob with accountEnabled false", users)
	}
	reqs := fake.Requests()
	if len(reqs) == 0 || len(reqs)%2 != 0 {
		t.Fatalf("fake saw %d requests, want pairs of 429 and its retry", len(reqs))
	}
	for i := 0; i < len(reqs); i += 2 {
		first, retry := reqs[i], reqs[i+1]
		if first.Status != 429 || retry.Status != 200 {
			t.Errorf("requests %d/%d answered %d/%d, want 429 then 200", i, i+1, first.Status, retry.Status)
		}
		if retry.Path != first.Path || retry.Query != first.Query {
			t.Errorf("retry of %s?%s went to %s?%s", first.Path, first.Query, retry.Path, retry.Query)
		}
	}
}
