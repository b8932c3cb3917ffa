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

// testAddressGuard: failures slow down, then block, the sending address; the account itself is never
// locked, so its owner gets in from another address.
func testAddressGuard(t *testing.T, s *store.Store) {
	f := setup(t, s)
	v := view(t, s, f.app)
	storetest.Must(s.CreateUser(context.Background(), store.NewUser{DirectoryID: f.dir.ID, Name: "bob", Active: true, Password: "right password"}))
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	from := func(addr string) context.Context {
		return store.WithActor(context.Background(), store.Actor{Kind: store.ActorApplication, Name: "jira", Address: addr})
	}
	attacker, owner := from("192.0.2.66"), from("198.51.100.7")
	for i := range store.GuardSlowAfter {
		_, err := v.Authenticate(attacker, "bob", "wrong")
		if !errors.Is(err, store.ErrBadCredential) || errors.Is(err, store.ErrThrottled) {
			t.Fatalf("failure %d: %v, want a plain ErrBadCredential", i+1, err)
		}
	}
	// Slowed down: even the right password waits, without hashing.
	before := s.PasswordVerifications()
	_, err := v.Authenticate(attacker, "bob", "right password")
	wantErr(t, err, store.ErrThrottled)
	if n := s.PasswordVerifications() - before; n != 0 {
		t.Errorf("a throttled attempt hashed %d times", n)
	}
	// The owner, elsewhere, is not locked out.
	if _, err := v.Authenticate(owner, "bob", "right password"); err != nil {
		t.Fatalf("owner from another address: %v", err)
	}
	// After the wait, one more attempt; a wrong one doubles the wait.
	now = now.Add(time.Second)
	_, err = v.Authenticate(attacker, "bob", "wrong")
	wantErr(t, err, store.ErrBadCredential)
	now = now.Add(time.Second)
	_, err = v.Authenticate(attacker, "bob", "wrong")
	wantErr(t, err, store.ErrThrottled)
	// Hammering while told to wait blocks the address for GuardBlock, after which it is forgiven.
	for range store.GuardBlockAfter {
		_, _ = v.Authenticate(attacker, "bob", "wrong")
	}
	now = now.Add(store.GuardBlock - time.Second)
	_, err = v.Authenticate(attacker, "bob", "right password")
	wantErr(t, err, store.ErrThrottled)
	if _, err := v.Authenticate(owner, "bob", "right password"); err != nil {
		t.Fatalf("owner while the attacker is blocked: %v", err)
	}
	now = now.Add(2 * time.Second)
	if n, err := s.PruneLoginFailures(context.Background()); err != nil || n != 1 {
		t.Errorf("PruneLoginFailures = %d, %v; want the attacker's expired record", n, err)
	}
	if _, err := v.Authenticate(attacker, "bob", "right password"); err != nil {
		t.Errorf("after the block: %v", err)
	}
	// Without an address (the CLI) nothing is counted.
	for range store.GuardBlockAfter + 1 {
		_, _ = v.Authenticate(context.Background(), "bob", "wrong")
	}
	if _, err := v.Authenticate(context.Background(), "bob", "right password"); err != nil {
		t.Errorf("without an address: %v", err)
	}
}

// testUnknownUserHashes: an unknown name, or a user without a password, costs the hash of a known one.
func testUnknownUserHashes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	v := view(t, s, f.app)
	storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "bob", Active: true, Password: "right password"}))
	storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "nopass", Active: true}))
	cost := func(fn func() error, want error) int64 {
		t.Helper()
		before := s.PasswordVerifications()
		wantErr(t, fn(), want)
		return s.PasswordVerifications() - before
	}
	authenticate := func(name string) func() error {
		return func() error { _, err := v.Authenticate(ctx, name, "guess"); return err }
	}
	local := func(name string) func() error {
		return func() error { _, err := s.AuthenticateLocal(ctx, []int64{f.dir.ID}, name, "guess"); return err }
	}
	for _, c := range []struct {
		what string
		got  int64
	}{
		{"known user", cost(authenticate("bob"), store.ErrBadCredential)},
		{"unknown user", cost(authenticate("nobody"), store.ErrNotFound)},
		{"user without password", cost(authenticate("nopass"), store.ErrBadCredential)},
		{"local: known user", cost(local("bob"), store.ErrBadCredential)},
		{"local: unknown user", cost(local("nobody"), store.ErrNotFound)},
	} {
		if c.got != 1 {
			t.Errorf("%s: %d password hashes checked, want 1", c.what, c.got)
		}
	}
}

// TestAddressBlockAcrossInstances: an address blocked through one instance is refused by another
// instance on the same database, before any hashing.
func TestAddressBlockAcrossInstances(t *testing.T) {
	onTwoStores(t, func(t *testing.T, a, b *store.Store) {
		f := setup(t, a)
		storetest.Must(a.CreateUser(context.Background(), store.NewUser{DirectoryID: f.dir.ID, Name: "bob", Active: true, Password: "right password"}))
		now := time.Now()
		start := now
		a.SetClock(func() time.Time { return now })
		b.SetClock(func() time.Time { return now })
		ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorAdmin, Name: "bob", Address: "192.0.2.66"})
		// Real failures spread over both instances, each waiting its turn: the shared count blocks.
		for i := range store.GuardBlockAfter {
			s := []*store.Store{a, b}[i%2]
			now = now.Add(33 * time.Second) // each instance's own wait is at most 32 s here
			_, err := s.AuthenticateLocal(ctx, []int64{f.dir.ID}, "bob", "wrong")
			wantErr(t, err, store.ErrBadCredential)
		}
		now = now.Add(store.GuardMaxDelay)
		if now.Sub(start) >= store.GuardWindow {
			t.Fatal("the failures took longer than the window")
		}
		for _, s := range []*store.Store{a, b} {
			_, err := s.AuthenticateLocal(ctx, []int64{f.dir.ID}, "bob", "right password")
			if !errors.Is(err, store.ErrThrottled) || !strings.Contains(err.Error(), "blocked until") {
				t.Errorf("after %d failures over two instances: %v, want blocked", store.GuardBlockAfter, err)
			}
		}
	})
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
