package store

import (
	"context"
	"errors"
	"fmt"
)

// The store side of the synchroniser's mass-change guard: a run that would remove more users or
// groups than the directory's threshold is recorded HELD (with the removals it planned in its
// counts, UsersRemoved and GroupsRemoved, and a sample in its errors) and writes nothing. An
// administrator releases it with ReleaseHeldSync; the next round of the held run's kind (full, or
// the same delta round) may then remove up to the approved counts.

// SyncHeldRun returns the directory's latest run when it is HELD, ErrNotFound otherwise.
func (s *Store) SyncHeldRun(ctx context.Context, dirID int64) (SyncRun, error) {
	runs, err := s.SyncRuns(ctx, dirID, 1)
	if err != nil {
		return SyncRun{}, err
	}
	if len(runs) == 0 || runs[0].Status != SyncHeld {
		return SyncRun{}, fmt.Errorf("no held sync run in directory %d: %w", dirID, ErrNotFound)
	}
	return runs[0], nil
}

// ReleaseHeldSync records an administrator's "apply anyway" for the HELD run runID of a directory,
// which must be its latest run: the next round may remove as many users and groups as that run
// planned, once. It is audited as SYNC_HELD_RELEASED with the context's actor.
func (s *Store) ReleaseHeldSync(ctx context.Context, dirID, runID int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		run, err := tx.SyncHeldRun(ctx, dirID)
		if err != nil {
			return err
		}
		if run.ID != runID {
			return fmt.Errorf("sync run %d is not the latest held run of directory %d (%d is): %w", runID, dirID, run.ID, ErrInvalid)
		}
		st, err := tx.SyncState(ctx, dirID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		st.DirectoryID = dirID
		st.ReleaseRun, st.ReleaseUsers, st.ReleaseGroups = run.ID, run.UsersRemoved, run.GroupsRemoved
		if err := tx.SaveSyncState(ctx, st); err != nil {
			return err
		}
		d, err := tx.Directory(ctx, dirID)
		if err != nil {
			return err
		}
		return tx.Audit(ctx, "SUCCESS", "SYNC_HELD_RELEASED", "DIRECTORY", d.Name, map[string]any{"run": run.ID,
			"users_removed": run.UsersRemoved, "groups_removed": run.GroupsRemoved})
	})
}
