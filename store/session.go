package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Session kinds.
const (
	SessionSSO     = "SSO"     // a Crowd SSO token (crowd.token_key cookie)
	SessionConsole = "CONSOLE" // the admin console's own session
)

// DefaultSessionTimeout is the idle time after which an SSO session ends (Crowd's default).
const DefaultSessionTimeout = 30 * time.Minute

// Factor is a Crowd validation factor (remote_address, X-Forwarded-For, ...).
type Factor struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Session is an SSO or console session. Only the SHA-256 of its token is stored.
type Session struct {
	ID            int64
	TokenHash     string
	Kind          string
	UserID        int64
	ApplicationID *int64
	Factors       string // JSON array of Factor
	RemoteAddress string // effective client address at creation
	IdleSeconds   int    // idle timeout: each validation extends the expiry to last access + this
	CreatedAt     time.Time
	LastAccessAt  time.Time
	ExpiresAt     time.Time
}

// TableName maps Session to its table.
func (Session) TableName() string { return "sessions" }

// Timeout is the session's idle timeout: each validation extends it by this much.
func (s Session) Timeout() time.Duration { return time.Duration(s.IdleSeconds) * time.Second }

// NewSession describes a session to create.
type NewSession struct {
	Kind          string
	UserID        int64
	ApplicationID int64 // 0 for none (console)
	Factors       []Factor
	RemoteAddress string
	Timeout       time.Duration // 0 means DefaultSessionTimeout; capped at it
}

// HashToken is the one-way form of a token kept in the database.
func HashToken(token string) string { return keyOf(token).hex() }

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newToken returns 24 random characters of [A-Za-z0-9], the shape of Crowd's tokens (~142 bits).
func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	for i := range b {
		// 256 % 62 = 8: a bias below 1%; irrelevant at 142 bits, kept simple.
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// CreateSession creates a session and returns it with its token, which is never stored.
func (s *Store) CreateSession(ctx context.Context, ns NewSession) (Session, string, error) {
	if ns.Kind == "" {
		ns.Kind = SessionSSO
	}
	timeout := ns.Timeout
	if timeout <= 0 || timeout > s.sessionTimeout() {
		timeout = s.sessionTimeout()
	}
	if timeout < time.Second {
		timeout = time.Second
	}
	f, err := json.Marshal(ns.Factors)
	if err != nil {
		return Session{}, "", fmt.Errorf("session factors: %w", err)
	}
	token := newToken()
	now := s.now()
	sess := Session{TokenHash: HashToken(token), Kind: ns.Kind, UserID: ns.UserID, Factors: string(f),
		RemoteAddress: ns.RemoteAddress, IdleSeconds: int(timeout / time.Second), CreatedAt: now, LastAccessAt: now, ExpiresAt: now.Add(timeout)}
	if ns.ApplicationID != 0 {
		sess.ApplicationID = &ns.ApplicationID
	}
	err = s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(&sess).Error; err != nil {
			return translate(err, "session")
		}
		u, err := tx.User(ctx, ns.UserID)
		if err != nil {
			return err
		}
		return tx.audit(ctx, "SESSION_CREATED", "USER", u.Name, ns.Kind)
	})
	if err == nil {
		s.recordLogin(ns.UserID, ns.ApplicationID) // every session starts with a sign-in
	}
	return sess, token, err
}

func (s *Store) sessionTimeout() time.Duration {
	if s.shared.sessionTimeout > 0 {
		return s.shared.sessionTimeout
	}
	return DefaultSessionTimeout
}

// SessionByToken returns a live session without extending it. Unknown and expired tokens are
// ErrNotFound.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, error) {
	var sess Session
	err := s.q(ctx).Where("token_hash = ?", HashToken(token)).Take(&sess).Error
	if err != nil {
		return Session{}, translate(err, "session")
	}
	if k, ok := keyFromHex(sess.TokenHash); ok {
		if a, ok := s.shared.sessions.lastAccess(k); ok && a.time().After(sess.LastAccessAt) {
			sess.LastAccessAt, sess.ExpiresAt = a.time(), a.time().Add(sess.Timeout())
		}
	}
	if !s.now().Before(sess.ExpiresAt) {
		return Session{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	return sess, nil
}

// SessionCheck is what ValidateSession checks beyond the token itself.
type SessionCheck struct {
	Factors []Factor
	// ClientAddress is the effective address the factors resolve to (see ClientAddress); when valid
	// and the store requires a consistent address, it must equal the session's.
	ClientAddress netip.Addr
}

// ValidateSession is the hot path of SSO: it checks the token is live, the user active and allowed
// into the view's application, and the client address consistent; then it slides the expiry.
// Sessions, with what a validation needs of their user (the user's directory, name, activity and
// direct groups), are kept in memory (WarmSessions loads them all; a miss reads one row) and every
// change that matters drops them, here and on the other instances; the last-access time is kept in
// memory too (FlushSessionAccess writes it in batches). So a validation normally touches no
// database at all. The Session returned has no token hash, factors, application or address; the
// User has its ID, directory, name and activity only: read the user with Store.User for more.
func (v *View) ValidateSession(ctx context.Context, token string, chk SessionCheck) (Session, User, error) {
	s := v.s
	c := s.shared.sessions
	key := keyOf(token)
	now := s.now()
	h, ok := c.get(key, now)
	if ok {
		s.shared.counters.sessionHits.Add(1)
		// Expired here? Another instance may have extended it: only the database can say.
		ok = now.UnixNano() < h.expires()
	}
	if !ok {
		s.shared.counters.sessionMisses.Add(1)
		var err error
		if h, err = s.loadSession(ctx, key); err != nil {
			return Session{}, User{}, err
		}
	}
	e, u := h.session, h.user.User
	if now.UnixNano() >= h.expires() {
		return Session{}, User{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	if !u.Active {
		return Session{}, User{}, fmt.Errorf("user %q is inactive: %w", u.Name, ErrInactive)
	}
	if err := v.mayAuthenticate(ctx, u, h.user.groups); err != nil {
		return Session{}, User{}, err
	}
	if s.shared.requireSameIP && chk.ClientAddress.IsValid() {
		if a, ok := e.remoteAddr(); ok && a != chk.ClientAddress.Unmap().WithZone("") {
			return Session{}, User{}, fmt.Errorf("session was created from another address: %w", ErrInvalid)
		}
	}
	timeout := time.Duration(e.idle) * time.Second
	c.touch(key, access{at: now.UnixNano(), idle: e.idle})
	return Session{ID: e.id, Kind: SessionSSO, UserID: u.ID, IdleSeconds: int(e.idle),
		CreatedAt: time.Unix(0, e.created).UTC(), LastAccessAt: now, ExpiresAt: now.Add(timeout)}, u, nil
}

// sessionRow is what a validation needs of a session and its user, read in one statement.
type sessionRow struct {
	ID            int64
	TokenHash     string
	UserID        int64
	RemoteAddress string
	IdleSeconds   int
	CreatedAt     time.Time
	LastAccessAt  time.Time
	ExpiresAt     time.Time
	DirectoryID   int64
	Name          string
	Active        bool
	Groups        string // comma-separated ids of the user's direct groups
}

// sessionSelect reads sessionRow.
func (s *Store) sessionSelect() string {
	return "SELECT s.id, s.token_hash, s.user_id, s.remote_address, s.idle_seconds, s.created_at, s.last_access_at, s.expires_at, " +
		"u.directory_id, u.name, u.active, " +
		"COALESCE((SELECT " + s.idList("m.group_id") + " FROM user_memberships m WHERE m.user_id = s.user_id), '') AS groups" +
		" FROM sessions s JOIN users u ON u.id = s.user_id"
}

// cached converts a row, adding its user to t.
func (r sessionRow) cached(loaded time.Time, t *sessionTable) (cachedSession, error) {
	groups, err := parseIDs(r.Groups)
	if err != nil {
		return cachedSession{}, fmt.Errorf("groups of user %d: %w", r.UserID, err)
	}
	e := cachedSession{id: r.ID, idle: int32(r.IdleSeconds), created: r.CreatedAt.UnixNano(),
		lastAccess: r.LastAccessAt.UnixNano(), expires: r.ExpiresAt.UnixNano(), loaded: loaded.UnixNano(),
		user: t.addUser(User{ID: r.UserID, DirectoryID: r.DirectoryID, Name: r.Name, Active: r.Active}, groups)}
	if a, err := netip.ParseAddr(r.RemoteAddress); err == nil {
		e.remote, e.hasRemote = a.Unmap().WithZone("").As16(), true
	}
	return e, nil
}

// parseIDs reads a list of ids aggregated by idList, sorted (the aggregate's order is unspecified;
// sorted, equal lists compare equal). It is never nil.
func parseIDs(list string) ([]int64, error) {
	ids := []int64{}
	if list == "" {
		return ids, nil
	}
	for g := range strings.SplitSeq(list, ",") {
		id, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// loadSession reads one SSO session into the cache (unless an invalidation raced the read).
func (s *Store) loadSession(ctx context.Context, key tokenKey) (cacheHit, error) {
	c := s.shared.sessions
	gen := c.generation()
	var rows []sessionRow
	err := s.q(ctx).Raw(s.sessionSelect()+" WHERE s.token_hash = ? AND s.kind = ?", key.hex(), SessionSSO).Scan(&rows).Error
	if err != nil {
		return cacheHit{}, fmt.Errorf("session: %w", err)
	}
	if len(rows) == 0 {
		return cacheHit{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	t := newSessionTable()
	e, err := rows[0].cached(s.now(), t)
	if err != nil {
		return cacheHit{}, err
	}
	h := cacheHit{session: e, user: t.user(e.user)}
	h.access, h.touched = c.lastAccess(key)
	c.put(key, e, h.user, gen)
	return h, nil
}

// WarmSessions loads every live SSO session, with its user and the user's groups, into memory when
// the cache is empty, was cleared, or is half its TTL old: after a start or a directory change,
// validations are answered from memory again within one run instead of one database read each.
// It is cheap when there is nothing to do; the server calls it every few seconds.
func (s *Store) WarmSessions(ctx context.Context) (int64, error) {
	c := s.shared.sessions
	start := s.now()
	gen, ok := c.startWarm(time.Now())
	if !ok {
		return 0, nil
	}
	fresh := newSessionTable()
	var last int64
	const page = 5000
	for len(fresh.sessions) < maxCachedSessions {
		var rows []sessionRow
		err := s.q(ctx).Raw(s.sessionSelect()+" WHERE s.kind = ? AND s.expires_at > ? AND s.id > ? ORDER BY s.id LIMIT ?",
			SessionSSO, start, last, page).Scan(&rows).Error
		if err != nil {
			c.endWarm(nil, gen, start)
			return 0, fmt.Errorf("warm session cache: %w", err)
		}
		for _, r := range rows {
			k, ok := keyFromHex(r.TokenHash)
			if !ok {
				c.endWarm(nil, gen, start)
				return 0, fmt.Errorf("warm session cache: session %d has a malformed token hash", r.ID)
			}
			e, err := r.cached(start, fresh)
			if err != nil {
				c.endWarm(nil, gen, start)
				return 0, fmt.Errorf("warm session cache: %w", err)
			}
			fresh.put(k, e, nil)
			last = r.ID
		}
		if len(rows) < page {
			break
		}
	}
	n := int64(len(fresh.sessions)) // fresh becomes the cache itself: not to be read after endWarm
	if !c.endWarm(fresh, gen, start) {
		return 0, nil // cleared meanwhile: the next call loads again
	}
	return n, nil
}

// DeleteSession ends a session; an unknown token is not an error (Crowd answers 204 either way).
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	return s.deleteSession(ctx, token, "")
}

// DeleteSSOSession ends an SSO session, what an application may end: a console session's token
// is treated as unknown.
func (s *Store) DeleteSSOSession(ctx context.Context, token string) error {
	return s.deleteSession(ctx, token, SessionSSO)
}

// deleteSession ends the session of token when it is of kind ("" for any).
func (s *Store) deleteSession(ctx context.Context, token, kind string) error {
	hash := HashToken(token)
	return s.InTx(ctx, func(tx *Store) error {
		var sess []Session
		q := tx.q(ctx).Where("token_hash = ?", hash)
		if kind != "" {
			q = q.Where("kind = ?", kind)
		}
		if err := q.Find(&sess).Error; err != nil {
			return fmt.Errorf("session: %w", err)
		}
		if len(sess) == 0 {
			return nil
		}
		if err := tx.q(ctx).Exec("DELETE FROM sessions WHERE id = ?", sess[0].ID).Error; err != nil {
			return fmt.Errorf("session: %w", err)
		}
		if err := tx.invalidate(ctx, invDropToken+hash); err != nil {
			return err
		}
		name := ""
		if u, err := tx.User(ctx, sess[0].UserID); err == nil {
			name = u.Name
		}
		return tx.audit(ctx, "SESSION_DELETED", "USER", name, sess[0].Kind)
	})
}

// DeleteSessionByID ends a session by id (console revocation).
func (s *Store) DeleteSessionByID(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		var sess Session
		if err := tx.q(ctx).Where("id = ?", id).Take(&sess).Error; err != nil {
			return translate(err, "session %d", id)
		}
		if err := tx.q(ctx).Exec("DELETE FROM sessions WHERE id = ?", id).Error; err != nil {
			return fmt.Errorf("session %d: %w", id, err)
		}
		if err := tx.invalidate(ctx, invDropToken+sess.TokenHash); err != nil {
			return err
		}
		name := ""
		if u, err := tx.User(ctx, sess.UserID); err == nil {
			name = u.Name
		}
		return tx.audit(ctx, "SESSION_DELETED", "USER", name, sess.Kind)
	})
}

// DeleteUserSessions ends every session of a user except the one with token exclude.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, exclude string) error {
	return s.deleteUserSessionsAudited(ctx, userID, "", exclude)
}

// DeleteUserSSOSessions ends every SSO session of a user except the one with token exclude, what
// an application may end: console sessions stay.
func (s *Store) DeleteUserSSOSessions(ctx context.Context, userID int64, exclude string) error {
	return s.deleteUserSessionsAudited(ctx, userID, SessionSSO, exclude)
}

func (s *Store) deleteUserSessionsAudited(ctx context.Context, userID int64, kind, exclude string) error {
	return s.InTx(ctx, func(tx *Store) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if err := tx.deleteUserSessionsOf(ctx, userID, kind, exclude); err != nil {
			return err
		}
		return tx.audit(ctx, "SESSIONS_DELETED", "USER", u.Name, kind)
	})
}

func (s *Store) deleteUserSessions(ctx context.Context, userID int64, exclude string) error {
	return s.deleteUserSessionsOf(ctx, userID, "", exclude)
}

// deleteUserSessionsOf deletes the user's sessions of kind ("" for any) but the one of token exclude.
func (s *Store) deleteUserSessionsOf(ctx context.Context, userID int64, kind, exclude string) error {
	keep := ""
	if exclude != "" {
		keep = HashToken(exclude)
	}
	q := "DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?"
	args := []any{userID, keep}
	if kind != "" {
		q += " AND kind = ?"
		args = append(args, kind)
	}
	if err := s.q(ctx).Exec(q, args...).Error; err != nil {
		return fmt.Errorf("sessions of user %d: %w", userID, err)
	}
	return s.invalidate(ctx, invClearSessions)
}

type keepSessionKey struct{}

// KeepingSession returns a context under which a password change leaves the session of token
// alive: a user changing their own password stays signed in where they made the change, and
// every other session of theirs ends.
func KeepingSession(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, keepSessionKey{}, token)
}

func keptSession(ctx context.Context) string {
	t, _ := ctx.Value(keepSessionKey{}).(string)
	return t
}

// SessionFilter narrows ListSessions.
type SessionFilter struct {
	UserID int64
	Kind   string
	Limit  int // 0 means 200
}

// ListSessions returns live sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	q := s.q(ctx).Where("expires_at > ?", s.now())
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	var out []Session
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return out, nil
}

// CountSessions counts live sessions of a kind.
func (s *Store) CountSessions(ctx context.Context, kind string) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&Session{}).Where("kind = ? AND expires_at > ?", kind, s.now()).Count(&n).Error
	return n, translate(err, "count sessions")
}

// ExpireSessions deletes sessions that have expired (taking unflushed access into account by
// writing what is due first: what is not due leaves the stored expiry more than half a timeout away).
func (s *Store) ExpireSessions(ctx context.Context) (int64, error) {
	if _, err := s.FlushDueSessionAccess(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("DELETE FROM sessions WHERE expires_at <= ?", tx.now())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("expire sessions: %w", err)
	}
	return n, nil
}
