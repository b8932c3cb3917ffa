package store

import "context"

// InsertCycleForTest writes a group edge without the cycle check, as a replica might hold one.
func (s *Store) InsertCycleForTest(ctx context.Context, childID, parentID int64) error {
	return s.q(ctx).Exec("INSERT INTO group_memberships (parent_id, child_id, created_at) VALUES (?, ?, ?)", parentID, childID, s.now()).Error
}
