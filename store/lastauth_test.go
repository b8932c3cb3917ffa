package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

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
