package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrSyncFenced reports a synchroniser write refused because another run took the directory's sync
// lock since this run took it (this run's lock connection dropped): the run must stop.
var ErrSyncFenced = errors.New("the sync lock was lost to another run")

// SyncFence starts a run's tenure of the directory's sync lock, which the caller holds
// (TryLockSync): it increments the directory's fencing token and returns it. Writes that carry the
// token (SyncBatch.Fence, SyncFinish.Fence) are refused with ErrSyncFenced once a later run took
// the lock.
func (s *Store) SyncFence(ctx context.Context, dirID int64) (int64, error) {
	var epoch int64
	err := s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.syncExec(ctx, "INSERT INTO sync_state (directory_id, updated_at) VALUES (?, ?) ON CONFLICT (directory_id) DO NOTHING",
			dirID, tx.now()); err != nil {
			return err
		}
		if _, err := tx.syncExec(ctx, "UPDATE sync_state SET lock_epoch = lock_epoch + 1 WHERE directory_id = ?", dirID); err != nil {
			return err
		}
		return tx.syncScan(ctx, "SELECT lock_epoch FROM sync_state WHERE directory_id = ?", []any{dirID},
			func(scan func(...any) error) error { return scan(&epoch) })
	})
	if err != nil {
		return 0, fmt.Errorf("sync fence of directory %d: %w", dirID, err)
	}
	return epoch, nil
}

// checkFence, in a transaction, share-locks the directory's sync state row and checks that fence
// (when not 0) is still the latest token: a run that takes the lock later (SyncFence updates the
// row) waits for this transaction, or this transaction sees its token. A shared lock, so the run's
// parallel membership transactions do not wait for each other.
func (s *Store) checkFence(ctx context.Context, dirID, fence int64) error {
	if fence == 0 {
		return nil
	}
	q := "SELECT lock_epoch FROM sync_state WHERE directory_id = ?"
	if s.dialect == "postgres" {
		q += " FOR SHARE"
	}
	var epoch int64
	if err := s.syncScan(ctx, q, []any{dirID}, func(scan func(...any) error) error { return scan(&epoch) }); err != nil {
		return fmt.Errorf("sync fence: %w", err)
	}
	if epoch != fence {
		return fmt.Errorf("directory %d: run of token %d, latest %d: %w", dirID, fence, epoch, ErrSyncFenced)
	}
	return nil
}
