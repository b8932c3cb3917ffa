package throttle

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestThrottleBoundsConcurrentGuesses is the regression test of the check-then-record race: 100
// concurrent sign-ins from one address used to pass the "blocked?" check together, before the
// first failure was recorded. Now at most limit attempts get through, and a success is forgiven.
func TestThrottleBoundsConcurrentGuesses(t *testing.T) {
	th := New(5, time.Minute)
	now := time.Now()
	var passed atomic.Int64
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if ok, _ := th.Attempt("192.0.2.1", now); ok {
					passed.Add(1)
					time.Sleep(time.Millisecond) // the password check, in the bubble's fake time
				}
			})
		}
		wg.Wait()
	})
	if n := passed.Load(); n != 5 {
		t.Fatalf("%d concurrent attempts passed, want 5", n)
	}
	// Successes do not count: forgiven attempts leave room for more.
	other := New(2, time.Minute)
	for range 10 {
		ok, forgive := other.Attempt("192.0.2.2", now)
		if !ok {
			t.Fatal("successful sign-ins were throttled")
		}
		forgive()
		forgive() // idempotent
	}
	if ok, _ := other.Attempt("192.0.2.3", now); !ok {
		t.Error("another address is throttled")
	}
	// The window passes.
	if ok, _ := th.Attempt("192.0.2.1", now.Add(2*time.Minute)); !ok {
		t.Error("still throttled after the window")
	}
}
