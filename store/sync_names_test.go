package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// Object ids long enough to show the 8-character cut of suffixed names.
const (
	idA0 = "a0000000-0000-4000-8000-000000000000"
	idA3 = "a3333333-0000-4000-8000-000000000000"
	idA5 = "a5555555-0000-4000-8000-000000000000"
	idB9 = "b9999999-0000-4000-8000-000000000000"
)

func replicaNames(t *testing.T, s *store.Store, dir int64, exts ...string) []string {
	t.Helper()
	var out []string
	for _, ext := range exts {
		u := storetest.Must(s.UserByExternalID(context.Background(), dir, ext))
		out = append(out, u.Name)
		if !u.Active {
			out[len(out)-1] += " (inactive)"
		}
	}
	return out
}

var clashOpts = cmpopts.IgnoreFields(store.SyncClash{}, "Since", "New")

// testSyncIncumbent: the object that holds a name keeps it; a newcomer wanting it, whatever its id,
// is replicated as "name#<first 8 of its id>", recorded, audited and counted; nothing is deactivated.
// When the holder goes, the newcomer may take its name.
func testSyncIncumbent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	// Two newcomers of one batch want one name (case-insensitively): the smaller id gets it.
	res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA5, "Alice"), su(idA3, "alice"), su(idB9, "bob")}})
	if res.Counts.UsersAdded != 3 || res.Counts.NameClashes != 1 || len(res.Skipped) != 0 {
		t.Fatalf("one batch: %+v", res)
	}
	if diff := cmp.Diff([]string{"alice", "Alice#a5555555", "bob"}, replicaNames(t, s, d.ID, idA3, idA5, idB9)); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	// A newcomer with a smaller id does not take the name from its live holder, which stays active.
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA0, "ALICE")}, Deactivate: true})
	if res.Counts.UsersAdded != 1 || res.Counts.UsersRemoved != 0 || res.Counts.UsersUpdated != 0 || res.Counts.NameClashes != 1 {
		t.Fatalf("newcomer: %+v", res)
	}
	if diff := cmp.Diff([]string{"ALICE#a0000000", "alice", "Alice#a5555555"}, replicaNames(t, s, d.ID, idA0, idA3, idA5)); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want := []store.SyncClash{
		{Kind: store.SyncKindUser, ExternalID: idA0, Wanted: "ALICE", Given: "ALICE#a0000000", Holder: idA3},
		{Kind: store.SyncKindUser, ExternalID: idA5, Wanted: "Alice", Given: "Alice#a5555555", Holder: idA3},
	}
	if diff := cmp.Diff(want, storetest.Must(s.SyncNameClashes(ctx, d.ID)), clashOpts); diff != "" {
		t.Errorf("clashes (-want +got):\n%s", diff)
	}
	audits := storetest.Must(s.ListAudit(ctx, store.AuditFilter{Action: "SYNC_NAME_CLASH"}))
	if len(audits) != 2 || audits[0].Object != "ALICE" || audits[1].Object != "Alice" {
		t.Errorf("audit: %+v", audits)
	}
	// Upserting the newcomer again changes nothing and records nothing new.
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA0, "ALICE")}, Deactivate: true})
	if res.Counts.Total() != 0 || res.Counts.NameClashes != 0 || len(res.Clashes) != 1 || res.Clashes[0].New {
		t.Errorf("again: %+v", res)
	}
	if n := storetest.Must(s.SyncClashWaiting(ctx, d.ID)); n != 0 {
		t.Errorf("clash waiting = %d, want 0 (the name is held)", n)
	}
	// The holder goes: both newcomers could have the name now.
	apply(t, s, d.ID, store.SyncBatch{RemoveUsers: []string{idA3}})
	if n := storetest.Must(s.SyncClashWaiting(ctx, d.ID)); n != 2 {
		t.Errorf("clash waiting = %d, want 2", n)
	}
	// Both upserted (a full round): the smaller id gets it, the other stays as it is.
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA0, "ALICE"), su(idA5, "Alice")}, Deactivate: true})
	if res.Counts.UsersUpdated != 1 {
		t.Errorf("after the holder left: %+v", res)
	}
	if diff := cmp.Diff([]string{"ALICE", "Alice#a5555555"}, replicaNames(t, s, d.ID, idA0, idA5)); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want = []store.SyncClash{{Kind: store.SyncKindUser, ExternalID: idA5, Wanted: "Alice", Given: "Alice#a5555555", Holder: idA0}}
	if diff := cmp.Diff(want, storetest.Must(s.SyncNameClashes(ctx, d.ID)), clashOpts); diff != "" {
		t.Errorf("clashes (-want +got):\n%s", diff)
	}
	// A group renamed onto another group's name keeps its own row, under the suffixed name.
	apply(t, s, d.ID, store.SyncBatch{Groups: []store.SyncGroup{{ExternalID: idA3, Name: "admins"}, {ExternalID: idB9, Name: "staff"}}})
	res = apply(t, s, d.ID, store.SyncBatch{Groups: []store.SyncGroup{{ExternalID: idA3, Name: "STAFF"}}})
	if res.Counts.GroupsUpdated != 1 || res.Counts.GroupsRemoved != 0 {
		t.Errorf("group rename onto a held name: %+v", res)
	}
	if g := storetest.Must(s.GroupByExternalID(ctx, d.ID, idA3)); g.Name != "STAFF#a3333333" {
		t.Errorf("renamed group is %q", g.Name)
	}
	if g := storetest.Must(s.GroupByExternalID(ctx, d.ID, idB9)); g.Name != "staff" {
		t.Errorf("incumbent group is %q", g.Name)
	}
}

// testSyncSuffixTaken: when "name#<first 8>" is taken (an attacker may create it), the newcomer gets
// "name#<whole id>"; when that is taken too, a new object is not replicated (CLASH) and an existing
// one keeps the name it has.
func testSyncSuffixTaken(t *testing.T, s *store.Store) {
	d := azureDir(t, s)
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idB9, "bob"), su("x1", "bob#a5555555"), su("x2", "carol"),
		su("x3", "carol#a3333333"), su("x4", "carol#"+idA3)}})
	res := apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA5, "bob"), su(idA3, "carol")}})
	if res.Counts.UsersAdded != 1 || len(res.Skipped) != 1 || res.Skipped[0].ExternalID != idA3 || res.Skipped[0].Reason != store.OutsideClash {
		t.Fatalf("%+v", res)
	}
	if diff := cmp.Diff([]string{"bob#" + idA5}, replicaNames(t, s, d.ID, idA5)); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	// An existing user renamed onto a held name with both suffixes taken keeps its name (its e-mail changes).
	apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA0, "dave"), su("x5", "carol#a0000000"), su("x6", "carol#"+idA0)}})
	res = apply(t, s, d.ID, store.SyncBatch{Users: []store.SyncUser{su(idA0, "carol")}})
	if res.Counts.UsersRemoved != 0 || len(res.Clashes) != 1 || res.Clashes[0].Given != "dave" || res.Clashes[0].Holder != "x2" {
		t.Errorf("existing: %+v", res)
	}
}

// testSyncProtected: a protected name goes only to the group bound to it, which takes it from an
// unbound holder (renamed "name#<first 8>"); an unbound group wanting it is suffixed, even one that
// holds it already.
func testSyncProtected(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := azureDir(t, s)
	// Before protection: an unbound group holds the name.
	apply(t, s, d.ID, store.SyncBatch{Groups: []store.SyncGroup{{ExternalID: idA0, Name: "jira-administrators"}}})
	prot := map[string]string{"jira-administrators": idB9, "crowd-administrators": ""}
	tok := storetest.Must(s.CurrentEventToken(ctx, 1))
	res := apply(t, s, d.ID, store.SyncBatch{Protected: prot, Groups: []store.SyncGroup{
		{ExternalID: idB9, Name: "Jira-Administrators"}, {ExternalID: idA3, Name: "jira-administrators"}, {ExternalID: idA5, Name: "crowd-administrators"}}})
	if res.Counts.GroupsAdded != 3 || res.Counts.GroupsUpdated != 1 || res.Counts.NameClashes != 3 {
		t.Errorf("%+v", res)
	}
	got := map[string]string{}
	for _, ext := range []string{idA0, idA3, idA5, idB9} {
		got[ext] = storetest.Must(s.GroupByExternalID(ctx, d.ID, ext)).Name
	}
	want := map[string]string{idA0: "jira-administrators#a0000000", idA3: "jira-administrators#a3333333",
		idA5: "crowd-administrators#a5555555", idB9: "Jira-Administrators"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	wantC := []store.SyncClash{
		{Kind: store.SyncKindGroup, ExternalID: idA5, Wanted: "crowd-administrators", Given: "crowd-administrators#a5555555", Protected: true},
		{Kind: store.SyncKindGroup, ExternalID: idA0, Wanted: "jira-administrators", Given: "jira-administrators#a0000000", Protected: true},
		{Kind: store.SyncKindGroup, ExternalID: idA3, Wanted: "jira-administrators", Given: "jira-administrators#a3333333", Protected: true},
	}
	if diff := cmp.Diff(wantC, storetest.Must(s.SyncNameClashes(ctx, d.ID)), clashOpts); diff != "" {
		t.Errorf("clashes (-want +got):\n%s", diff)
	}
	// Crowd clients see the unbound holder's name go.
	evs, _ := eventLog(t, s, d.ID, tok)
	if !slices.Contains(evs, "GROUP DELETED jira-administrators") {
		t.Errorf("events: %q", evs)
	}
	// The unbound former holder, upserted again, stays suffixed.
	res = apply(t, s, d.ID, store.SyncBatch{Protected: prot, Groups: []store.SyncGroup{{ExternalID: idA0, Name: "jira-administrators"}}})
	if res.Counts.Total() != 0 {
		t.Errorf("again: %+v", res)
	}
	if n := storetest.Must(s.SyncClashWaiting(ctx, d.ID)); n != 0 {
		t.Errorf("clash waiting = %d, want 0 (protected names wait for no one)", n)
	}
}
