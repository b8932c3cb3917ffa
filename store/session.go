package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
// into the view's application, and the client address consistent; then it slides the expiry.
// Sessions, with what a validation needs of their user (the user's directory, name, activity and
// direct groups), are kept in memory (WarmSessions loads them all; a miss reads one row) and every
// change that matters drops them, here and on the other instances; the last-access time is kept in
// memory too (FlushSessionAccess writes it in batches). So a validation normally touches no
// database at all. The Session returned has no factors or application; the User has its ID,
// directory, name and activity only: read the user with Store.User for more.
func (v *View) ValidateSession(ctx context.Context, token string, chk SessionCheck) (Session, User, error) {
	s := v.s
	hash := HashToken(token)
	now := s.now()
	e, ok := s.shared.sessions.get(hash, now)
	if ok {
		s.shared.counters.sessionHits.Add(1)
		if !e.liveAt(s.shared.sessions, hash, now) {
			// Another instance may have extended it: only the database can say it has expired.
			ok = false
		}
	}
	if !ok {
		s.shared.counters.sessionMisses.Add(1)
		var err error
		if e, err = s.loadSession(ctx, hash); err != nil {
			return Session{}, User{}, err
		}
	}
	sess := e.session(hash)
	u := e.user.user()
	if a, ok := s.shared.sessions.lastAccess(hash); ok && a.at.After(sess.LastAccessAt) {
		sess.LastAccessAt, sess.ExpiresAt = a.at, a.at.Add(sess.Timeout())
	}
	if !now.Before(sess.ExpiresAt) {
		return Session{}, User{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	if !u.Active {
		return Session{}, User{}, fmt.Errorf("user %q is inactive: %w", u.Name, ErrInactive)
	}
	if err := v.mayAuthenticate(ctx, u, e.user.groups); err != nil {
		return Session{}, User{}, err
	}
	if s.shared.requireSameIP && chk.ClientAddress.IsValid() && sess.RemoteAddress != "" {
		if a, err := netip.ParseAddr(sess.RemoteAddress); err == nil && a.Unmap() != chk.ClientAddress.Unmap() {
			return Session{}, User{}, fmt.Errorf("session was created from another address: %w", ErrInvalid)
		}
	}
	timeout := sess.Timeout()
	sess.LastAccessAt, sess.ExpiresAt = now, now.Add(timeout)
	s.shared.sessions.touch(hash, access{at: now, idle: sess.IdleSeconds})
	return sess, u, nil
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

// cached converts a row; users maps user ids to entries already built (a user's sessions share one).
func (r sessionRow) cached(loaded time.Time, users map[int64]*cachedUser) (*cachedSession, error) {
	u := users[r.UserID]
	if u == nil {
		u = &cachedUser{id: r.UserID, directoryID: r.DirectoryID, name: r.Name, active: r.Active}
		if r.Groups != "" {
			for _, g := range strings.Split(r.Groups, ",") {
				id, err := strconv.ParseInt(g, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("groups of user %d: %w", r.UserID, err)
				}
				u.groups = append(u.groups, id)
			}
		}
		if users != nil {
			users[r.UserID] = u
		}
	}
	return &cachedSession{id: r.ID, user: u, remote: r.RemoteAddress, idle: int32(r.IdleSeconds),
		created: r.CreatedAt, lastAccess: r.LastAccessAt, expires: r.ExpiresAt, loaded: loaded}, nil
}

// loadSession reads one SSO session into the cache (unless an invalidation raced the read).
func (s *Store) loadSession(ctx context.Context, hash string) (*cachedSession, error) {
	c := s.shared.sessions
	gen := c.generation()
	var rows []sessionRow
	err := s.q(ctx).Raw(s.sessionSelect()+" WHERE s.token_hash = ? AND s.kind = ?", hash, SessionSSO).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	e, err := rows[0].cached(s.now(), nil)
	if err != nil {
		return nil, err
	}
	c.put(hash, e, gen)
	return e, nil
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
	fresh := map[string]*cachedSession{}
	users := map[int64]*cachedUser{}
	var last int64
	const page = 5000
	for len(fresh) < maxCachedSessions {
		var rows []sessionRow
		err := s.q(ctx).Raw(s.sessionSelect()+" WHERE s.kind = ? AND s.expires_at > ? AND s.id > ? ORDER BY s.id LIMIT ?",
			SessionSSO, start, last, page).Scan(&rows).Error
		if err != nil {
			c.endWarm(nil, gen, start)
			return 0, fmt.Errorf("warm session cache: %w", err)
		}
		for _, r := range rows {
			e, err := r.cached(start, users)
			if err != nil {
				c.endWarm(nil, gen, start)
				return 0, fmt.Errorf("warm session cache: %w", err)
			}
			fresh[r.TokenHash] = e
			last = r.ID
		}
		if len(rows) < page {
			break
		}
	}
	n := int64(len(fresh)) // fresh becomes the cache itself: not to be read after endWarm
	if !c.endWarm(fresh, gen, start) {
		return 0, nil // cleared meanwhile: the next call loads again
	}
	return n, nil
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

// maxCachedSessions bounds the memory the session cache takes (about 1 KB a session with its user):
// beyond it, sessions are still validated, through a database read.
const maxCachedSessions = 200_000

// sessionCache holds live SSO sessions with their user and the user's direct groups, and the
// unflushed access times. Every invalidation bumps gen, so a read that raced it is not cached.
type sessionCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]*cachedSession
	access  map[string]access
	gen     uint64
	// Warming (paced on the wall clock): warmed is when the installed load started (zero: none
	// since the last clear), warming is set while one runs, cleared (a clear during the load)
	// discards it, dropped and droppedU list single drops to apply to it.
	warmed     time.Time
	lastWarm   time.Time // when the last load started, whatever became of it
	lastClear  time.Time
	warming    bool
	everWarmed bool // a load was installed once: until then, a discarded one is retried sooner
	cleared    bool
	dropped    []string
	droppedU   []int64
}

// access is an unflushed last-access time of a session.
type access struct {
	at   time.Time
	idle int
}

// cachedSession is a session as a validation needs it: about 400 bytes with its map entry and its
// user, so D-100k's 100,000 sessions take some 40 MB.
type cachedSession struct {
	id                           int64
	user                         *cachedUser
	remote                       string
	idle                         int32
	created, lastAccess, expires time.Time
	loaded                       time.Time
}

// cachedUser is what a validation needs of a user; one per user, shared by its sessions.
type cachedUser struct {
	id, directoryID int64
	name            string
	active          bool
	groups          []int64 // direct groups
}

func (u *cachedUser) user() User {
	return User{ID: u.id, DirectoryID: u.directoryID, Name: u.name, Active: u.active}
}

func (e *cachedSession) session(hash string) Session {
	return Session{ID: e.id, TokenHash: hash, Kind: SessionSSO, UserID: e.user.id, RemoteAddress: e.remote,
		IdleSeconds: int(e.idle), CreatedAt: e.created, LastAccessAt: e.lastAccess, ExpiresAt: e.expires}
}

// liveAt reports whether the cached session, with this instance's last access, is still live.
func (e *cachedSession) liveAt(c *sessionCache, hash string, now time.Time) bool {
	exp := e.expires
	if a, ok := c.lastAccess(hash); ok && a.at.After(e.lastAccess) {
		exp = a.at.Add(time.Duration(e.idle) * time.Second)
	}
	return now.Before(exp)
}

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, entries: map[string]*cachedSession{}, access: map[string]access{}}
}

func (c *sessionCache) get(hash string, now time.Time) (*cachedSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		return nil, false
	}
	return e, true
}

func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *sessionCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e unless an invalidation happened since gen was read.
func (c *sessionCache) put(hash string, e *cachedSession, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedSessions {
		c.entries = map[string]*cachedSession{}
	}
	c.entries[hash] = e
}

// warmQuiet and warmGap pace full loads after clears: a directory sync clears the cache once per
// batch, and reloading every session after each would cost more than the misses it saves.
const (
	warmQuiet = time.Second      // no clear for this long
	warmGap   = 10 * time.Second // since the previous load started
)

// startWarm reports whether a full load is due, and marks one as running: the cache has never been
// loaded, or was cleared (and has been quiet for warmQuiet, warmGap after the last load), or the
// last load is half a TTL old.
func (c *sessionCache) startWarm(now time.Time) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warming {
		return 0, false
	}
	due := c.lastWarm.IsZero() || now.Before(c.lastWarm) || now.Sub(c.lastWarm) >= c.ttl/2 ||
		c.warmed.IsZero() && now.Sub(c.lastClear) >= warmQuiet && (now.Sub(c.lastWarm) >= warmGap || !c.everWarmed)
	if !due {
		return 0, false
	}
	c.warming, c.cleared, c.dropped, c.droppedU = true, false, nil, nil
	c.lastWarm = now
	return c.gen, true
}

// endWarm installs a full load (nil: it failed) unless a clear happened meanwhile; single drops
// made meanwhile are applied to it, and entries read by misses meanwhile are kept.
func (c *sessionCache) endWarm(fresh map[string]*cachedSession, gen uint64, started time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warming = false
	if fresh == nil || c.cleared {
		return false
	}
	if c.gen != gen {
		for _, h := range c.dropped {
			delete(fresh, h)
		}
		for _, u := range c.droppedU {
			dropUserEntries(fresh, u)
		}
	}
	for h, e := range c.entries {
		if f, ok := fresh[h]; !ok || e.loaded.After(f.loaded) {
			fresh[h] = e
		}
	}
	c.entries, c.warmed, c.everWarmed = fresh, started, true
	return true
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
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, hash)
	delete(c.access, hash)
	if c.warming {
		c.dropped = append(c.dropped, hash)
	}
}

// dropUser forgets the sessions of one user (its details changed).
func (c *sessionCache) dropUser(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	dropUserEntries(c.entries, id)
	if c.warming {
		c.droppedU = append(c.droppedU, id)
	}
}

func dropUserEntries(m map[string]*cachedSession, id int64) {
	for h, e := range m {
		if e.user.id == id {
			delete(m, h)
		}
	}
}

// clear forgets every cached session (not the access times): after a change that can affect who
// may authenticate, the next validation reads the database again, and the next WarmSessions
// reloads everything.
func (c *sessionCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = map[string]*cachedSession{}
	c.warmed = time.Time{}
	c.cleared = true
	c.lastClear = time.Now()
}
