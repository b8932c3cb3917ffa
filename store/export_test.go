package store

import "context"

// InsertCycleForTest writes a group edge without the cycle check, as a replica might hold one.
func (s *Store) InsertCycleForTest(ctx context.Context, childID, parentID int64) error {
	return s.q(ctx).Exec("INSERT INTO group_memberships (parent_id, child_id, created_at) VALUES (?, ?, ?)", parentID, childID, s.now()).Error
}

// CredentialForTest is a user's stored credential.
func (s *Store) CredentialForTest(ctx context.Context, userID int64) (string, error) {
	var c string
	err := s.q(ctx).Raw("SELECT credential FROM users WHERE id = ?", userID).Scan(&c).Error
	return c, err
}

// ExecForTest runs a statement through the store's gorm handle (and so its SQL logger).
func (s *Store) ExecForTest(ctx context.Context, sql string, args ...any) error {
	return s.q(ctx).Exec(sql, args...).Error
}

// ScanForTest runs a query through Raw(...).Scan, gorm's other logging path.
func (s *Store) ScanForTest(ctx context.Context, sql string, args ...any) error {
	var out []string
	return s.q(ctx).Raw(sql, args...).Scan(&out).Error
}
