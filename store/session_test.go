package store_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func testSessions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	u := addUser(t, s, f.dir.ID, "alice")
	if s.ConsistentIPRequired() {
		t.Fatal("consistent IP is required by default")
	}
	s = storetest.OpenConfig(t, storetest.DialectOf(s), store.Config{RequireConsistentIP: true})
	f = setup(t, s)
	u = addUser(t, s, f.dir.ID, "alice")
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	sess, token, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID, RemoteAddress: "10.0.0.7", Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 24 || sess.TokenHash == token {
		t.Fatalf("token %q (len %d), hash %q", token, len(token), sess.TokenHash)
	}
	v := view(t, s, f.app)
	chk := store.SessionCheck{ClientAddress: netip.MustParseAddr("10.0.0.7")}
	if _, got, err := v.ValidateSession(ctx, token, chk); err != nil || got.ID != u.ID {
		t.Fatalf("ValidateSession = %v, %v", got.ID, err)
	}
	_, _, err = v.ValidateSession(ctx, token, store.SessionCheck{ClientAddress: netip.MustParseAddr("10.9.9.9")})
	wantErr(t, err, store.ErrInvalid)
	_, _, err = v.ValidateSession(ctx, "unknown", chk)
	wantErr(t, err, store.ErrNotFound)
	// Sliding expiry: validate every 6 minutes for 30 minutes; the 10-minute session lives on.
	for range 5 {
		now = now.Add(6 * time.Minute)
		if _, _, err := v.ValidateSession(ctx, token, chk); err != nil {
			t.Fatalf("validation at +%v: %v", now.Sub(sess.CreatedAt), err)
		}
	}
	if st := s.Stats(); st.SessionCacheHits == 0 || st.SessionCacheMisses == 0 {
		t.Errorf("session cache stats %+v: want hits and misses counted", st)
	}
	if n, err := s.FlushSessionAccess(ctx); err != nil || n != 1 {
		t.Fatalf("FlushSessionAccess = %d, %v; want 1", n, err)
	}
	got, err := s.SessionByToken(ctx, token)
	if err != nil || !got.ExpiresAt.Equal(now.UTC().Truncate(time.Second).Add(10*time.Minute)) {
		t.Fatalf("flushed session expires %v (err %v), want %v", got.ExpiresAt, err, now.Add(10*time.Minute))
	}
	now = now.Add(11 * time.Minute)
	_, _, err = v.ValidateSession(ctx, token, chk)
	wantErr(t, err, store.ErrNotFound)
	if n, err := s.ExpireSessions(ctx); err != nil || n != 1 {
		t.Errorf("ExpireSessions = %d, %v; want 1", n, err)
	}
	// Delete is idempotent.
	_, token2, _ := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID})
	if err := s.DeleteSession(ctx, token2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, token2); err != nil {
		t.Fatal(err)
	}
	_, _, err = v.ValidateSession(ctx, token2, store.SessionCheck{})
	wantErr(t, err, store.ErrNotFound)
	// Delete all but one.
	_, keep, _ := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID})
	_, drop, _ := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: f.app.ID})
	if err := s.DeleteUserSessions(ctx, u.ID, keep); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.ValidateSession(ctx, keep, store.SessionCheck{}); err != nil {
		t.Errorf("excluded session: %v", err)
	}
	_, _, err = v.ValidateSession(ctx, drop, store.SessionCheck{})
	wantErr(t, err, store.ErrNotFound)
}

func testSessionRevoked(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	lic := addGroup(t, s, f.dir.ID, "lic")
	u := addUser(t, s, f.dir.ID, "alice", lic.ID)
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"lic"}}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	v := view(t, s, app)
	_, token, _ := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: app.ID})
	if _, _, err := v.ValidateSession(ctx, token, store.SessionCheck{}); err != nil {
		t.Fatal(err)
	}
	// Losing the licence group is refused at once (the cache is invalidated).
	if err := s.RemoveUserFromGroup(ctx, u.ID, lic.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err := v.ValidateSession(ctx, token, store.SessionCheck{})
	wantErr(t, err, store.ErrNotAllowed)
	if err := s.AddUserToGroup(ctx, u.ID, lic.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.ValidateSession(ctx, token, store.SessionCheck{}); err != nil {
		t.Fatal(err)
	}
	off := false
	storetest.Must(s.UpdateUser(ctx, u.ID, store.UserChange{Active: &off}))
	_, _, err = v.ValidateSession(ctx, token, store.SessionCheck{})
	wantErr(t, err, store.ErrNotFound) // deactivation ended the session
}

// testSessionWarm: WarmSessions loads every live SSO session, after which validations read no
// database; a change of the user's details or groups is seen at once, and a clear makes the next
// WarmSessions load again.
func testSessionWarm(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	lic := addGroup(t, s, f.dir.ID, "lic")
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"lic"}}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	var tokens []string
	var users []store.User
	for i := range 30 {
		u := addUser(t, s, f.dir.ID, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), lic.ID)
		users = append(users, u)
		_, tok, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: app.ID})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	// A console session is not loaded.
	storetest.Must2(s.CreateSession(ctx, store.NewSession{Kind: store.SessionConsole, UserID: users[0].ID}))
	n, err := s.WarmSessions(ctx)
	if err != nil || n != 30 {
		t.Fatalf("WarmSessions = %d, %v; want 30", n, err)
	}
	if n, err := s.WarmSessions(ctx); err != nil || n != 0 {
		t.Fatalf("second WarmSessions = %d, %v; want nothing to do", n, err)
	}
	v := view(t, s, app)
	before := s.Stats()
	for _, tok := range tokens {
		if _, _, err := v.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats(); got.SessionCacheMisses != before.SessionCacheMisses || got.SessionCacheHits != before.SessionCacheHits+30 {
		t.Fatalf("after warming: %d misses, %d hits; want 0 and 30",
			got.SessionCacheMisses-before.SessionCacheMisses, got.SessionCacheHits-before.SessionCacheHits)
	}
	// A changed user is read again (and only that user); a renamed one answers with the new name.
	name := "Alice Changed"
	storetest.Must(s.UpdateUser(ctx, users[3].ID, store.UserChange{DisplayName: &name}))
	before = s.Stats()
	for _, tok := range tokens[2:4] {
		if _, _, err := v.ValidateSession(ctx, tok, store.SessionCheck{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats(); got.SessionCacheMisses != before.SessionCacheMisses+1 {
		t.Errorf("after one user's update: %d misses, want 1", got.SessionCacheMisses-before.SessionCacheMisses)
	}
	storetest.Must(s.RenameUser(ctx, users[3].ID, "renamed"))
	if _, u, err := view(t, s, app).ValidateSession(ctx, tokens[3], store.SessionCheck{}); err != nil || u.Name != "renamed" {
		t.Fatalf("after a rename: %q, %v; want renamed", u.Name, err)
	}
	// Losing the licence group is refused at once; the clear makes the next call load again.
	if err := s.RemoveUserFromGroup(ctx, users[4].ID, lic.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = view(t, s, app).ValidateSession(ctx, tokens[4], store.SessionCheck{})
	wantErr(t, err, store.ErrNotAllowed)
	// The others are read again, one by one until the next full load.
	before = s.Stats()
	if _, _, err := view(t, s, app).ValidateSession(ctx, tokens[6], store.SessionCheck{}); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.SessionCacheMisses != before.SessionCacheMisses+1 {
		t.Errorf("after a clear: %d misses, want 1", got.SessionCacheMisses-before.SessionCacheMisses)
	}
	// A revoked session is gone from memory too.
	if err := s.DeleteSession(ctx, tokens[5]); err != nil {
		t.Fatal(err)
	}
	_, _, err = view(t, s, app).ValidateSession(ctx, tokens[5], store.SessionCheck{})
	wantErr(t, err, store.ErrNotFound)
}
