package store

import (
	"database/sql"
	"sync/atomic"
)

// Stats are the store's operational counters, for metrics.
type Stats struct {
	SessionCacheHits   uint64 // session validations answered from memory
	SessionCacheMisses uint64 // session validations that read the database
	SessionsCached     int    // SSO sessions held in memory
	PasswordQueue      int    // password checks waiting for a hashing slot
	PasswordHashes     int64  // password hashes and checks run
	SignInFailures     uint64 // failed sign-ins recorded with FailedSignIn (audited aggregated)
	SignInsThrottled   uint64 // sign-in attempts refused by throttling before any check (counted, not audited)
	DB                 sql.DBStats
}

// counters are updated on hot paths without locks.
type counters struct {
	sessionHits, sessionMisses atomic.Uint64
	signInFailures, throttled  atomic.Uint64
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
	}
	if db, err := s.db.DB(); err == nil {
		st.DB = db.Stats()
	}
	return st
}
