// Package throttle counts failed sign-ins per source address in a sliding window, for the sign-in
// forms that take a password from a browser (the console and the break-glass page): a few failures
// per window, then that address waits. Per-user lock-out is the store's.
package throttle

import (
	"slices"
	"sync"
	"time"
)

// maxAddresses bounds memory under a spray of addresses: past it, expired state is dropped.
const maxAddresses = 10000

// Throttle is safe for concurrent use. Create it with New.
type Throttle struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	fails  map[string][]time.Time
}

// New returns a Throttle that allows limit failures per address within window.
func New(limit int, window time.Duration) *Throttle {
	return &Throttle{limit: limit, window: window, fails: map[string][]time.Time{}}
}

func (t *Throttle) recent(addr string, now time.Time) []time.Time {
	var keep []time.Time
	for _, at := range t.fails[addr] {
		if now.Sub(at) < t.window {
			keep = append(keep, at)
		}
	}
	return keep
}

// Attempt reserves an attempt for addr, refusing it when the address has used up its failures.
// The attempt counts as a failure unless forgive is called (on success): counted before the
// password is checked, concurrent guesses cannot all pass before the first failure is recorded.
func (t *Throttle) Attempt(addr string, now time.Time) (ok bool, forgive func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fails) >= maxAddresses {
		t.pruneLocked(now)
	}
	recent := t.recent(addr, now)
	if len(recent) >= t.limit {
		return false, func() {}
	}
	t.fails[addr] = append(recent, now)
	var once sync.Once
	return true, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if i := slices.Index(t.fails[addr], now); i >= 0 {
				t.fails[addr] = slices.Delete(t.fails[addr], i, i+1)
			}
		})
	}
}

// Prune drops the state of addresses whose failures have all left the window.
func (t *Throttle) Prune(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
}

func (t *Throttle) pruneLocked(now time.Time) {
	for a := range t.fails {
		if r := t.recent(a, now); len(r) == 0 {
			delete(t.fails, a)
		} else {
			t.fails[a] = r
		}
	}
}
