package store_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestCrowdImportHelpers covers the store methods the Crowd importer relies on, on every dialect.
func TestCrowdImportHelpers(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		dir := storetest.Must(s.EnsureInternalDirectory(ctx))

		t.Run("Validate", func(t *testing.T) {
			if err := store.ValidateNewUser(store.NewUser{Name: "alice", Email: "a@example.com"}); err != nil {
				t.Errorf("valid user refused: %v", err)
			}
			for _, nu := range []store.NewUser{
				{Name: ""},
				{Name: " alice"},
				{Name: "a\x01b"},
				{Name: "alice", FirstName: strings.Repeat("x", 300)},
				{Name: "alice", Attributes: map[string][]string{"": {"v"}}},
				{Name: "alice", Password: "p", Credential: "{SHA}x"},
			} {
				if err := store.ValidateNewUser(nu); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("ValidateNewUser(%+v) = %v, want ErrInvalid", nu, err)
				}
			}
			if err := store.ValidateNewGroup(store.NewGroup{Name: "g", Description: strings.Repeat("d", 5000)}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("long description accepted: %v", err)
			}
			if err := store.ValidateAddress("10.0.0.0/8"); err != nil {
				t.Errorf("CIDR refused: %v", err)
			}
			if err := store.ValidateAddress("10.0.*.*"); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("wildcard accepted: %v", err)
			}
		})

		t.Run("CredentialsAndMemberships", func(t *testing.T) {
			u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: "bob", Active: true}))
			if has, err := s.HasCredential(ctx, u.ID); err != nil || has {
				t.Fatalf("HasCredential before = %v, %v; want false", has, err)
			}
			if err := s.SetCredential(ctx, u.ID, "{PLAINTEXT}secret"); err != nil {
				t.Fatal(err)
			}
			if has, err := s.HasCredential(ctx, u.ID); err != nil || !has {
				t.Fatalf("HasCredential after = %v, %v; want true", has, err)
			}
			if _, err := s.HasCredential(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("HasCredential(missing) = %v, want ErrNotFound", err)
			}
			g := storetest.Must(s.CreateGroup(ctx, store.NewGroup{DirectoryID: dir.ID, Name: "g1", Active: true}))
			p := storetest.Must(s.CreateGroup(ctx, store.NewGroup{DirectoryID: dir.ID, Name: "g2", Active: true}))
			if ok, err := s.UserMembershipExists(ctx, u.ID, g.ID); err != nil || ok {
				t.Fatalf("UserMembershipExists before = %v, %v", ok, err)
			}
			if ok, err := s.GroupMembershipExists(ctx, g.ID, p.ID); err != nil || ok {
				t.Fatalf("GroupMembershipExists before = %v, %v", ok, err)
			}
			if err := s.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.AddGroupToGroup(ctx, g.ID, p.ID); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.UserMembershipExists(ctx, u.ID, g.ID); err != nil || !ok {
				t.Errorf("UserMembershipExists after = %v, %v", ok, err)
			}
			if ok, err := s.GroupMembershipExists(ctx, g.ID, p.ID); err != nil || !ok {
				t.Errorf("GroupMembershipExists after = %v, %v", ok, err)
			}
			if ok, err := s.GroupMembershipExists(ctx, p.ID, g.ID); err != nil || ok {
				t.Errorf("GroupMembershipExists reversed = %v, %v; want false", ok, err)
			}
		})

		t.Run("ApplicationCredential", func(t *testing.T) {
			app := storetest.Must(s.CreateApplication(ctx, store.NewApplication{Name: "jira", Password: "generated-1234", Active: true,
				Kind: store.AppJira, Mappings: []store.Mapping{{DirectoryID: dir.ID, AllowAll: true}}}))
			salt := []byte("0123456789abcdef")
			key, err := pbkdf2.Key(sha1.New, "crowd-app-secret", salt, 10000, 32)
			if err != nil {
				t.Fatal(err)
			}
			cred := "{PKCS5S2}" + base64.StdEncoding.EncodeToString(append(salt, key...))
			if err := s.SetApplicationCredential(ctx, app.ID, "not a hash"); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("unknown format accepted: %v", err)
			}
			if err := s.SetApplicationCredential(ctx, app.ID, cred); err != nil {
				t.Fatal(err)
			}
			if same, err := s.ApplicationCredentialIs(ctx, app.ID, cred); err != nil || !same {
				t.Errorf("ApplicationCredentialIs(imported) = %v, %v", same, err)
			}
			if same, err := s.ApplicationCredentialIs(ctx, app.ID, cred+"x"); err != nil || same {
				t.Errorf("ApplicationCredentialIs(other) = %v, %v", same, err)
			}
			if _, err := s.AuthenticateApplication(ctx, "jira", "crowd-app-secret"); err != nil {
				t.Errorf("Crowd's application password refused after import: %v", err)
			}
			if _, err := s.AuthenticateApplication(ctx, "jira", "generated-1234"); !errors.Is(err, store.ErrBadCredential) {
				t.Errorf("generated password still accepted: %v", err)
			}
			entries, err := s.ListAudit(ctx, store.AuditFilter{Action: "APPLICATION_CREDENTIAL_IMPORTED"})
			if err != nil || len(entries) != 1 {
				t.Errorf("audit entries = %d, %v; want 1", len(entries), err)
			}
		})
	})
}
