package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the admin console's own queries: object counts per directory, a view of one
// directory for browsing, and the sliding expiry of console sessions. Who may use which application
// and why (licence use, the access report, the applications a group grants) is in
// access_report.go.

// DirectoryStats counts the objects of one directory.
type DirectoryStats struct {
	DirectoryID int64
	Users       int64
	ActiveUsers int64
	Groups      int64
}

// DirectoryStats returns the counts of every directory that has users or groups, by directory id.
func (s *Store) DirectoryStats(ctx context.Context) (map[int64]DirectoryStats, error) {
	var us []struct {
		DirectoryID int64
		N           int64
		Active      int64
	}
	err := s.q(ctx).Raw("SELECT directory_id, COUNT(*) AS n, SUM(CASE WHEN active THEN 1 ELSE 0 END) AS active " +
		"FROM users GROUP BY directory_id").Scan(&us).Error
	if err != nil {
		return nil, fmt.Errorf("directory stats: %w", err)
	}
	var gs []struct {
		DirectoryID int64
		N           int64
	}
	if err := s.q(ctx).Raw("SELECT directory_id, COUNT(*) AS n FROM groups GROUP BY directory_id").Scan(&gs).Error; err != nil {
		return nil, fmt.Errorf("directory stats: %w", err)
	}
	out := map[int64]DirectoryStats{}
	for _, u := range us {
		out[u.DirectoryID] = DirectoryStats{DirectoryID: u.DirectoryID, Users: u.N, ActiveUsers: u.Active}
	}
	for _, g := range gs {
		st := out[g.DirectoryID]
		st.DirectoryID, st.Groups = g.DirectoryID, g.N
		out[g.DirectoryID] = st
	}
	return out, nil
}

// DirectoryView returns a view of one directory, active or not, as an application mapping only it
// with every user allowed would see it. The console browses a directory's users, groups and
// nested memberships through it.
func (s *Store) DirectoryView(ctx context.Context, dirID int64) (*View, error) {
	d, err := s.Directory(ctx, dirID)
	if err != nil {
		return nil, err
	}
	m := Mapping{DirectoryID: d.ID, AllowAll: true}
	return &View{
		s:        s,
		App:      Application{Name: "directory " + d.Name, Active: true, Mappings: []Mapping{m}},
		dirs:     []int64{d.ID},
		mappings: map[int64]Mapping{d.ID: m},
		kinds:    map[int64]string{d.ID: d.Kind},
	}, nil
}

const consoleTouchEvery = 30 * time.Second

// TouchConsoleSession slides the idle expiry of a live console session (SessionByToken never
// does): console requests call it, and it writes at most every 30 seconds per session.
func (s *Store) TouchConsoleSession(ctx context.Context, sess Session) (Session, error) {
	if sess.Kind != SessionConsole {
		return Session{}, fmt.Errorf("session %d is not a console session: %w", sess.ID, ErrInvalid)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		return Session{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	if now.Sub(sess.LastAccessAt) < consoleTouchEvery {
		return sess, nil
	}
	exp := now.Add(sess.Timeout())
	res := s.q(ctx).Exec("UPDATE sessions SET last_access_at = ?, expires_at = ? WHERE id = ? AND kind = ?", now, exp, sess.ID, SessionConsole)
	if res.Error != nil {
		return Session{}, fmt.Errorf("touch console session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return Session{}, fmt.Errorf("session %d: %w", sess.ID, ErrNotFound)
	}
	sess.LastAccessAt, sess.ExpiresAt = now, exp
	return sess, nil
}
