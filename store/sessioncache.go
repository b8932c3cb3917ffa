package store

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"
)

// The session cache holds every live SSO session, so it is most of the server's live heap. It is
// built without pointers (keys are raw hashes, times are integers, user names and groups live in
// two shared arrays): the garbage collector then has nothing to mark in it, and its cycles, which
// every validation's allocations start, stay short however many sessions there are.

// tokenKey is the SHA-256 of a token; the database keeps its hex form (HashToken).
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

func (k tokenKey) hex() string { return hex.EncodeToString(k[:]) }

// keyFromHex reads a hash as HashToken writes it.
func keyFromHex(h string) (tokenKey, bool) {
	var k tokenKey
	if hex.DecodedLen(len(h)) != len(k) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(h))
	return k, err == nil
}

// maxCachedSessions bounds the memory the session cache takes (about 250 bytes a session with its
// share of its user): beyond it, sessions are still validated, through a database read.
const maxCachedSessions = 200_000

// cachedSession is a session as a validation needs it. Times are Unix nanoseconds.
type cachedSession struct {
	id                                   int64
	created, lastAccess, expires, loaded int64
	user                                 int32 // index in sessionTable.users
	idle                                 int32
	remote                               [16]byte // the creation address, zone dropped ...
	hasRemote                            bool     // ... when it was one
}

func (e *cachedSession) remoteAddr() (netip.Addr, bool) {
	if !e.hasRemote {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(e.remote).Unmap(), true
}

// cachedUser is what a validation needs of a user; sessions of a user share one.
type cachedUser struct {
	id, directoryID     int64
	nameAt, nameLen     uint32 // in sessionTable.names
	groupsAt, groupsLen uint32 // in sessionTable.groups: the user's direct groups
	active              bool
}

// sessionUser is a cachedUser read out of its table.
type sessionUser struct {
	User
	groups []int64 // shares the table's array: read only
}

// sessionTable is the sessions and their users. Users and their names and groups are only ever
// appended, so what a reader took out of the table stays valid after a writer appends.
type sessionTable struct {
	sessions map[tokenKey]cachedSession
	users    []cachedUser
	userAt   map[int64]int32 // the newest record of each user
	names    []byte
	groups   []int64
}

func newSessionTable() *sessionTable {
	return &sessionTable{sessions: map[tokenKey]cachedSession{}, userAt: map[int64]int32{}}
}

// addUser returns the index of a record of u with these groups, reusing the user's newest record
// when it says the same.
func (t *sessionTable) addUser(u User, groups []int64) int32 {
	if i, ok := t.userAt[u.ID]; ok && t.same(i, u, groups) {
		return i
	}
	r := cachedUser{id: u.ID, directoryID: u.DirectoryID, active: u.Active,
		nameAt: uint32(len(t.names)), nameLen: uint32(len(u.Name)),
		groupsAt: uint32(len(t.groups)), groupsLen: uint32(len(groups))}
	t.names = append(t.names, u.Name...)
	t.groups = append(t.groups, groups...)
	t.users = append(t.users, r)
	i := int32(len(t.users) - 1)
	t.userAt[u.ID] = i
	return i
}

func (t *sessionTable) same(i int32, u User, groups []int64) bool {
	r := t.users[i]
	if r.directoryID != u.DirectoryID || r.active != u.Active || string(t.name(r)) != u.Name || int(r.groupsLen) != len(groups) {
		return false
	}
	for k, g := range t.groupsOf(r) {
		if groups[k] != g {
			return false
		}
	}
	return true
}

func (t *sessionTable) name(r cachedUser) []byte { return t.names[r.nameAt : r.nameAt+r.nameLen] }

func (t *sessionTable) groupsOf(r cachedUser) []int64 {
	return t.groups[r.groupsAt : r.groupsAt+r.groupsLen : r.groupsAt+r.groupsLen]
}

func (t *sessionTable) user(i int32) sessionUser {
	r := t.users[i]
	return sessionUser{User: User{ID: r.id, DirectoryID: r.directoryID, Name: string(t.name(r)), Active: r.active},
		groups: t.groupsOf(r)}
}

// put adds a session read from another table (or none: src == nil means e.user already indexes t).
func (t *sessionTable) put(k tokenKey, e cachedSession, src *sessionTable) {
	if src != nil {
		u := src.user(e.user)
		e.user = t.addUser(u.User, u.groups)
	}
	t.sessions[k] = e
}

// full reports whether the table is at its bound; records replaced by misses count too.
func (t *sessionTable) full() bool {
	return len(t.sessions) >= maxCachedSessions || len(t.users) >= 2*maxCachedSessions
}

func (t *sessionTable) dropUser(id int64) {
	for k, e := range t.sessions {
		if t.users[e.user].id == id {
			delete(t.sessions, k)
		}
	}
	delete(t.userAt, id)
}

// sessionCache holds live SSO sessions with their user and the user's direct groups, and the
// unflushed access times. Every invalidation bumps gen, so a read that raced it is not cached.
type sessionCache struct {
	mu     sync.Mutex
	ttl    time.Duration
	table  *sessionTable
	access accessLog
	gen    uint64
	// Warming (paced on the wall clock): warmed is when the installed load started (zero: none
	// since the last clear), warming is set while one runs, cleared (a clear during the load)
	// discards it, dropped and droppedU list single drops to apply to it.
	warmed     time.Time
	lastWarm   time.Time // when the last load started, whatever became of it
	lastClear  time.Time
	warming    bool
	everWarmed bool // a load was installed once: until then, a discarded one is retried sooner
	cleared    bool
	dropped    []tokenKey
	droppedU   []int64
}

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, table: newSessionTable(), access: newAccessLog()}
}

// cacheHit is a cached session with its user and this instance's unflushed access to it.
type cacheHit struct {
	session cachedSession
	user    sessionUser
	access  access
	touched bool
}

// expires is when the session ends as this instance knows it: its stored expiry, or later when
// this instance has seen it used since.
func (h cacheHit) expires() int64 {
	if h.touched && h.access.at > h.session.lastAccess {
		return h.access.at + h.access.timeout()
	}
	return h.session.expires
}

// get returns the cached session of k, unless it is older than the TTL.
func (c *sessionCache) get(k tokenKey, now time.Time) (cacheHit, bool) {
	c.mu.Lock()
	e, ok := c.table.sessions[k]
	if age := now.UnixNano() - e.loaded; !ok || age >= int64(c.ttl) || age < 0 {
		c.mu.Unlock()
		return cacheHit{}, false
	}
	// The user is read out of a copy of the table's headers after the lock is released: what a
	// reader took stays valid (the arrays are only appended to), and the name's allocation, which
	// may make this goroutine help the garbage collector, holds up no other validation.
	t := sessionTable{users: c.table.users, names: c.table.names, groups: c.table.groups}
	h := cacheHit{session: e}
	h.access, h.touched = c.access.get(k)
	c.mu.Unlock()
	h.user = t.user(e.user)
	return h, true
}

func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.table.sessions)
}

func (c *sessionCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches a session read from the database (with its user) unless an invalidation happened
// since gen was read.
func (c *sessionCache) put(k tokenKey, e cachedSession, u sessionUser, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.table.full() {
		c.table = newSessionTable()
	}
	e.user = c.table.addUser(u.User, u.groups)
	c.table.put(k, e, nil)
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
func (c *sessionCache) endWarm(fresh *sessionTable, gen uint64, started time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warming = false
	if fresh == nil || c.cleared {
		return false
	}
	if c.gen != gen {
		for _, k := range c.dropped {
			delete(fresh.sessions, k)
		}
		for _, u := range c.droppedU {
			fresh.dropUser(u)
		}
	}
	for k, e := range c.table.sessions {
		if f, ok := fresh.sessions[k]; !ok || e.loaded > f.loaded {
			fresh.put(k, e, c.table)
		}
	}
	c.table, c.warmed, c.everWarmed = fresh, started, true
	return true
}

// touch records an access of the session k (a.due is set here).
func (c *sessionCache) touch(k tokenKey, a access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.table.sessions[k]
	a.due = dueAt(k, a, e, ok)
	c.access.set(k, a)
}

func (c *sessionCache) lastAccess(k tokenKey) (access, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access.get(k)
}

func (c *sessionCache) takeAccess() map[tokenKey]access {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access.all()
}

// takeDueAccess takes the accesses worth writing now (dueAt), at most maxAccessWrites: the
// sessions whose stored expiry comes first.
func (c *sessionCache) takeDueAccess(now time.Time) map[tokenKey]access {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access.takeDue(now.UnixNano(), func(k tokenKey) (int64, bool) {
		e, ok := c.table.sessions[k]
		return e.expires, ok
	})
}

// written records that the database holds these accesses now (FlushSessionAccess wrote them,
// each to the second).
func (c *sessionCache) written(w map[tokenKey]access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, a := range w {
		e, ok := c.table.sessions[k]
		at := a.time().Truncate(time.Second).UnixNano()
		if ok && at > e.lastAccess {
			e.lastAccess, e.expires = at, at+a.timeout()
			c.table.sessions[k] = e
		}
	}
}

func (c *sessionCache) restoreAccess(a map[tokenKey]access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range a {
		if cur, ok := c.access.get(k); !ok || v.at > cur.at {
			c.access.set(k, v) // due when taken: still due
		}
	}
}

func (c *sessionCache) drop(k tokenKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.table.sessions, k)
	c.access.delete(k)
	if c.warming {
		c.dropped = append(c.dropped, k)
	}
}

// dropUser forgets the sessions of one user (its details changed).
func (c *sessionCache) dropUser(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.table.dropUser(id)
	if c.warming {
		c.droppedU = append(c.droppedU, id)
	}
}

// clear forgets every cached session (not the access times): after a change that can affect who
// may authenticate, the next validation reads the database again, and the next WarmSessions
// reloads everything.
func (c *sessionCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.table = newSessionTable()
	c.warmed = time.Time{}
	c.cleared = true
	c.lastClear = time.Now()
}
