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
