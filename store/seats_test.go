package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

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
