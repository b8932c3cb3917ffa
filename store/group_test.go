package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
)

func testGroupCRUD(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	g, err := s.CreateGroup(ctx, store.NewGroup{DirectoryID: f.dir.ID, Name: "Jira-Users", Description: "d", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateGroup(ctx, store.NewGroup{DirectoryID: f.dir.ID, Name: "jira-users"})
	wantErr(t, err, store.ErrExists)
	_, err = s.CreateGroup(ctx, store.NewGroup{DirectoryID: f.dir.ID, Name: ""})
	wantErr(t, err, store.ErrInvalid)
	got, err := s.GroupByName(ctx, f.dir.ID, "JIRA-USERS")
	if err != nil || got.Name != "Jira-Users" {
		t.Fatalf("GroupByName = %q, %v", got.Name, err)
	}
	desc := "new"
	g2, err := s.UpdateGroup(ctx, g.ID, store.GroupChange{Description: &desc})
	if err != nil || g2.Description != "new" {
		t.Fatalf("UpdateGroup = %+v, %v", g2, err)
	}
	if err := s.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Group(ctx, g.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testMemberships(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	g := addGroup(t, s, f.dir.ID, "g")
	u := addUser(t, s, f.dir.ID, "u", g.ID)
	wantErr(t, s.AddUserToGroup(ctx, u.ID, g.ID), store.ErrExists)
	wantErr(t, s.AddUserToGroup(ctx, u.ID, 99999), store.ErrNotFound)
	wantErr(t, s.AddUserToGroup(ctx, 99999, g.ID), store.ErrNotFound)
	if err := s.RemoveUserFromGroup(ctx, u.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.RemoveUserFromGroup(ctx, u.ID, g.ID), store.ErrNotFound)
	// Another directory's group is refused.
	d2, err := s.CreateDirectory(ctx, store.Directory{Name: "other", Kind: store.DirectoryInternal, Active: true, NestedGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	g2 := addGroup(t, s, d2.ID, "g2")
	wantErr(t, s.AddUserToGroup(ctx, u.ID, g2.ID), store.ErrInvalid)
	// Deleting the user removes memberships.
	if err := s.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	v := view(t, s, f.app)
	if got := userNames(t, func(fn func(store.User) error) error { return v.GroupUsers(ctx, "g", false, store.All, fn) }); len(got) != 0 {
		t.Errorf("members after user delete: %v", got)
	}
}

func testNested(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	a, b, c, d := addGroup(t, s, f.dir.ID, "a"), addGroup(t, s, f.dir.ID, "b"), addGroup(t, s, f.dir.ID, "c"), addGroup(t, s, f.dir.ID, "d")
	for _, e := range [][2]int64{{b.ID, a.ID}, {c.ID, b.ID}, {d.ID, c.ID}} { // a ⊃ b ⊃ c ⊃ d
		if err := s.AddGroupToGroup(ctx, e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, s.AddGroupToGroup(ctx, a.ID, a.ID), store.ErrInvalid)
	wantErr(t, s.AddGroupToGroup(ctx, a.ID, d.ID), store.ErrInvalid) // would close a cycle
	wantErr(t, s.AddGroupToGroup(ctx, b.ID, a.ID), store.ErrExists)
	addUser(t, s, f.dir.ID, "deep", d.ID)
	addUser(t, s, f.dir.ID, "top", a.ID)
	v := view(t, s, f.app)
	list := func(name string, nested bool) []string {
		return userNames(t, func(fn func(store.User) error) error { return v.GroupUsers(ctx, name, nested, store.All, fn) })
	}
	if diff := cmp.Diff([]string{"deep", "top"}, list("a", true)); diff != "" {
		t.Errorf("nested users of a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"top"}, list("a", false)); diff != "" {
		t.Errorf("direct users of a (-want +got):\n%s", diff)
	}
	deep, _ := v.User(ctx, "deep")
	ug := groupNames(t, func(fn func(store.Group) error) error { return v.UserGroups(ctx, deep, true, store.All, fn) })
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, ug); diff != "" {
		t.Errorf("nested groups of deep (-want +got):\n%s", diff)
	}
	children := groupNames(t, func(fn func(store.Group) error) error { return v.ChildGroups(ctx, "a", true, store.All, fn) })
	if diff := cmp.Diff([]string{"b", "c", "d"}, children); diff != "" {
		t.Errorf("nested children of a (-want +got):\n%s", diff)
	}
	parents := groupNames(t, func(fn func(store.Group) error) error { return v.ParentGroups(ctx, "d", false, store.All, fn) })
	if diff := cmp.Diff([]string{"c"}, parents); diff != "" {
		t.Errorf("direct parents of d (-want +got):\n%s", diff)
	}
	// A cycle present in the data (e.g. replicated from Entra) must not loop.
	e1, e2 := addGroup(t, s, f.dir.ID, "e1"), addGroup(t, s, f.dir.ID, "e2")
	if err := s.AddGroupToGroup(ctx, e2.ID, e1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertCycleForTest(ctx, e1.ID, e2.ID); err != nil {
		t.Fatal(err)
	}
	addUser(t, s, f.dir.ID, "cyc", e2.ID)
	if diff := cmp.Diff([]string{"cyc"}, list("e1", true)); diff != "" {
		t.Errorf("nested users through a cycle (-want +got):\n%s", diff)
	}
	got := groupNames(t, func(fn func(store.Group) error) error { return v.ChildGroups(ctx, "e1", true, store.All, fn) })
	if diff := cmp.Diff([]string{"e2"}, got); diff != "" {
		t.Errorf("children through a cycle (-want +got):\n%s", diff)
	}
	// Paging.
	page := groupNames(t, func(fn func(store.Group) error) error {
		return v.UserGroups(ctx, deep, true, store.Page{Start: 1, Max: 2}, fn)
	})
	if diff := cmp.Diff([]string{"b", "c"}, page); diff != "" {
		t.Errorf("paged groups (-want +got):\n%s", diff)
	}
}
