package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func testUserCRUD(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	u, err := s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "Alice", FirstName: "Alice", LastName: "Liddell",
		Email: "Alice@Example.com", Active: true, Attributes: map[string][]string{"synch.x": {"b", "a", "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Alice Liddell" {
		t.Errorf("display name = %q, want computed %q", u.DisplayName, "Alice Liddell")
	}
	if !strings.HasPrefix(u.Key(), "1:") && !strings.Contains(u.Key(), ":") {
		t.Errorf("key %q is not <dir>:<external>", u.Key())
	}
	got, err := s.UserByName(ctx, f.dir.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("read back differs (-created +read):\n%s", diff)
	}
	byKey, err := s.UserByKey(ctx, u.Key())
	if err != nil || byKey.ID != u.ID {
		t.Fatalf("UserByKey(%q) = %v, %v", u.Key(), byKey.ID, err)
	}
	attrs, err := s.UserAttributes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"synch.x": {"a", "b"}}, attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	last := "Pleasance"
	u2, err := s.UpdateUser(ctx, u.ID, store.UserChange{LastName: &last})
	if err != nil {
		t.Fatal(err)
	}
	if u2.LastName != last || u2.DisplayName != "Alice Pleasance" || u2.Key() != u.Key() {
		t.Errorf("after update: %+v", u2)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.User(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteUser(ctx, u.ID), store.ErrNotFound)
	_, err = s.UserByKey(ctx, "nonsense")
	wantErr(t, err, store.ErrInvalid)
}

func testUserCase(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	addUser(t, s, f.dir.ID, "Alice")
	_, err := s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "alice", Active: true})
	wantErr(t, err, store.ErrExists)
	u, err := s.UserByName(ctx, f.dir.ID, "ALICE")
	if err != nil || u.Name != "Alice" {
		t.Fatalf("UserByName(ALICE) = %q, %v; want canonical Alice", u.Name, err)
	}
	// Non-ASCII case folding.
	addUser(t, s, f.dir.ID, "Émile")
	if _, err := s.UserByName(ctx, f.dir.ID, "émile"); err != nil {
		t.Fatalf("UserByName(émile): %v", err)
	}
}

func testUserBadInput(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	for name, nu := range map[string]store.NewUser{
		"empty":         {Name: ""},
		"control":       {Name: "a\x00b"},
		"newline":       {Name: "a\nb"},
		"too long":      {Name: strings.Repeat("x", 256)},
		"spaces around": {Name: " bob "},
		"bad email":     {Name: "bob", Email: "x\x01"},
		"bad attribute": {Name: "bob", Attributes: map[string][]string{"": {"v"}}},
		"two passwords": {Name: "bob", Password: "pw", Credential: "{PLAINTEXT}pw"},
	} {
		nu.DirectoryID = f.dir.ID
		_, err := s.CreateUser(ctx, nu)
		if err == nil {
			t.Errorf("%s: CreateUser(%q) succeeded, want an error", name, nu.Name)
			continue
		}
		wantErr(t, err, store.ErrInvalid)
	}
	if n, _ := s.UserCount(ctx, f.dir.ID); n != 0 {
		t.Errorf("%d users exist after rejected creates, want 0", n)
	}
	// 255 characters is fine.
	storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: strings.Repeat("é", 255)}))
}

func testUserRename(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "bob")
	addUser(t, s, f.dir.ID, "carol")
	r, err := s.RenameUser(ctx, u.ID, "Robert")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key() != u.Key() || r.Name != "Robert" {
		t.Errorf("renamed: key %q name %q; want key %q name Robert", r.Key(), r.Name, u.Key())
	}
	_, err = s.RenameUser(ctx, u.ID, "CAROL")
	wantErr(t, err, store.ErrExists)
	_, err = s.RenameUser(ctx, u.ID, "")
	wantErr(t, err, store.ErrInvalid)
}

func testAttributes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "bob")
	if err := s.StoreUserAttributes(ctx, u.ID, map[string][]string{"a": {"1"}, "b": {"2", "3"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreUserAttributes(ctx, u.ID, map[string][]string{"b": {"4"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUserAttribute(ctx, u.ID, "missing"); err != nil {
		t.Fatalf("deleting a missing attribute: %v", err)
	}
	got, _ := s.UserAttributes(ctx, u.ID)
	if diff := cmp.Diff(map[string][]string{"a": {"1"}, "b": {"4"}}, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	g := addGroup(t, s, f.dir.ID, "g")
	if err := s.StoreGroupAttributes(ctx, g.ID, map[string][]string{"k": {"v"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroupAttribute(ctx, g.ID, "k"); err != nil {
		t.Fatal(err)
	}
	ga, _ := s.GroupAttributes(ctx, g.ID)
	if len(ga) != 0 {
		t.Errorf("group attributes after delete: %v", ga)
	}
}

func testTimePrecision(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	at := time.Date(2024, 2, 11, 8, 0, 0, 123456789, time.FixedZone("X", 3600))
	s.SetClock(func() time.Time { return at })
	u := addUser(t, s, f.dir.ID, "bob")
	got, err := s.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("created at %v (%v), want %v in UTC", got.CreatedAt, got.CreatedAt.Location(), want)
	}
}

func testConcurrentUpdates(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "bob")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := strings.Repeat("x", i+1)
			_, err := s.UpdateUser(ctx, u.ID, store.UserChange{FirstName: &v})
			errs <- err
			errs <- s.StoreUserAttributes(ctx, u.ID, map[string][]string{"n": {v}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
	}
	got, _ := s.User(ctx, u.ID)
	attrs, _ := s.UserAttributes(ctx, u.ID)
	if len(got.FirstName) == 0 || len(attrs["n"]) != 1 {
		t.Errorf("after concurrent updates: first %q, attribute n %v (want one value)", got.FirstName, attrs["n"])
	}
}

func testAtomic(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	before, _ := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	err := s.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "half", Active: true}); err != nil {
			return err
		}
		_, err := tx.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "HALF", Active: true})
		return err
	})
	wantErr(t, err, store.ErrExists)
	_, err = s.UserByName(ctx, f.dir.ID, "half")
	wantErr(t, err, store.ErrNotFound)
	after, _ := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if len(after) != len(before) {
		t.Errorf("audit grew from %d to %d entries for a rolled-back change", len(before), len(after))
	}
	_ = storetest.Dialect
}

// TestUpdateUserRenameRollsBackWithRefusedField is the regression test of a console edit that
// renamed the user in one transaction and then failed to save an invalid field in another,
// leaving the rename: UserChange.Name now renames in the update's own transaction.
func TestUpdateUserRenameRollsBackWithRefusedField(t *testing.T) {
	onEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := storetest.Must(st.EnsureInternalDirectory(ctx))
		u := storetest.Must(st.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: "bob", Active: true}))
		name, bad := "robert", "bob\x00@example.com"
		if _, err := st.UpdateUser(ctx, u.ID, store.UserChange{Name: &name, Email: &bad}); err == nil {
			t.Fatal("an invalid e-mail was accepted")
		}
		if got := storetest.Must(st.User(ctx, u.ID)); got.Name != "bob" {
			t.Fatalf("name %q after a refused change, want bob", got.Name)
		}
		good := "robert@example.com"
		got, err := st.UpdateUser(ctx, u.ID, store.UserChange{Name: &name, Email: &good})
		if err != nil || got.Name != "robert" || got.Email != good {
			t.Fatalf("rename with update: %+v %v", got, err)
		}
	})
}

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
