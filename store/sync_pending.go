package store

import (
	"context"
	"fmt"
	"time"
)

// SyncPendingMember is a membership addition whose member Graph has not shown yet (replication
// lag between its users and groups rounds), kept until the member arrives.
type SyncPendingMember struct {
	SyncMemberChange
	Since time.Time
}

// SyncPending returns the directory's pending memberships, oldest first.
func (s *Store) SyncPending(ctx context.Context, dirID int64) ([]SyncPendingMember, error) {
	var out []SyncPendingMember
	err := s.syncScan(ctx, "SELECT group_ext, member_ext, is_group, since FROM sync_pending WHERE directory_id = ? "+
		"ORDER BY since, group_ext, member_ext", []any{dirID}, func(scan func(...any) error) error {
		var p SyncPendingMember
		if err := scan(&p.GroupExternalID, &p.MemberExternalID, &p.Group, &p.Since); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync pending memberships: %w", err)
	}
	return out, nil
}

// pending brings the pending memberships up to date in an ApplySync transaction: all dropped
// (clear), or those of drop and of the removed groups; then add inserted (an existing one keeps its
// age).
func (a *syncApplier) pending(ctx context.Context, clear bool, drop, add []SyncMemberChange, removedGroups []string) error {
	if clear {
		if _, err := a.s.syncExec(ctx, "DELETE FROM sync_pending WHERE directory_id = ?", a.dir); err != nil {
			return fmt.Errorf("sync pending memberships: %w", err)
		}
	}
	if len(removedGroups) > 0 && !clear {
		cond, arg := a.s.syncInTexts("group_ext", syncDedupe(removedGroups))
		if _, err := a.s.syncExec(ctx, "DELETE FROM sync_pending WHERE directory_id = ? AND "+cond, a.dir, arg); err != nil {
			return fmt.Errorf("sync pending memberships: %w", err)
		}
	}
	for _, d := range drop {
		if _, err := a.s.syncExec(ctx, "DELETE FROM sync_pending WHERE directory_id = ? AND group_ext = ? AND member_ext = ?",
			a.dir, d.GroupExternalID, d.MemberExternalID); err != nil {
			return fmt.Errorf("sync pending memberships: %w", err)
		}
	}
	for _, p := range add {
		if _, err := a.s.syncExec(ctx, "INSERT INTO sync_pending (directory_id, group_ext, member_ext, is_group, since) "+
			"VALUES (?, ?, ?, ?, ?) ON CONFLICT (directory_id, group_ext, member_ext) DO NOTHING",
			a.dir, p.GroupExternalID, p.MemberExternalID, p.Group, a.now); err != nil {
			return fmt.Errorf("sync pending memberships: %w", err)
		}
	}
	return nil
}
