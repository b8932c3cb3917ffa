package crowdimport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/crowdimport/backuptest"
	"github.com/crowdgate/crowdgate/store"
)

// onlyReader hides Seek, so Backup has to spool its input.
type onlyReader struct{ io.Reader }

func generate(t *testing.T, c backuptest.Config) ([]byte, backuptest.Summary) {
	t.Helper()
	var b bytes.Buffer
	sum, err := backuptest.Generate(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sum
}

func TestGeneratorIsDeterministic(t *testing.T) {
	c := backuptest.Config{Users: 30, DESUsers: 2, PlaintextUsers: 2, LDAPUsers: 2, Seed: 7}
	a, _ := generate(t, c)
	b, _ := generate(t, c)
	if !bytes.Equal(a, b) {
		t.Fatal("two generations of one config differ")
	}
	c.Seed = 8
	if d, _ := generate(t, c); bytes.Equal(a, d) {
		t.Error("the seed changes nothing")
	}
}

func TestBackupGenerated(t *testing.T) {
	cfg := backuptest.Config{Users: 70, Groups: 20, DESUsers: 3, PlaintextUsers: 2, LDAPUsers: 2, Seed: 1}
	input, sum := generate(t, cfg)
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		opts := crowdimport.Options{DESKey: backuptest.DESKey, BatchSize: 16, Log: testLog(t)}
		rep, err := crowdimport.Backup(ctx, onlyReader{bytes.NewReader(input)}, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("report:\n%s", rep)
		ldapMembers := cfg.LDAPUsers
		if rep.Users.Created != cfg.Users+cfg.DESUsers+cfg.PlaintextUsers || rep.Users.Skipped != cfg.LDAPUsers ||
			rep.UserMemberships.Created != sum.UserMemberships-ldapMembers || rep.GroupMemberships.Created != sum.GroupMemberships ||
			rep.Groups.Created != sum.Groups-1 || rep.Directories.Created != 3 {
			t.Errorf("counts do not match the generated backup %+v:\n%s", sum, rep)
		}
		for _, f := range backuptest.Formats[:len(backuptest.Formats)-1] { // PLAINTEXT below
			if rep.Passwords[f] != cfg.Users/len(backuptest.Formats) {
				t.Errorf("%s passwords = %d, want %d", f, rep.Passwords[f], cfg.Users/len(backuptest.Formats))
			}
		}
		if rep.Passwords["DES, decrypted"] != cfg.DESUsers || rep.Passwords["PLAINTEXT"] != cfg.Users/len(backuptest.Formats)+cfg.PlaintextUsers {
			t.Errorf("passwords = %v", rep.Passwords)
		}

		// bamboo's credential is not a hash crowdgate knows: it got a generated password, shown once.
		if len(rep.ApplicationPasswords) != 1 || rep.ApplicationPasswords[0].Application != "bamboo" {
			t.Fatalf("generated passwords = %+v", rep.ApplicationPasswords)
		}
		pw := rep.ApplicationPasswords[0].Password
		if !strings.Contains(rep.String(), "bamboo: "+pw) {
			t.Errorf("the report does not show bamboo's password:\n%s", rep)
		}
		if _, err := st.AuthenticateApplication(ctx, "bamboo", pw); err != nil {
			t.Errorf("bamboo with its generated password: %v", err)
		}
		if _, err := st.AuthenticateApplication(ctx, "jira", backuptest.JiraPassword); err != nil {
			t.Errorf("jira with its Crowd password: %v", err)
		}

		// Every format signs in with the original password, and only with it.
		// bamboo lets every user of the internal directory sign in; one user of each format.
		bamboo := viewOf(t, st, "bamboo")
		for i := 0; i < len(backuptest.Formats); i++ {
			_, err := bamboo.Authenticate(ctx, backuptest.UserName(i), backuptest.Password(i))
			if backuptest.Active(i) && err != nil || !backuptest.Active(i) && !errors.Is(err, store.ErrInactive) {
				t.Errorf("user %d (%s) signs in: %v", i, backuptest.Format(i), err)
			}
			if _, err := bamboo.Authenticate(ctx, backuptest.UserName(i), backuptest.Password(i)+"x"); !errors.Is(err, store.ErrBadCredential) {
				t.Errorf("user %d (%s) with a wrong password: %v", i, backuptest.Format(i), err)
			}
		}
		jira := viewOf(t, st, "jira") // maps the DES directory with "allow all"
		for i := 0; i < cfg.DESUsers; i++ {
			if _, err := jira.Authenticate(ctx, backuptest.DESUserName(i), backuptest.DESPassword(i)); err != nil {
				t.Errorf("DES user %d: %v", i, err)
			}
		}
		plain := directoryView(t, st, backuptest.PlainDir)
		for i := 0; i < cfg.PlaintextUsers; i++ {
			if _, err := plain.Authenticate(ctx, backuptest.PlainUserName(i), backuptest.PlainPassword(i)); err != nil {
				t.Errorf("plain-text user %d: %v", i, err)
			}
		}
		// Nested groups: user 16 is in team-0016 ⊂ team-0004 ⊂ team-0001.
		groups, err := store.Groups(func(fn func(store.Group) error) error {
			u, err := bamboo.User(ctx, backuptest.UserName(16))
			if err != nil {
				return err
			}
			return bamboo.UserGroups(ctx, u, true, store.All, fn)
		})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range groups {
			names = append(names, g.Name)
		}
		for _, want := range []string{"team-0001", "team-0004", "team-0016"} {
			if !strings.Contains(strings.Join(names, ","), want) {
				t.Errorf("nested groups of user 16 = %v, want %s among them", names, want)
			}
		}

		// Idempotent: the second run changes nothing and keeps bamboo's generated password.
		again, err := crowdimport.Backup(ctx, bytes.NewReader(input), st, opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.Changes() != 0 || len(again.ApplicationPasswords) != 0 {
			t.Errorf("second run changed %d objects:\n%s", again.Changes(), again)
		}
		if _, err := st.AuthenticateApplication(ctx, "bamboo", pw); err != nil {
			t.Errorf("bamboo after the second run: %v", err)
		}
	})
}

func TestBackupDESWithoutKey(t *testing.T) {
	input, _ := generate(t, backuptest.Config{Users: 7, DESUsers: 2, Seed: 3})
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rep, err := crowdimport.Backup(ctx, bytes.NewReader(input), st, crowdimport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Passwords["DES, no key"] != 2 || !strings.Contains(rep.String(), "DES-encrypted and no DES key was given") {
			t.Errorf("report:\n%s", rep)
		}
		if _, err := viewOf(t, st, "jira").Authenticate(ctx, backuptest.DESUserName(0), backuptest.DESPassword(0)); !errors.Is(err, store.ErrBadCredential) {
			t.Errorf("DES user without a key signs in: %v", err)
		}
		// Supplying the key later sets the password of the users that have none.
		rep, err = crowdimport.Backup(ctx, bytes.NewReader(input), st, crowdimport.Options{DESKey: backuptest.DESKey})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Users.Updated != 2 || rep.Passwords["DES, decrypted"] != 2 {
			t.Errorf("report:\n%s", rep)
		}
		if _, err := viewOf(t, st, "jira").Authenticate(ctx, backuptest.DESUserName(0), backuptest.DESPassword(0)); err != nil {
			t.Errorf("DES user after the key was given: %v", err)
		}
	})
}

func TestBackupDESWrongKey(t *testing.T) {
	input, _ := generate(t, backuptest.Config{Users: 1, DESUsers: 1})
	st := newSQLite(t)
	_, err := crowdimport.Backup(context.Background(), bytes.NewReader(input), st, crowdimport.Options{DESKey: []byte("wrongkey")})
	if !errors.Is(err, crowdimport.ErrInvalidInput) || !strings.Contains(err.Error(), "wrong key") || !strings.Contains(err.Error(), `user "legacy000"`) {
		t.Errorf("error = %v", err)
	}
	if _, err := crowdimport.Backup(context.Background(), bytes.NewReader(input), st, crowdimport.Options{DESKey: []byte("short")}); err == nil ||
		!strings.Contains(err.Error(), "8") {
		t.Errorf("short key: %v", err)
	}
}
