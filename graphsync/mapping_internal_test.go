package graphsync

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
)

func TestMapUser(t *testing.T) {
	enabled, disabled := true, false
	alice := User{ID: "a", UserPrincipalName: "alice@contoso.com", Mail: "Alice.Smith@contoso.com", GivenName: "Alice",
		Surname: "Smith", DisplayName: "Alice Smith", MailNickname: "alice", OnPremisesSamAccountName: "asmith",
		UserType: "Member", AccountEnabled: &enabled}
	for _, tc := range []struct {
		name string
		cfg  Config
		in   User
		want store.SyncUser
	}{
		{"defaults", Config{}, alice, store.SyncUser{ExternalID: "a", Name: "alice@contoso.com", FirstName: "Alice", LastName: "Smith",
			DisplayName: "Alice Smith", Email: "Alice.Smith@contoso.com", Active: true}},
		{"mail", Config{UsernameSource: UsernameMail}, alice, store.SyncUser{ExternalID: "a", Name: "Alice.Smith@contoso.com",
			FirstName: "Alice", LastName: "Smith", DisplayName: "Alice Smith", Email: "Alice.Smith@contoso.com", Active: true}},
		{"sAMAccountName", Config{UsernameSource: UsernameSAM}, alice, store.SyncUser{ExternalID: "a", Name: "asmith",
			FirstName: "Alice", LastName: "Smith", DisplayName: "Alice Smith", Email: "Alice.Smith@contoso.com", Active: true}},
		{"mailNickname", Config{UsernameSource: UsernameMailNickname}, alice, store.SyncUser{ExternalID: "a", Name: "alice",
			FirstName: "Alice", LastName: "Smith", DisplayName: "Alice Smith", Email: "Alice.Smith@contoso.com", Active: true}},
		{"strip domain", Config{StripDomain: true}, alice, store.SyncUser{ExternalID: "a", Name: "alice",
			FirstName: "Alice", LastName: "Smith", DisplayName: "Alice Smith", Email: "Alice.Smith@contoso.com", Active: true}},
		{"cloud-only user without sAMAccountName falls back to the UPN", Config{UsernameSource: UsernameSAM},
			User{ID: "b", UserPrincipalName: " bob@contoso.com ", DisplayName: "Bob", AccountEnabled: &disabled},
			store.SyncUser{ExternalID: "b", Name: "bob@contoso.com", DisplayName: "Bob", Email: "bob@contoso.com"}},
		{"guest: e-mail from otherMails", Config{},
			User{ID: "c", UserPrincipalName: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", OtherMails: []string{"", "carol@fabrikam.com"},
				UserType: "Guest"},
			store.SyncUser{ExternalID: "c", Name: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", Email: "carol@fabrikam.com",
				DisplayName: "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", Active: true}},
		{"display name from first and last", Config{}, User{ID: "d", UserPrincipalName: "d@x", GivenName: "Dan", Surname: "Lee"},
			store.SyncUser{ExternalID: "d", Name: "d@x", FirstName: "Dan", LastName: "Lee", DisplayName: "Dan Lee", Email: "d@x", Active: true}},
		{"256-character display name is cut", Config{}, User{ID: "e", UserPrincipalName: "e@x", DisplayName: strings.Repeat("é", 256)},
			store.SyncUser{ExternalID: "e", Name: "e@x", DisplayName: strings.Repeat("é", 255), Email: "e@x", Active: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newMapper(tc.cfg.withDefaults()).user(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got != got.Normalize() {
				t.Error("mapped user is not normalized: it would never compare equal to the replica")
			}
		})
	}
}

func TestScopeAndWinners(t *testing.T) {
	g := graph{
		users:  map[string]bool{"u1": true, "u2": true, "u3": true, "u4": true},
		groups: map[string]string{"g1": "Jira-Users", "g2": "nested", "g3": "deeper", "g4": "other", "g5": "cycle"},
		uMem:   map[string][]string{"g1": {"u1"}, "g2": {"u2", "gone"}, "g3": {"u3"}, "g4": {"u4"}},
		gMem:   map[string][]string{"g1": {"g2"}, "g2": {"g3", "g5"}, "g5": {"g2"}},
	}
	groups, users := newMapper(Config{Groups: []string{"jira-users"}}).scope(g)
	if diff := cmp.Diff(map[string]bool{"g1": true, "g2": true, "g3": true, "g5": true}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"u1": true, "u2": true, "u3": true}, users); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	groups, users = newMapper(Config{Groups: []string{"G4"}}).scope(g)
	if len(groups) != 1 || !groups["g4"] || len(users) != 1 || !users["u4"] {
		t.Errorf("by id: %v %v", groups, users)
	}
	if got := newMapper(Config{Groups: []string{"G1", " nested ", "typo"}}).unmatched(g.groups); !slices.Equal(got, []string{"typo"}) {
		t.Errorf("unmatched filter entries: %q", got)
	}
	groups, users = newMapper(Config{}).scope(g)
	if len(groups) != 5 || len(users) != 4 {
		t.Errorf("no filter: %v %v", groups, users)
	}
}

// TestGroupTypesAndAmbiguousFilter: security groups are replicated, Microsoft 365 groups only when
// asked, distribution lists never; a filter display name shared by two groups is refused.
func TestGroupTypesAndAmbiguousFilter(t *testing.T) {
	sec := Group{ID: "s", SecurityEnabled: true}
	m365 := Group{ID: "u", GroupTypes: []string{"Unified"}, SecurityEnabled: true}
	dist := Group{ID: "d"}
	def, uni := newMapper(Config{}), newMapper(Config{UnifiedGroups: true})
	if !def.typed(sec) || def.typed(m365) || def.typed(dist) || !uni.typed(m365) || uni.typed(dist) {
		t.Error("group types")
	}
	groups := map[string]string{"id-1": "Admins", "id-2": "admins", "id-3": "Staff"}
	err := newMapper(Config{Groups: []string{"ADMINS", "staff", "id-1"}}).ambiguous(groups)
	if err == nil || err.Error() != `group filter is ambiguous: "ADMINS" is the name of 2 groups (id-1, id-2): use the object id` {
		t.Errorf("ambiguous: %v", err)
	}
	if err := newMapper(Config{Groups: []string{"ID-2", "Staff"}}).ambiguous(groups); err != nil {
		t.Errorf("unambiguous: %v", err)
	}
}

func TestSyncConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := Config{Interval: 30 * 1e9, FullInterval: 60 * 1e9, UsernameSource: "cn", UserRemoval: "purge", Groups: []string{" "}}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"Interval 30s is out of range", "UsernameSource \"cn\"", "UserRemoval \"purge\"", "Groups[0] is blank"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := (Config{Interval: 7 * 24 * 3600 * 1e9}).Validate(); err == nil {
		t.Error("an interval past the delta link lifetime must be refused")
	}
	a, b := Config{Groups: []string{"B", "a"}}.withDefaults(), Config{Groups: []string{"A", "b"}}.withDefaults()
	if a.fingerprint(true, nil) != b.fingerprint(true, nil) || a.fingerprint(true, nil) == a.fingerprint(false, nil) {
		t.Error("fingerprint must ignore group order and case, and see the nesting setting")
	}
	p := a.protectedNames([]string{"jira-users"})
	if a.fingerprint(true, p) == a.fingerprint(true, nil) || len(p) != len(DefaultProtectedNames)+1 {
		t.Errorf("fingerprint must see the protected names: %v", p)
	}
	c := Config{AdminGroup: "Crowdgate-Admins", BoundGroups: map[string]string{" JIRA-Administrators ": " ABC "}}.withDefaults()
	p = c.protectedNames(nil)
	if p["jira-administrators"] != "abc" || p["crowdgate-admins"] != "" || len(p) != len(DefaultProtectedNames)+1 {
		t.Errorf("protected names: %v", p)
	}
}
