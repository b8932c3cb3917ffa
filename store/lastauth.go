package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Sign-ins are recorded in memory and written behind (FlushAuthentications), so a login costs no
// database write of its own: the write-behind runs every minute and at shutdown. The database
// keeps the later of the stored and the flushed time, so several instances flushing in any order
// agree (docs/crowd-wire-fidelity.md, Last authentication).

// loginKey is a user's sign-in to an application; app 0 is a sign-in to no application (console).
type loginKey struct{ user, app int64 }

// loginLog holds the unflushed sign-ins, as Unix seconds (the database keeps seconds).
type loginLog struct {
	mu      sync.Mutex
	pending map[loginKey]int64
	overall map[int64]int64 // the latest pending sign-in of each user, to anything
}

func newLoginLog() *loginLog {
	return &loginLog{pending: map[loginKey]int64{}, overall: map[int64]int64{}}
}

func (l *loginLog) record(user, app int64, at time.Time) {
	sec := at.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if app != 0 {
		k := loginKey{user, app}
		l.pending[k] = max(l.pending[k], sec)
	}
	l.overall[user] = max(l.overall[user], sec)
}

// take hands over everything pending.
func (l *loginLog) take() (pending map[loginKey]int64, overall map[int64]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pending, overall = l.pending, l.overall
	l.pending, l.overall = map[loginKey]int64{}, map[int64]int64{}
	return pending, overall
}

// restore puts back what a failed flush took, keeping the later of two times.
func (l *loginLog) restore(pending map[loginKey]int64, overall map[int64]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, at := range pending {
		l.pending[k] = max(l.pending[k], at)
	}
	for u, at := range overall {
		l.overall[u] = max(l.overall[u], at)
	}
}

// latest is the pending sign-in of user to app (0: to anything), or 0.
func (l *loginLog) latest(user, app int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if app == 0 {
		return l.overall[user]
	}
	return l.pending[loginKey{user, app}]
}

// pendingFor returns the pending sign-ins to app, by user.
func (l *loginLog) pendingFor(app int64) map[int64]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int64]int64{}
	for k, at := range l.pending {
		if k.app == app {
			out[k.user] = at
		}
	}
	return out
}

// recordLogin notes a successful sign-in of user to app (0: the console).
func (s *Store) recordLogin(user, app int64) {
	s.shared.logins.record(user, app, s.now())
}

// RecordSignIn notes a sign-in the application made by its own means (Crowd's
// /authentication/notify), when the user may authenticate to it; otherwise it returns why not and
// records nothing.
func (v *View) RecordSignIn(ctx context.Context, u User) error {
	if !u.Active {
		return fmt.Errorf("user %q: %w", u.Name, ErrInactive)
	}
	if err := v.MayAuthenticate(ctx, u); err != nil {
		return err
	}
	v.s.recordLogin(u.ID, v.App.ID)
	return nil
}

// loginChunk is how many users one write-behind statement names.
const loginChunk = 500

// FlushAuthentications writes the pending sign-ins: the users' last sign-in and their last sign-in
// per application, one statement per second of sign-in and chunk, never lowering a stored time.
// Users or applications deleted meanwhile are skipped. On failure everything taken is kept for the
// next flush (writing a time twice is harmless).
func (s *Store) FlushAuthentications(ctx context.Context) (int, error) {
	pending, overall := s.shared.logins.take()
	if len(overall) == 0 {
		return 0, nil
	}
	err := s.flushLogins(ctx, pending, overall)
	if err != nil {
		s.shared.logins.restore(pending, overall)
		return 0, fmt.Errorf("flush last authentications: %w", err)
	}
	return len(pending) + len(overall), nil
}

func (s *Store) flushLogins(ctx context.Context, pending map[loginKey]int64, overall map[int64]int64) error {
	byTime := map[int64][]int64{}
	for u, at := range overall {
		byTime[at] = append(byTime[at], u)
	}
	// Rows are named in id order, so two instances flushing at once lock them in the same order.
	for _, at := range slices.Sorted(maps.Keys(byTime)) {
		t := time.Unix(at, 0).UTC()
		slices.Sort(byTime[at])
		for c := range slices.Chunk(byTime[at], loginChunk) {
			err := s.InTx(ctx, func(tx *Store) error {
				return tx.q(ctx).Exec("UPDATE users SET last_login_at = ? WHERE id IN ? AND (last_login_at IS NULL OR last_login_at < ?)",
					t, c, t).Error
			})
			if err != nil {
				return fmt.Errorf("users' last sign-in: %w", err)
			}
		}
	}
	type appTime struct{ app, at int64 }
	byAppTime := map[appTime][]int64{}
	for k, at := range pending {
		byAppTime[appTime{k.app, at}] = append(byAppTime[appTime{k.app, at}], k.user)
	}
	for b, users := range byAppTime {
		t := time.Unix(b.at, 0).UTC()
		slices.Sort(users)
		for c := range slices.Chunk(users, loginChunk) {
			err := s.InTx(ctx, func(tx *Store) error {
				return tx.q(ctx).Exec("INSERT INTO user_app_logins (user_id, application_id, last_at) "+
					"SELECT id, ?, ? FROM users WHERE id IN ? AND EXISTS (SELECT 1 FROM applications WHERE id = ?) "+
					"ON CONFLICT (user_id, application_id) DO UPDATE SET last_at = excluded.last_at "+
					"WHERE user_app_logins.last_at < excluded.last_at", b.app, t, c, b.app).Error
			})
			if err != nil {
				return fmt.Errorf("last sign-in per application: %w", err)
			}
		}
	}
	return nil
}

// AppSignIn is a user's last sign-in to one application.
type AppSignIn struct {
	Application Application
	At          time.Time
}

// SignIns returns a user's last sign-in to anything (nil: never) and to each application, the
// unflushed sign-ins of this instance included; applications are in name order.
func (s *Store) SignIns(ctx context.Context, userID int64) (*time.Time, []AppSignIn, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	var rows []struct {
		ApplicationID int64
		LastAt        time.Time
	}
	if err := s.q(ctx).Raw("SELECT application_id, last_at FROM user_app_logins WHERE user_id = ?", userID).Scan(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("sign-ins of user %q: %w", u.Name, err)
	}
	stored := map[int64]time.Time{}
	for _, r := range rows {
		stored[r.ApplicationID] = r.LastAt
	}
	apps, err := s.Applications(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []AppSignIn
	for _, a := range apps {
		at := laterOf(stored[a.ID], s.shared.logins.latest(userID, a.ID))
		if !at.IsZero() {
			out = append(out, AppSignIn{Application: a, At: at})
		}
	}
	var last time.Time
	if u.LastLoginAt != nil {
		last = *u.LastLoginAt
	}
	last = laterOf(last, s.shared.logins.latest(userID, 0))
	if last.IsZero() {
		return nil, out, nil
	}
	return &last, out, nil
}

// laterOf is the later of a stored time and a pending one in Unix seconds (0: none).
func laterOf(stored time.Time, pending int64) time.Time {
	if pending != 0 && (stored.IsZero() || pending > stored.Unix()) {
		return time.Unix(pending, 0).UTC()
	}
	return stored
}

// The attributes Crowd keeps itself on the users it authenticates. Applications read them but may
// not set them; StoredAttributes by these names are not Crowd's and are not shown as such.
const (
	AttrLastAuthenticated       = "lastAuthenticated"
	AttrInvalidPasswordAttempts = "invalidPasswordAttempts"
	AttrRequiresPasswordChange  = "requiresPasswordChange"
	AttrPasswordLastChanged     = "passwordLastChanged"
	AttrLastActive              = "lastActive"
)

// IsCrowdAttribute reports whether name is one of the attributes crowdgate keeps itself.
func IsCrowdAttribute(name string) bool {
	switch name {
	case AttrLastAuthenticated, AttrInvalidPasswordAttempts, AttrRequiresPasswordChange, AttrPasswordLastChanged, AttrLastActive:
		return true
	}
	return false
}

// CrowdAttributes returns the attributes Crowd keeps on a user, as far as crowdgate knows them
// (times in epoch milliseconds): the password ones for users with a password here, the sign-in
// ones once the user signed in (this instance's unflushed sign-ins included), and lastActive, the
// later of the last sign-in and the last recorded use of one of the user's sessions.
func (s *Store) CrowdAttributes(ctx context.Context, userID int64) (map[string][]string, error) {
	// One statement (lists with expand=user,attributes ask for every user): the user's row with its
	// most recently used session, if any. A joined column, not MAX(): SQLite returns an aggregate
	// of a datetime column as text.
	var rows []struct {
		HasPassword       bool
		FailedLogins      int
		PasswordExpired   bool
		PasswordChangedAt *time.Time
		LastLoginAt       *time.Time
		LastAccessAt      *time.Time
	}
	err := s.q(ctx).Raw("SELECT u.credential <> '' AS has_password, u.failed_logins, u.password_expired, u.password_changed_at, "+
		"u.last_login_at, s.last_access_at FROM users u LEFT JOIN sessions s ON s.user_id = u.id WHERE u.id = ? "+
		"ORDER BY s.last_access_at DESC LIMIT 1", userID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("crowd attributes of user %d: %w", userID, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	r := rows[0]
	out := map[string][]string{}
	millis := func(t time.Time) []string { return []string{strconv.FormatInt(t.UnixMilli(), 10)} }
	if r.HasPassword {
		out[AttrInvalidPasswordAttempts] = []string{strconv.Itoa(r.FailedLogins)}
		out[AttrRequiresPasswordChange] = []string{strconv.FormatBool(r.PasswordExpired)}
		if r.PasswordChangedAt != nil {
			out[AttrPasswordLastChanged] = millis(*r.PasswordChangedAt)
		}
	}
	var last time.Time
	if r.LastLoginAt != nil {
		last = *r.LastLoginAt
	}
	last = laterOf(last, s.shared.logins.latest(userID, 0))
	if !last.IsZero() {
		out[AttrLastAuthenticated] = millis(last)
		active := last
		if r.LastAccessAt != nil && r.LastAccessAt.After(active) {
			active = *r.LastAccessAt
		}
		out[AttrLastActive] = millis(active)
	}
	return out, nil
}
