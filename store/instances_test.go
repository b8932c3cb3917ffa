package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestTwoInstancesInvalidate: two stores on one PostgreSQL database (two crowdgate instances). A
// session validated on B and revoked, or its user deactivated or removed from the licence group, on
// A is refused on B within a second, although B's cache would keep the verdict for an hour: the
// invalidation travels by LISTEN/NOTIFY (targets R1).
func TestTwoInstancesInvalidate(t *testing.T) {
	onTwoInstances(t, func(t *testing.T, a, b *store.Store) {
		ctx := t.Context()
		f := setup(t, a)
		lic := addGroup(t, a, f.dir.ID, "lic")
		u := addUser(t, a, f.dir.ID, "alice", lic.ID)
		m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"lic"}}}
		app := storetest.Must(a.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
		vb := storetest.Must(b.View(ctx, app))
		waitListening(t, a, 2)
		_, tok, err := a.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: app.ID})
		if err != nil {
			t.Fatal(err)
		}
		refused := func(what string, check func() error) {
			t.Helper()
			if _, _, err := vb.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
				t.Fatalf("before %s: B refused: %v", what, err)
			}
			if err := check(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for time.Since(start) < time.Second {
				if _, _, err := vb.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
					t.Logf("%s on A refused on B after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("%s on A still accepted on B after 1s", what)
		}
		refused("removal from the licence group", func() error { return a.RemoveUserFromGroup(ctx, u.ID, lic.ID) })
		if err := a.AddUserToGroup(ctx, u.ID, lic.ID); err != nil {
			t.Fatal(err)
		}
		// B accepts the session again once the re-added membership reached it.
		for deadline := time.Now().Add(time.Second); ; {
			if _, _, err := vb.ValidateSession(ctx, tok, store.SessionCheck{}); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("membership restored on A, still refused on B after 1s: %v", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		refused("revocation", func() error { return a.DeleteSession(ctx, tok) })
		_, tok, _ = a.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: app.ID})
		off := false
		refused("deactivation", func() error { _, err := a.UpdateUser(ctx, u.ID, store.UserChange{Active: &off}); return err })
	})
}

// onTwoInstances runs fn on PostgreSQL (when the tests have one) with two instances of one database.
func onTwoInstances(t *testing.T, fn func(t *testing.T, a, b *store.Store)) {
	for _, d := range storetest.Dialects(t) {
		if d != "postgres" {
			continue
		}
		t.Run("dialect="+d, func(t *testing.T) {
			a, b := twoInstances(t, d)
			fn(t, a, b)
		})
	}
}

// twoInstances opens two stores on one fresh database of the dialect, as two crowdgate instances
// would, each listening for the other's invalidations, with session verdicts cached for an hour.
func twoInstances(t *testing.T, dialect string) (a, b *store.Store) {
	t.Helper()
	url := storetest.URL(t, dialect)
	open := func() *store.Store {
		s, err := store.Open(t.Context(), store.Config{URL: url, SessionCacheTTL: time.Hour, PasswordWorkers: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		go s.Listen(t.Context())
		return s
	}
	return open(), open()
}

// waitListening waits until n invalidation listeners of the test's database have issued LISTEN, so
// that what a test changes next reaches them.
func waitListening(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := storetest.Must(s.DB()).QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN crowdgate_cache'").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d invalidation listeners are up after 10s", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoInstancesApplicationCredential: an application credential imported on A (a Crowd import
// run while B serves) takes effect on B at once: B forgets the verdict it cached for the old
// password instead of accepting it until its cache expires. Changing the password from the console
// does the same (one helper writes both).
func TestTwoInstancesApplicationCredential(t *testing.T) {
	onTwoInstances(t, func(t *testing.T, a, b *store.Store) {
		ctx := t.Context()
		f := setup(t, a)
		waitListening(t, a, 2)
		accepts := func(pw string) bool {
			t.Helper()
			_, err := b.AuthenticateApplication(ctx, "jira", pw)
			if err != nil && !errors.Is(err, store.ErrBadCredential) {
				t.Fatal(err)
			}
			return err == nil
		}
		change := func(what, old, next string, write func() error) {
			t.Helper()
			if !accepts(old) {
				t.Fatalf("before %s: B refuses the old password", what)
			}
			if err := write(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Second)
			for accepts(old) {
				if time.Now().After(deadline) {
					t.Fatalf("%s on A: B still accepts the old password after 1s", what)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !accepts(next) {
				t.Fatalf("%s on A: B refuses the new password", what)
			}
		}
		imported := storetest.Must(password.Hash("imported-secret"))
		change("credential import", "jira-secret", "imported-secret", func() error {
			return a.SetApplicationCredential(ctx, f.app.ID, imported)
		})
		change("password change", "imported-secret", "console-secret", func() error {
			return a.SetApplicationPassword(ctx, f.app.ID, "console-secret")
		})
	})
}

// TestSignInWriteBehindTwoInstances: two instances on one database record sign-ins in memory (a
// login writes nothing), and their flushes, in either order, leave the later time per user and per
// application.
func TestSignInWriteBehindTwoInstances(t *testing.T) {
	onTwoStores(t, func(t *testing.T, a, b *store.Store) {
		ctx := context.Background()
		f := setup(t, a)
		u := storetest.Must(a.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "alice", Active: true, Password: "alice-password-1"}))
		bob := addUser(t, a, f.dir.ID, "bob")
		t1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		t2 := t1.Add(time.Hour)
		a.SetClock(func() time.Time { return t1 })
		b.SetClock(func() time.Time { return t2 })

		// B signs alice in later than A does; B through SSO (a session), A with a password.
		if _, _, err := b.CreateSession(ctx, store.NewSession{Kind: store.SessionSSO, UserID: u.ID, ApplicationID: f.app.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := view(t, a, f.app).Authenticate(ctx, "alice", "alice-password-1"); err != nil {
			t.Fatal(err)
		}
		if got := storetest.Must(a.User(ctx, u.ID)).LastLoginAt; got != nil {
			t.Fatalf("a login wrote last_login_at at once: %v", got)
		}
		signIns(t, a, u.ID, t1, t1) // each instance sees its own pending sign-ins
		signIns(t, b, u.ID, t2, t2)

		if n, err := b.FlushAuthentications(ctx); err != nil || n != 2 {
			t.Fatalf("flush B: %d, %v", n, err)
		}
		if n, err := a.FlushAuthentications(ctx); err != nil || n != 2 {
			t.Fatalf("flush A: %d, %v", n, err)
		}
		signIns(t, a, u.ID, t2, t2) // A's earlier time did not lower B's
		signIns(t, b, u.ID, t2, t2)

		// A console sign-in is a sign-in to no application: the user's last sign-in moves, the
		// application's does not. A flush that fails keeps everything for the next one.
		t3 := t2.Add(time.Hour)
		a.SetClock(func() time.Time { return t3 })
		if _, _, err := a.CreateSession(ctx, store.NewSession{Kind: store.SessionConsole, UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.CreateSession(ctx, store.NewSession{Kind: store.SessionSSO, UserID: bob.ID, ApplicationID: f.app.ID}); err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := a.FlushAuthentications(canceled); err == nil {
			t.Fatal("flush with a canceled context succeeded")
		}
		if err := a.DeleteUser(ctx, bob.ID); err != nil { // deleted before its sign-in is written
			t.Fatal(err)
		}
		if n, err := a.FlushAuthentications(ctx); err != nil || n != 3 {
			t.Fatalf("flush A again: %d, %v", n, err)
		}
		signIns(t, b, u.ID, t3, t2)
	})
}

// signIns checks a user's last sign-in overall and to the only application, as s sees them.
func signIns(t *testing.T, s *store.Store, userID int64, overall, toApp time.Time) {
	t.Helper()
	last, apps, err := s.SignIns(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || !last.Equal(overall) {
		t.Errorf("last sign-in %v, want %v", last, overall)
	}
	if len(apps) != 1 || apps[0].Application.Name != "jira" || !apps[0].At.Equal(toApp) {
		t.Errorf("sign-ins per application %+v, want jira at %v", apps, toApp)
	}
}
