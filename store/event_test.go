package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func testEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	tok := storetest.Must(s.CurrentEventToken(ctx, f.app.ConfigVersion))
	g := addGroup(t, s, f.dir.ID, "g")
	u := addUser(t, s, f.dir.ID, "u", g.ID)
	storetest.Must(s.RenameUser(ctx, u.ID, "u2"))
	if err := s.RemoveUserFromGroup(ctx, u.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	// A no-op update writes no event.
	same := "F"
	storetest.Must(s.UpdateUser(ctx, u.ID, store.UserChange{FirstName: &same}))
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	evs, next, err := s.EventsSince(ctx, tok, f.app.ConfigVersion, []int64{f.dir.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %s %s %s", e.Entity, e.Operation, e.Name, e.OtherName))
	}
	want := []string{
		"GROUP CREATED g ", "USER CREATED u ", "USER_MEMBERSHIP CREATED u g", "USER UPDATED u2 u",
		"USER_MEMBERSHIP DELETED u2 g", "USER DELETED u2 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	evs, _, err = s.EventsSince(ctx, next, f.app.ConfigVersion, []int64{f.dir.ID})
	if err != nil || len(evs) != 0 {
		t.Errorf("events after the new token: %d, %v", len(evs), err)
	}
	// Another directory's events are not the application's.
	d2 := storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "d2", Kind: store.DirectoryInternal, Active: true}))
	addUser(t, s, d2.ID, "other")
	evs, _, _ = s.EventsSince(ctx, next, f.app.ConfigVersion, []int64{f.dir.ID})
	if len(evs) != 0 {
		t.Errorf("events of an unmapped directory leaked: %+v", evs)
	}
}

func testEventTokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := setup(t, s)
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	tok := storetest.Must(s.CurrentEventToken(ctx, f.app.ConfigVersion))
	parsed, err := store.ParseEventToken(tok.String())
	if err != nil || parsed != tok {
		t.Fatalf("ParseEventToken(%q) = %+v, %v", tok.String(), parsed, err)
	}
	for _, bad := range []string{"", "x", "a.b.c", "a.1.-1"} {
		_, err := store.ParseEventToken(bad)
		wantErr(t, err, store.ErrTokenExpired)
	}
	other := tok
	other.DatabaseID = "0000000000000000"
	_, _, err = s.EventsSince(ctx, other, f.app.ConfigVersion, []int64{f.dir.ID})
	wantErr(t, err, store.ErrTokenExpired)
	_, _, err = s.EventsSince(ctx, tok, f.app.ConfigVersion+1, []int64{f.dir.ID})
	wantErr(t, err, store.ErrTokenExpired)
	future := tok
	future.Position += 1000
	_, _, err = s.EventsSince(ctx, future, f.app.ConfigVersion, []int64{f.dir.ID})
	wantErr(t, err, store.ErrTokenExpired)
	addUser(t, s, f.dir.ID, "x")
	now = now.Add(8 * 24 * time.Hour)
	if n, err := s.PruneEvents(ctx); err != nil || n == 0 {
		t.Fatalf("PruneEvents = %d, %v", n, err)
	}
	_, _, err = s.EventsSince(ctx, tok, f.app.ConfigVersion, []int64{f.dir.ID})
	wantErr(t, err, store.ErrTokenExpired)
	fresh := storetest.Must(s.CurrentEventToken(ctx, f.app.ConfigVersion))
	if _, _, err := s.EventsSince(ctx, fresh, f.app.ConfigVersion, []int64{f.dir.ID}); err != nil {
		t.Errorf("a fresh token after pruning: %v", err)
	}
}

func testAudit(t *testing.T, s *store.Store) {
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorAdmin, Name: "root", Address: "192.0.2.1"})
	f := setup(t, s)
	u := storetest.Must(s.CreateUser(ctx, store.NewUser{DirectoryID: f.dir.ID, Name: "audited", Active: true}))
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAudit(ctx, store.AuditFilter{Object: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "USER_DELETED" || got[1].Action != "USER_CREATED" ||
		got[0].Actor != "root" || got[0].Source != "192.0.2.1" || got[0].ActorKind != store.ActorAdmin {
		t.Errorf("audit entries: %+v", got)
	}
}
