package store

import (
	"database/sql"
	"sync"
	"sync/atomic"
)

// Stats are the store's operational counters, for metrics.
type Stats struct {
	SessionCacheHits   uint64 // session validations answered from memory
	SessionCacheMisses uint64 // session validations that read the database
	SessionsCached     int    // SSO sessions held in memory
	PasswordQueue      int    // password checks waiting for a hashing slot
	PasswordWorkers    int    // concurrent password checks at most
	PasswordHashes     int64  // password hashes and checks run
	SignInFailures     uint64 // failed sign-ins recorded with FailedSignIn (audited aggregated)
	SignInsThrottled   uint64 // sign-in attempts refused by throttling before any check (counted, not audited)
	DB                 sql.DBStats
	// AuditEvents counts the audit entries this process wrote (committed), by action and outcome.
	AuditEvents map[AuditKey]uint64
}

// AuditKey is an audit entry's action and outcome.
type AuditKey struct{ Action, Outcome string }

// counters are updated on hot paths without locks.
type counters struct {
	sessionHits, sessionMisses atomic.Uint64
	signInFailures, throttled  atomic.Uint64
	audit                      sync.Map // AuditKey → *atomic.Uint64
}

// countAudit counts one committed audit entry.
func (c *counters) countAudit(k AuditKey) {
	v, ok := c.audit.Load(k)
	if !ok {
		v, _ = c.audit.LoadOrStore(k, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	st := Stats{
		SessionCacheHits:   s.shared.counters.sessionHits.Load(),
		SessionCacheMisses: s.shared.counters.sessionMisses.Load(),
		PasswordQueue:      s.pw.Waiting(),
		PasswordHashes:     s.pw.Runs(),
		SignInFailures:     s.shared.counters.signInFailures.Load(),
		SignInsThrottled:   s.shared.counters.throttled.Load(),
		SessionsCached:     s.shared.sessions.len(),
		PasswordWorkers:    s.pw.Workers(),
		AuditEvents:        map[AuditKey]uint64{},
	}
	s.shared.counters.audit.Range(func(k, v any) bool {
		st.AuditEvents[k.(AuditKey)] = v.(*atomic.Uint64).Load()
		return true
	})
	if db, err := s.db.DB(); err == nil {
		st.DB = db.Stats()
	}
	return st
}
