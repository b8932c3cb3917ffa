package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// Known-answer vectors: each stored credential verifies the given password through the store.
var credentialVectors = []struct {
	format, stored, password string
}{
	{"PKCS5S2 (Jira's admin)", "{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/p", "admin"},
	{"SHA (OpenLDAP)", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password"},
	{"MD5 (OpenLDAP)", "{MD5}X03MO1qnZdYdgyfeuILPmQ==", "password"},
	{"bcrypt (crypt_blowfish)", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"plaintext", "{PLAINTEXT}secret", "secret"},
}

func testPasswordFormats(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	v := view(t, s, f.app)
	for i, vec := range credentialVectors {
		name := "u" + string(rune('a'+i))
		u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: name, Active: true, Credential: vec.stored}))
		if _, err := v.Authenticate(ctx, name, vec.password+"x"); !errors.Is(err, store.ErrBadCredential) {
			t.Errorf("%s: wrong password gave %v, want ErrBadCredential", vec.format, err)
		}
		if _, err := v.Authenticate(ctx, name, vec.password); err != nil {
			t.Errorf("%s: %v", vec.format, err)
			continue
		}
		// The first login on an idle pool upgrades the legacy credential to argon2id (later ones
		// are paced: password.Pool.TryHash), and whatever is stored still verifies.
		if cred, err := s.CredentialForTest(ctx, u.ID); err != nil || (i == 0 && !strings.HasPrefix(cred, "$argon2id$")) {
			t.Errorf("%s: stored %.12q after the first login (err %v), want it upgraded to argon2id", vec.format, cred, err)
		}
		if _, err := v.Authenticate(ctx, name, vec.password); err != nil {
			t.Errorf("%s after re-hash: %v", vec.format, err)
		}
	}
}

func testAuthenticate(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	lic := addGroup(t, s, f.dir.ID, "lic")
	v := view(t, s, f.app)
	u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "Alice", Active: true, Password: "correct horse"}))
	got, err := v.Authenticate(ctx, "ALICE", "correct horse")
	if err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate = %v, %v", got.ID, err)
	}
	_, err = v.Authenticate(ctx, "nobody", "x")
	wantErr(t, err, store.ErrNotFound)
	_, err = v.Authenticate(ctx, "alice", "wrong")
	wantErr(t, err, store.ErrBadCredential)
	off := false
	storetest.Must(s.UpdateUser(ctx, u.ID, store.UserChange{Active: &off}))
	_, err = v.Authenticate(ctx, "alice", "correct horse")
	wantErr(t, err, store.ErrInactive)
	on := true
	storetest.Must(s.UpdateUser(ctx, u.ID, store.UserChange{Active: &on}))
	if err := s.ExpireAllPasswords(ctx, []int64{f.dir.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = v.Authenticate(ctx, "alice", "correct horse")
	wantErr(t, err, store.ErrExpiredCredential)
	if err := s.SetPassword(ctx, u.ID, "new password"); err != nil {
		t.Fatal(err)
	}
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"lic"}}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	_, err = view(t, s, app).Authenticate(ctx, "alice", "new password")
	wantErr(t, err, store.ErrNotAllowed)
	if err := s.AddUserToGroup(ctx, u.ID, lic.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := view(t, s, app).Authenticate(ctx, "alice", "new password"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearPassword(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = view(t, s, app).Authenticate(ctx, "alice", "")
	wantErr(t, err, store.ErrBadCredential)
	wantErr(t, s.SetPassword(ctx, u.ID, ""), store.ErrInvalid)
}

func testLockOut(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s) // the internal directory locks after 5 failures for 300 s
	v := view(t, s, f.app)
	storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "bob", Active: true, Password: "right password"}))
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	for range 5 {
		_, err := v.Authenticate(ctx, "bob", "wrong")
		wantErr(t, err, store.ErrBadCredential)
	}
	_, err := v.Authenticate(ctx, "bob", "right password")
	wantErr(t, err, store.ErrLocked)
	locks, _ := s.ListAudit(ctx, store.AuditFilter{Action: "ACCOUNT_LOCKED"})
	if len(locks) != 1 || locks[0].Object != "bob" {
		t.Errorf("lock-out audit entries: %+v", locks)
	}
	now = now.Add(301 * time.Second)
	if _, err := v.Authenticate(ctx, "bob", "right password"); err != nil {
		t.Errorf("after the lock-out: %v", err)
	}
}

func testApplicationAuth(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	if _, err := s.AuthenticateApplication(ctx, "JIRA", "jira-secret"); err != nil {
		t.Fatal(err)
	}
	_, err := s.AuthenticateApplication(ctx, "jira", "jira-secreT")
	wantErr(t, err, store.ErrBadCredential)
	_, err = s.AuthenticateApplication(ctx, "nope", "jira-secret")
	wantErr(t, err, store.ErrNotFound)
	if err := s.SetApplicationPassword(ctx, f.app.ID, "rotated-secret"); err != nil {
		t.Fatal(err)
	}
	_, err = s.AuthenticateApplication(ctx, "jira", "jira-secret")
	wantErr(t, err, store.ErrBadCredential)
	if _, err := s.AuthenticateApplication(ctx, "jira", "rotated-secret"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateApplication(ctx, store.NewApplication{Name: "short", Password: "x", Kind: store.AppGeneric})
	wantErr(t, err, store.ErrInvalid)
	_, err = s.CreateApplication(ctx, store.NewApplication{Name: "bad", Password: "long-enough", RemoteAddresses: []string{"10.0.0.0/33"}})
	wantErr(t, err, store.ErrInvalid)
}
