package storetest

import (
	"context"
	"fmt"

	"github.com/crowdgate/crowdgate/store"
)

// Replica is a directory's live replica keyed by external id, for tests to compare with what the
// tenant says it must be. Objects a sync listed as outside the replica are left out; memberships
// are kept as they are stored.
type Replica struct {
	Users        map[string]store.SyncUser
	Groups       map[string]store.SyncGroup
	UserMembers  [][2]string // group, user
	GroupMembers [][2]string // parent, child
}

// LiveReplica reads the live replica of a directory.
func LiveReplica(ctx context.Context, st *store.Store, dirID int64) (Replica, error) {
	snap, err := st.SyncSnapshot(ctx, dirID)
	if err != nil {
		return Replica{}, fmt.Errorf("storetest: replica of directory %d: %w", dirID, err)
	}
	listed := map[string]bool{}
	for _, o := range snap.Outside {
		listed[o.ExternalID] = true
	}
	r := Replica{Users: map[string]store.SyncUser{}, Groups: map[string]store.SyncGroup{}}
	uext, gext := map[int64]string{}, map[int64]string{}
	for _, u := range snap.Users {
		uext[u.ID] = u.ExternalID
		if !listed[u.ExternalID] {
			r.Users[u.ExternalID] = u.SyncUser
		}
	}
	for _, g := range snap.Groups {
		gext[g.ID] = g.ExternalID
		if !listed[g.ExternalID] {
			r.Groups[g.ExternalID] = g.SyncGroup
		}
	}
	for _, m := range snap.UserMemberships {
		r.UserMembers = append(r.UserMembers, [2]string{gext[m[0]], uext[m[1]]})
	}
	for _, m := range snap.GroupMemberships {
		r.GroupMembers = append(r.GroupMembers, [2]string{gext[m[0]], gext[m[1]]})
	}
	return r, nil
}
