package store

import (
	"context"
	"fmt"
	"time"
)

// A full round of the synchroniser is checkpointed while it is read (tables sync_full_round and
// sync_full_stage): every Graph page is staged, with the link that continues after it, in one
// transaction, so a run that fails at page 900 of 1,000 continues at page 900. The replica itself
// changes only when every page is read; the last transaction of the apply clears the stage
// (SyncBatch.ClearStage). The store keeps pages opaque: their payload is the synchroniser's.

// Kinds of staged pages.
const (
	SyncStageUsers  = "users"
	SyncStageGroups = "groups"
)

// SyncStagePage is one staged Graph page of a full round.
type SyncStagePage struct {
	Kind      string // SyncStageUsers or SyncStageGroups
	Seq       int    // 1, 2, … within the kind, in reading order
	Items     int    // objects on the page
	NextLink  string // where reading continues (the page was not the kind's last)
	DeltaLink string // set on the kind's last page
	Payload   []byte
}

// SyncStageCursor is how far one kind of a staged round was read.
type SyncStageCursor struct {
	Pages     int    // pages staged
	Items     int    // objects on them
	NextLink  string // the last page's next link: reading continues there
	DeltaLink string // the last page's delta link: the kind is read completely
}

// SyncFullRound is the checkpoint of a full round being read.
type SyncFullRound struct {
	Key       string // what the round was read with (configuration, source): another key cannot continue it
	StartedAt time.Time
	Users     SyncStageCursor
	Groups    SyncStageCursor
}

// SyncStageBegin starts staging a new full round of directory dirID, dropping any staged one, in one
// transaction refused with ErrSyncFenced once another run took the sync lock (fence, see SyncFence).
func (s *Store) SyncStageBegin(ctx context.Context, dirID, fence int64, key string) (SyncFullRound, error) {
	round := SyncFullRound{Key: key, StartedAt: s.now().UTC().Truncate(time.Microsecond)}
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.checkFence(ctx, dirID, fence); err != nil {
			return err
		}
		if err := tx.clearStage(ctx, dirID); err != nil {
			return err
		}
		return tx.q(ctx).Exec("INSERT INTO sync_full_round (directory_id, round_key, started_at) VALUES (?, ?, ?)",
			dirID, key, round.StartedAt).Error
	})
	if err != nil {
		return SyncFullRound{}, fmt.Errorf("begin staged full round of directory %d: %w", dirID, err)
	}
	return round, nil
}

// SyncStagePut stages one page (one transaction, fenced like SyncStageBegin). A page staged again
// under the same kind and sequence number replaces the earlier one.
func (s *Store) SyncStagePut(ctx context.Context, dirID, fence int64, p SyncStagePage) error {
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.checkFence(ctx, dirID, fence); err != nil {
			return err
		}
		_, err := tx.syncExec(ctx, "INSERT INTO sync_full_stage (directory_id, kind, seq, items, next_link, delta_link, payload) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (directory_id, kind, seq) DO UPDATE SET items = excluded.items, "+
			"next_link = excluded.next_link, delta_link = excluded.delta_link, payload = excluded.payload",
			dirID, p.Kind, p.Seq, p.Items, p.NextLink, p.DeltaLink, string(p.Payload))
		return err
	})
	if err != nil {
		return fmt.Errorf("stage %s page %d of directory %d: %w", p.Kind, p.Seq, dirID, err)
	}
	return nil
}

// SyncStagedRound returns the checkpoint of the directory's staged full round; ok is false when
// none is staged.
func (s *Store) SyncStagedRound(ctx context.Context, dirID int64) (round SyncFullRound, ok bool, err error) {
	var head []struct {
		RoundKey  string
		StartedAt time.Time
	}
	if err := s.q(ctx).Raw("SELECT round_key, started_at FROM sync_full_round WHERE directory_id = ?", dirID).Scan(&head).Error; err != nil {
		return round, false, fmt.Errorf("staged full round of directory %d: %w", dirID, err)
	}
	if len(head) == 0 {
		return round, false, nil
	}
	round.Key, round.StartedAt = head[0].RoundKey, head[0].StartedAt
	// The cursor of each kind is its last page; the counts cover all of them.
	err = s.syncScan(ctx, "SELECT s.kind, c.pages, c.items, s.next_link, s.delta_link FROM sync_full_stage s JOIN "+
		"(SELECT kind, MAX(seq) AS last, COUNT(*) AS pages, SUM(items) AS items FROM sync_full_stage WHERE directory_id = ? GROUP BY kind) c "+
		"ON c.kind = s.kind AND c.last = s.seq WHERE s.directory_id = ?", []any{dirID, dirID},
		func(scan func(...any) error) error {
			var kind string
			var c SyncStageCursor
			if err := scan(&kind, &c.Pages, &c.Items, &c.NextLink, &c.DeltaLink); err != nil {
				return err
			}
			switch kind {
			case SyncStageUsers:
				round.Users = c
			case SyncStageGroups:
				round.Groups = c
			}
			return nil
		})
	if err != nil {
		return round, false, fmt.Errorf("staged full round of directory %d: %w", dirID, err)
	}
	return round, true, nil
}

// SyncStagePages calls fn with every staged page of kind, in order.
func (s *Store) SyncStagePages(ctx context.Context, dirID int64, kind string, fn func(SyncStagePage) error) error {
	err := s.syncScan(ctx, "SELECT seq, items, next_link, delta_link, payload FROM sync_full_stage "+
		"WHERE directory_id = ? AND kind = ? ORDER BY seq", []any{dirID, kind}, func(scan func(...any) error) error {
		p := SyncStagePage{Kind: kind}
		var payload string
		if err := scan(&p.Seq, &p.Items, &p.NextLink, &p.DeltaLink, &payload); err != nil {
			return err
		}
		p.Payload = []byte(payload)
		return fn(p)
	})
	if err != nil {
		return fmt.Errorf("staged %s pages of directory %d: %w", kind, dirID, err)
	}
	return nil
}

// SyncStageClear drops the directory's staged full round (fenced like SyncStageBegin).
func (s *Store) SyncStageClear(ctx context.Context, dirID, fence int64) error {
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.checkFence(ctx, dirID, fence); err != nil {
			return err
		}
		return tx.clearStage(ctx, dirID)
	})
	if err != nil {
		return fmt.Errorf("clear staged full round of directory %d: %w", dirID, err)
	}
	return nil
}

func (s *Store) clearStage(ctx context.Context, dirID int64) error {
	if _, err := s.syncExec(ctx, "DELETE FROM sync_full_stage WHERE directory_id = ?", dirID); err != nil {
		return fmt.Errorf("sync stage: %w", err)
	}
	if _, err := s.syncExec(ctx, "DELETE FROM sync_full_round WHERE directory_id = ?", dirID); err != nil {
		return fmt.Errorf("sync stage: %w", err)
	}
	return nil
}
