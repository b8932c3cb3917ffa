package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

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
