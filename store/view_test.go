package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func testApplicationView(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	licensed := addGroup(t, s, f.dir.ID, "jira-software-users")
	team := addGroup(t, s, f.dir.ID, "team")
	if err := s.AddGroupToGroup(ctx, team.ID, licensed.ID); err != nil {
		t.Fatal(err)
	}
	alice := addUser(t, s, f.dir.ID, "alice", team.ID) // nested member of the licence group
	bob := addUser(t, s, f.dir.ID, "bob")
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"JIRA-Software-Users"}, Operations: []string{store.OpUpdateUser}}}
	app, err := s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m})
	if err != nil {
		t.Fatal(err)
	}
	if app.ConfigVersion != f.app.ConfigVersion+1 {
		t.Errorf("config version %d after a mapping change, want %d", app.ConfigVersion, f.app.ConfigVersion+1)
	}
	v := view(t, s, app)
	if err := v.MayAuthenticate(ctx, alice); err != nil {
		t.Errorf("alice (nested licence member): %v", err)
	}
	wantErr(t, v.MayAuthenticate(ctx, bob), store.ErrNotAllowed)
	// Without the filter the application still sees bob (Crowd's default).
	if _, err := v.User(ctx, "BOB"); err != nil {
		t.Errorf("bob invisible without access filter: %v", err)
	}
	// Permissions.
	wantErr(t, v.Permit(f.dir.ID, store.OpCreateUser), store.ErrPermission)
	if err := v.Permit(f.dir.ID, store.OpUpdateUser); err != nil {
		t.Error(err)
	}
	_, err = v.DirectoryFor(store.OpCreateGroup)
	wantErr(t, err, store.ErrPermission)
	// An inactive application authenticates nobody.
	off := false
	app, _ = s.UpdateApplication(ctx, app.ID, store.ApplicationChange{Active: &off})
	wantErr(t, view(t, s, app).MayAuthenticate(ctx, alice), store.ErrNotAllowed)
}

func testShadowing(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	d2 := storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Second", Kind: store.DirectoryInternal, Active: true, NestedGroups: true}))
	g1 := addGroup(t, s, f.dir.ID, "staff")
	g2 := addGroup(t, s, d2.ID, "STAFF") // same group to the application
	first := addUser(t, s, f.dir.ID, "sam", g1.ID)
	second := addUser(t, s, d2.ID, "Sam", g2.ID) // shadowed by the first directory's sam
	addUser(t, s, d2.ID, "zoe", g2.ID)
	m := []store.Mapping{{DirectoryID: f.dir.ID, AllowAll: true}, {DirectoryID: d2.ID, AllowAll: true}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	v := view(t, s, app)
	u, err := v.User(ctx, "SAM")
	if err != nil || u.ID != first.ID {
		t.Fatalf("User(SAM) = %d, %v; want the first directory's %d", u.ID, err, first.ID)
	}
	_, err = v.UserByKey(ctx, second.Key())
	wantErr(t, err, store.ErrNotFound)
	all := userNames(t, func(fn func(store.User) error) error { return v.SearchUsers(ctx, store.Restriction{}, store.All, fn) })
	if diff := cmp.Diff([]string{"sam", "zoe"}, all); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	groups := groupNames(t, func(fn func(store.Group) error) error { return v.SearchGroups(ctx, store.Restriction{}, store.All, fn) })
	if diff := cmp.Diff([]string{"staff"}, groups); diff != "" {
		t.Errorf("groups merged by name (-want +got):\n%s", diff)
	}
	members := userNames(t, func(fn func(store.User) error) error { return v.GroupUsers(ctx, "staff", false, store.All, fn) })
	if diff := cmp.Diff([]string{"sam", "zoe"}, members); diff != "" {
		t.Errorf("members of the merged group (-want +got):\n%s", diff)
	}
	// The bulk document merges the same way: the shadowed Sam is not listed twice.
	var ms []store.Membership
	if err := v.Memberships(ctx, func(m store.Membership) error { ms = append(ms, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Membership{{Group: "staff", Users: []string{"sam", "zoe"}}}, ms); diff != "" {
		t.Errorf("bulk memberships of the merged group (-want +got):\n%s", diff)
	}
	// Reverse the order: the second directory's Sam wins.
	m = []store.Mapping{m[1], m[0]}
	app = storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	u, _ = view(t, s, app).User(ctx, "sam")
	if u.ID != second.ID {
		t.Errorf("after reordering User(sam) = %d, want %d", u.ID, second.ID)
	}
	// An inactive directory disappears.
	d2.Active = false
	storetest.Must(s.UpdateDirectory(ctx, d2))
	if _, err := view(t, s, app).User(ctx, "zoe"); err == nil {
		t.Error("zoe of an inactive directory is visible")
	}
}

func testFilterByAccess(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	lic := addGroup(t, s, f.dir.ID, "licensed")
	addUser(t, s, f.dir.ID, "in", lic.ID)
	addUser(t, s, f.dir.ID, "out")
	on := true
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"licensed"}}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{FilterByAccess: &on, Mappings: &m}))
	v := view(t, s, app)
	all := userNames(t, func(fn func(store.User) error) error { return v.SearchUsers(ctx, store.Restriction{}, store.All, fn) })
	if diff := cmp.Diff([]string{"in"}, all); diff != "" {
		t.Errorf("users with access (-want +got):\n%s", diff)
	}
	_, err := v.User(ctx, "out")
	wantErr(t, err, store.ErrNotFound)
	var ms []store.Membership
	if err := v.Memberships(ctx, func(m store.Membership) error { ms = append(ms, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Membership{{Group: "licensed", Users: []string{"in"}}}, ms); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}
}

func testSearch(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	for _, n := range []string{"adam", "Admin", "bob", "carol"} {
		addUser(t, s, f.dir.ID, n)
	}
	u, _ := s.UserByName(ctx, f.dir.ID, "carol")
	off := false
	storetest.Must(s.UpdateUser(ctx, u.ID, store.UserChange{Active: &off}))
	if err := s.StoreUserAttributes(ctx, u.ID, map[string][]string{"team": {"Blue"}}); err != nil {
		t.Fatal(err)
	}
	v := view(t, s, f.app)
	for _, tc := range []struct {
		name string
		r    store.Restriction
		p    store.Page
		want []string
	}{
		{"all", store.Restriction{}, store.All, []string{"adam", "Admin", "bob", "carol"}},
		{"page", store.Restriction{}, store.Page{Start: 1, Max: 2}, []string{"Admin", "bob"}},
		{"starts with, any case", store.Restriction{Property: "name", Mode: store.StartsWith, Value: "AD"}, store.All, []string{"adam", "Admin"}},
		{"exact email", store.Restriction{Property: "email", Mode: store.ExactlyMatches, Value: "BOB@example.com"}, store.All, []string{"bob"}},
		{"contains", store.Restriction{Property: "name", Mode: store.Contains, Value: "o"}, store.All, []string{"bob", "carol"}},
		{"ends with", store.Restriction{Property: "name", Mode: store.EndsWith, Value: "min"}, store.All, []string{"Admin"}},
		{"inactive", store.Restriction{Property: "active", Mode: store.ExactlyMatches, Value: "false"}, store.All, []string{"carol"}},
		{"like is literal", store.Restriction{Property: "name", Mode: store.Contains, Value: "%"}, store.All, nil},
		{"attribute", store.Restriction{Property: "team", Mode: store.ExactlyMatches, Value: "Blue"}, store.All, []string{"carol"}},
		{"or", store.Restriction{Logic: store.Or, Children: []store.Restriction{
			{Property: "name", Mode: store.ExactlyMatches, Value: "bob"},
			{Property: "name", Mode: store.ExactlyMatches, Value: "adam"}}}, store.All, []string{"adam", "bob"}},
		{"and", store.Restriction{Logic: store.And, Children: []store.Restriction{
			{Property: "name", Mode: store.StartsWith, Value: "a"},
			{Property: "active", Mode: store.ExactlyMatches, Value: "true"},
			{Property: "createdDate", Mode: store.GreaterThan, Value: "2000-01-01T00:00:00.000+0000"}}}, store.All, []string{"adam", "Admin"}},
	} {
		got := userNames(t, func(fn func(store.User) error) error { return v.SearchUsers(ctx, tc.r, tc.p, fn) })
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	for _, bad := range []store.Restriction{
		{Property: "active", Mode: store.ExactlyMatches, Value: "maybe"},
		{Property: "createdDate", Mode: store.GreaterThan, Value: "yesterday"},
		{Property: "name", Mode: "SOUNDS_LIKE", Value: "x"},
		{Logic: "XOR", Children: []store.Restriction{{}}},
	} {
		err := v.SearchUsers(ctx, bad, store.All, func(store.User) error { return nil })
		wantErr(t, err, store.ErrInvalid)
	}
}

func testMembershipStream(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	a, b, empty := addGroup(t, s, f.dir.ID, "a"), addGroup(t, s, f.dir.ID, "B"), addGroup(t, s, f.dir.ID, "empty")
	_ = empty
	addUser(t, s, f.dir.ID, "x", a.ID, b.ID)
	addUser(t, s, f.dir.ID, "y", a.ID)
	if err := s.AddGroupToGroup(ctx, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	var got []store.Membership
	if err := view(t, s, f.app).Memberships(ctx, func(m store.Membership) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []store.Membership{
		{Group: "a", Users: []string{"x", "y"}, Groups: []string{"B"}},
		{Group: "B", Users: []string{"x"}},
		{Group: "empty"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}

	// Members are read a chunk of groups at a time: across chunk boundaries every group keeps
	// its own members, in order.
	const n = 450
	var gs []store.Group
	for i := range n {
		gs = append(gs, addGroup(t, s, f.dir.ID, fmt.Sprintf("g%03d", i)))
	}
	for i := range n {
		addUser(t, s, f.dir.ID, fmt.Sprintf("u%03d", i), gs[i].ID, gs[(i+1)%n].ID)
	}
	got = got[:0]
	if err := view(t, s, f.app).Memberships(ctx, func(m store.Membership) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n+3 {
		t.Fatalf("%d groups, want %d", len(got), n+3)
	}
	for i, m := range got[3:] { // after a, B and empty
		prev := (i + n - 1) % n
		users := []string{fmt.Sprintf("u%03d", min(i, prev)), fmt.Sprintf("u%03d", max(i, prev))}
		if m.Group != fmt.Sprintf("g%03d", i) || !slices.Equal(m.Users, users) {
			t.Fatalf("group %d: %+v, want g%03d with %v", i, m, i, users)
		}
	}
}
