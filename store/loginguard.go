package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Failed password checks slow down and then block the address they come from, never the account:
// an account locked by failures alone would let anyone keep its owner out (the break-glass
// administrators exactly when the identity provider is down, or any user through an application's
// login form). A correct password from an address that is not blocked always gets in. Each instance
// keeps the counts in memory (so a burst of concurrent guesses is counted before any is hashed) and,
// through login_address_failures, blocks an address for every instance of the cluster.
const (
	// GuardWindow: failures older than this are forgotten.
	GuardWindow = 15 * time.Minute
	// GuardSlowAfter failures make every further attempt from the address wait, 1 s doubling up to
	// GuardMaxDelay.
	GuardSlowAfter = 5
	GuardMaxDelay  = time.Minute
	// GuardBlockAfter failures, attempts made while told to wait included, block the address for
	// GuardBlock.
	GuardBlockAfter = 20
	GuardBlock      = 15 * time.Minute
	// guardMaxAddresses bounds the memory a spray of addresses can take: past it, idle state is dropped.
	guardMaxAddresses = 100000
)

// ErrThrottled: the sending address failed too often and must wait (also ErrBadCredential).
var ErrThrottled = errors.New("too many failed sign-ins from this address")

type loginAddressKey struct{}

// WithLoginAddress returns ctx carrying the address a sign-in comes from (the browser's, when an
// application is trusted to report it), when it differs from the actor's address.
func WithLoginAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, loginAddressKey{}, addr)
}

// loginAddress is the sending address failures count against: WithLoginAddress's, else the actor's.
func loginAddress(ctx context.Context) string {
	if a, ok := ctx.Value(loginAddressKey{}).(string); ok && a != "" {
		return a
	}
	return ActorFrom(ctx).Address
}

type addressState struct {
	failures int       // completed failures of the window (and attempts made while told to wait)
	inflight int       // password checks under way
	since    time.Time // the window's first failure
	next     time.Time // no attempt before
}

// addressGuard is the per-instance half; safe for concurrent use.
type addressGuard struct {
	mu sync.Mutex
	m  map[string]*addressState
}

func newAddressGuard() *addressGuard { return &addressGuard{m: map[string]*addressState{}} }

// guardDelay is how long an address waits after its f-th failure.
func guardDelay(f int) time.Duration {
	switch {
	case f >= GuardBlockAfter:
		return GuardBlock
	case f < GuardSlowAfter:
		return 0
	}
	return min(time.Second<<(f-GuardSlowAfter), GuardMaxDelay)
}

// GuardBurst is how many password checks an address without failures may have under way at once
// (several users behind one proxy signing in together); with failures, only as many as are left
// before the slow-down, so a burst of concurrent guesses cannot outrun the count.
const GuardBurst = 8

func (st *addressState) maxInflight() int {
	if st.failures == 0 {
		return GuardBurst
	}
	return max(1, GuardSlowAfter-st.failures)
}

// attempt admits a password check from addr, or says how long to wait. An attempt made while the
// address is told to wait counts as a failure (hammering leads to the block); once blocked, the
// block does not grow. release records the outcome; its block (or blocked, for a refused
// attempt) reports that the address has just been blocked, for the cluster-wide record.
func (g *addressGuard) attempt(addr string, now time.Time) (wait time.Duration, blocked bool, release func(failed bool, at time.Time) (block time.Time)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.m[addr]
	if st != nil && st.inflight == 0 && now.Sub(st.since) >= GuardWindow && !now.Before(st.next) {
		st = nil
	}
	if st == nil {
		if len(g.m) >= guardMaxAddresses {
			g.pruneLocked(now)
		}
		st = &addressState{since: now}
		g.m[addr] = st
	}
	if now.Before(st.next) {
		if st.failures >= GuardBlockAfter {
			return st.next.Sub(now), false, nil // blocked already: the block does not grow
		}
		st.failures++
		if st.failures >= GuardBlockAfter {
			st.next = now.Add(GuardBlock)
			return GuardBlock, true, nil
		}
		return st.next.Sub(now), false, nil
	}
	if st.inflight >= st.maxInflight() {
		return time.Second, false, nil // a burst: wait for the checks under way
	}
	st.inflight++
	var once sync.Once
	return 0, false, func(failed bool, at time.Time) (block time.Time) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			st.inflight--
			if !failed {
				return
			}
			if st.failures == 0 {
				st.since = at
			}
			st.failures++
			// The wait runs from the answer, not the request: a slow hash must not use it up.
			if d := guardDelay(st.failures); d > 0 && at.Add(d).After(st.next) {
				st.next = at.Add(d)
				if st.failures >= GuardBlockAfter {
					block = st.next
				}
			}
		})
		return block
	}
}

func (g *addressGuard) pruneLocked(now time.Time) {
	for a, st := range g.m {
		if st.inflight == 0 && now.Sub(st.since) >= GuardWindow && !now.Before(st.next) {
			delete(g.m, a)
		}
	}
}

// loginAttempt admits a password check from the context's sending address, or refuses it with
// ErrThrottled before any hashing. done records the outcome; it must be called once admitted.
// Without an address (the CLI, an internal caller) there is nothing to count.
func (s *Store) loginAttempt(ctx context.Context) (done func(ok bool), err error) {
	addr := loginAddress(ctx)
	if addr == "" {
		return func(bool) {}, nil
	}
	now := s.now()
	wait, blocked, release := s.shared.guard.attempt(addr, now)
	if release == nil {
		if blocked {
			s.recordAddressFailure(ctx, addr, now, now.Add(wait))
		}
		return nil, fmt.Errorf("%w: wait %s: %w", ErrThrottled, wait.Round(time.Second), ErrBadCredential)
	}
	var until *time.Time
	err = s.q(ctx).Raw("SELECT blocked_until FROM login_address_failures WHERE address = ? AND blocked_until > ?", addr, now).Scan(&until).Error
	if err != nil {
		release(false, now)
		return nil, fmt.Errorf("sign-in from %s: %w", addr, err)
	}
	if until != nil {
		release(true, now)
		return nil, fmt.Errorf("%w: blocked until %s: %w", ErrThrottled, until.Format("15:04:05 MST"), ErrBadCredential)
	}
	return func(ok bool) {
		if block := release(!ok, s.now()); !ok {
			s.recordAddressFailure(ctx, addr, now, block)
		}
	}, nil
}

// recordAddressFailure counts a failure of addr for every instance and blocks the address once the
// failures within the window reach GuardBlockAfter (or at once with a non-zero block, decided here).
// A failure to record is logged, not returned: the password check has already been answered.
func (s *Store) recordAddressFailure(ctx context.Context, addr string, now, block time.Time) {
	var blockAt *time.Time
	if !block.IsZero() {
		blockAt = &block
	}
	cutoff, until := now.Add(-GuardWindow), now.Add(GuardBlock)
	ctx = context.WithoutCancel(ctx) // the answer may be gone; the count must not
	err := s.InTx(ctx, func(tx *Store) error {
		return tx.q(ctx).Exec("INSERT INTO login_address_failures AS f (address, failures, window_start, blocked_until) VALUES (?, 1, ?, ?) "+
			"ON CONFLICT (address) DO UPDATE SET "+
			"failures = CASE WHEN f.window_start <= ? THEN 1 ELSE f.failures + 1 END, "+
			"window_start = CASE WHEN f.window_start <= ? THEN excluded.window_start ELSE f.window_start END, "+
			"blocked_until = CASE WHEN excluded.blocked_until IS NOT NULL THEN excluded.blocked_until "+
			"WHEN f.window_start > ? AND f.failures + 1 >= ? THEN ? ELSE f.blocked_until END",
			addr, now, blockAt, cutoff, cutoff, cutoff, GuardBlockAfter, until).Error
	})
	if err != nil {
		s.log.Warn("record failed sign-in of address", "client", addr, "err", err)
	}
}

// PruneLoginFailures forgets addresses whose failures have all expired, here and in the database,
// and returns how many the database forgot.
func (s *Store) PruneLoginFailures(ctx context.Context) (int64, error) {
	now := s.now()
	s.shared.guard.mu.Lock()
	s.shared.guard.pruneLocked(now)
	s.shared.guard.mu.Unlock()
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec("DELETE FROM login_address_failures WHERE window_start <= ? AND (blocked_until IS NULL OR blocked_until <= ?)",
			now.Add(-GuardWindow), now)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune failed sign-ins: %w", err)
	}
	return n, nil
}

// unknownUser answers a sign-in as a user that does not exist (or has no password) after the same
// work as a wrong password: the address is counted and a hash of the same scheme is checked, so
// neither the answer nor its timing tells which names exist.
func (s *Store) unknownUser(ctx context.Context, pw string, done func(bool)) {
	cred, err := s.dummyCredential(ctx)
	if err != nil {
		s.log.Warn("unknown user name checked without hashing", "err", err)
	} else if len(pw) <= MaxPasswordLen*4 {
		_, _, _ = s.pw.Verify(ctx, cred, pw)
	}
	done(false)
}

// PasswordVerifications is how many password checks the store has hashed, for tests and metrics.
func (s *Store) PasswordVerifications() int64 { return s.pw.Verifications() }

// BlockedUntil reports until when addr is blocked for every instance (the zero time if it is not).
func (s *Store) BlockedUntil(ctx context.Context, addr string) (time.Time, error) {
	var until *time.Time
	err := s.q(ctx).Raw("SELECT blocked_until FROM login_address_failures WHERE address = ? AND blocked_until > ?", addr, s.now()).Scan(&until).Error
	if err != nil || until == nil {
		return time.Time{}, err
	}
	return *until, nil
}
