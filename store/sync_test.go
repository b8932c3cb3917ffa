package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func azureDir(t *testing.T, s *store.Store) store.Directory {
	t.Helper()
	return storetest.Must(s.CreateDirectory(context.Background(), store.Directory{Name: "Entra", Kind: store.DirectoryAzureAD,
		Active: true, NestedGroups: true}))
}

// eventLog returns the events of dir after tok as "ENTITY OP name other" lines, and the next token.
func eventLog(t *testing.T, s *store.Store, dir int64, tok store.EventToken) ([]string, store.EventToken) {
	t.Helper()
	evs, next, err := s.EventsSince(context.Background(), tok, 1, []int64{dir})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", e.Entity, e.Operation, e.Name, e.OtherName)))
	}
	return out, next
}

func apply(t *testing.T, s *store.Store, dir int64, b store.SyncBatch) store.SyncResult {
	t.Helper()
	res, err := s.ApplySync(context.Background(), dir, b)
	if err != nil {
		t.Fatalf("ApplySync: %v", err)
	}
	return res
}

func su(ext, name string) store.SyncUser {
	return store.SyncUser{ExternalID: ext, Name: name, FirstName: "F" + ext, LastName: "L" + ext, Email: name + "@example.com", Active: true}
}

func testSyncUsers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e2", "bob"), su("e1", "alice")}})
	if res.Counts != (store.SyncCounts{UsersAdded: 2}) || len(res.Skipped) != 0 {
		t.Errorf("create: %+v", res)
	}
	evs, tok := eventLog(t, s, d.ID, tok)
	if diff := cmp.Diff([]string{"USER CREATED alice", "USER CREATED bob"}, evs); diff != "" {
		t.Errorf("create events (-want +got):\n%s", diff)
	}
	alice := storetest.Must(s.UserByName(ctx, d.ID, "alice"))
	if alice.DisplayName != "Fe1 Le1" || alice.ExternalID != "e1" || !alice.Active {
		t.Errorf("alice = %+v (display name computed from first and last)", alice)
	}
	// The same again writes nothing.
	if res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e1", "alice"), su("e2", "bob")}}); res.Counts.Total() != 0 {
		t.Errorf("no-op: %+v", res.Counts)
	}
	if evs, _ := eventLog(t, s, d.ID, tok); len(evs) != 0 {
		t.Errorf("no-op wrote events: %v", evs)
	}
	// Rename and an edit: same row, same key.
	u := su("e1", "alice.smith")
	u.LastName = "Smith"
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{u}})
	if res.Counts != (store.SyncCounts{UsersUpdated: 1}) {
		t.Errorf("rename: %+v", res.Counts)
	}
	got := storetest.Must(s.UserByName(ctx, d.ID, "Alice.Smith"))
	if got.ID != alice.ID || got.Key() != alice.Key() || got.LastName != "Smith" || got.DisplayName != "Fe1 Smith" {
		t.Errorf("after rename: %+v, want id %d key %s", got, alice.ID, alice.Key())
	}
	evs, _ = eventLog(t, s, d.ID, tok)
	if diff := cmp.Diff([]string{"USER UPDATED alice.smith alice"}, evs); diff != "" {
		t.Errorf("rename events (-want +got):\n%s", diff)
	}
}

func testSyncSwap(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e1", "a"), su("e2", "b"), su("e3", "c")}})
	// A swap and a chain in one batch: e1 a→b, e2 b→a, e3 c→C (case only).
	res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e1", "b"), su("e2", "a"), su("e3", "C")}})
	if res.Counts.UsersUpdated != 3 || len(res.Skipped) != 0 {
		t.Fatalf("swap: %+v", res)
	}
	for ext, name := range map[string]string{"e1": "b", "e2": "a", "e3": "C"} {
		if u := storetest.Must(s.UserByExternalID(ctx, d.ID, ext)); u.Name != name {
			t.Errorf("%s is %q, want %q", ext, u.Name, name)
		}
	}
}

func testSyncRemoveUsers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	apply(t, s, d.ID, store.SyncBatch{
		Users:   []store.SyncUser{su("e1", "alice"), su("e2", "bob")},
		Groups:  []store.SyncGroup{{ExternalID: "g1", Name: "jira-users"}},
		Members: []store.SyncMembers{{GroupExternalID: "g1", Users: []string{"e1", "e2"}}},
	})
	alice := storetest.Must(s.UserByExternalID(ctx, d.ID, "e1"))
	_, token, err := s.CreateSession(ctx, store.NewSession{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res := apply(t, s, d.ID, store.SyncBatch{RemoveUsers: []string{"e1", "unknown"}, Deactivate: true})
	if res.Counts != (store.SyncCounts{UsersRemoved: 1, MembershipsRemoved: 1}) {
		t.Errorf("deactivate: %+v", res.Counts)
	}
	if u := storetest.Must(s.UserByExternalID(ctx, d.ID, "e1")); u.Active || u.Key() != alice.Key() {
		t.Errorf("deactivated user: %+v", u)
	}
	if _, err := s.SessionByToken(ctx, token); err == nil {
		t.Error("deactivation must end the user's sessions")
	}
	evs, tok := eventLog(t, s, d.ID, tok)
	if diff := cmp.Diff([]string{"USER_MEMBERSHIP DELETED alice jira-users", "USER UPDATED alice"}, evs); diff != "" {
		t.Errorf("deactivate events (-want +got):\n%s", diff)
	}
	// Deactivating again changes nothing.
	if res := apply(t, s, d.ID, store.SyncBatch{RemoveUsers: []string{"e1"}, Deactivate: true}); res.Counts.Total() != 0 {
		t.Errorf("second deactivation: %+v", res.Counts)
	}
	res = apply(t, s, d.ID, store.SyncBatch{RemoveUsers: []string{"e2"}})
	if res.Counts != (store.SyncCounts{UsersRemoved: 1}) {
		t.Errorf("delete: %+v", res.Counts)
	}
	if _, err := s.UserByExternalID(ctx, d.ID, "e2"); err == nil {
		t.Error("deleted user still there")
	}
	evs, _ = eventLog(t, s, d.ID, tok)
	if diff := cmp.Diff([]string{"USER DELETED bob"}, evs); diff != "" {
		t.Errorf("delete events (-want +got):\n%s", diff)
	}
}

// memberNames lists "group: members" lines of a directory, sorted, from the snapshot.
func memberNames(t *testing.T, s *store.Store, dir int64) []string {
	t.Helper()
	snap := storetest.Must(s.SyncSnapshot(context.Background(), dir))
	uname, gname := map[int64]string{}, map[int64]string{}
	for _, u := range snap.Users {
		uname[u.ID] = u.Name
	}
	for _, g := range snap.Groups {
		gname[g.ID] = g.Name
	}
	var out []string
	for _, m := range snap.UserMemberships {
		out = append(out, gname[m[0]]+" > "+uname[m[1]])
	}
	for _, m := range snap.GroupMemberships {
		out = append(out, gname[m[0]]+" > group "+gname[m[1]])
	}
	slices.Sort(out)
	return out
}

func testSyncGroupsMembers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res := apply(t, s, d.ID, store.SyncBatch{
		Users:  []store.SyncUser{su("u1", "ann"), su("u2", "ben"), su("u3", "cat")},
		Groups: []store.SyncGroup{{ExternalID: "g1", Name: "jira-users", Description: "Jira"}, {ExternalID: "g2", Name: "admins"}},
		Members: []store.SyncMembers{
			{GroupExternalID: "g1", Users: []string{"u1", "u2", "nobody"}, Groups: []string{"g2", "g1"}},
			{GroupExternalID: "g2", Users: []string{"u3"}},
			{GroupExternalID: "missing", Users: []string{"u1"}},
		},
	})
	want := store.SyncCounts{UsersAdded: 3, GroupsAdded: 2, MembershipsAdded: 4}
	if res.Counts != want {
		t.Errorf("counts = %+v, want %+v", res.Counts, want)
	}
	if diff := cmp.Diff([]store.SyncMemberChange{{GroupExternalID: "g1", MemberExternalID: "nobody"}, {GroupExternalID: "missing"}},
		res.Unresolved); diff != "" {
		t.Errorf("unresolved (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"admins > cat", "jira-users > ann", "jira-users > ben", "jira-users > group admins"},
		memberNames(t, s, d.ID)); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}
	evs, tok := eventLog(t, s, d.ID, tok)
	if len(evs) != 9 || evs[5] != "USER_MEMBERSHIP CREATED ann jira-users" || evs[8] != "GROUP_MEMBERSHIP CREATED admins jira-users" {
		t.Errorf("events: %q", evs)
	}
	// Replacing a member set removes what is not in it; the same set again writes nothing.
	res = apply(t, s, d.ID, store.SyncBatch{Members: []store.SyncMembers{{GroupExternalID: "g1", Users: []string{"u2", "u3"}}}})
	if res.Counts != (store.SyncCounts{MembershipsAdded: 1, MembershipsRemoved: 2}) {
		t.Errorf("replace: %+v", res.Counts)
	}
	if res := apply(t, s, d.ID, store.SyncBatch{Members: []store.SyncMembers{{GroupExternalID: "g1", Users: []string{"u3", "u2"}}}}); res.Counts.Total() != 0 {
		t.Errorf("same set again: %+v", res.Counts)
	}
	// Single changes: the last change of a pair wins; removing what is absent is not an error.
	res = apply(t, s, d.ID, store.SyncBatch{Changes: []store.SyncMemberChange{
		{GroupExternalID: "g2", MemberExternalID: "u1"},
		{GroupExternalID: "g2", MemberExternalID: "u3", Removed: true},
		{GroupExternalID: "g1", MemberExternalID: "g2", Group: true},
		{GroupExternalID: "g1", MemberExternalID: "g2", Group: true, Removed: true},
		{GroupExternalID: "g1", MemberExternalID: "g2", Group: true},
		{GroupExternalID: "g2", MemberExternalID: "u2", Removed: true},
		{GroupExternalID: "g2", MemberExternalID: "ghost"},
	}})
	if res.Counts != (store.SyncCounts{MembershipsAdded: 2, MembershipsRemoved: 1}) || len(res.Unresolved) != 1 {
		t.Errorf("changes: %+v", res)
	}
	if diff := cmp.Diff([]string{"admins > ann", "jira-users > ben", "jira-users > cat", "jira-users > group admins"},
		memberNames(t, s, d.ID)); diff != "" {
		t.Errorf("memberships after changes (-want +got):\n%s", diff)
	}
	// A removed group takes its memberships along.
	res = apply(t, s, d.ID, store.SyncBatch{RemoveGroups: []string{"g2"}})
	if res.Counts != (store.SyncCounts{GroupsRemoved: 1}) {
		t.Errorf("remove group: %+v", res.Counts)
	}
	if diff := cmp.Diff([]string{"jira-users > ben", "jira-users > cat"}, memberNames(t, s, d.ID)); diff != "" {
		t.Errorf("memberships after group removal (-want +got):\n%s", diff)
	}
	evs, _ = eventLog(t, s, d.ID, tok)
	if evs[len(evs)-1] != "GROUP DELETED admins" {
		t.Errorf("last event %q", evs[len(evs)-1])
	}
}

func testSyncGroupRename(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	apply(t, s, d.ID, store.SyncBatch{
		Users:   []store.SyncUser{su("u1", "ann")},
		Groups:  []store.SyncGroup{{ExternalID: "g1", Name: "old"}, {ExternalID: "g2", Name: "parent"}},
		Members: []store.SyncMembers{{GroupExternalID: "g1", Users: []string{"u1"}}, {GroupExternalID: "g2", Groups: []string{"g1"}}},
	})
	g := storetest.Must(s.GroupByExternalID(ctx, d.ID, "g1"))
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res := apply(t, s, d.ID, store.SyncBatch{Groups: []store.SyncGroup{{ExternalID: "g1", Name: "new"}, {ExternalID: "g2", Name: "parent", Description: "d"}}})
	if res.Counts != (store.SyncCounts{GroupsUpdated: 2}) {
		t.Errorf("counts: %+v", res.Counts)
	}
	if got := storetest.Must(s.GroupByName(ctx, d.ID, "NEW")); got.ID != g.ID {
		t.Errorf("renamed group has id %d, want %d", got.ID, g.ID)
	}
	evs, _ := eventLog(t, s, d.ID, tok)
	want := []string{"GROUP UPDATED parent", "GROUP DELETED old", "GROUP CREATED new", "USER_MEMBERSHIP CREATED ann new",
		"GROUP_MEMBERSHIP CREATED new parent"}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testSyncTombstone(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e9", "john")}})
	old := storetest.Must(s.UserByExternalID(ctx, d.ID, "e9"))
	apply(t, s, d.ID, store.SyncBatch{RemoveUsers: []string{"e9"}, Deactivate: true,
		Outside: []store.SyncOutside{{ExternalID: "e9", Kind: store.SyncKindUser, Reason: store.OutsideRemoved, Name: "john"}}})
	// A new john (larger id even) takes the tombstone's name.
	res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("f1", "John")}})
	if res.Counts != (store.SyncCounts{UsersAdded: 1, UsersUpdated: 1}) || len(res.Skipped) != 0 {
		t.Fatalf("takeover: %+v", res)
	}
	if u := storetest.Must(s.UserByName(ctx, d.ID, "john")); u.ExternalID != "f1" {
		t.Errorf("john is %s", u.ExternalID)
	}
	if u := storetest.Must(s.UserByExternalID(ctx, d.ID, "e9")); u.Name != "john#e9" || u.Key() != old.Key() || u.Active {
		t.Errorf("tombstone: %+v", u)
	}
	// Restored in Entra: the tombstone comes back to life (its record goes) under its new wish.
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e9", "john.old")}})
	if res.Counts.UsersUpdated != 1 || len(res.Revived) != 0 {
		t.Errorf("restore: %+v", res)
	}
	o := storetest.Must(s.SyncLookup(ctx, d.ID, []string{"e9"}))["e9"]
	if !o.Live() || o.User.Name != "john.old" || !o.User.Active {
		t.Errorf("restored: %+v", o)
	}
}

func testSyncInvalid(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	long := strings.Repeat("x", 300)
	res := apply(t, s, d.ID, store.SyncBatch{
		Users:  []store.SyncUser{su("e1", " padded"), su("e2", "ok"), {ExternalID: "e3", Name: "x", DisplayName: long}},
		Groups: []store.SyncGroup{{ExternalID: "g1", Name: ""}, {ExternalID: "g2", Name: "fine"}},
	})
	if res.Counts != (store.SyncCounts{UsersAdded: 1, GroupsAdded: 1}) || len(res.Skipped) != 3 {
		t.Fatalf("invalid: %+v", res)
	}
	for _, k := range res.Skipped {
		if k.Reason != store.OutsideInvalid {
			t.Errorf("skip %v", k)
		}
	}
	got := storetest.Must(s.SyncLookup(ctx, d.ID, []string{"e1", "g1"}))
	if got["e1"].Outside == nil || got["e1"].Outside.Reason != store.OutsideInvalid || got["g1"].Outside == nil || got["g1"].Kind != store.SyncKindGroup {
		t.Errorf("records: %+v", got)
	}
}

func testSyncOutside(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	data := su("e2", "guest")
	res := apply(t, s, d.ID, store.SyncBatch{
		Users: []store.SyncUser{su("e1", "ann")},
		Outside: []store.SyncOutside{
			{ExternalID: "e2", Kind: store.SyncKindUser, Reason: store.OutsideFilter, User: &data},
			{ExternalID: "g9", Kind: store.SyncKindGroup, Reason: store.OutsideFilter, Name: "Other"},
		},
	})
	if res.Counts != (store.SyncCounts{UsersAdded: 1}) {
		t.Errorf("counts %+v", res.Counts)
	}
	got := storetest.Must(s.SyncLookup(ctx, d.ID, []string{"e1", "e2", "g9", "zz"}))
	if len(got) != 3 || !got["e1"].Live() || got["e2"].InReplica() || got["e2"].Outside.User == nil ||
		*got["e2"].Outside.User != data.Normalize() || got["g9"].Outside.Name != "other" {
		t.Errorf("lookup: %+v", got)
	}
	// Entering the replica drops the record.
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{*got["e2"].Outside.User}})
	if o := storetest.Must(s.SyncLookup(ctx, d.ID, []string{"e2"}))["e2"]; !o.Live() {
		t.Errorf("after entering: %+v", o)
	}
	apply(t, s, d.ID, store.SyncBatch{Forget: []string{"g9"}})
	snap := storetest.Must(s.SyncSnapshot(ctx, d.ID))
	if len(snap.Outside) != 0 || len(snap.Users) != 2 {
		t.Errorf("snapshot: %+v", snap)
	}
	if _, err := s.ApplySync(ctx, d.ID, store.SyncBatch{Outside: []store.SyncOutside{{ExternalID: "x", Kind: "USER", Reason: "BAD"}}}); err == nil {
		t.Error("a bad reason must be refused")
	}
}

func testSyncStateRuns(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	if _, err := s.SyncState(ctx, d.ID); err == nil {
		t.Error("state before the first run must be ErrNotFound")
	}
	now := s.Now()
	st := store.SyncState{DirectoryID: d.ID, UsersDeltaLink: "u", GroupsDeltaLink: "g", LastFullAt: &now, ConfigHash: "h"}
	if err := s.SaveSyncState(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.LastError = "boom"
	if err := s.SaveSyncState(ctx, st); err != nil {
		t.Fatal(err)
	}
	got := storetest.Must(s.SyncState(ctx, d.ID))
	if got.UsersDeltaLink != "u" || got.LastError != "boom" || got.LastFullAt == nil || !got.LastFullAt.Equal(now) || got.ConfigHash != "h" {
		t.Errorf("state: %+v", got)
	}
	r1 := storetest.Must(s.StartSyncRun(ctx, d.ID, store.SyncModeFull, "host-a"))
	if err := s.HeartbeatSyncRun(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	// A run that still beats (it lost the lock, say) is not marked ABORTED by the next one.
	r2 := storetest.Must(s.StartSyncRun(ctx, d.ID, store.SyncModeDelta, "host-b"))
	r2.Status, r2.Errors = store.SyncSucceeded, "1 clash"
	r2.SyncCounts = store.SyncCounts{UsersAdded: 3, MembershipsRemoved: 2}
	if err := s.FinishSyncRun(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if runs := storetest.Must(s.SyncRuns(ctx, d.ID, 10)); runs[1].ID != r1.ID || runs[1].Status != store.SyncRunning {
		t.Errorf("live run: %+v", runs[1])
	}
	// Once it stopped beating for SyncRunStale, it is.
	later := s.Now().Add(store.SyncRunStale + time.Second)
	s.SetClock(func() time.Time { return later })
	storetest.Must(s.StartSyncRun(ctx, d.ID, store.SyncModeDelta, "host-c"))
	runs := storetest.Must(s.SyncRuns(ctx, d.ID, 10))[1:]
	if len(runs) != 2 || runs[0].ID != r2.ID || runs[1].ID != r1.ID {
		t.Fatalf("runs: %+v", runs)
	}
	if runs[1].Status != store.SyncAborted || runs[1].FinishedAt == nil {
		t.Errorf("stale run: %+v", runs[1])
	}
	if runs[0].Status != store.SyncSucceeded || runs[0].UsersAdded != 3 || runs[0].MembershipsRemoved != 2 ||
		runs[0].Errors != "1 clash" || runs[0].Duration() < 0 || runs[0].Instance != "host-b" {
		t.Errorf("finished run: %+v", runs[0])
	}
}

// testSyncFinishAtomic: the end of a run (state, run record, audit entry) is written together or
// not at all. Regression: the console's audit test saw a run finished before its SYNC_FINISHED entry.
func testSyncFinishAtomic(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	now := s.Now()
	run := storetest.Must(s.StartSyncRun(ctx, d.ID, store.SyncModeFull, "host-a"))
	run.Status, run.FinishedAt = store.SyncFailed, &now
	bad := store.SyncFinish{Run: run, State: store.SyncState{DirectoryID: d.ID, LastError: "boom"},
		Directory: d.Name, Details: map[string]any{"unencodable": make(chan int)}}
	if err := s.FinishSync(ctx, bad); err == nil {
		t.Fatal("details that cannot be encoded must fail the finish")
	}
	if r := storetest.Must(s.SyncRuns(ctx, d.ID, 1))[0]; r.FinishedAt != nil || r.Status != store.SyncRunning {
		t.Errorf("a failed finish left the run finished: %+v", r)
	}
	if _, err := s.SyncState(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed finish left a sync state: %v", err)
	}

	good := bad
	good.Details = map[string]any{"run": run.ID}
	if err := s.FinishSync(ctx, good); err != nil {
		t.Fatal(err)
	}
	if r := storetest.Must(s.SyncRuns(ctx, d.ID, 1))[0]; r.FinishedAt == nil || r.Status != store.SyncFailed {
		t.Errorf("run after finish: %+v", r)
	}
	if st := storetest.Must(s.SyncState(ctx, d.ID)); st.LastError != "boom" {
		t.Errorf("state after finish: %+v", st)
	}
	entries := storetest.Must(s.ListAudit(ctx, store.AuditFilter{Action: "SYNC_FAILED", Object: d.Name}))
	if len(entries) != 1 || entries[0].Outcome != "FAILURE" || entries[0].Details != fmt.Sprintf(`{"run":%d}`, run.ID) {
		t.Errorf("audit after a failed run's finish: %+v", entries)
	}
}

func testSyncInternal(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := storetest.Must(s.EnsureInternalDirectory(ctx))
	_, err := s.ApplySync(ctx, d.ID, store.SyncBatch{Users: []store.SyncUser{su("e1", "x")}})
	wantErr(t, err, store.ErrInvalid)
}

// testSyncAtomic: a batch that fails half-way (a membership naming a user the batch creates, then an
// outside record the database refuses) leaves nothing behind.
func testSyncAtomic(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	_, err := s.ApplySync(ctx, d.ID, store.SyncBatch{
		Users:   []store.SyncUser{su("e1", "ann")},
		Groups:  []store.SyncGroup{{ExternalID: "g1", Name: "g"}},
		State:   &store.SyncState{UsersDeltaLink: "x"},
		Members: []store.SyncMembers{{GroupExternalID: "g1", Users: []string{"e1"}}},
		Outside: []store.SyncOutside{{ExternalID: "bad", Kind: store.SyncKindUser, Reason: store.OutsideGuest},
			{ExternalID: "bad2", Kind: "NOPE", Reason: store.OutsideGuest}},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	snap := storetest.Must(s.SyncSnapshot(ctx, d.ID))
	if len(snap.Users)+len(snap.Groups)+len(snap.Outside)+len(snap.UserMemberships) != 0 {
		t.Errorf("failed batch left %+v", snap)
	}
	if _, err := s.SyncState(ctx, d.ID); err == nil {
		t.Error("failed batch saved its state")
	}
	if evs, _ := eventLog(t, s, d.ID, tok); len(evs) != 0 {
		t.Errorf("failed batch wrote events %v", evs)
	}
}

// testSyncLarge pushes more rows through one batch than one statement carries.
func testSyncLarge(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	const n = 5100 // more than one statement (syncBulkChunk rows) carries
	users := make([]store.SyncUser, n)
	ids := make([]string, n)
	for i := range users {
		ids[i] = fmt.Sprintf("u%06d", i)
		users[i] = store.SyncUser{ExternalID: ids[i], Name: "user" + ids[i], Active: true}
	}
	start := time.Now()
	res := apply(t, s, d.ID, store.SyncBatch{
		Users:   users,
		Groups:  []store.SyncGroup{{ExternalID: "g", Name: "everyone"}},
		Members: []store.SyncMembers{{GroupExternalID: "g", Users: ids}},
	})
	if res.Counts != (store.SyncCounts{UsersAdded: n, GroupsAdded: 1, MembershipsAdded: n}) {
		t.Errorf("counts %+v", res.Counts)
	}
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res = apply(t, s, d.ID, store.SyncBatch{Users: users, Members: []store.SyncMembers{{GroupExternalID: "g", Users: ids[1:]}}})
	if res.Counts != (store.SyncCounts{MembershipsRemoved: 1}) {
		t.Errorf("second pass %+v", res.Counts)
	}
	if evs, _ := eventLog(t, s, d.ID, tok); len(evs) != 1 {
		t.Errorf("second pass wrote %d events", len(evs))
	}
	t.Logf("%d users and memberships in two batches: %s", n, time.Since(start).Round(time.Millisecond))
}

// testSyncBulkChange: a sync transaction with more than half a read's worth of events (a directory's
// first full round) records one BULK_CHANGE instead; a token from before it is expired, so its
// holder synchronises in full, and a token from after it sees the next changes one by one.
func testSyncBulkChange(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	before := storetest.Must(s.CurrentEventToken(ctx, 1))
	const n = store.MaxEventsPerRead / 4 // users and as many memberships: n*2+1 > MaxEventsPerRead/2 events
	users := make([]store.SyncUser, n+1)
	ids := make([]string, n+1)
	for i := range users {
		ids[i] = fmt.Sprintf("u%06d", i)
		users[i] = store.SyncUser{ExternalID: ids[i], Name: "user" + ids[i], Active: true}
	}
	res := apply(t, s, d.ID, store.SyncBatch{Users: users, Groups: []store.SyncGroup{{ExternalID: "g", Name: "everyone"}},
		Members: []store.SyncMembers{{GroupExternalID: "g", Users: ids}}})
	if res.Counts != (store.SyncCounts{UsersAdded: n + 1, GroupsAdded: 1, MembershipsAdded: n + 1}) {
		t.Fatalf("counts %+v", res.Counts)
	}
	_, _, err := s.EventsSince(ctx, before, 1, []int64{d.ID})
	if !errors.Is(err, store.ErrTokenExpired) || !strings.Contains(err.Error(), "changed in bulk") {
		t.Fatalf("token from before the bulk change: %v, want expired (changed in bulk)", err)
	}
	after := storetest.Must(s.CurrentEventToken(ctx, 1))
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{{ExternalID: ids[0], Name: "renamed", Active: true}}})
	if evs, _ := eventLog(t, s, d.ID, after); !cmp.Equal(evs, []string{"USER UPDATED renamed user" + ids[0]}) {
		t.Errorf("events after the bulk change: %q", evs)
	}
	// Another directory's bulk change does not expire a token of this one.
	other := storetest.Must(s.CreateDirectory(ctx, store.Directory{Name: "Entra 2", Kind: store.DirectoryAzureAD, Active: true}))
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	apply(t, s, other.ID, store.SyncBatch{Users: users, Groups: []store.SyncGroup{{ExternalID: "g", Name: "everyone"}},
		Members: []store.SyncMembers{{GroupExternalID: "g", Users: ids}}})
	if _, _, err := s.EventsSince(ctx, tok, 1, []int64{other.ID}); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("the other directory's token after its bulk change: %v, want expired", err)
	}
	if evs, _ := eventLog(t, s, d.ID, tok); len(evs) != 0 {
		t.Errorf("this directory's events after another's bulk change: %q", evs)
	}
}

// testSyncStage: a staged full round keeps its pages in order with their links; its checkpoint is
// each kind's last page; staging again replaces a page; the apply's last batch (ClearStage) drops
// it in its transaction; a run that lost the lock (its fence) can neither stage nor clear.
func testSyncStage(t *testing.T, s *store.Store) {
	ctx := context.Background()
	dir := azureDir(t, s)
	if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
		t.Fatal("a round is staged before any")
	}
	fence := storetest.Must(s.SyncFence(ctx, dir.ID))
	round := storetest.Must(s.SyncStageBegin(ctx, dir.ID, fence, "key-1"))
	put := func(p store.SyncStagePage) {
		t.Helper()
		if err := s.SyncStagePut(ctx, dir.ID, fence, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		put(store.SyncStagePage{Kind: store.SyncStageUsers, Seq: i, Items: 10, NextLink: fmt.Sprintf("u-next-%d", i),
			Payload: []byte(fmt.Sprintf(`[{"i":"u%d"}]`, i))})
	}
	put(store.SyncStagePage{Kind: store.SyncStageGroups, Seq: 1, Items: 4, NextLink: "g-next-1", Payload: []byte(`[]`)})
	put(store.SyncStagePage{Kind: store.SyncStageGroups, Seq: 2, Items: 5, DeltaLink: "g-delta", Payload: []byte(`[{"i":"g"}]`)})
	put(store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 3, Items: 7, NextLink: "u-next-3b", Payload: []byte(`[{"i":"u3b"}]`)})

	got, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID))
	want := store.SyncFullRound{Key: "key-1", StartedAt: round.StartedAt,
		Users:  store.SyncStageCursor{Pages: 3, Items: 27, NextLink: "u-next-3b"},
		Groups: store.SyncStageCursor{Pages: 2, Items: 9, DeltaLink: "g-delta"}}
	if !ok || !got.StartedAt.Equal(want.StartedAt) {
		t.Fatalf("staged round: %+v %t, want %+v", got, ok, want)
	}
	got.StartedAt = want.StartedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("staged round:\n got %+v\nwant %+v", got, want)
	}
	var pages []string
	if err := s.SyncStagePages(ctx, dir.ID, store.SyncStageUsers, func(p store.SyncStagePage) error {
		pages = append(pages, fmt.Sprintf("%d %d %s %s", p.Seq, p.Items, p.NextLink, p.Payload))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{`1 10 u-next-1 [{"i":"u1"}]`, `2 10 u-next-2 [{"i":"u2"}]`, `3 7 u-next-3b [{"i":"u3b"}]`}; !reflect.DeepEqual(pages, want) {
		t.Errorf("staged users pages: %q, want %q", pages, want)
	}

	// Another run took the lock: this one's staging is refused.
	later := storetest.Must(s.SyncFence(ctx, dir.ID))
	if err := s.SyncStagePut(ctx, dir.ID, fence, store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 4, Payload: []byte(`[]`)}); !errors.Is(err, store.ErrSyncFenced) {
		t.Errorf("fenced put: %v", err)
	}
	if err := s.SyncStageClear(ctx, dir.ID, fence); !errors.Is(err, store.ErrSyncFenced) {
		t.Errorf("fenced clear: %v", err)
	}
	if got, _ := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); got.Users.Pages != 3 {
		t.Errorf("after fenced writes: %+v", got)
	}

	// The apply's last batch drops the stage with the state.
	apply(t, s, dir.ID, store.SyncBatch{Fence: later, ClearStage: true, State: &store.SyncState{UsersDeltaLink: "u-delta", GroupsDeltaLink: "g-delta"}})
	if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
		t.Error("the stage survived ClearStage")
	}
	n := 0
	if err := s.SyncStagePages(ctx, dir.ID, store.SyncStageGroups, func(store.SyncStagePage) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("staged groups pages after ClearStage: %d, %v", n, err)
	}

	// A new round replaces whatever was staged.
	storetest.Must(s.SyncStageBegin(ctx, dir.ID, later, "key-2"))
	put2 := store.SyncStagePage{Kind: store.SyncStageUsers, Seq: 1, Items: 1, NextLink: "x", Payload: []byte(`[]`)}
	if err := s.SyncStagePut(ctx, dir.ID, later, put2); err != nil {
		t.Fatal(err)
	}
	storetest.Must(s.SyncStageBegin(ctx, dir.ID, later, "key-3"))
	if got, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); !ok || got.Key != "key-3" || got.Users.Pages != 0 {
		t.Errorf("after a new begin: %+v %t", got, ok)
	}
	if err := s.SyncStageClear(ctx, dir.ID, later); err != nil {
		t.Fatal(err)
	}
	if _, ok := storetest.Must2(s.SyncStagedRound(ctx, dir.ID)); ok {
		t.Error("the stage survived SyncStageClear")
	}
}

// TestSyncLock: one sync per directory at a time, across two Stores on the same database (two
// instances), released by unlock.
func TestSyncLock(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run("dialect="+d, func(t *testing.T) {
			ctx := context.Background()
			a, b := storetest.Two(t, d)
			dir := azureDir(t, a)
			unlock, ok, err := a.TryLockSync(ctx, dir.ID)
			if err != nil || !ok {
				t.Fatalf("first lock: %v %v", ok, err)
			}
			if _, ok, err := b.TryLockSync(ctx, dir.ID); ok || err != nil {
				t.Fatalf("second lock taken while held: %v %v", ok, err)
			}
			if _, ok, err := a.TryLockSync(ctx, dir.ID); ok || err != nil {
				t.Fatalf("same store, second lock taken while held: %v %v", ok, err)
			}
			other, ok, err := b.TryLockSync(ctx, dir.ID+1)
			if !ok || err != nil {
				t.Fatalf("another directory's lock: %v %v", ok, err)
			}
			other()
			unlock()
			unlock() // twice is harmless
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				u, ok, err := b.TryLockSync(ctx, dir.ID)
				if err != nil || !ok {
					t.Errorf("lock after unlock: %v %v", ok, err)
					return
				}
				u()
			}()
			wg.Wait()
		})
	}
}
