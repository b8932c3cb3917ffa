package fakegraph

import "errors"

// The small tenant's object ids; their order is the paging order.
const (
	SmallAlice = "10000000-0000-4000-8000-000000000001"
	SmallBob   = "10000000-0000-4000-8000-000000000002"
	SmallCarol = "10000000-0000-4000-8000-000000000003" // guest
	SmallRoom  = "10000000-0000-4000-8000-000000000004" // no mail, disabled
	SmallDave  = "10000000-0000-4000-8000-000000000005"
	SmallErin  = "10000000-0000-4000-8000-000000000006" // not in the tenant: for tests to add
	SmallFrank = "10000000-0000-4000-8000-000000000007" // not in the tenant: a guest for tests to add

	SmallJiraUsers  = "20000000-0000-4000-8000-000000000001"
	SmallExecutives = "20000000-0000-4000-8000-000000000002"
	SmallConfUsers  = "20000000-0000-4000-8000-000000000003"
	SmallEmptyGroup = "20000000-0000-4000-8000-000000000004"
)

// SmallTenant is the tenant most graphsync tests start from, defined once for the syncer's tests and
// the SDK source's: jira-users = {alice, bob, executives}, executives (a Microsoft 365 group) =
// {carol (guest), dave}, confluence-users = {bob}, empty-group = {}.
func SmallTenant() (*Tenant, error) {
	tn := NewTenant()
	var errs []error
	must := func(err error) { errs = append(errs, err) }
	must(tn.AddUser(User{ID: SmallAlice, UserPrincipalName: "alice@contoso.com", Mail: "alice@contoso.com",
		GivenName: "Alice", Surname: "Smith", DisplayName: "Alice Smith", MailNickname: "alice",
		OnPremisesSamAccountName: "asmith", AccountEnabled: true}))
	must(tn.AddUser(User{ID: SmallBob, UserPrincipalName: "bob@contoso.com", Mail: "bob@contoso.com",
		GivenName: "Bob", Surname: "Jones", DisplayName: "Bob Jones", MailNickname: "bob", AccountEnabled: true}))
	must(tn.AddUser(User{ID: SmallCarol, UserPrincipalName: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com",
		Mail: "carol@fabrikam.com", OtherMails: []string{"carol@fabrikam.com"}, DisplayName: "Carol (Fabrikam)",
		MailNickname: "carol_fabrikam.com#EXT#", UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: true}))
	must(tn.AddUser(User{ID: SmallRoom, UserPrincipalName: "Adams@contoso.com", DisplayName: "Conf Room Adams",
		MailNickname: "Adams"}))
	must(tn.AddUser(User{ID: SmallDave, UserPrincipalName: "dave@contoso.com", Mail: "dave@contoso.com",
		GivenName: "Dave", Surname: "Lee", DisplayName: "Dave Lee", MailNickname: "dave", AccountEnabled: true}))
	must(tn.AddGroup(Group{ID: SmallJiraUsers, DisplayName: "jira-users", Description: "Jira users",
		MailNickname: "jira-users", SecurityEnabled: true}))
	must(tn.AddGroup(Group{ID: SmallExecutives, DisplayName: "Executives", MailNickname: "execs",
		MailEnabled: true, GroupTypes: []string{"Unified"}}))
	must(tn.AddGroup(Group{ID: SmallConfUsers, DisplayName: "confluence-users", MailNickname: "confluence-users", SecurityEnabled: true}))
	must(tn.AddGroup(Group{ID: SmallEmptyGroup, DisplayName: "empty-group", MailNickname: "empty", SecurityEnabled: true}))
	for _, m := range [][2]string{{SmallJiraUsers, SmallAlice}, {SmallJiraUsers, SmallBob}, {SmallJiraUsers, SmallExecutives},
		{SmallExecutives, SmallCarol}, {SmallExecutives, SmallDave}, {SmallConfUsers, SmallBob}} {
		must(tn.AddMember(m[0], m[1]))
	}
	return tn, errors.Join(errs...)
}
