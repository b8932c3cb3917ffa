package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// SyncBatch is one unit of replication into an AZURE_AD directory. ApplySync applies it in one
// transaction, in this order:
//
//  1. RemoveGroups: groups deleted with their memberships; DeactivateGroups: deactivated, memberships removed.
//  2. RemoveUsers: users deleted, or with Deactivate deactivated (their sessions ended and their
//     direct memberships removed).
//  3. Forget, then Outside: outside records dropped, then written (replacing earlier ones).
//  4. Users, then Groups: upserts by external id (see ApplySync for names and clashes).
//  5. Members: complete direct member sets of groups, replacing what the replica holds.
//  6. Changes: single membership additions and removals, then the pending memberships.
//  7. State: the sync state, saved with the changes it describes; ClearStage: the staged full round dropped.
//
// Unknown external ids in removals are ignored, so a batch can be applied again (after a crash or a
// replayed delta page) with the same result.
type SyncBatch struct {
	RemoveGroups []string
	RemoveUsers  []string
	// Deactivate makes RemoveUsers, and users who lose their name in a clash, deactivated instead of
	// deleted.
	Deactivate bool
	// DeactivateUsers are deactivated whatever Deactivate says (users soft-deleted in Entra ID, which
	// may come back); after RemoveUsers.
	DeactivateUsers []string
	// DeactivateGroups are deactivated with their memberships (as parent and as child) removed, so
	// they grant nothing: groups soft-deleted in Entra ID, which may come back; after RemoveGroups.
	DeactivateGroups []string
	Forget           []string
	Outside          []SyncOutside
	Users            []SyncUser
	Groups           []SyncGroup
	// Protected maps protected group names (lower-cased) to the external id of the group bound to
	// each ("" for none): only that group may carry the name (see ApplySync).
	Protected map[string]string
	Members   []SyncMembers
	Changes   []SyncMemberChange
	// ClearPending drops every pending membership, DropPending some, and Pending adds member
	// additions whose member is not known yet (see SyncPending); applied after Changes.
	ClearPending bool
	DropPending  []SyncMemberChange
	Pending      []SyncMemberChange
	State        *SyncState
	// ClearStage drops the staged full round (SyncStageBegin): the last transaction of its apply.
	ClearStage bool
	// Fence, when not 0, is the run's fencing token (SyncFence): the batch is refused with
	// ErrSyncFenced, writing nothing, once another run took the sync lock.
	Fence int64
}

// Empty reports whether the batch changes nothing.
func (b SyncBatch) Empty() bool {
	return len(b.RemoveGroups) == 0 && len(b.DeactivateGroups) == 0 && len(b.RemoveUsers) == 0 && len(b.DeactivateUsers) == 0 &&
		len(b.Forget) == 0 && len(b.Outside) == 0 &&
		len(b.Users) == 0 && len(b.Groups) == 0 && len(b.Members) == 0 && len(b.Changes) == 0 && b.State == nil &&
		!b.ClearPending && len(b.DropPending) == 0 && len(b.Pending) == 0 && !b.ClearStage
}

// SyncResult is what ApplySync did.
type SyncResult struct {
	Counts SyncCounts
	// Skipped lists upserted objects that are not live in the replica: invalid, or losing a clash.
	Skipped []SyncSkip
	// Revived lists external ids of upserted objects that were listed CLASH or INVALID and are now
	// live: their memberships are unknown to the replica. The sync state's FullReason is set in the
	// same transaction (SyncRevivedReason), so the next round is a full one whatever happens next.
	Revived []string
	// Unresolved lists membership additions (from Members or Changes) naming a group or member that
	// is not live in the replica; they were not applied.
	Unresolved []SyncMemberChange
	// Clashes lists the upserted objects (and moved rows) placed under another name than they want.
	Clashes []SyncClash
}

// ApplySync applies b to the AZURE_AD directory dirID in one transaction (see SyncBatch), writing
// only what differs from the replica: an unchanged object writes nothing and emits no event. Events
// are written last, in a few set-based statements, under the event-order lock.
//
// Names: each upserted object wants its Name, and the incumbent keeps its name: a live object that
// holds a name (case-insensitively) keeps it whoever else wants it, and nothing is deleted,
// deactivated or renamed because another object appeared. An object that cannot have its name is
// replicated under "name#<first 8 characters of its external id>" (or "name#<external id>" when
// that is taken too; when both are, it keeps the name it has, or, new, is listed outside with
// reason CLASH and reported in Skipped). Among upserted objects wanting a free name, the smallest
// external id gets it. A protected name (Protected) goes only to the group bound to it: any other
// group is placed under its suffixed name, even one that holds the name already. Each object placed
// under another name has a clash record (SyncNameClashes), reported in Clashes, audited
// (SYNC_NAME_CLASH) and counted (NameClashes) when new. A name held by an object listed outside (a
// deactivated tombstone) is taken over: the holder is renamed to "name#externalID". Invalid objects
// are listed INVALID and reported. An upserted object that is placed is live: its outside record is
// dropped.
//
// Renames keep the row, so a user's key survives; a renamed group emits Crowd's DELETED + CREATED
// pair with its memberships, as UpdateGroup does. Deactivation ends the user's sessions.
func (s *Store) ApplySync(ctx context.Context, dirID int64, b SyncBatch) (SyncResult, error) {
	var res SyncResult
	err := s.InTx(ctx, func(tx *Store) error {
		d, err := tx.Directory(ctx, dirID)
		if err != nil {
			return err
		}
		if d.Kind != DirectoryAzureAD {
			return fmt.Errorf("directory %q is %s, not %s: %w", d.Name, d.Kind, DirectoryAzureAD, ErrInvalid)
		}
		if err := tx.checkFence(ctx, dirID, b.Fence); err != nil {
			return err
		}
		a := &syncApplier{s: tx, dir: dirID, now: tx.now(), deactivate: b.Deactivate}
		steps := []func() error{
			func() error { return a.removeGroups(ctx, b.RemoveGroups) },
			func() error { return a.deactivateGroups(ctx, b.DeactivateGroups) },
			func() error { return a.removeUsers(ctx, b.RemoveUsers, b.Deactivate) },
			func() error { return a.removeUsers(ctx, b.DeactivateUsers, true) },
			func() error { return a.forget(ctx, b.Forget) },
			func() error { return a.writeOutside(ctx, b.Outside) },
			func() error { return a.upsertUsers(ctx, b.Users) },
			func() error { return a.upsertGroups(ctx, b.Groups, b.Protected) },
			func() error { return a.setMembers(ctx, b.Members) },
			func() error { return a.changeMembers(ctx, b.Changes) },
			func() error { return a.pending(ctx, b.ClearPending, b.DropPending, b.Pending, b.RemoveGroups) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		if b.State != nil {
			st := *b.State
			st.DirectoryID = dirID
			if len(a.res.Revived) > 0 {
				st.FullReason = SyncRevivedReason(a.res.Revived[0])
			}
			if err := tx.SaveSyncState(ctx, st); err != nil {
				return err
			}
		} else if len(a.res.Revived) > 0 {
			if _, err := tx.syncExec(ctx, "UPDATE sync_state SET full_reason = ? WHERE directory_id = ?",
				SyncRevivedReason(a.res.Revived[0]), dirID); err != nil {
				return fmt.Errorf("sync state: %w", err)
			}
		}
		if b.ClearStage {
			if err := tx.clearStage(ctx, dirID); err != nil {
				return err
			}
		}
		if len(a.events) > syncBulkEvents {
			// A client holding an older token would be told to synchronise in full anyway; one
			// marker instead of each change saves a full round the writing of a million events.
			a.events = []Event{{DirectoryID: dirID, Entity: EntityDirectory, Operation: OpBulkChange, Name: strconv.Itoa(len(a.events))}}
		}
		if err := tx.syncWriteEvents(ctx, a.events); err != nil {
			return err
		}
		if a.changed {
			// Here and on every other instance: access and views may have changed.
			if err := tx.invalidate(ctx, invClearSessions); err != nil {
				return err
			}
		}
		res = a.res
		return nil
	})
	if err != nil {
		return SyncResult{}, fmt.Errorf("apply sync batch: %w", err)
	}
	return res, nil
}

// syncBulkEvents is how many events one sync transaction records one by one; beyond it, it records
// a single BULK_CHANGE that expires every older event token. In the same transaction as the changes,
// so a token taken before them is expired and one taken after them sees them all. Half of what a
// read returns at most (MaxEventsPerRead), so a client behind by one such transaction still reads it.
const syncBulkEvents = MaxEventsPerRead / 2

// syncApplier carries one ApplySync transaction.
type syncApplier struct {
	s          *Store // bound to the transaction
	dir        int64
	now        time.Time
	deactivate bool
	res        SyncResult
	events     []Event
	changed    bool
}

func (a *syncApplier) event(entity, op string, id int64, name, other string) {
	a.events = append(a.events, Event{DirectoryID: a.dir, Entity: entity, Operation: op, EntityID: id, Name: name, OtherName: other})
	a.changed = true
}

func syncDedupe(v []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(v)))
}

// syncRef is a replica row: id and name.
type syncRef struct {
	id   int64
	name string
}

// refs runs q, a statement returning id and name, and returns its rows in id order: the order of
// their events.
func (a *syncApplier) refs(ctx context.Context, q string, args ...any) ([]syncRef, error) {
	var out []syncRef
	err := a.s.syncScan(ctx, q, args, func(scan func(...any) error) error {
		var r syncRef
		if err := scan(&r.id, &r.name); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y syncRef) int { return cmp.Compare(x.id, y.id) })
	return out, nil
}

// SyncRevivedReason is the sync state's FullReason after ApplySync revived the object ext.
func SyncRevivedReason(ext string) string {
	return "object " + ext + " that was not replicated (clash or invalid) now is"
}
