package password

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// Pool runs password hashing with bounded concurrency. Hashing is the only
// CPU-heavy work crowdgate does; letting every login hash at once would
// starve session validations and other cheap requests, so callers queue
// here instead (about one hash per core by default).
//
// Work runs on the calling goroutine once it holds a slot, so a Pool starts
// no goroutines and cannot leak any. Create Pools with NewPool; the zero
// value is not usable.
type Pool struct {
	slots   chan struct{} // a token per running hash
	waiting atomic.Int64  // callers blocked waiting for a slot
	// credit is the hashing time (nanoseconds) TryHash may spend: Verify earns optionalShare of
	// its own time, a pool idle for idleGap or longer earns the idle time, TryHash spends what it
	// took. It may go negative (one upgrade overdraws it) and is capped at maxCredit.
	credit      atomic.Int64
	lastRelease atomic.Int64 // when a slot was last released (Unix nanoseconds)
	runs        atomic.Int64 // hashes and checks run, for metrics and tests
	verified    atomic.Int64 // Verify calls that hashed
}

// Optional hashing (TryHash: upgrading a legacy hash, an argon2id hash about 10 times the cost of a
// {PKCS5S2} check) is paced on the time the pool's verifications take, not on wall time: under
// load it may cost at most optionalShare of the verifications' hashing time, so a saturated
// login burst keeps its throughput (P3) whatever the machine's load. Both are measured the same
// way (wall time of a hash holding a slot), so a loaded machine slows both alike. A pool that had
// nothing to do for idleGap or longer before a verification earns that idle time instead: on a
// quiet server every legacy login is upgraded at once.
const (
	optionalShare = 0.03
	idleGap       = 100 * time.Millisecond
	maxCredit     = int64(idleGap) // about two upgrades: an idle spell funds no long burst of them
)

// NewPool returns a Pool that runs at most workers hashes at once;
// workers <= 0 means runtime.GOMAXPROCS(0).
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Pool{slots: make(chan struct{}, workers)}
}

// Verify is Verify run inside the pool. It returns ctx.Err() if ctx is done
// before a slot frees up; once a check has started it runs to completion.
func (p *Pool) Verify(ctx context.Context, stored, plain string) (ok, rehash bool, err error) {
	var took time.Duration
	perr := p.do(ctx, func() {
		p.verified.Add(1)
		start := time.Now()
		ok, rehash, err = Verify(stored, plain)
		took = time.Since(start)
	})
	if perr != nil {
		return false, false, perr
	}
	p.earn(int64(float64(took) * optionalShare))
	return ok, rehash, err
}

// Hash is Hash run inside the pool, with the same cancellation rule as
// Pool.Verify.
func (p *Pool) Hash(ctx context.Context, plain string) (stored string, err error) {
	if perr := p.do(ctx, func() { stored, err = Hash(plain) }); perr != nil {
		return "", perr
	}
	return stored, err
}

// TryHash is Hash run inside the pool only if every slot is free and optional work has credit
// left (see optionalShare); ok is false, and nothing is hashed, otherwise. For optional work such
// as upgrading a legacy hash after a login, which must never delay or crowd out the logins
// themselves.
func (p *Pool) TryHash(plain string) (stored string, ok bool, err error) {
	if p.waiting.Load() > 0 || len(p.slots) > 0 || p.credit.Load() < 0 {
		return "", false, nil // busy, or a slot freeing now belongs to a waiting caller
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return "", false, nil
	}
	defer p.release()
	p.runs.Add(1)
	start := time.Now()
	stored, err = Hash(plain)
	p.credit.Add(-int64(time.Since(start)))
	return stored, err == nil, err
}

// earn adds n nanoseconds to the optional-hashing credit, up to maxCredit.
func (p *Pool) earn(n int64) {
	for {
		c := p.credit.Load()
		next := min(c+n, maxCredit)
		if next <= c || p.credit.CompareAndSwap(c, next) {
			return
		}
	}
}

// Verifications returns how many passwords Verify has checked: tests count hashing work with it
// instead of timing it.
func (p *Pool) Verifications() int64 { return p.verified.Load() }

// Waiting returns how many callers are queued for a slot, for metrics.
func (p *Pool) Waiting() int {
	return int(p.waiting.Load())
}

// Workers returns how many hashes may run at once, for metrics.
func (p *Pool) Workers() int { return cap(p.slots) }

// acquire takes a slot, waiting until one is free or ctx is done. A request
// whose context is already done does no hashing even if a slot is free:
// its client has gone, and the CPU is better spent on live ones.
func (p *Pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		p.earnIdle()
		return nil
	default:
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) release() {
	p.lastRelease.Store(time.Now().UnixNano())
	<-p.slots
}

// earnIdle credits optional hashing with the time the pool stood idle before this acquire, if it
// was idleGap or longer: only a quiet server upgrades every legacy login.
func (p *Pool) earnIdle() {
	if len(p.slots) != 1 {
		return // other hashes are running: the pool was not idle
	}
	last := p.lastRelease.Load()
	if last == 0 {
		p.earn(maxCredit) // nothing ran yet
		return
	}
	if gap := time.Now().UnixNano() - last; gap >= int64(idleGap) {
		p.earn(gap)
	}
}

// do runs fn on the calling goroutine while holding a slot.
func (p *Pool) do(ctx context.Context, fn func()) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	p.runs.Add(1)
	fn()
	return nil
}

// Runs returns how many hashes and checks the pool has run (TryHash's included), for metrics.
func (p *Pool) Runs() int64 { return p.runs.Load() }
