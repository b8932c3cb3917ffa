package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const cheapSSHA = "{SSHA}0H+zTv8o4MR4H43n03eCsvw1luG8LdB7" // "secret", passlib

func TestNewPoolDefaultWorkers(t *testing.T) {
	for _, n := range []int{0, -3} {
		if got, want := cap(NewPool(n).slots), runtime.GOMAXPROCS(0); got != want {
			t.Errorf("NewPool(%d) has %d slots, want GOMAXPROCS=%d", n, got, want)
		}
	}
	if got := cap(NewPool(3).slots); got != 3 {
		t.Errorf("NewPool(3) has %d slots", got)
	}
}

func TestPoolVerifyAndHash(t *testing.T) {
	p := NewPool(2)
	ok, rehash, err := p.Verify(t.Context(), cheapSSHA, "secret")
	if !ok || !rehash || err != nil {
		t.Errorf("Pool.Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if _, _, err := p.Verify(t.Context(), "nonsense", "secret"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Pool.Verify(unknown) error = %v", err)
	}
	stored, err := p.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := p.Verify(t.Context(), stored, "pw"); !ok || rehash || err != nil {
		t.Errorf("Pool.Verify(Pool.Hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if len(p.slots) != 0 {
		t.Errorf("%d slots still held after all calls returned", len(p.slots))
	}
}

// fill takes every slot of p, as if that many hashes were running.
func fill(p *Pool) {
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
}

func TestPoolCancelWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool(1)
		fill(p)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 2)
		go func() {
			_, _, err := p.Verify(ctx, cheapSSHA, "secret")
			errc <- err
		}()
		go func() {
			_, err := p.Hash(ctx, "pw")
			errc <- err
		}()
		synctest.Wait() // every caller is blocked on the pool
		if got := p.Waiting(); got != 2 {
			t.Fatalf("Waiting() = %d, want 2", got)
		}
		cancel()
		for range 2 {
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want context.Canceled", err)
			}
		}
		if got := p.Waiting(); got != 0 {
			t.Errorf("Waiting() = %d after cancellation, want 0", got)
		}
	})
}

func TestPoolDeadlineWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool(1)
		fill(p)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if _, _, err := p.Verify(ctx, cheapSSHA, "secret"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestPoolCancelledContextDoesNoWork(t *testing.T) {
	p := NewPool(1) // a free slot is available
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := p.Verify(ctx, cheapSSHA, "secret"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify error = %v, want context.Canceled", err)
	}
	if _, err := p.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash error = %v, want context.Canceled", err)
	}
}

func TestPoolWaiterRunsWhenSlotFrees(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool(1)
		fill(p)
		done := make(chan bool)
		go func() {
			ok, _, _ := p.Verify(t.Context(), cheapSSHA, "secret")
			done <- ok
		}()
		synctest.Wait() // every caller is blocked on the pool
		if got := p.Waiting(); got != 1 {
			t.Fatalf("Waiting() = %d, want 1", got)
		}
		p.release()
		if !<-done {
			t.Error("queued Verify failed after a slot was released")
		}
		if got := p.Waiting(); got != 0 {
			t.Errorf("Waiting() = %d, want 0", got)
		}
	})
}

// TestPoolBound checks that no more than workers jobs ever run at once and
// that every caller eventually runs, by counting from inside the jobs.
func TestPoolBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const workers, callers = 3, 40
		p := NewPool(workers)
		var running, maxSeen, ran atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				err := p.do(t.Context(), func() {
					n := running.Add(1)
					for {
						cur := maxSeen.Load()
						if n <= cur || maxSeen.CompareAndSwap(cur, n) {
							break
						}
					}
					time.Sleep(time.Millisecond) // fake time: the bubble advances it once every job is asleep
					running.Add(-1)
					ran.Add(1)
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := maxSeen.Load(); got > workers {
			t.Errorf("saw %d jobs running at once, bound is %d", got, workers)
		}
		if got := ran.Load(); got != callers {
			t.Errorf("%d of %d jobs ran", got, callers)
		}
		if len(p.slots) != 0 || p.Waiting() != 0 {
			t.Errorf("after all calls: %d slots held, %d waiting", len(p.slots), p.Waiting())
		}
	})
}

// TestPoolTryHash: TryHash hashes when a slot is free and it has credit, and gives up at once,
// without queueing, when no slot is free.
func TestPoolTryHash(t *testing.T) {
	p := NewPool(1)
	stored, ok, err := p.TryHash("secret")
	if !ok || err != nil {
		t.Fatalf("TryHash on an idle pool = %v, %v", ok, err)
	}
	if v, _, err := Verify(stored, "secret"); !v || err != nil {
		t.Fatalf("TryHash's hash does not verify: %v, %v", v, err)
	}
	// Paced: the hash spent the credit, so another at once is refused, idle pool or not.
	if got := p.credit.Load(); got >= 0 {
		t.Errorf("credit after a TryHash = %d, want < 0", got)
	}
	if _, ok, _ := p.TryHash("secret"); ok {
		t.Error("a second TryHash at once was not paced")
	}
	p.credit.Store(0)
	fill(p)
	defer p.release()
	if _, ok, err := p.TryHash("secret"); ok || err != nil {
		t.Errorf("TryHash on a full pool = %v, %v; want false, nil", ok, err)
	}
	if got := p.Waiting(); got != 0 {
		t.Errorf("TryHash queued: Waiting() = %d", got)
	}
}

// TestPoolTryHashPacedOnVerifications: under load (no idle spell before a verification), each
// Verify earns optionalShare of its own hashing time and nothing more, so upgrades take at most
// that share of the verifications' time, however slow the wall clock runs.
func TestPoolTryHashPacedOnVerifications(t *testing.T) {
	p := NewPool(2)
	p.credit.Store(-int64(time.Hour)) // an upgrade overdrew the credit
	for range 50 {
		p.lastRelease.Store(time.Now().UnixNano()) // busy: a hash just finished
		if ok, _, err := p.Verify(t.Context(), cheapSSHA, "secret"); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	}
	if got := p.credit.Load(); got >= 0 || got <= -int64(time.Hour) {
		t.Errorf("credit after 50 busy verifications = %d, want more than -1h and still < 0", got)
	}
	if _, ok, _ := p.TryHash("secret"); ok {
		t.Error("TryHash ran on credit 50 cheap verifications cannot have earned")
	}
	if got := p.Verifications(); got != 50 {
		t.Errorf("Verifications() = %d, want 50", got)
	}
}

// TestPoolTryHashAfterIdleSpell: a verification that finds the pool idle for idleGap or longer
// earns the idle time (up to maxCredit), so a quiet server upgrades every legacy login; a gap
// shorter than idleGap earns nothing.
func TestPoolTryHashAfterIdleSpell(t *testing.T) {
	p := NewPool(2)
	p.credit.Store(-int64(idleGap) / 2)
	p.lastRelease.Store(time.Now().Add(-idleGap / 10).UnixNano())
	if ok, _, _ := p.Verify(t.Context(), cheapSSHA, "secret"); !ok {
		t.Fatal("Verify failed")
	}
	if _, ok, _ := p.TryHash("secret"); ok {
		t.Error("TryHash ran after a gap shorter than idleGap")
	}
	p.credit.Store(-int64(idleGap) / 2)
	p.lastRelease.Store(time.Now().Add(-2 * idleGap).UnixNano())
	if ok, _, _ := p.Verify(t.Context(), cheapSSHA, "secret"); !ok {
		t.Fatal("Verify failed")
	}
	if got := p.credit.Load(); got != maxCredit {
		t.Errorf("credit after an idle spell of 2×idleGap = %d, want maxCredit %d", got, maxCredit)
	}
	if _, ok, err := p.TryHash("secret"); !ok || err != nil {
		t.Errorf("TryHash after an idle spell = %v, %v; want true, nil", ok, err)
	}
}
