package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func testSAMLReplayCache(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	if err := s.RememberAssertion(ctx, "_a1", now.Add(5*time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	wantErr(t, s.RememberAssertion(ctx, "_a1", now.Add(5*time.Minute)), store.ErrExists)
	if err := s.RememberAssertion(ctx, "_a2", now.Add(time.Hour)); err != nil {
		t.Fatalf("other id: %v", err)
	}
	wantErr(t, s.RememberAssertion(ctx, "", now.Add(time.Minute)), store.ErrInvalid)
	wantErr(t, s.RememberAssertion(ctx, string(bytes.Repeat([]byte("x"), 513)), now), store.ErrInvalid)

	// An id whose validity already ended is still kept for a minute.
	if err := s.RememberAssertion(ctx, "_old", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.RememberAssertion(ctx, "_old", now.Add(-time.Hour)), store.ErrExists)

	// Past its expiry the id is pruned, and may be recorded again (its assertion is long invalid).
	now = now.Add(6 * time.Minute)
	if err := s.RememberAssertion(ctx, "_a1", now.Add(5*time.Minute)); err != nil {
		t.Fatalf("reuse after expiry: %v", err)
	}
	wantErr(t, s.RememberAssertion(ctx, "_a1", now.Add(5*time.Minute)), store.ErrExists)
	n, err := s.PruneAssertions(ctx)
	if err != nil || n != 1 { // _old
		t.Fatalf("PruneAssertions = %d, %v; want 1", n, err)
	}
	now = now.Add(2 * time.Hour)
	if n, err := s.PruneAssertions(ctx); err != nil || n != 2 {
		t.Fatalf("PruneAssertions = %d, %v; want 2", n, err)
	}
}

// testSAMLReplayConcurrent: of many instances consuming one id at once, exactly one wins.
func testSAMLReplayConcurrent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- s.RememberAssertion(ctx, "_race", exp) }()
	}
	ok := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses succeeded, want 1", ok, n)
	}
}

func testSAMLUsers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	internal := storetest.Must(s.EnsureInternalDirectory(ctx))
	entra := storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Entra", Kind: store.DirectoryAzureAD, Active: true}))
	other := storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Old tenant", Kind: store.DirectoryAzureAD, Active: false}))
	mk := func(dir int64, name, ext, email string) store.User {
		return storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: dir, Name: name, ExternalID: ext, Email: email, Active: true}))
	}
	alice := mk(entra.ID, "alice@example.com", "0b5c2f6e-1111-4a4a-8a8a-aaaaaaaaaaaa", "Alice@Example.com")
	mk(other.ID, "alice@example.com", "0b5c2f6e-2222-4a4a-8a8a-aaaaaaaaaaaa", "alice@example.com")
	localAlice := mk(internal.ID, "alice@example.com", "0b5c2f6e-1111-4a4a-8a8a-aaaaaaaaaaaa", "alice@example.com")
	bob := mk(entra.ID, "bob@example.com", "0b5c2f6e-3333-4a4a-8a8a-aaaaaaaaaaaa", "shared@example.com")
	carol := mk(entra.ID, "carol@example.com", "0b5c2f6e-4444-4a4a-8a8a-aaaaaaaaaaaa", "shared@example.com")

	ids := func(us []store.User, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []int64{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	cases := []struct {
		name     string
		by       string
		value    string
		internal bool
		want     []int64
	}{
		{"object id matches AZURE_AD only", store.SAMLByObjectID, "0b5c2f6e-1111-4a4a-8a8a-aaaaaaaaaaaa", true, []int64{alice.ID}},
		{"object id upper case", store.SAMLByObjectID, "0B5C2F6E-1111-4A4A-8A8A-AAAAAAAAAAAA", false, []int64{alice.ID}},
		{"object id of inactive directory", store.SAMLByObjectID, "0b5c2f6e-2222-4a4a-8a8a-aaaaaaaaaaaa", false, []int64{}},
		{"name case-insensitive", store.SAMLByName, "ALICE@example.com", false, []int64{alice.ID}},
		{"name with internal", store.SAMLByName, "alice@example.com", true, []int64{localAlice.ID, alice.ID}},
		{"email", store.SAMLByEmail, "alice@EXAMPLE.com", false, []int64{alice.ID}},
		{"email shared", store.SAMLByEmail, "shared@example.com", false, []int64{bob.ID, carol.ID}},
		{"unknown", store.SAMLByName, "mallory@example.com", true, []int64{}},
		{"empty", store.SAMLByName, "", true, []int64{}},
	}
	// The internal directory was created first: it comes first in directory order.
	if internal.ID > entra.ID {
		cases[4].want = []int64{alice.ID, localAlice.ID}
	}
	for _, tc := range cases {
		got := ids(s.UsersForAssertion(ctx, tc.by, tc.value, tc.internal))
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: UsersForAssertion(%s, %q) (-want +got):\n%s", tc.name, tc.by, tc.value, diff)
		}
	}
	_, err := s.UsersForAssertion(ctx, "upn", "x", false)
	wantErr(t, err, store.ErrInvalid)
}

func testSAMLUserInGroup(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := storetest.Must(s.EnsureInternalDirectory(ctx))
	admins := addGroup(t, s, d.ID, "crowdgate-breakglass")
	ops := addGroup(t, s, d.ID, "ops")
	if err := s.AddGroupToGroup(ctx, ops.ID, admins.ID); err != nil {
		t.Fatal(err)
	}
	direct := addUser(t, s, d.ID, "root", admins.ID)
	nested := addUser(t, s, d.ID, "oncall", ops.ID)
	none := addUser(t, s, d.ID, "guest")
	for _, tc := range []struct {
		u    store.User
		want bool
	}{{direct, true}, {nested, true}, {none, false}} {
		got, err := s.UserInGroup(ctx, tc.u, "CrowdGate-BreakGlass")
		if err != nil || got != tc.want {
			t.Errorf("UserInGroup(%s) = %v, %v; want %v", tc.u.Name, got, err, tc.want)
		}
	}
}

func testSAMLStateKey(t *testing.T, s *store.Store) {
	ctx := context.Background()
	k1, err := s.SAMLStateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(k1))
	}
	k2, err := s.SAMLStateKey(ctx)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second call returned another key (err %v)", err)
	}
	// Creating the key is not an audited change.
	entries, err := s.ListAudit(ctx, store.AuditFilter{Action: "SETTING_CHANGED"})
	if err != nil || len(entries) != 0 {
		t.Fatalf("audit entries %v, %v; want none", entries, err)
	}
}
