package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// consoleFixture: two internal directories; jira lets nested members of jira-users of the first
// and everyone of the second in; confluence everyone of the first; "old" is inactive.
type consoleFixture struct {
	d1, d2                          store.Directory
	jira, conf, old                 store.Application
	jiraUsers, team, sub, staff     store.Group
	alice, bob, carol, dave, alice2 store.User
	erin                            store.User
}

func newConsoleFixture(t *testing.T, s *store.Store) consoleFixture {
	t.Helper()
	ctx := context.Background()
	var f consoleFixture
	f.d1 = storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Internal", Kind: store.DirectoryInternal, Active: true, NestedGroups: true}))
	f.d2 = storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Second", Kind: store.DirectoryInternal, Active: true, NestedGroups: true}))
	group := func(d int64, name string, parents ...int64) store.Group {
		g := storetest.Must(s.CreateGroup(ctx, store.NewGroup{DirectoryID: d, Name: name, Active: true}))
		for _, p := range parents {
			if err := s.AddGroupToGroup(ctx, g.ID, p); err != nil {
				t.Fatal(err)
			}
		}
		return g
	}
	user := func(d int64, name string, active bool, groups ...int64) store.User {
		u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: d, Name: name, DisplayName: strings.ToUpper(name),
			Email: name + "@example.com", Active: active}))
		for _, g := range groups {
			if err := s.AddUserToGroup(ctx, u.ID, g); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	f.jiraUsers = group(f.d1.ID, "Jira-Users")
	f.team = group(f.d1.ID, "team", f.jiraUsers.ID)
	f.sub = group(f.d1.ID, "sub", f.team.ID)
	f.staff = group(f.d2.ID, "staff")
	f.alice = user(f.d1.ID, "alice", true, f.sub.ID)
	f.bob = user(f.d1.ID, "bob", true, f.jiraUsers.ID, f.team.ID)
	f.carol = user(f.d1.ID, "carol", true)
	f.dave = user(f.d1.ID, "dave", false, f.jiraUsers.ID)
	f.alice2 = user(f.d2.ID, "Alice", true, f.staff.ID)
	f.erin = user(f.d2.ID, "erin", true)
	app := func(name string, active bool, ms ...store.Mapping) store.Application {
		return storetest.Must(s.CreateApplication(ctx, store.NewApplication{Name: name, Password: "secret-" + name, Active: active,
			Kind: store.AppGeneric, Mappings: ms}))
	}
	f.jira = app("jira", true, store.Mapping{DirectoryID: f.d1.ID, Groups: []string{"jira-users"}}, store.Mapping{DirectoryID: f.d2.ID, AllowAll: true})
	f.conf = app("confluence", true, store.Mapping{DirectoryID: f.d1.ID, AllowAll: true})
	f.old = app("old", false, store.Mapping{DirectoryID: f.d1.ID, AllowAll: true})
	return f
}

func testConsoleExplain(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := newConsoleFixture(t, s)
	v := storetest.Must(s.View(ctx, f.jira))
	type row struct {
		Allowed bool
		Reason  string
		Group   string
		Via     []string
		Denied  string
	}
	for _, tc := range []struct {
		user store.User
		want row
	}{
		{f.alice, row{Allowed: true, Reason: store.AccessGroup, Group: "Jira-Users", Via: []string{"sub", "team"}}},
		{f.bob, row{Allowed: true, Reason: store.AccessGroup, Group: "Jira-Users"}},
		{f.carol, row{Denied: "not a member of an allowed group (jira-users)"}},
		{f.dave, row{Denied: "the user is inactive"}},
		{f.alice2, row{Denied: `a user of the same name in directory "Internal", mapped earlier, takes precedence`}},
		{f.erin, row{Allowed: true, Reason: store.AccessAllUsers}},
	} {
		a, err := v.Explain(ctx, tc.user)
		if err != nil {
			t.Fatal(err)
		}
		got := row{a.Allowed, a.Reason, a.Group, a.Via, a.Denied}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, "/") == strings.Join(b, "/") })); diff != "" {
			t.Errorf("Explain(%s in %d) (-want +got):\n%s", tc.user.Name, tc.user.DirectoryID, diff)
		}
		// The explanation never disagrees with MayAuthenticate for active, unshadowed users.
		if tc.user.Active && tc.user.ID != f.alice2.ID {
			if may := v.MayAuthenticate(ctx, tc.user) == nil; may != a.Allowed {
				t.Errorf("%s: Explain allowed=%v, MayAuthenticate %v", tc.user.Name, a.Allowed, may)
			}
		}
	}
	old := storetest.Must(s.View(ctx, f.old))
	if a, _ := old.Explain(ctx, f.bob); a.Allowed || a.Denied != "the application is inactive" {
		t.Errorf("inactive application: %+v", a)
	}
	conf := storetest.Must(s.View(ctx, f.conf))
	if a, _ := conf.Explain(ctx, f.erin); a.Allowed || !strings.Contains(a.Denied, "not mapped") {
		t.Errorf("unmapped directory: %+v", a)
	}
	for _, tc := range []struct {
		app  store.Application
		want int64
	}{{f.jira, 3}, {f.conf, 3}, {f.old, 0}} {
		n, err := storetest.Must(s.View(ctx, tc.app)).CountLicensed(ctx)
		if err != nil || n != tc.want {
			t.Errorf("CountLicensed(%s) = %d, %v; want %d", tc.app.Name, n, err, tc.want)
		}
	}
}

func testConsoleReport(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := newConsoleFixture(t, s)
	// A cycle in a replica must not loop the report.
	if err := s.InsertCycleForTest(ctx, f.jiraUsers.ID, f.sub.ID); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.AccessReport(ctx, func(a store.Access) error {
		got = append(got, strings.Join([]string{a.Application, a.Directory, a.User, a.Reason, a.Group, strings.Join(a.Via, ">")}, "|"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"confluence|Internal|alice|ALL_USERS||",
		"confluence|Internal|bob|ALL_USERS||",
		"confluence|Internal|carol|ALL_USERS||",
		"jira|Internal|alice|GROUP|Jira-Users|sub>team",
		"jira|Internal|bob|GROUP|Jira-Users|",
		"jira|Second|erin|ALL_USERS||",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access report (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	if err := s.AccessReport(ctx, func(store.Access) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: got %v", err)
	}
}

func testConsoleGroupGrants(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := newConsoleFixture(t, s)
	type grant struct {
		App      string
		Active   bool
		AllUsers bool
		Group    string
		Via      string
	}
	get := func(g store.Group) []grant {
		t.Helper()
		gs, err := s.GroupGrants(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		var out []grant
		for _, x := range gs {
			out = append(out, grant{x.Application, x.Active, x.AllUsers, x.Group, strings.Join(x.Via, ">")})
		}
		return out
	}
	want := []grant{{"confluence", true, true, "", ""}, {"jira", true, false, "Jira-Users", "sub>team"}, {"old", false, true, "", ""}}
	if diff := cmp.Diff(want, get(f.sub)); diff != "" {
		t.Errorf("grants of sub (-want +got):\n%s", diff)
	}
	want = []grant{{"jira", true, true, "", ""}}
	if diff := cmp.Diff(want, get(f.staff)); diff != "" {
		t.Errorf("grants of staff (-want +got):\n%s", diff)
	}
}

func testConsoleDirectories(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := newConsoleFixture(t, s)
	stats, err := s.DirectoryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]store.DirectoryStats{
		f.d1.ID: {DirectoryID: f.d1.ID, Users: 4, ActiveUsers: 3, Groups: 3},
		f.d2.ID: {DirectoryID: f.d2.ID, Users: 2, ActiveUsers: 2, Groups: 1},
	}
	if diff := cmp.Diff(want, stats); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	// An inactive directory can still be browsed.
	d2 := f.d2
	d2.Active = false
	storetest.Must(s.UpdateDirectory(ctx, d2))
	v := storetest.Must(s.DirectoryView(ctx, f.d2.ID))
	users, err := store.Users(func(fn func(store.User) error) error { return v.SearchUsers(ctx, store.Restriction{}, store.All, fn) })
	if err != nil || len(users) != 2 {
		t.Errorf("users of the inactive directory: %d, %v", len(users), err)
	}
	v1 := storetest.Must(s.DirectoryView(ctx, f.d1.ID))
	gs, err := store.Groups(func(fn func(store.Group) error) error { return v1.UserGroups(ctx, f.alice, true, store.All, fn) })
	if err != nil || len(gs) != 3 {
		t.Errorf("alice's nested groups: %v, %v", gs, err)
	}
	if _, err := s.DirectoryView(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown directory: %v", err)
	}
}

func testConsoleTouch(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := newConsoleFixture(t, s)
	now := time.Now().UTC()
	s.SetClock(func() time.Time { return now })
	sess, token := consoleSession(t, s, f.bob.ID, store.SessionConsole)
	// Fresh: nothing written.
	got, err := s.TouchConsoleSession(ctx, sess)
	if err != nil || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("fresh touch: %v, %v", got.ExpiresAt, err)
	}
	now = now.Add(10 * time.Minute)
	got, err = s.TouchConsoleSession(ctx, sess)
	if err != nil || !got.ExpiresAt.After(sess.ExpiresAt) {
		t.Fatalf("touch after 10 minutes: %v, %v", got.ExpiresAt, err)
	}
	again, err := s.SessionByToken(ctx, token)
	if err != nil || !again.ExpiresAt.Equal(got.ExpiresAt) {
		t.Errorf("stored expiry %v, %v; want %v", again.ExpiresAt, err, got.ExpiresAt)
	}
	sso, _ := consoleSession(t, s, f.bob.ID, store.SessionSSO)
	if _, err := s.TouchConsoleSession(ctx, sso); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("touching an SSO session: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := s.TouchConsoleSession(ctx, got); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touching an expired session: %v", err)
	}
}

func consoleSession(t *testing.T, s *store.Store, userID int64, kind string) (store.Session, string) {
	t.Helper()
	sess, token, err := s.CreateSession(context.Background(), store.NewSession{Kind: kind, UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return sess, token
}

// TestSeats: an application's seats are its licensed users (nested groups included), each with the
// group it is held through and the last sign-in to that application; a seat is inactive after the
// span or when the user never signed in there, and the count matches the licence count.
func TestSeats(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	f := setup(t, s)
	lic := addGroup(t, s, f.dir.ID, "jira-users")
	team := addGroup(t, s, f.dir.ID, "team")
	if err := s.AddGroupToGroup(ctx, team.ID, lic.ID); err != nil {
		t.Fatal(err)
	}
	alice := addUser(t, s, f.dir.ID, "alice", team.ID)
	bob := addUser(t, s, f.dir.ID, "bob", lic.ID)
	addUser(t, s, f.dir.ID, "carol", lic.ID) // never signs in
	dave := addUser(t, s, f.dir.ID, "dave")  // no seat
	m := []store.Mapping{{DirectoryID: f.dir.ID, Groups: []string{"jira-users"}}}
	app := storetest.Must(s.UpdateApplication(ctx, f.app.ID, store.ApplicationChange{Mappings: &m}))
	other := storetest.Must(s.CreateApplication(ctx, store.NewApplication{Name: "confluence", Password: "c-secret-1", Active: true,
		Mappings: []store.Mapping{{DirectoryID: f.dir.ID, AllowAll: true}}}))

	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	signIn := func(u store.User, a store.Application, at time.Time) {
		s.SetClock(func() time.Time { return at })
		if _, _, err := s.CreateSession(ctx, store.NewSession{UserID: u.ID, ApplicationID: a.ID}); err != nil {
			t.Fatal(err)
		}
	}
	signIn(alice, app, now.Add(-100*24*time.Hour))
	signIn(bob, app, now.Add(-89*24*time.Hour))
	if _, err := s.FlushAuthentications(ctx); err != nil {
		t.Fatal(err)
	}
	signIn(alice, other, now.Add(-time.Hour)) // recent, but to another application
	signIn(dave, app, now.Add(-time.Hour))    // not licensed: no seat
	s.SetClock(func() time.Time { return now })

	rep := storetest.Must(s.Seats(ctx, app, store.DefaultInactiveDays))
	var got []string
	for _, st := range rep.Seats {
		last := "never"
		if st.LastSignIn != nil {
			last = st.LastSignIn.Format(time.DateOnly)
		}
		got = append(got, strings.Join([]string{st.User, st.HeldThrough(), st.Group, last, map[bool]string{true: "inactive", false: "active"}[st.Inactive]}, "|"))
	}
	want := []string{
		"alice|team|jira-users|2026-02-21|inactive",
		"bob|jira-users|jira-users|2026-03-04|active",
		"carol|jira-users|jira-users|never|inactive",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seats (-want +got):\n%s", diff)
	}
	if rep.Inactive != 2 {
		t.Errorf("inactive %d, want 2", rep.Inactive)
	}
	if n := storetest.Must(storetest.Must(s.View(ctx, app)).CountLicensed(ctx)); n != int64(len(rep.Seats)) {
		t.Errorf("licence count %d, seats %d", n, len(rep.Seats))
	}
	if rep := storetest.Must(s.Seats(ctx, app, 30)); rep.Inactive != 3 {
		t.Errorf("inactive after 30 days: %d, want 3", rep.Inactive)
	}
	if _, err := s.Seats(ctx, app, 0); err == nil {
		t.Error("an inactivity span of 0 days was accepted")
	}
}
