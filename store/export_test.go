package store

import (
	"context"

	"gorm.io/gorm"
)

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

// MissingModelColumnsForTest lists, as "table.column", every column a model struct of the store
// reads that the schema lacks; checked reports how many it looked for.
func (s *Store) MissingModelColumnsForTest() (missing []string, checked int, err error) {
	models := []any{&appRow{}, &AuditEntry{}, &Directory{}, &Event{}, &Group{}, &Session{}, &SyncState{}, &SyncRun{}, &User{}, &Webhook{}}
	for _, m := range models {
		stmt := &gorm.Statement{DB: s.db}
		if err := stmt.Parse(m); err != nil {
			return nil, 0, err
		}
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" || !f.Readable || f.DataType == "" {
				continue
			}
			checked++
			if !s.db.Migrator().HasColumn(m, f.DBName) {
				missing = append(missing, stmt.Schema.Table+"."+f.DBName)
			}
		}
	}
	return missing, checked, nil
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
