package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
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
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

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
	if a, ok := s.shared.sessions.lastAccess(sess.TokenHash); ok && a.at.After(sess.LastAccessAt) {
		sess.LastAccessAt, sess.ExpiresAt = a.at, a.at.Add(sess.Timeout())
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
// into the view's application, and the client address consistent; then it slides the expiry. The
// verdict is cached for a short time and the last-access time kept in memory (FlushSessionAccess
// writes it in batches), so a validation normally touches no disk.
func (v *View) ValidateSession(ctx context.Context, token string, chk SessionCheck) (Session, User, error) {
	s := v.s
	hash := HashToken(token)
	now := s.now()
	e, ok := s.shared.sessions.get(hash, v.App.ID, now)
	if ok {
		s.shared.counters.sessionHits.Add(1)
	} else {
		s.shared.counters.sessionMisses.Add(1)
		var sess Session
		if err := s.q(ctx).Where("token_hash = ?", hash).Take(&sess).Error; err != nil {
			return Session{}, User{}, translate(err, "session")
		}
		if sess.Kind != SessionSSO {
			return Session{}, User{}, fmt.Errorf("session: %w", ErrNotFound)
		}
		u, err := s.User(ctx, sess.UserID)
		if err != nil {
			return Session{}, User{}, fmt.Errorf("session: %w", ErrNotFound)
		}
		e = &cachedSession{sess: sess, user: u, appID: v.App.ID, checked: now}
		switch {
		case !u.Active:
			e.deny = fmt.Errorf("user %q is inactive: %w", u.Name, ErrInactive)
		default:
			if err := v.MayAuthenticate(ctx, u); err != nil {
				if !IsNotAllowed(err) {
					return Session{}, User{}, err
				}
				e.deny = err
			}
		}
		s.shared.sessions.put(hash, e)
	}
	sess := e.sess
	if a, ok := s.shared.sessions.lastAccess(hash); ok && a.at.After(sess.LastAccessAt) {
		sess.LastAccessAt, sess.ExpiresAt = a.at, a.at.Add(sess.Timeout())
	}
	if !now.Before(sess.ExpiresAt) {
		return Session{}, User{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	if e.deny != nil {
		return Session{}, User{}, e.deny
	}
	if s.shared.requireSameIP && chk.ClientAddress.IsValid() && sess.RemoteAddress != "" {
		if a, err := netip.ParseAddr(sess.RemoteAddress); err == nil && a.Unmap() != chk.ClientAddress.Unmap() {
			return Session{}, User{}, fmt.Errorf("session was created from another address: %w", ErrInvalid)
		}
	}
	timeout := sess.Timeout()
	sess.LastAccessAt, sess.ExpiresAt = now, now.Add(timeout)
	s.shared.sessions.touch(hash, access{at: now, idle: sess.IdleSeconds})
	return sess, e.user, nil
}

// DeleteSession ends a session; an unknown token is not an error (Crowd answers 204 either way).
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	hash := HashToken(token)
	return s.InTx(ctx, func(tx *Store) error {
		var sess []Session
		if err := tx.q(ctx).Where("token_hash = ?", hash).Find(&sess).Error; err != nil {
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
	return s.InTx(ctx, func(tx *Store) error {
		u, err := tx.User(ctx, userID)
		if err != nil {
			return err
		}
		if err := tx.deleteUserSessions(ctx, userID, exclude); err != nil {
			return err
		}
		return tx.audit(ctx, "SESSIONS_DELETED", "USER", u.Name, "")
	})
}

func (s *Store) deleteUserSessions(ctx context.Context, userID int64, exclude string) error {
	keep := ""
	if exclude != "" {
		keep = HashToken(exclude)
	}
	if err := s.q(ctx).Exec("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?", userID, keep).Error; err != nil {
		return fmt.Errorf("sessions of user %d: %w", userID, err)
	}
	return s.invalidate(ctx, invClearSessions)
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

// FlushSessionAccess writes the in-memory last-access times to the database in a few statements,
// so other instances see the sliding expiry. It runs periodically and at shutdown.
func (s *Store) FlushSessionAccess(ctx context.Context) (int, error) {
	pending := s.shared.sessions.takeAccess()
	if len(pending) == 0 {
		return 0, nil
	}
	// Group by second of access and idle timeout: one UPDATE per bucket, however many sessions.
	type bucket struct {
		at   time.Time
		idle int
	}
	buckets := map[bucket][]string{}
	for hash, a := range pending {
		b := bucket{a.at.Truncate(time.Second), a.idle}
		buckets[b] = append(buckets[b], hash)
	}
	err := s.InTx(ctx, func(tx *Store) error {
		for b, hashes := range buckets {
			exp := b.at.Add(time.Duration(b.idle) * time.Second)
			for _, c := range chunkStrings(hashes, 1000) {
				err := tx.q(ctx).Exec("UPDATE sessions SET last_access_at = ?, expires_at = ? WHERE token_hash IN ? AND last_access_at < ?",
					b.at, exp, c, b.at).Error
				if err != nil {
					return fmt.Errorf("flush session access: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		s.shared.sessions.restoreAccess(pending) // try again next time
		return 0, err
	}
	return len(pending), nil
}

func chunkStrings(v []string, n int) [][]string {
	var out [][]string
	for len(v) > n {
		out = append(out, v[:n])
		v = v[n:]
	}
	if len(v) > 0 {
		out = append(out, v)
	}
	return out
}

// ExpireSessions deletes sessions that have expired (taking unflushed access into account by
// flushing first).
func (s *Store) ExpireSessions(ctx context.Context) (int64, error) {
	if _, err := s.FlushSessionAccess(ctx); err != nil {
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

// sessionCache holds recent validation verdicts per (token, application) and unflushed access times.
type sessionCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]*cachedSession
	access  map[string]access
}

// access is an unflushed last-access time of a session.
type access struct {
	at   time.Time
	idle int
}

type cachedSession struct {
	sess    Session
	user    User
	appID   int64
	deny    error
	checked time.Time
}

const maxCachedSessions = 200_000

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, entries: map[string]*cachedSession{}, access: map[string]access{}}
}

func (c *sessionCache) get(hash string, appID int64, now time.Time) (*cachedSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || e.appID != appID || now.Sub(e.checked) >= c.ttl {
		return nil, false
	}
	return e, true
}

func (c *sessionCache) put(hash string, e *cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedSessions {
		c.entries = map[string]*cachedSession{}
	}
	c.entries[hash] = e
}

func (c *sessionCache) touch(hash string, a access) {
	c.mu.Lock()
	c.access[hash] = a
	c.mu.Unlock()
}

func (c *sessionCache) lastAccess(hash string) (access, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.access[hash]
	return a, ok
}

func (c *sessionCache) takeAccess() map[string]access {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.access
	c.access = map[string]access{}
	return a
}

func (c *sessionCache) restoreAccess(a map[string]access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range a {
		if cur, ok := c.access[k]; !ok || v.at.After(cur.at) {
			c.access[k] = v
		}
	}
}

func (c *sessionCache) drop(hash string) {
	c.mu.Lock()
	delete(c.entries, hash)
	delete(c.access, hash)
	c.mu.Unlock()
}

// clear forgets every cached verdict (not the access times): after a change that can affect who may
// authenticate, the next validation reads the database again.
func (c *sessionCache) clear() {
	c.mu.Lock()
	c.entries = map[string]*cachedSession{}
	c.mu.Unlock()
}
